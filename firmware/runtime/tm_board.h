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

/* Console UART (uart_<name>.c), 8N1 at TM_BOARD_BAUD. */
void tm_uart_init(void);
void tm_uart_write(const uint8_t *data, uint32_t len);
/* Next received byte, or -1 when none arrives within about `timeout_ms`
 * milliseconds of core clock time. */
int32_t tm_uart_read(uint32_t timeout_ms);

/* Free-running cycle counter (cycles_<name>.c): DWT CYCCNT on hardware,
 * SysTick extended to 64 bits on emulators (QEMU's DWT reads zero). */
void tm_cycles_init(void);
uint64_t tm_cycles_now(void);

/* Stop: on emulators a semihosting exit with `status` (exit_semihosting.c),
 * on hardware a spin (exit_loop.c). */
void tm_exit(int32_t status) __attribute__((noreturn));

#endif /* TINYML_TM_BOARD_H */
