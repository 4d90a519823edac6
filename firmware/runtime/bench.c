/*
 * The bench protocol server (tm_bench.h): every firmware image runs this, so any
 * image can be measured and used to run inferences over its console UART.
 *
 * RAM: no staging buffers. INFER payloads stream from the UART straight into the
 * model's input tensors in the arena, outputs stream from the arena to the UART,
 * and the CRC is computed on the fly with a 16-entry table (64 bytes of flash).
 */
#include <stdint.h>

#include "model.h"
#include "tm_bench.h"
#include "tm_board.h"

#ifndef TM_BOARD_NAME
#define TM_BOARD_NAME "unknown"
#endif

#define TM_STR_(x) #x
#define TM_STR(x) TM_STR_(x)
/* Text fields are truncated, never overrun: the host rejects longer ones as noise. */
#define TM_TEXT_LEN(s) ((uint32_t)(sizeof(s) - 1u < TM_BENCH_MAX_TEXT ? sizeof(s) - 1u : TM_BENCH_MAX_TEXT))

/* MODEL_HASH is a sha256 in hex: INFO carries exactly 64 bytes of it. */
typedef char tm_bench_hash_has_64_chars[(sizeof(MODEL_HASH) == 65u) ? 1 : -1];

#define INFO_FIXED_BYTES (6u * 4u + 64u)
#define RESULT_BYTES (4u + 8u + 4u * (uint32_t)MODEL_NUM_LAYERS + (uint32_t)MODEL_OUTPUT_BYTES)

/* ---- CRC-32 (IEEE 802.3, reflected, as zlib.crc32), one nibble at a time ---- */

static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

static uint32_t crc_byte(uint32_t crc, uint8_t b) {
  crc ^= b;
  crc = (crc >> 4) ^ crc_nibble[crc & 15u];
  return (crc >> 4) ^ crc_nibble[crc & 15u];
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

/* ---- per-layer cycles, recorded by the hooks the generated model calls ---- */

static uint32_t layer_cycles[MODEL_NUM_LAYERS];

#ifdef TM_PROFILE_LAYERS
static uint64_t layer_start;

void tm_layer_begin(int32_t index) {
  (void)index;
  layer_start = tm_cycles_now();
}

void tm_layer_end(int32_t index) {
  const uint64_t spent = tm_cycles_now() - layer_start;
  if (index >= 0 && index < MODEL_NUM_LAYERS) {
    layer_cycles[index] = spent > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)spent;
  }
}
#endif

/* ---- sending: the CRC runs over everything after the magic ---- */

static uint32_t tx_crc;

static void tx(const void *data, uint32_t len) {
  const uint8_t *p = (const uint8_t *)data;
  for (uint32_t i = 0; i < len; ++i) {
    tx_crc = crc_byte(tx_crc, p[i]);
  }
  tm_uart_write(p, len);
}

static void tx_u32(uint32_t v) {
  uint8_t b[4];
  put_u32(b, v);
  tx(b, 4u);
}

static void tx_begin(uint8_t type, uint8_t seq, uint32_t len) {
  uint8_t h[TM_BENCH_HEADER_BYTES] = {TM_BENCH_MAGIC0, TM_BENCH_MAGIC1, type, seq, 0u, 0u, 0u, 0u};
  put_u32(&h[4], len);
  tm_uart_write(h, 2u);
  tx_crc = 0xFFFFFFFFu;
  tx(&h[2], TM_BENCH_HEADER_BYTES - 2u);
}

static void tx_end(void) {
  uint8_t b[4];
  put_u32(b, ~tx_crc);
  tm_uart_write(b, 4u);
}

static void send_error(uint8_t seq, uint32_t code, const char *message, uint32_t message_len) {
  tx_begin(TM_MSG_ERROR, seq, 4u + message_len);
  tx_u32(code);
  tx(message, message_len);
  tx_end();
}

#define SEND_ERROR(seq, code, message) send_error((seq), (code), (message), TM_TEXT_LEN(message))

static void send_info(uint8_t seq) {
  static const uint8_t nul = 0u;
  tx_begin(TM_MSG_INFO, seq, INFO_FIXED_BYTES + TM_TEXT_LEN(TM_BOARD_NAME) + 1u + TM_TEXT_LEN(MODEL_NAME));
  tx_u32(TM_BENCH_VERSION);
  tx_u32((uint32_t)MODEL_INPUT_BYTES);
  tx_u32((uint32_t)MODEL_OUTPUT_BYTES);
  tx_u32((uint32_t)MODEL_NUM_LAYERS);
  tx_u32(tm_clock_hz());
  tx_u32((uint32_t)MODEL_ARENA_SIZE);
  tx(MODEL_HASH, 64u);
  tx(TM_BOARD_NAME, TM_TEXT_LEN(TM_BOARD_NAME));
  tx(&nul, 1u);
  tx(MODEL_NAME, TM_TEXT_LEN(MODEL_NAME));
  tx_end();
}

static void send_result(uint8_t seq) {
  for (int32_t i = 0; i < MODEL_NUM_LAYERS; ++i) {
    layer_cycles[i] = 0u;
  }
  /* Restart the counter: under QEMU this also aligns SysTick's tick phase with
   * the start of the inference, so counts repeat exactly from run to run. */
  tm_cycles_init();
  const uint64_t start = tm_cycles_now();
  const int32_t status = model_invoke();
  const uint64_t total = tm_cycles_now() - start;

  tx_begin(TM_MSG_RESULT, seq, RESULT_BYTES);
  tx_u32((uint32_t)status);
  tx_u32((uint32_t)total);
  tx_u32((uint32_t)(total >> 32));
  for (int32_t i = 0; i < MODEL_NUM_LAYERS; ++i) {
    tx_u32(layer_cycles[i]);
  }
  for (int32_t i = 0; i < MODEL_NUM_OUTPUTS; ++i) {
    tx(model_output(i), (uint32_t)model_outputs[i].bytes);
  }
  tx_end();
}

