"""The bench protocol, host side: measure and run a tinyml firmware image over its console UART.

`firmware/runtime/tm_bench.h` is the specification and `firmware/runtime/bench.c`
the device side. Serial lines lose, flip and invent bytes (boot messages, a
wrong baud rate, a cable being plugged in), so every read here has a deadline,
bytes outside valid frames are skipped, frames with a bad CRC are dropped, and
requests are retried with a fresh sequence number so a late answer can never be
taken for the answer to a newer request. Failures are TinymlErrors naming the
port and a fix, never a hang or a traceback.
"""

from __future__ import annotations

import enum
import random
import struct
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import serial

from tinyml.errors import DeviceMismatchError, InputDataError, SerialError

VERSION = 1
MAGIC = b"TM"
HEADER = struct.Struct("<2sBBI")  # magic, type, seq, payload length
CRC = struct.Struct("<I")
MAX_PAYLOAD = 1 << 20
MAX_TEXT = 128  # longest board name, model name or error message
EXIT_WAIT = 5.0  # seconds to wait for EXIT's ACK
FRAME_TIMEOUT = 2.0  # TM_BENCH_FRAME_TIMEOUT_MS of the default firmware build, in seconds
INFO_FIXED = struct.Struct("<6I64s")  # version, input, output, layers, clock, arena, sha256 hex
RESULT_FIXED = struct.Struct("<iQ")  # status, total cycles

_POLL = 0.05  # longest a single port read blocks, so deadlines are kept to within this


class Msg(enum.IntEnum):
    """Message types (TM_MSG_*)."""

    HELLO = 0x01
    INFER = 0x02
    EXIT = 0x03
    INFO = 0x81
    RESULT = 0x82
    ACK = 0x83
    ERROR = 0xE0


class Err(enum.IntEnum):
    """ERROR codes (TM_BENCH_ERR_*)."""

    CRC = 1
    LENGTH = 2
    TYPE = 3
    TIMEOUT = 4
    INPUT_SIZE = 5


def crc32(data: bytes) -> int:
    """The frame CRC: CRC-32/IEEE over type, seq, length and payload (bench.c computes the same)."""
    return zlib.crc32(data) & 0xFFFFFFFF


@dataclass(frozen=True)
class Frame:
    """A frame whose CRC checked out."""

    type: int
    seq: int
    payload: bytes


@dataclass(frozen=True)
class BadFrame:
    """A plausible frame header whose CRC did not match: line noise, worth a retry if it was our answer."""

    type: int
    seq: int
    length: int


def encode_frame(type_: int, seq: int, payload: bytes = b"") -> bytes:
    """One frame, ready to write."""
    if not 0 <= seq <= 255:
        raise ValueError(f"seq {seq} is not a byte")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes is over the protocol's {MAX_PAYLOAD}")
    header = HEADER.pack(MAGIC, type_, seq, len(payload))
    return header + payload + CRC.pack(crc32(header[2:] + payload))


def decode_frame(data: bytes) -> Frame:
    """Exactly one frame (no noise around it); ValueError says what is wrong with it."""
    if len(data) < HEADER.size + CRC.size:
        raise ValueError(f"{len(data)} bytes are too short for a frame")
    magic, type_, seq, length = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ValueError(f"bad magic {magic!r}")
    if length > MAX_PAYLOAD or len(data) != HEADER.size + length + CRC.size:
        raise ValueError(f"length field {length} does not match the {len(data)} bytes given")
    body = data[2 : HEADER.size + length]
    if CRC.unpack_from(data, HEADER.size + length)[0] != crc32(body):
        raise ValueError("bad CRC")
    return Frame(type_, seq, bytes(data[HEADER.size : HEADER.size + length]))


