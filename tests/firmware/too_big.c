/* A program too big for its board (tests/test_firmware.py): -DBIG_FLASH=<bytes>
 * puts a constant array that size in flash, -DBIG_RAM=<bytes> an arena that
 * size in RAM. Linking must fail with tinyml's message from linker.ld. */
#include <stdint.h>

#include "tm_board.h"

#if defined(BIG_FLASH)
static const uint8_t big[BIG_FLASH] = {1, 2, 3};
#elif defined(BIG_RAM)
static uint8_t big[BIG_RAM] __attribute__((section(".tinyml_arena"), aligned(16)));
#endif

int main(void) {
  tm_board_init();
  return big[tm_cycles_now() & 0xFFFFu];
}
