/*
 * The bench protocol: how a host talks to a tinyml firmware over its console UART.
 * tinyml/bench.py implements the host side; keep both in step (TM_BENCH_VERSION).
 *
 * Every message is a frame:
 *   magic   2 bytes  'T' 'M'
 *   type    1 byte   TM_MSG_*
 *   length  4 bytes  payload length, little-endian, at most TM_BENCH_MAX_PAYLOAD
 *   payload length bytes
 *   crc     4 bytes  CRC-32 (IEEE 802.3, as zlib.crc32) of type, length and payload, little-endian
 *
 * Host -> device:
 *   HELLO  (empty)                      -> INFO
 *   INFER  (input tensors, concatenated in model order) -> RESULT
 *   EXIT   (int32 status)               -> ACK, then the device stops (semihosting exit on emulators)
 * Device -> host:
 *   INFO   u32 version, u32 input bytes, u32 output bytes, u32 layers, u32 clock Hz,
 *          u32 arena bytes, 64 bytes model sha256 (hex), then the board name (UTF-8)
 *   RESULT i32 status (0, or -(layer + 1)), u64 total cycles, u32 cycles per layer,
 *          then the output tensors, concatenated in model order
 *   ACK    (empty)
 *   ERROR  u32 code (TM_BENCH_ERR_*), then a message (UTF-8)
 * All integers are little-endian. A device that sees bytes that are not a valid
 * frame (bad magic, oversized length, bad CRC, a frame that stalls for
 * TM_BENCH_FRAME_TIMEOUT_MS) answers ERROR where it can and resynchronises on
 * the next magic.
 */
#ifndef TINYML_TM_BENCH_H
#define TINYML_TM_BENCH_H

#define TM_BENCH_VERSION 1u
#define TM_BENCH_MAGIC0 0x54u /* 'T' */
#define TM_BENCH_MAGIC1 0x4Du /* 'M' */
#define TM_BENCH_MAX_PAYLOAD (1u << 20)
#define TM_BENCH_FRAME_TIMEOUT_MS 2000u

#define TM_MSG_HELLO 0x01u
#define TM_MSG_INFER 0x02u
#define TM_MSG_EXIT 0x03u
#define TM_MSG_INFO 0x81u
#define TM_MSG_RESULT 0x82u
#define TM_MSG_ACK 0x83u
#define TM_MSG_ERROR 0xE0u

#define TM_BENCH_ERR_CRC 1u
#define TM_BENCH_ERR_LENGTH 2u
#define TM_BENCH_ERR_TYPE 3u
#define TM_BENCH_ERR_TIMEOUT 4u
#define TM_BENCH_ERR_INPUT_SIZE 5u

#endif /* TINYML_TM_BENCH_H */
