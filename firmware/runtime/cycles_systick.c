/*
 * Cycle counter from SysTick (Armv7-M ARM B3.3 "The system timer, SysTick"),
 * clocked by the processor clock, reload 0xFFFFFF, its interrupt counting the
 * 2^24-cycle periods. Used on QEMU, whose DWT CYCCNT reads 0; under
 * -icount shift=0 QEMU's SysTick advances by clock_hz ticks per 10^9
 * instructions.
 */
#include "tm_board.h"

#define TM_REG(addr) (*(volatile uint32_t *)(addr))
#define SYST_CSR TM_REG(0xE000E010u) /* B3.3.3 control and status */
#define SYST_RVR TM_REG(0xE000E014u) /* B3.3.4 reload value */
#define SYST_CVR TM_REG(0xE000E018u) /* B3.3.5 current value */
#define SCB_ICSR TM_REG(0xE000ED04u) /* B3.2.4 interrupt control and state */

#define CSR_ENABLE (1u << 0)
#define CSR_TICKINT (1u << 1)
#define CSR_CLKSOURCE (1u << 2) /* 1: the processor clock */
#define ICSR_PENDSTSET (1u << 26)
#define PERIOD (1u << 24)

static volatile uint32_t s_periods;

void SysTick_Handler(void) { s_periods = s_periods + 1u; }

void tm_cycles_init(void) {
  SYST_CSR = 0;
  SYST_RVR = PERIOD - 1u;
  SYST_CVR = 0; /* any write clears it; the next tick loads the reload value */
  s_periods = 0;
  SYST_CSR = CSR_CLKSOURCE | CSR_TICKINT | CSR_ENABLE;
}

/* Ticks since tm_cycles_init: the counter reads -n mod 2^24 after n ticks, and
 * the interrupt counts each arrival at 0. When that interrupt is pending but
 * not yet taken (interrupts masked, or it fired between the reads), count it
 * here; if the handler runs during the reads, read again. */
uint64_t tm_cycles_now(void) {
  for (;;) {
    const uint32_t periods = s_periods;
    uint32_t value = SYST_CVR;
    uint32_t extra = 0;
    if (SCB_ICSR & ICSR_PENDSTSET) {
      value = SYST_CVR; /* read after the wrap the pending bit reports */
      extra = 1;
    }
    if (periods == s_periods) {
      return ((uint64_t)(periods + extra) << 24) + ((PERIOD - value) & (PERIOD - 1u));
    }
  }
}