/* ---- receiving ---- */

static uint32_t rx_crc;

/* The next byte of a frame (added to the CRC), or -1 when the line stalled. */
static int32_t rx(void) {
  const int32_t c = tm_uart_read(TM_BENCH_FRAME_TIMEOUT_MS);
  if (c >= 0) {
    rx_crc = crc_byte(rx_crc, (uint8_t)c);
  }
  return c;
}

/* Reads `len` payload bytes into `dst` (NULL: discard them). 0, or -1 on a stall. */
static int32_t rx_payload(uint8_t *dst, uint32_t len) {
  for (uint32_t i = 0; i < len; ++i) {
    const int32_t c = rx();
    if (c < 0) {
      return -1;
    }
    if (dst != 0) {
      dst[i] = (uint8_t)c;
    }
  }
  return 0;
}

/* Reads the trailing CRC: 1 if it matches, 0 if not, -1 on a stall. */
static int32_t rx_crc_ok(void) {
  const uint32_t expected = ~rx_crc;
  uint8_t b[4];
  for (uint32_t i = 0; i < 4u; ++i) {
    const int32_t c = tm_uart_read(TM_BENCH_FRAME_TIMEOUT_MS);
    if (c < 0) {
      return -1;
    }
    b[i] = (uint8_t)c;
  }
  return get_u32(b) == expected ? 1 : 0;
}

/* Blocks until the magic has arrived; everything else on the line is noise. */
static void hunt_magic(void) {
  int32_t prev = -1;
  for (;;) {
    const int32_t c = tm_uart_read(TM_BENCH_FRAME_TIMEOUT_MS);
    if (prev == (int32_t)TM_BENCH_MAGIC0 && c == (int32_t)TM_BENCH_MAGIC1) {
      return;
    }
    prev = c;
  }
}

#define STALLED "frame stalled"
#define BAD_CRC "bad CRC"

/* One frame: read it, act on it, answer it exactly once. */
static void serve_frame(void) {
  uint8_t h[TM_BENCH_HEADER_BYTES - 2u] = {0u};
  hunt_magic();
  rx_crc = 0xFFFFFFFFu;
  for (uint32_t i = 0; i < sizeof h; ++i) {
    const int32_t c = rx();
    if (c < 0) {
      SEND_ERROR(h[1], TM_BENCH_ERR_TIMEOUT, STALLED);
      return;
    }
    h[i] = (uint8_t)c;
  }
  const uint8_t type = h[0];
  const uint8_t seq = h[1];
  const uint32_t len = get_u32(&h[2]);

  uint8_t exit_payload[4] = {0u};
  uint8_t *dst = 0;       /* where the payload goes; NULL drains it */
  uint32_t left = len;    /* payload bytes still to read after the switch */
  int32_t wrong_size = 0; /* an INFER that is not MODEL_INPUT_BYTES long */
  switch (type) {
    case TM_MSG_HELLO:
      if (len != 0u) {
        SEND_ERROR(seq, TM_BENCH_ERR_LENGTH, "HELLO has no payload");
        return;
      }
      break;
    case TM_MSG_EXIT:
      if (len != 4u) {
        SEND_ERROR(seq, TM_BENCH_ERR_LENGTH, "EXIT takes a 4-byte status");
        return;
      }
      dst = exit_payload;
      break;
    case TM_MSG_INFER:
      if (len > TM_BENCH_MAX_PAYLOAD) {
        SEND_ERROR(seq, TM_BENCH_ERR_LENGTH, "payload too long");
        return;
      }
      if (len != (uint32_t)MODEL_INPUT_BYTES) {
        wrong_size = 1;
        break;
      }
      /* Straight into the model's input tensors, one after the other. */
      for (int32_t i = 0; i < MODEL_NUM_INPUTS; ++i) {
        if (rx_payload((uint8_t *)model_input(i), (uint32_t)model_inputs[i].bytes) != 0) {
          SEND_ERROR(seq, TM_BENCH_ERR_TIMEOUT, STALLED);
          return;
        }
      }
      left = 0u;
      break;
    default:
      SEND_ERROR(seq, TM_BENCH_ERR_TYPE, "unknown message type");
      return;
  }

  int32_t ok = rx_payload(dst, left);
  if (ok == 0) {
    ok = rx_crc_ok();
  }
  if (ok < 0) {
    SEND_ERROR(seq, TM_BENCH_ERR_TIMEOUT, STALLED);
  } else if (ok == 0) {
    SEND_ERROR(seq, TM_BENCH_ERR_CRC, BAD_CRC);
  } else if (type == TM_MSG_HELLO) {
    send_info(seq);
  } else if (type == TM_MSG_EXIT) {
    tx_begin(TM_MSG_ACK, seq, 0u);
    tx_end();
    tm_exit((int32_t)get_u32(exit_payload));
  } else if (wrong_size) {
    SEND_ERROR(seq, TM_BENCH_ERR_INPUT_SIZE, "INFER needs " TM_STR(MODEL_INPUT_BYTES) " bytes of input");
  } else {
    send_result(seq);
  }
}

int main(void) {
  tm_board_init();
  for (;;) {
    serve_frame();
  }
}
