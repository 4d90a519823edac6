/*
 * Start-up for every Cortex-M board: the vector table, Reset_Handler and the
 * handler for unexpected exceptions.
 *
 * System control registers: Armv7-M Architecture Reference Manual (DDI 0403E),
 * B3.2 "System Control Space", and Armv8-M ARM (DDI 0553), D1 for MSPLIM.
 * The symbols __stack_top, __data_* and __bss_* come from linker.ld.
 */
#include <stdint.h>

#include "tm_board.h"

#define TM_REG(addr) (*(volatile uint32_t *)(addr))

#define SCB_ICSR TM_REG(0xE000ED04u)  /* B3.2.4 Interrupt Control and State */
#define SCB_VTOR TM_REG(0xE000ED08u)  /* B3.2.5 Vector Table Offset */
#define SCB_SHCSR TM_REG(0xE000ED24u) /* B3.2.13 System Handler Control and State */
#define SCB_CFSR TM_REG(0xE000ED28u)  /* B3.2.15 Configurable Fault Status */
#define SCB_HFSR TM_REG(0xE000ED2Cu)  /* B3.2.16 HardFault Status */
#define SCB_CPACR TM_REG(0xE000ED88u) /* B3.2.20 Coprocessor Access Control */

#define SHCSR_MEMFAULTENA (1u << 16)
#define SHCSR_BUSFAULTENA (1u << 17)
#define SHCSR_USGFAULTENA (1u << 18)
#define CPACR_CP10_CP11_FULL (0xFu << 20) /* full access to the FPU (and MVE) */

typedef void (*tm_vector)(void);

extern uint32_t __stack_top[], __stack_limit[];
extern uint32_t __data_start[], __data_end[], __data_load[];
extern uint32_t __bss_start[], __bss_end[];
extern tm_vector __init_array_start[], __init_array_end[];

int main(void);
void Reset_Handler(void) __attribute__((noreturn));
void tm_fault_entry(void);
void tm_fault(const uint32_t *frame) __attribute__((noreturn));

/* Every handler the table names is weak: a file that defines it wins (the
 * cycle counters define SysTick_Handler). The rest report and stop. */
void NMI_Handler(void) __attribute__((weak, alias("tm_fault_entry")));
void HardFault_Handler(void) __attribute__((weak, alias("tm_fault_entry")));
void MemManage_Handler(void) __attribute__((weak, alias("tm_fault_entry")));
void BusFault_Handler(void) __attribute__((weak, alias("tm_fault_entry")));
void UsageFault_Handler(void) __attribute__((weak, alias("tm_fault_entry")));
void SecureFault_Handler(void) __attribute__((weak, alias("tm_fault_entry")));
void SVC_Handler(void) __attribute__((weak, alias("tm_fault_entry")));
void DebugMon_Handler(void) __attribute__((weak, alias("tm_fault_entry")));
void PendSV_Handler(void) __attribute__((weak, alias("tm_fault_entry")));
void SysTick_Handler(void) __attribute__((weak, alias("tm_fault_entry")));

volatile uint32_t tm_uart_ready;

/* The 16 system exceptions (Armv7-M ARM B1.5.2, Table B1-4). No external
 * interrupt is ever enabled, so the table stops there. linker.ld puts it first
 * in flash; VTOR needs it 128-byte aligned. */
__attribute__((section(".isr_vector"), used)) const tm_vector tm_vectors[16] = {
    (tm_vector)__stack_top, /* 0: initial main stack pointer */
    Reset_Handler,          /* 1 */
    NMI_Handler,            /* 2 */
    HardFault_Handler,      /* 3 */
    MemManage_Handler,      /* 4 */
    BusFault_Handler,       /* 5 */
    UsageFault_Handler,     /* 6 */
    SecureFault_Handler,    /* 7: Armv8-M only, reserved before */
    0,
    0,
    0,
    SVC_Handler,      /* 11 */
    DebugMon_Handler, /* 12 */
    0,
    PendSV_Handler,  /* 14 */
    SysTick_Handler, /* 15 */
};

