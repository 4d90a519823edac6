/*
 * The bench protocol: how a host talks to a tinyml firmware over its console UART.
 * firmware/runtime/bench.c is the device side, tinyml/bench.py the host side;
 * keep both in step (TM_BENCH_VERSION).
 *
 * Every message is a frame:
 *   magic   2 bytes  'T' 'M'
 *   type    1 byte   TM_MSG_*
 *   seq     1 byte   request tag chosen by the host (1..255), echoed in the answer
 *   length  4 bytes  payload length, little-endian
 *   payload length bytes
 *   crc     4 bytes  CRC-32 (IEEE 802.3, as zlib.crc32) of type, seq, length and payload, little-endian
 *
 * Host -> device:
 *   HELLO  (empty)                      -> INFO
 *   INFER  (input tensors, concatenated in model order) -> RESULT
 *   EXIT   (int32 status)               -> ACK, then the device stops (semihosting exit on emulators)
 * Device -> host:
 *   INFO   u32 version, u32 input bytes, u32 output bytes, u32 layers, u32 clock Hz,
 *          u32 arena bytes, 64 bytes model sha256 (hex), then the board name,
 *          a NUL byte and the model name (UTF-8, each at most TM_BENCH_MAX_TEXT bytes)
 *   RESULT i32 status (0, or -(layer + 1)), u64 total cycles, u32 cycles per layer
 *          (one per model layer, 0 for layers that run no code or when built
 *          without TM_PROFILE_LAYERS), then the output tensors, concatenated in model order
 *   ACK    (empty)
 *   ERROR  u32 code (TM_BENCH_ERR_*), then a message (UTF-8, at most TM_BENCH_MAX_TEXT bytes)
 * All integers are little-endian.
 *
 * The device, on a line that may drop, flip or add bytes:
 * - ignores everything until the magic; after it, every byte of the frame must
 *   follow the previous one within TM_BENCH_FRAME_TIMEOUT_MS, else ERROR timeout
 *   (a gap, not a deadline for the frame: 27 KB of input take 2.4 s at 115200 baud);
 * - answers at once, right after the header, ERROR type for a type that is not a
 *   request and ERROR length for a length the type cannot have (HELLO 0, EXIT 4,
 *   INFER at most TM_BENCH_MAX_PAYLOAD), then looks for the next magic;
 * - reads the whole payload of an INFER whose length is not the model's input
 *   size, then answers ERROR input-size (ERROR crc if its CRC is wrong too);
 * - answers ERROR crc, and does not act on the frame, when its CRC is wrong;
 * - answers each frame header it reads exactly once, with the seq it read (0 if
 *   the frame stalled before its seq), and reads nothing while it computes.
 * The host therefore sends only while the device is idle (after an answer, or
 *   after more than TM_BENCH_FRAME_TIMEOUT_MS of silence: a UART without a FIFO
 *   drops what arrives while the device computes), skips bytes and frames with a
 *   bad CRC, ignores answers whose seq is not that of its request, and retries
 *   with a new seq: seq is what makes retrying safe.
 *
 * Version 1 history: seq, the model name in INFO and the rules above were added
 * before any firmware shipped, so the version stayed 1.
 */
#ifndef TINYML_TM_BENCH_H
#define TINYML_TM_BENCH_H

#define TM_BENCH_VERSION 1u
#define TM_BENCH_MAGIC0 0x54u /* 'T' */
#define TM_BENCH_MAGIC1 0x4Du /* 'M' */
#define TM_BENCH_HEADER_BYTES 8u
#define TM_BENCH_MAX_PAYLOAD (1u << 20)
#define TM_BENCH_MAX_TEXT 128u
/* Counted in core-clock time (tm_uart_read). Under QEMU -icount that is virtual
 * time, and polling the UART makes it slow: 2 s took about 40 s of wall time on
 * mps2-an386. Tests build with a shorter one. */
#ifndef TM_BENCH_FRAME_TIMEOUT_MS
#define TM_BENCH_FRAME_TIMEOUT_MS 2000u
#endif

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
