/*
 * Board runtime: what the benchmark/inference application needs from a board.
 *
 * One implementation per peripheral family (uart_<name>.c, cycles_<name>.c,
 * clock_<name>.c, exit_<name>.c); the board's TOML picks which ones are
 * compiled, and the generated board.h gives their addresses and clocks.
 */
#ifndef TINYML_TM_BOARD_H
#define TINYML_TM_BOARD_H

#include <stdint.h>

#include "board.h"

/* Clocks, caches, console UART and cycle counter: everything main() needs. */
void tm_board_init(void);

/* Core clock set up by tm_clock_init (Hz); the unit of tm_cycles_now(). */
uint32_t tm_clock_hz(void);

/* Clock tree, flash wait states, caches (clock_<name>.c). */
void tm_clock_init(void);

/* Console UART (uart_<name>.c), 8N1 at TM_BOARD_UART_BAUD (alias TM_BOARD_BAUD). tm_uart_write
 * returns once the last byte is in the transmitter. */
void tm_uart_init(void);
void tm_uart_write(const uint8_t *data, uint32_t len);
/* The received byte waiting in the UART, or -1 at once if there is none. */
int32_t tm_uart_poll(void);
/* Next received byte, or -1 when none arrives within `timeout_ms`
 * milliseconds of core clock time, counted with tm_cycles_now() (board.c).
 * Under QEMU -icount that is virtual time: 1 ms = clock_hz / 1000 ticks. */
int32_t tm_uart_read(uint32_t timeout_ms);
/* Nonzero once tm_uart_init has finished; the fault handler prints only then. */
extern volatile uint32_t tm_uart_ready;

/* Free-running 64-bit cycle counter from tm_cycles_init (cycles_<name>.c):
 * DWT CYCCNT on hardware, SysTick on emulators (QEMU's DWT reads zero). Both
 * own the SysTick interrupt, every 2^24 cycles, to extend the count; keep
 * interrupts masked for less than that at a time. Under QEMU -icount shift=0
 * one SysTick tick is 10^9 / TM_BOARD_CLOCK_HZ instructions. */
void tm_cycles_init(void); /* also restarts the count from zero when called again */
uint64_t tm_cycles_now(void);

/* Stop: on emulators a semihosting exit with `status` (exit_semihosting.c;
 * QEMU then exits with status & 0xFF), on hardware a spin (exit_loop.c).
 * Reset_Handler calls tm_exit(main()) if main returns. */
void tm_exit(int32_t status) __attribute__((noreturn));

/* An unexpected exception (HardFault, BusFault, ... or an interrupt nobody
 * handles) prints "tinyml: fault <n> ..." on the UART (when it is up) and ends
 * with tm_exit(TM_EXIT_FAULT - n), n the exception number: a HardFault (3) is
 * status -103, QEMU exit code 153. tm_clock_init failing to start a clock ends
 * with TM_EXIT_CLOCK. */
#define TM_EXIT_FAULT (-100)
#define TM_EXIT_CLOCK (-90)

#endif /* TINYML_TM_BOARD_H */
