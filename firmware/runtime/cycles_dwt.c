/*
 * Cycle counter from the DWT (Armv7-M ARM C1.8 "Data Watchpoint and Trace
 * unit"): CYCCNT counts processor clock cycles. It is 32 bits wide; the
 * SysTick interrupt, every 2^24 cycles, reads it often enough to count its
 * wrap-arounds, which extends it to 64 bits.
 */
#include "tm_board.h"

#define TM_REG(addr) (*(volatile uint32_t *)(addr))
#define DEMCR TM_REG(0xE000EDFCu)      /* C1.6.5 Debug Exception and Monitor Control */
#define DWT_CTRL TM_REG(0xE0001000u)   /* C1.8.7 DWT control */
#define DWT_CYCCNT TM_REG(0xE0001004u) /* C1.8.8 cycle count */
/* CoreSight lock access register: the Cortex-M7 keeps the DWT write-locked
 * until 0xC5ACCE55 is written here (Cortex-M7 TRM, 3.4; CoreSight
 * architecture, B2.3.10). Other cores ignore the write. */
#define DWT_LAR TM_REG(0xE0001FB0u)
#define SYST_CSR TM_REG(0xE000E010u) /* B3.3.3 */
#define SYST_RVR TM_REG(0xE000E014u) /* B3.3.4 */
#define SYST_CVR TM_REG(0xE000E018u) /* B3.3.5 */

#define DEMCR_TRCENA (1u << 24)
#define DWT_CTRL_CYCCNTENA (1u << 0)
#define LAR_UNLOCK 0xC5ACCE55u
#define SYST_ENABLE_TICKINT_CORECLK 0x7u

static uint32_t s_high; /* wrap-arounds of CYCCNT seen so far */
static uint32_t s_last; /* CYCCNT at the last reading */

void SysTick_Handler(void) { (void)tm_cycles_now(); }

void tm_cycles_init(void) {
  DEMCR |= DEMCR_TRCENA;
  DWT_LAR = LAR_UNLOCK;
  DWT_CYCCNT = 0;
  DWT_CTRL |= DWT_CTRL_CYCCNTENA;
  s_high = 0;
  s_last = 0;
  SYST_CSR = 0;
  SYST_RVR = (1u << 24) - 1u;
  SYST_CVR = 0;
  SYST_CSR = SYST_ENABLE_TICKINT_CORECLK;
}

uint64_t tm_cycles_now(void) {
  uint32_t primask;
  __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
  const uint32_t now = DWT_CYCCNT;
  if (now < s_last) {
    ++s_high;
  }
  s_last = now;
  const uint64_t cycles = ((uint64_t)s_high << 32) | now;
  __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
  return cycles;
}
