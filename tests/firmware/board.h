/* board.h for the host test board (tests/firmware/host_board.c): what the generated board.h gives real boards. */
#ifndef TINYML_TEST_BOARD_H
#define TINYML_TEST_BOARD_H

#define TM_BOARD_NAME "host-test"
#define TM_BOARD_BAUD 115200

#endif /* TINYML_TEST_BOARD_H */
