/*
 * Console on an STM32F4 USART, the older SR/DR register layout (RM0090
 * 30.6 "USART registers"); QEMU's netduinoplus2 (STM32F405) models it. 16x
 * oversampling, so BRR (mantissa << 4 | fraction) = USART clock / baud (board.h).
 */
#include "tm_board.h"
#include "tm_stm32.h"

#define USART_REG(offset) (*(volatile uint32_t *)(TM_BOARD_UART_BASE + (offset)))
#define USART_SR USART_REG(0x00u)
#define USART_DR USART_REG(0x04u)
#define USART_BRR USART_REG(0x08u)
#define USART_CR1 USART_REG(0x0Cu)
#define USART_CR2 USART_REG(0x10u)
#define USART_CR3 USART_REG(0x14u)

#define SR_ERRORS 0xFu /* PE, FE, NF, ORE; cleared by reading SR then DR */
#define SR_RXNE (1u << 5)
#define SR_TXE (1u << 7)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define CR1_UE (1u << 13)

void tm_uart_init(void) {
  tm_stm32_uart_setup();
  USART_CR1 = 0;
  USART_CR2 = 0;
  USART_CR3 = 0;
  USART_BRR = TM_BOARD_UART_BRR;
  USART_CR1 = CR1_UE | CR1_RE | CR1_TE;
  tm_uart_ready = 1;
}

void tm_uart_write(const uint8_t *data, uint32_t len) {
  for (uint32_t i = 0; i < len; ++i) {
    while (!(USART_SR & SR_TXE)) {
    }
    USART_DR = data[i];
  }
}

int32_t tm_uart_poll(void) {
  const uint32_t sr = USART_SR;
  if (sr & (SR_RXNE | SR_ERRORS)) {
    const uint32_t data = USART_DR; /* also clears the error flags */
    if (sr & SR_RXNE) {
      return (int32_t)(data & 0xFFu);
    }
  }
  return -1;
}