class FrameParser:
    """Turns a byte stream with noise in it into frames.

    `accept(type, length)` rejects implausible headers at once, so noise that
    happens to contain the magic cannot make the parser wait for a huge bogus
    payload. After a rejected header or a bad CRC the search resumes one byte
    after that magic, so a real frame hidden inside a false one is still found.
    """

    def __init__(self, accept: Callable[[int, int], bool] | None = None) -> None:
        self.accept = accept or (lambda _type, length: length <= MAX_PAYLOAD)
        self.buf = bytearray()
        self.received = 0  # bytes fed in total
        self.skipped = 0  # bytes that were not part of a valid frame
        self.frames = 0
        self.head = bytearray()  # the first bytes received (since cleared), to show in error messages

    def _header(self) -> tuple[int, int, int] | None:
        """(type, seq, length) of the frame at the start of the buffer, if it is plausible."""
        _, type_, seq, length = HEADER.unpack_from(self.buf)
        return (type_, seq, length) if self.accept(type_, length) else None

    def needed(self) -> int:
        """How many more bytes could complete the next frame: how much to ask the port for."""
        if len(self.buf) >= HEADER.size and self.buf.startswith(MAGIC):
            header = self._header()
            if header is not None:
                return max(1, HEADER.size + header[2] + CRC.size - len(self.buf))
        return max(1, HEADER.size - len(self.buf))

    def _skip(self, n: int) -> None:
        del self.buf[:n]
        self.skipped += n

    def feed(self, data: bytes) -> list[Frame | BadFrame]:
        """Add received bytes; returns the frames (and bad frames) they completed, in order."""
        self.received += len(data)
        if len(self.head) < 32:
            self.head += data[: 32 - len(self.head)]
        self.buf += data
        events: list[Frame | BadFrame] = []
        while True:
            start = self.buf.find(MAGIC)
            if start < 0:
                self._skip(len(self.buf) - (1 if self.buf.endswith(MAGIC[:1]) else 0))
                return events
            self._skip(start)
            if len(self.buf) < HEADER.size:
                return events
            header = self._header()
            if header is None:
                self._skip(1)
                continue
            type_, seq, length = header
            end = HEADER.size + length
            if len(self.buf) < end + CRC.size:
                return events
            if CRC.unpack_from(self.buf, end)[0] == crc32(self.buf[2:end]):
                events.append(Frame(type_, seq, bytes(self.buf[HEADER.size : end])))
                del self.buf[: end + CRC.size]
                self.frames += 1
            else:
                events.append(BadFrame(type_, seq, length))
                self._skip(1)


@dataclass(frozen=True)
class DeviceInfo:
    """What a firmware image says about itself (INFO)."""

    version: int
    input_bytes: int
    output_bytes: int
    layers: int
    clock_hz: int
    arena_bytes: int
    model_hash: str
    board: str
    model_name: str

    @classmethod
    def from_payload(cls, payload: bytes) -> DeviceInfo:
        version = struct.unpack_from("<I", payload)[0]
        if version != VERSION:
            raise ValueError(f"bench protocol version {version}")
        if len(payload) < INFO_FIXED.size:
            raise ValueError(f"an INFO of {len(payload)} bytes, too short for version {VERSION}")
        _, inp, out, layers, clock, arena, sha = INFO_FIXED.unpack_from(payload)
        board, _, name = payload[INFO_FIXED.size :].partition(b"\0")
        return cls(version, inp, out, layers, clock, arena, _text(sha).lower(), _text(board), _text(name))

    @property
    def result_bytes(self) -> int:
        """The exact RESULT payload size for this model."""
        return RESULT_FIXED.size + 4 * self.layers + self.output_bytes


