/* Board bring-up and the UART read timeout, common to every board. */
#include "tm_board.h"

void tm_board_init(void) {
  tm_clock_init();
  tm_cycles_init();
  tm_uart_init();
}

/* While waiting, the UART is polled once every 2 us of cycle-counter time:
 * far faster than bytes arrive (87 us apart at 115200 baud, 11 us at 921600),
 * and it keeps emulators quick: QEMU's STM32 USART model does costly chardev
 * work on every status read, and under -icount a tight status-polling loop
 * made a 20 ms timeout take seconds. */
int32_t tm_uart_read(uint32_t timeout_ms) {
  int32_t byte = tm_uart_poll();
  if (byte >= 0) {
    return byte;
  }
  const uint32_t per_ms = tm_clock_hz() / 1000u;
  const uint64_t limit = (uint64_t)timeout_ms * per_ms;
  const uint32_t gap = per_ms / 500u;
  const uint64_t start = tm_cycles_now();
  uint64_t polled = start;
  for (;;) {
    const uint64_t now = tm_cycles_now();
    if (now - polled >= gap) {
      byte = tm_uart_poll();
      if (byte >= 0) {
        return byte;
      }
      polled = now;
    }
    if (now - start >= limit) {
      return tm_uart_poll();
    }
  }
}
