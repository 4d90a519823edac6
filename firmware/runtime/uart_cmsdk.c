/*
 * Console on an Arm CMSDK APB UART (MPS2 and MPS3 FPGA images; Cortex-M
 * System Design Kit TRM, Arm DDI 0479, "APB UART"): no FIFO, one holding
 * register each way, BAUDDIV = UART clock / baud (at least 16).
 */
#include "tm_board.h"

#define UART_REG(offset) (*(volatile uint32_t *)(TM_BOARD_UART_BASE + (offset)))
#define UART_DATA UART_REG(0x000u)
#define UART_STATE UART_REG(0x004u)
#define UART_CTRL UART_REG(0x008u)
#define UART_INTSTATUS UART_REG(0x00Cu)
#define UART_BAUDDIV UART_REG(0x010u)

#define STATE_TX_FULL (1u << 0)
#define STATE_RX_FULL (1u << 1)
#define STATE_TX_OVERRUN (1u << 2)
#define STATE_RX_OVERRUN (1u << 3)
#define CTRL_TX_EN (1u << 0)
#define CTRL_RX_EN (1u << 1)

#define BAUDDIV (TM_BOARD_UART_CLOCK_HZ / TM_BOARD_UART_BAUD)
typedef char tm_check_bauddiv[BAUDDIV >= 16u ? 1 : -1];

void tm_uart_init(void) {
  UART_CTRL = 0;
  UART_BAUDDIV = BAUDDIV;
  UART_STATE = STATE_TX_OVERRUN | STATE_RX_OVERRUN; /* write 1 to clear */
  UART_INTSTATUS = 0xFu;
  UART_CTRL = CTRL_TX_EN | CTRL_RX_EN;
  tm_uart_ready = 1;
}

void tm_uart_write(const uint8_t *data, uint32_t len) {
  for (uint32_t i = 0; i < len; ++i) {
    while (UART_STATE & STATE_TX_FULL) {
    }
    UART_DATA = data[i];
  }
}

int32_t tm_uart_poll(void) {
  const uint32_t state = UART_STATE;
  if (state & STATE_RX_OVERRUN) {
    UART_STATE = STATE_RX_OVERRUN;
  }
  if (state & STATE_RX_FULL) {
    return (int32_t)(UART_DATA & 0xFFu);
  }
  return -1;
}
