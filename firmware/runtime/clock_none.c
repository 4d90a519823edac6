/* The clock the chip resets to: nothing to set up (emulators, and boards not
 * yet given a PLL set-up). */
#include "tm_board.h"

void tm_clock_init(void) {}

uint32_t tm_clock_hz(void) { return TM_BOARD_CLOCK_HZ; }