/* The empty asm statements keep GCC from turning these loops into memcpy or
 * memset calls, or vectorising them, before the C environment exists. */
void Reset_Handler(void) {
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
  /* The FPU (and on Armv8.1-M, MVE) is off at reset: turn it on before any
   * compiled code can use it. */
  SCB_CPACR |= CPACR_CP10_CP11_FULL;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
  /* Armv8-M stack limit: overflowing the stack into .bss is a UsageFault. */
  __asm__ volatile("msr msplim, %0" ::"r"(__stack_limit));
#endif
  const uint32_t *src = __data_load;
  for (uint32_t *dst = __data_start; dst < __data_end; ++dst, ++src) {
    *dst = *src;
    __asm__ volatile("");
  }
  for (uint32_t *dst = __bss_start; dst < __bss_end; ++dst) {
    *dst = 0;
    __asm__ volatile("");
  }
  SCB_VTOR = (uint32_t)(uintptr_t)tm_vectors;
  /* Report MemManage, BusFault and UsageFault as themselves instead of as
   * escalated HardFaults. */
  SCB_SHCSR |= SHCSR_MEMFAULTENA | SHCSR_BUSFAULTENA | SHCSR_USGFAULTENA;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  for (tm_vector *f = __init_array_start; f < __init_array_end; ++f) {
    (*f)();
  }
  tm_exit(main());
}

static void put_text(const char *s) {
  uint32_t n = 0;
  while (s[n] != '\0') {
    ++n;
  }
  tm_uart_write((const uint8_t *)s, n);
}

static void put_hex(uint32_t v) {
  uint8_t buf[10] = {'0', 'x'};
  for (int i = 0; i < 8; ++i) {
    const uint32_t nibble = (v >> (28 - 4 * i)) & 0xFu;
    buf[2 + i] = (uint8_t)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);
  }
  tm_uart_write(buf, sizeof buf);
}

static void put_dec(uint32_t v) {
  uint8_t buf[10];
  uint32_t i = sizeof buf;
  do {
    buf[--i] = (uint8_t)('0' + v % 10u);
    v /= 10u;
  } while (v != 0u);
  tm_uart_write(&buf[i], sizeof buf - i);
}

/* frame: the stacked r0-r3, r12, lr, pc, xPSR of the interrupted code. */
void tm_fault(const uint32_t *frame) {
  static volatile uint32_t in_fault;
  uint32_t ipsr;
  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  const uint32_t exception = ipsr & 0x1FFu;
  if (tm_uart_ready && !in_fault) {
    in_fault = 1;
    /* Read the frame only if it lies in RAM: a fault while stacking leaves
     * a stack pointer that may not. */
    const uintptr_t at = (uintptr_t)frame;
    const int in_ram = at >= TM_BOARD_RAM_ORIGIN && at + 32u <= TM_BOARD_RAM_ORIGIN + TM_BOARD_RAM_SIZE;
    const uint32_t pc = in_ram ? frame[6] : 0u;
    put_text("\r\ntinyml: fault ");
    put_dec(exception);
    put_text(" pc ");
    put_hex(pc);
    put_text(" cfsr ");
    put_hex(SCB_CFSR);
    put_text(" hfsr ");
    put_hex(SCB_HFSR);
    put_text("\r\n");
  }
  tm_exit(TM_EXIT_FAULT - (int32_t)exception);
}

/* The default handler: find the stack the exception frame went to (EXC_RETURN
 * bit 2: 0 = main, 1 = process) and hand it to tm_fault. */
__attribute__((naked)) void tm_fault_entry(void) {
  __asm__ volatile(
      "tst lr, #4\n\t"
      "ite eq\n\t"
      "mrseq r0, msp\n\t"
      "mrsne r0, psp\n\t"
      "b tm_fault\n\t");
}
