/*
 * What every STM32 console UART does before touching the UART: the board's
 * register set-up writes (RCC clock enables, and whatever else its TOML lists
 * as [address, bits] pairs to OR in), then the TX/RX pins switched to their
 * alternate function. The GPIO registers ("GPIO registers" in RM0385 for the
 * STM32F7, RM0433 H7, RM0432 L4+, RM0090 F4) share one layout: MODER 0x00,
 * OSPEEDR 0x08, PUPDR 0x0C, AFRL 0x20 and AFRH 0x24, port after port.
 */
#ifndef TINYML_TM_STM32_H
#define TINYML_TM_STM32_H

#include <stdint.h>

#include "board.h"

#define TM_STM32_REG(addr) (*(volatile uint32_t *)(addr))
#define GPIO_MODER(port) TM_STM32_REG((port) + 0x00u)
#define GPIO_OSPEEDR(port) TM_STM32_REG((port) + 0x08u)
#define GPIO_PUPDR(port) TM_STM32_REG((port) + 0x0Cu)
#define GPIO_AFR(port, pin) TM_STM32_REG((port) + 0x20u + 4u * ((pin) / 8u))

#define GPIO_MODE_AF 0x2u
#define GPIO_SPEED_MEDIUM 0x1u
#define GPIO_PULL_UP 0x1u

static inline void tm_stm32_uart_setup(void) {
#if TM_BOARD_UART_SETUP_COUNT > 0
  static const uint32_t writes[TM_BOARD_UART_SETUP_COUNT][2] = TM_BOARD_UART_SETUP;
  for (uint32_t i = 0; i < TM_BOARD_UART_SETUP_COUNT; ++i) {
    TM_STM32_REG(writes[i][0]) |= writes[i][1];
    (void)TM_STM32_REG(writes[i][0]); /* read back: the clock is on before its peripheral is used */
  }
#endif
#if TM_BOARD_UART_PIN_COUNT > 0
  /* {GPIO port base, pin, alternate function} */
  static const uint32_t pins[TM_BOARD_UART_PIN_COUNT][3] = TM_BOARD_UART_PINS;
  for (uint32_t i = 0; i < TM_BOARD_UART_PIN_COUNT; ++i) {
    const uint32_t port = pins[i][0], pin = pins[i][1], af = pins[i][2];
    const uint32_t shift2 = 2u * pin, shift4 = 4u * (pin % 8u);
    GPIO_AFR(port, pin) = (GPIO_AFR(port, pin) & ~(0xFu << shift4)) | (af << shift4);
    GPIO_OSPEEDR(port) = (GPIO_OSPEEDR(port) & ~(0x3u << shift2)) | (GPIO_SPEED_MEDIUM << shift2);
    GPIO_PUPDR(port) = (GPIO_PUPDR(port) & ~(0x3u << shift2)) | (GPIO_PULL_UP << shift2); /* idle high */
    GPIO_MODER(port) = (GPIO_MODER(port) & ~(0x3u << shift2)) | (GPIO_MODE_AF << shift2);
  }
#endif
}

#endif /* TINYML_TM_STM32_H */
