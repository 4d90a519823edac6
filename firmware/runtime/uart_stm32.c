/*
 * Console on an STM32 USART with the ISR/RDR/TDR register layout: STM32F7
 * (RM0385), STM32H7 (RM0433, FIFO mode left off) and STM32L4/L4+ (RM0351,
 * RM0432), each in its chapter's "USART registers" section; also the L4/L4+
 * LPUART, which has the same registers. The baud divider comes from board.h
 * (tinyml/firmware.py): kernel clock / baud for a USART at 16x oversampling,
 * 256 x kernel clock / baud for the LPUART.
 */
#include "tm_board.h"
#include "tm_stm32.h"

#define USART_REG(offset) (*(volatile uint32_t *)(TM_BOARD_UART_BASE + (offset)))
#define USART_CR1 USART_REG(0x00u)
#define USART_CR2 USART_REG(0x04u)
#define USART_CR3 USART_REG(0x08u)
#define USART_BRR USART_REG(0x0Cu)
#define USART_ISR USART_REG(0x1Cu)
#define USART_ICR USART_REG(0x20u)
#define USART_RDR USART_REG(0x24u)
#define USART_TDR USART_REG(0x28u)

#define CR1_UE (1u << 0)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define ISR_ERRORS 0xFu /* PE, FE, NE, ORE; cleared by the same bits in ICR */
#define ISR_RXNE (1u << 5)
#define ISR_TXE (1u << 7)

void tm_uart_init(void) {
  tm_stm32_uart_setup();
  USART_CR1 = 0; /* BRR can only be written with the USART disabled */
  USART_CR2 = 0;
  USART_CR3 = 0;
  USART_BRR = TM_BOARD_UART_BRR;
  USART_ICR = ISR_ERRORS;
  USART_CR1 = CR1_UE | CR1_RE | CR1_TE;
  tm_uart_ready = 1;
}

void tm_uart_write(const uint8_t *data, uint32_t len) {
  for (uint32_t i = 0; i < len; ++i) {
    while (!(USART_ISR & ISR_TXE)) {
    }
    USART_TDR = data[i];
  }
}

int32_t tm_uart_poll(void) {
  const uint32_t isr = USART_ISR;
  if (isr & ISR_ERRORS) {
    USART_ICR = isr & ISR_ERRORS; /* an overrun would otherwise stop reception */
  }
  if (isr & ISR_RXNE) {
    return (int32_t)(USART_RDR & 0xFFu);
  }
  return -1;
}
