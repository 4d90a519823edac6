/*
 * Board runtime smoke test (tests/test_firmware.py runs it under QEMU):
 *   -> "hello from <board> <clock Hz>", once .data, .bss and the FPU check out
 *      (else "startup is broken" and exit status 5)
 *   -> "cycles <c0> <c1> <c2>": tm_cycles_now() around busy loops of exactly
 *      2 * LOOP and 4 * LOOP instructions (c0..c1, c1..c2)
 *   then echoes every byte it gets until 'q' (a silent host for ECHO_MS ends
 *   it with exit status 3),
 *   -> "timeout <byte> <cycles>": tm_uart_read(TIMEOUT_MS) with the host silent
 *   then runs commands:
 *     'w' -> "wrap <chunks> <min> <max>": tm_cycles_now() after each of a run of
 *            2 * LOOP-instruction chunks until the count passes 2^24 + 2^20
 *            (one SysTick period) and the smallest and largest step, with
 *            interrupts enabled ('w') or masked during each chunk ('m', so the
 *            wrap is seen through the pending SysTick bit)
 *     'f' raises a HardFault, 'x' exits with status 7 (anything else: 4).
 */
#include <stdint.h>

#include "tm_board.h"

#define LOOP 1000000u
#define ECHO_MS 10000u
#define TIMEOUT_MS 20u

static volatile uint32_t data_word = 0x5EED1234u; /* .data: copied from flash by Reset_Handler */
static volatile uint32_t bss_words[3];             /* .bss: zeroed by Reset_Handler */
static volatile float half = 0.5f;                 /* hard-float code needs the FPU enabled */

static void put(const char *s) {
  uint32_t n = 0;
  while (s[n] != '\0') {
    ++n;
  }
  tm_uart_write((const uint8_t *)s, n);
}

static void put_u64(uint64_t v) {
  char buf[21];
  int i = 20;
  buf[i] = '\0';
  do {
    buf[--i] = (char)('0' + v % 10u);
    v /= 10u;
  } while (v != 0u);
  put(&buf[i]);
}

static void put_i32(int32_t v) {
  if (v < 0) {
    put("-");
    put_u64((uint64_t)(-(int64_t)v));
  } else {
    put_u64((uint64_t)v);
  }
}

/* Exactly 2 * n instructions (n > 0). */
static void spin(uint32_t n) { __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n)::"cc"); }

static void wrap_test(int masked) {
  const uint64_t start = tm_cycles_now();
  uint64_t last = start, lo = UINT64_MAX, hi = 0;
  uint32_t chunks = 0;
  while (last - start < (1u << 24) + (1u << 20)) {
    if (masked) {
      __asm__ volatile("cpsid i" ::: "memory");
    }
    spin(LOOP);
    const uint64_t now = tm_cycles_now();
    if (masked) {
      __asm__ volatile("cpsie i" ::: "memory"); /* the pending SysTick runs here */
    }
    const uint64_t step = now - last;
    lo = step < lo ? step : lo;
    hi = step > hi ? step : hi;
    last = now;
    ++chunks;
  }
  put("wrap ");
  put_u64(chunks);
  put(" ");
  put_u64(lo);
  put(" ");
  put_u64(hi);
  put("\n");
}

int main(void) {
  tm_board_init();
  if (data_word != 0x5EED1234u || bss_words[0] != 0u || bss_words[2] != 0u || (int32_t)(half * 6.0f) != 3) {
    put("startup is broken\n");
    return 5;
  }
  put("hello from " TM_BOARD_NAME " ");
  put_u64(tm_clock_hz());
  put("\n");

  const uint64_t c0 = tm_cycles_now();
  spin(LOOP);
  const uint64_t c1 = tm_cycles_now();
  spin(2u * LOOP);
  const uint64_t c2 = tm_cycles_now();
  put("cycles ");
  put_u64(c0);
  put(" ");
  put_u64(c1);
  put(" ");
  put_u64(c2);
  put("\n");

  for (;;) {
    const int32_t byte = tm_uart_read(ECHO_MS);
    if (byte < 0) {
      put("echo timed out\n");
      return 3;
    }
    if (byte == 'q') {
      break;
    }
    const uint8_t b = (uint8_t)byte;
    tm_uart_write(&b, 1);
  }

  const uint64_t t0 = tm_cycles_now();
  const int32_t got = tm_uart_read(TIMEOUT_MS);
  const uint64_t t1 = tm_cycles_now();
  put("timeout ");
  put_i32(got);
  put(" ");
  put_u64(t1 - t0);
  put("\n");

  for (;;) {
    const int32_t command = tm_uart_read(ECHO_MS);
    if (command == 'w' || command == 'm') {
      wrap_test(command == 'm');
    } else if (command == 'f') {
      __asm__ volatile("bkpt 0x01"); /* no debugger: escalates to HardFault */
    } else {
      return command == 'x' ? 7 : 4;
    }
  }
}