@dataclass(frozen=True)
class Result:
    """One inference on the device (RESULT)."""

    status: int  # 0, or -(layer + 1) when that layer rejected its arguments
    total_cycles: int
    layer_cycles: tuple[int, ...]  # one per model layer; 0 for layers that run no code
    output: bytes  # the output tensors, concatenated in model order

    @classmethod
    def from_payload(cls, payload: bytes, layers: int) -> Result:
        status, total = RESULT_FIXED.unpack_from(payload)
        cycles = struct.unpack_from(f"<{layers}I", payload, RESULT_FIXED.size)
        return cls(status, total, cycles, bytes(payload[RESULT_FIXED.size + 4 * layers :]))


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _error_text(payload: bytes) -> tuple[int, str]:
    code = struct.unpack_from("<I", payload)[0]
    name = Err(code).name.lower().replace("_", "-") if code in Err._value2member_map_ else f"code {code}"
    return code, f"ERROR {name} ({_text(payload[4:])})"


class BenchClient:
    """A connection to a firmware image that serves the bench protocol.

    `port` is any pyserial URL: /dev/ttyACM0, socket://127.0.0.1:4321, loop://.
    `connect_timeout` bounds the handshake (hello), `infer_timeout` one inference
    attempt once the input is on the line; `frame_timeout` must be the firmware's
    TM_BENCH_FRAME_TIMEOUT_MS, so the handshake outwaits a frame the device was
    still reading from an earlier session; `retries` is how many more times a
    request is sent after line noise garbled it or its answer.
    """

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        connect_timeout: float = 10.0,
        infer_timeout: float = 30.0,
        frame_timeout: float = FRAME_TIMEOUT,
        retries: int = 3,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.connect_timeout = connect_timeout
        self.infer_timeout = infer_timeout
        self.frame_timeout = frame_timeout
        self.retries = retries
        self.info: DeviceInfo | None = None
        self._parser = FrameParser(self._plausible)
        self._events: deque[Frame | BadFrame] = deque()
        self._seq = random.randrange(1, 256)  # unlikely to match answers left over from another session
        try:
            self._serial = serial.serial_for_url(
                port, baudrate=baudrate, timeout=_POLL, write_timeout=self._write_timeout(HEADER.size)
            )
        except (serial.SerialException, ValueError, OSError) as e:
            raise SerialError(
                f"cannot open serial port {port}: {e}",
                "check the port name (ls /dev/ttyACM* /dev/ttyUSB*; socket://host:port for emulators), "
                "that the board or emulator is running, and that no other program holds the port",
            ) from None

    def __enter__(self) -> BenchClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._serial.close()

    # ---- the requests ----

    def hello(self) -> DeviceInfo:
        """Handshake: HELLO until INFO comes back, through boot noise and half-read frames."""
        start = time.monotonic()
        deadline = start + self.connect_timeout
        answers: list[str] = []
        self._parser.head.clear()
        seen = (self._parser.received, self._parser.frames)
        wait = 0.25 + self.frame_timeout / 4
        while time.monotonic() < deadline:
            seq = self._send(Msg.HELLO)
            # An idle device answers at once. One still reading a frame from an earlier
            # session swallows this HELLO and needs frame_timeout of silence (longer in
            # wall time under an emulator's virtual clock): wait longer each time.
            attempt_end = min(deadline, time.monotonic() + wait)
            wait *= 2
            while (event := self._next_event(attempt_end)) is not None:
                if isinstance(event, BadFrame):
                    if event.seq == seq:
                        break
                    continue
                if event.type == Msg.INFO and event.seq == seq:
                    return self._accept_info(event.payload)
                if event.type == Msg.ERROR:
                    code, text = _error_text(event.payload)
                    answers.append(text)
                    if event.seq == seq or code == Err.TIMEOUT:
                        break  # the device is looking for a frame again: ask at once
        received, frames = self._parser.received - seen[0], self._parser.frames - seen[1]
        raise self._no_handshake(time.monotonic() - start, received, frames, answers)

    def verify(
        self, model_hash: str, *, name: str = "", input_bytes: int | None = None, output_bytes: int | None = None
    ) -> DeviceInfo:
        """Check that the board runs the model the host means (by sha256 of the .tflite file)."""
        info = self.info or self.hello()
        wanted = f"{name} ({model_hash[:12]})" if name else model_hash[:12]
        if info.model_hash != model_hash.lower():
            running = f"{info.model_name} ({info.model_hash[:12]})" if info.model_name else info.model_hash[:12]
            raise DeviceMismatchError(
                f"the board on {self.port} ({info.board}) runs model {running}, not {wanted}: deploy it first",
                "build and flash the firmware for this model, or point at the port of the board that runs it",
            )
        for what, want, got in (("input", input_bytes, info.input_bytes), ("output", output_bytes, info.output_bytes)):
            if want is not None and want != got:
                raise DeviceMismatchError(
                    f"the board on {self.port} runs {wanted} with {got} {what} bytes, expected {want}",
                    "rebuild and flash the firmware with this tinyml version",
                )
        return info

    def infer(self, data: bytes) -> Result:
        """Run one inference on `data` (the input tensors, concatenated in model order)."""
        info = self.info or self.hello()
        if len(data) != info.input_bytes:
            raise InputDataError(
                f"the model on {self.port} takes {info.input_bytes} bytes of input, got {len(data)}",
                "pass exactly the input tensor bytes, concatenated in model order",
            )
        line_time = self._line_time(HEADER.size + len(data) + CRC.size + HEADER.size + info.result_bytes + CRC.size)
        problems: list[str] = []
        for _ in range(self.retries + 1):
            seq = self._send(Msg.INFER, data)
            answer = self._answer(seq, time.monotonic() + line_time + self.infer_timeout)
            if answer is None:
                raise SerialError(
                    f"no answer to INFER from {self.port} within {self.infer_timeout:.1f} s",
                    "the board hung or reset (see its console), or the model needs longer: raise the inference timeout",
                )
            if isinstance(answer, BadFrame):
                problems.append("its answer arrived with a bad CRC")
            elif answer.type == Msg.RESULT:
                return Result.from_payload(answer.payload, info.layers)
            elif answer.type == Msg.ERROR:
                code, text = _error_text(answer.payload)
                if code == Err.INPUT_SIZE:
                    raise InputDataError(
                        f"the board on {self.port} rejected {len(data)} bytes of input: {text}",
                        "deploy the firmware for this model, or pass its exact input size",
                    )
                problems.append(f"the board answered {text}")
            else:
                problems.append(f"the board answered with message type {answer.type:#04x}")
        raise SerialError(
            f"INFER failed {len(problems)} times on {self.port}: {'; '.join(dict.fromkeys(problems))}",
            f"the line is too noisy: check the cable and its ground, or use a lower baud rate than {self.baudrate}",
        )

    def exit(self, status: int = 0) -> None:
        """Stop the firmware (a semihosting exit with `status` on emulators)."""
        payload = struct.pack("<i", status)
        for _ in range(self.retries + 1):
            seq = self._send(Msg.EXIT, payload)
            # at least a few seconds: an emulator on a loaded host can take that long to answer
            wait = max(self.frame_timeout, EXIT_WAIT)
            deadline = time.monotonic() + self._line_time(2 * HEADER.size + 4 + 2 * CRC.size) + wait
            try:
                answer = self._answer(seq, deadline)
            except SerialError:
                return  # the device hung up: it stopped, which is what was asked
            if answer is None:
                break
            if isinstance(answer, Frame) and answer.type == Msg.ACK:
                return
        raise SerialError(
            f"the board on {self.port} did not acknowledge EXIT",
            "reset the board (or stop the emulator); if this repeats, check the line",
        )

    # ---- the line ----

    def _plausible(self, type_: int, length: int) -> bool:
        """Whether a header could be an answer, so noise that contains the magic is skipped early."""
        if type_ == Msg.ACK:
            return length == 0
        if type_ == Msg.ERROR:
            return 4 <= length <= 4 + MAX_TEXT
        if type_ == Msg.INFO:
            return 4 <= length <= INFO_FIXED.size + 2 * MAX_TEXT + 1
        if type_ == Msg.RESULT:
            return self.info is not None and length == self.info.result_bytes
        return False

    def _accept_info(self, payload: bytes) -> DeviceInfo:
        try:
            info = DeviceInfo.from_payload(payload)
        except ValueError as e:
            raise DeviceMismatchError(
                f"the firmware on {self.port} sent {e}; this tinyml speaks bench protocol version {VERSION}",
                "rebuild and flash the firmware with this tinyml version",
            ) from None
        self.info = info
        self._serial.write_timeout = self._write_timeout(info.input_bytes + HEADER.size + CRC.size)
        return info

    def _line_time(self, nbytes: int) -> float:
        """Seconds `nbytes` take on the wire at 8N1."""
        return nbytes * 10 / self.baudrate

    def _write_timeout(self, nbytes: int) -> float:
        return self.connect_timeout + 2 * self._line_time(nbytes)

    def _send(self, type_: Msg, payload: bytes = b"") -> int:
        self._seq = self._seq % 255 + 1  # 1..255: the device answers 0 when it never read a seq
        frame = encode_frame(type_, self._seq, payload)
        try:
            self._serial.write(frame)
        except serial.SerialTimeoutException:
            raise SerialError(
                f"{self.port} did not take {len(frame)} bytes within {self._serial.write_timeout:.1f} s",
                "the board or emulator stopped reading its serial port: reset or restart it",
            ) from None
        except (serial.SerialException, OSError) as e:
            raise self._lost(e) from None
        return self._seq

    def _answer(self, seq: int, deadline: float) -> Frame | BadFrame | None:
        """The next frame (or garbled frame) answering request `seq`; others are stale or noise."""
        while (event := self._next_event(deadline)) is not None:
            if event.seq == seq:
                return event
        return None

    def _next_event(self, deadline: float) -> Frame | BadFrame | None:
        """The next frame or bad frame received, or None once `deadline` (time.monotonic()) has passed."""
        while not self._events:
            if time.monotonic() >= deadline:
                return None
            try:
                want = max(self._parser.needed(), self._serial.in_waiting)
                data = self._serial.read(min(want, 1 << 16))
            except (serial.SerialException, OSError) as e:
                raise self._lost(e) from None
            if data:
                self._events.extend(self._parser.feed(data))
        return self._events.popleft()

    def _lost(self, e: Exception) -> SerialError:
        return SerialError(
            f"lost the connection to {self.port}: {e}",
            "check that the board is still connected and powered (for emulators: that the emulator still runs)",
        )

    def _no_handshake(self, waited: float, received: int, frames: int, answers: list[str]) -> SerialError:
        where = f"{self.port} at {self.baudrate} baud"
        if received == 0:
            return SerialError(
                f"no answer from {where} within {waited:.1f} s: the line is silent",
                "check that the board is powered and flashed with a tinyml firmware image and that this port is "
                "its console UART (for emulators: that the emulator runs and serves this port); a board still "
                "reading a frame from an interrupted session answers only after TM_BENCH_FRAME_TIMEOUT_MS of "
                "silence (far longer in wall-clock time under QEMU -icount): reset it or allow more time",
            )
        if frames == 0:
            return SerialError(
                f"{where} sent {received} bytes in {waited:.1f} s but no bench protocol frame "
                f"(they start {bytes(self._parser.head)!r})",
                "check the baud rate, and that the board runs a tinyml firmware image and not other firmware",
            )
        return SerialError(
            f"{where} answered HELLO for {waited:.1f} s but never with INFO "
            f"({'; '.join(dict.fromkeys(answers)) or 'only frames with a bad CRC'})",
            "the line is too noisy or the firmware is not a tinyml bench image: check the cable, "
            "reflash the board, or use a lower baud rate",
        )
