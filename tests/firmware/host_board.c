/*
 * tm_board.h for the machine running the tests: the "console UART" is a TCP
 * server on 127.0.0.1, so bench.c can be driven with pyserial's socket:// URLs
 * exactly as an emulator's serial port would be.
 *
 * The port is $TM_HOST_BOARD_PORT (0 or unset: any free port); the chosen one
 * is printed on stdout as "listening on 127.0.0.1:<port>". One host at a time;
 * when it hangs up the board waits for the next one, like a UART whose cable is
 * replugged. Bytes written with no host connected are lost, as on a real line.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "tm_board.h"

static int listener = -1;
static int conn = -1;
static pid_t parent;
static uint8_t rx_buf[4096];
static size_t rx_len;
static size_t rx_pos;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fail(const char *what) {
  fprintf(stderr, "host_board: %s: %s\n", what, strerror(errno));
  exit(70);
}

static void hang_up(void) {
  if (conn >= 0) {
    close(conn);
  }
  conn = -1;
  rx_len = rx_pos = 0;
}

void tm_board_init(void) {
  tm_clock_init();
  tm_cycles_init();
  tm_uart_init();
}

void tm_clock_init(void) {}

/* tm_cycles_now counts nanoseconds. */
uint32_t tm_clock_hz(void) { return 1000000000u; }

void tm_cycles_init(void) {}

uint64_t tm_cycles_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void tm_uart_init(void) {
  signal(SIGPIPE, SIG_IGN);
  parent = getppid();
  listener = socket(AF_INET, SOCK_STREAM, 0);
  if (listener < 0) {
    fail("socket");
  }
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const char *port = getenv("TM_HOST_BOARD_PORT");
  addr.sin_port = htons((uint16_t)(port != NULL ? atoi(port) : 0));
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 1) != 0) {
    fail("bind/listen");
  }
  socklen_t len = sizeof addr;
  getsockname(listener, (struct sockaddr *)&addr, &len);
  printf("listening on 127.0.0.1:%d\n", (int)ntohs(addr.sin_port));
  fflush(stdout);
}

int32_t tm_uart_read(uint32_t timeout_ms) {
  const int64_t deadline = now_ms() + (int64_t)timeout_ms;
  for (;;) {
    if (rx_pos < rx_len) {
      return rx_buf[rx_pos++];
    }
    if (getppid() != parent) {
      exit(0); /* whoever started us is gone: do not linger */
    }
    int64_t left = deadline - now_ms();
    if (left < 0) {
      left = 0;
    }
    struct pollfd p = {conn >= 0 ? conn : listener, POLLIN, 0};
    const int r = poll(&p, 1, (int)(left < 500 ? left : 500));
    if (r < 0 && errno != EINTR) {
      fail("poll");
    }
    if (r > 0 && conn < 0) {
      conn = accept(listener, NULL, NULL);
      if (conn >= 0) {
        const int one = 1;
        setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
    } else if (r > 0) {
      const ssize_t n = recv(conn, rx_buf, sizeof rx_buf, 0);
      if (n <= 0) {
        hang_up();
      } else {
        rx_len = (size_t)n;
        rx_pos = 0;
      }
    } else if (left == 0) {
      return -1;
    }
  }
}

void tm_uart_write(const uint8_t *data, uint32_t len) {
  while (len > 0 && conn >= 0) {
    const ssize_t n = send(conn, data, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      hang_up();
      return;
    }
    data += n;
    len -= (uint32_t)n;
  }
}

void tm_exit(int32_t status) {
  hang_up();
  exit((int)status);
}
