/*
 * Console on an STM32L4/L4+ LPUART (RM0432 for the L4R5, "LPUART registers"):
 * the USART register layout with BRR = 256 * LPUART kernel clock / baud, which
 * must be at least 0x300.
 */
#include "tm_board.h"
#include "tm_stm32.h"

#define LPUART_REG(offset) (*(volatile uint32_t *)(TM_BOARD_UART_BASE + (offset)))
#define LPUART_CR1 LPUART_REG(0x00u)
#define LPUART_CR2 LPUART_REG(0x04u)
#define LPUART_CR3 LPUART_REG(0x08u)
#define LPUART_BRR LPUART_REG(0x0Cu)
#define LPUART_ISR LPUART_REG(0x1Cu)
#define LPUART_ICR LPUART_REG(0x20u)
#define LPUART_RDR LPUART_REG(0x24u)
#define LPUART_TDR LPUART_REG(0x28u)

#define CR1_UE (1u << 0)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define ISR_ERRORS 0xFu /* PE, FE, NE, ORE; cleared by the same bits in ICR */
#define ISR_RXNE (1u << 5)
#define ISR_TXE (1u << 7)

#define BRR ((uint32_t)((256ull * TM_BOARD_UART_CLOCK_HZ + TM_BOARD_UART_BAUD / 2u) / TM_BOARD_UART_BAUD))
typedef char tm_check_brr[BRR >= 0x300u && BRR < (1u << 20) ? 1 : -1];

void tm_uart_init(void) {
  tm_stm32_uart_setup();
  LPUART_CR1 = 0; /* BRR can only be written with the LPUART disabled */
  LPUART_CR2 = 0;
  LPUART_CR3 = 0;
  LPUART_BRR = BRR;
  LPUART_ICR = ISR_ERRORS;
  LPUART_CR1 = CR1_UE | CR1_RE | CR1_TE;
  tm_uart_ready = 1;
}

void tm_uart_write(const uint8_t *data, uint32_t len) {
  for (uint32_t i = 0; i < len; ++i) {
    while (!(LPUART_ISR & ISR_TXE)) {
    }
    LPUART_TDR = data[i];
  }
}

int32_t tm_uart_poll(void) {
  const uint32_t isr = LPUART_ISR;
  if (isr & ISR_ERRORS) {
    LPUART_ICR = isr & ISR_ERRORS;
  }
  if (isr & ISR_RXNE) {
    return (int32_t)(LPUART_RDR & 0xFFu);
  }
  return -1;
}
