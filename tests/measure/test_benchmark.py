"""The bench protocol, both sides, on the host: no QEMU needed.

`firmware/runtime/bench.c` is built with a generated MLPerf Tiny model and
`tests/firmware/host_board.c`, whose console "UART" is a TCP server, so
`tinyml.measure.protocol.BenchClient` talks to it through pyserial's socket:// exactly as
to an emulator. Raw frames probe the device's resynchronisation; a relay that
flips chosen bytes stands in for a noisy line; fake ports that stay silent or
babble check that the host side fails cleanly and in time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import re
import select
import socket
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import serial
from support import REPO, mlperf_dir

from tinyml.codegen.project import write_project
from tinyml.codegen.render import render_model
from tinyml.errors import DeviceMismatchError, InputDataError, SerialError
from tinyml.frontend.tflite import load_model
from tinyml.kernels.costs import plan_cycles
from tinyml.measure.benchmark import bench_report, format_bench
from tinyml.measure.protocol import (
    FRAME_TIMEOUT,
    INFO_FIXED,
    MAX_PAYLOAD,
    BadFrame,
    BenchClient,
    DeviceInfo,
    Err,
    Frame,
    FrameParser,
    Msg,
    Result,
    crc32,
    decode_frame,
    encode_frame,
)
from tinyml.passes import optimize
from tinyml.plan import Planned, PlanOptions, plan_memory, plan_model
from tinyml.reference.inputs import random_inputs
from tinyml.reference.tflm import tflm_outputs
from tinyml.target.boards import emulation_board, load_board
from tinyml.target.build import require_tool

RUNTIME = REPO / "firmware" / "runtime"
TEST_FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
STALL_MS = 300  # the test builds' TM_BENCH_FRAME_TIMEOUT_MS: stalls are quick to provoke
STALL = STALL_MS / 1000
MODELS = ("kws_ref_model", "ad01_int8", "vww_96_int8")  # vww: a 27,648-byte input streamed into the arena


# ---- building and running the firmware on the host ----


@dataclass
class Firmware:
    model: Path
    exe: Path
    layers: int  # the model's MODEL_NUM_LAYERS
    model_hash: str


@dataclass
class Device:
    firmware: Firmware
    url: str
    process: subprocess.Popen[bytes]


def _compile_command(project: Path, exe: Path) -> list[str]:
    return [
        require_tool("gcc"),
        "-std=c99",
        "-O1",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-DTM_PROFILE_LAYERS",
        f"-DTM_BENCH_FRAME_TIMEOUT_MS={STALL_MS}u",
        f"-I{project / 'tinyml' / 'include'}",
        f"-I{RUNTIME}",
        f"-I{TEST_FIRMWARE}",  # its board.h
        f"-I{project}",
        str(RUNTIME / "bench.c"),
        str(TEST_FIRMWARE / "host_board.c"),
        str(project / "model.c"),
        *map(str, sorted((project / "tinyml" / "kernels").glob("*.c"))),
        "-lm",
        "-o",
        str(exe),
    ]


@pytest.fixture(scope="module")
def firmwares(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Firmware]:
    """bench.c + each model, built for the host (in parallel: a second each)."""
    work = tmp_path_factory.mktemp("bench")
    built, jobs = {}, []
    for name in MODELS:
        model = mlperf_dir() / f"{name}.tflite"
        graph = optimize(load_model(model))
        project = work / name
        project.mkdir()
        write_project(render_model(graph, plan_memory(graph), load_board("host")), project)
        exe = project / "bench"
        jobs.append(subprocess.Popen(_compile_command(project, exe), stderr=subprocess.PIPE))
        built[name] = Firmware(model, exe, len(graph.ops), hashlib.sha256(model.read_bytes()).hexdigest())
    for job in jobs:
        _, err = job.communicate(timeout=120)
        assert job.returncode == 0, err.decode()
    return built


def start(firmware: Firmware) -> Device:
    """Run a firmware; its UART is the TCP port it prints."""
    proc = subprocess.Popen([str(firmware.exe)], stdout=subprocess.PIPE, env={**os.environ, "TM_HOST_BOARD_PORT": "0"})
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    line = proc.stdout.readline().decode() if ready else ""
    match = re.fullmatch(r"listening on (127\.0\.0\.1:\d+)\n", line)
    assert match, f"the host board did not start: {line!r}"
    return Device(firmware, f"socket://{match[1]}", proc)


@pytest.fixture(scope="module")
def devices(firmwares: dict[str, Firmware]) -> Iterator[dict[str, Device]]:
    running = {name: start(fw) for name, fw in firmwares.items()}
    yield running
    for dev in running.values():
        dev.process.kill()
        dev.process.wait()


@pytest.fixture
def kws(devices: dict[str, Device]) -> Device:
    return devices["kws_ref_model"]


def client(url: str, **kw: float) -> BenchClient:
    return BenchClient(url, **{"frame_timeout": STALL, "connect_timeout": 5.0, "infer_timeout": 10.0, **kw})


def sample(model: Path, seed: int) -> tuple[bytes, bytes]:
    """Seeded random input bytes and TFLite Micro's output bytes for them."""
    inputs = random_inputs(model, seed)
    return b"".join(x.tobytes() for x in inputs), b"".join(y.tobytes() for y in tflm_outputs(model, inputs))


class Line:
    """A raw connection to a device, to send exactly the bytes a test wants."""

    def __init__(self, url: str) -> None:
        self.port = serial.serial_for_url(url, timeout=0.05)
        self.parser = FrameParser()
        self.pending: list[Frame | BadFrame] = []

    def send(self, data: bytes) -> None:
        self.port.write(data)

    def frame(self, timeout: float = 5.0) -> Frame:
        deadline = time.monotonic() + timeout
        while not self.pending:
            assert time.monotonic() < deadline, "no answer from the device"
            self.pending += self.parser.feed(self.port.read(max(1, self.port.in_waiting)))
        event = self.pending.pop(0)
        assert isinstance(event, Frame), f"the device sent a corrupt frame: {event}"
        return event

    def close(self) -> None:
        self.port.close()


@pytest.fixture
def line(kws: Device) -> Iterator[Line]:
    raw = Line(kws.url)
    yield raw
    raw.close()


def error_code(frame: Frame) -> int:
    assert frame.type == Msg.ERROR, f"expected ERROR, got {frame}"
    return struct.unpack_from("<I", frame.payload)[0]


# ---- frames and CRC, no device ----


def test_crc_nibble_table_in_bench_c_matches_zlib() -> None:
    """bench.c's 16-entry table and nibble-at-a-time loop compute zlib's CRC-32, as the host does."""
    source = (RUNTIME / "bench.c").read_text()
    table_text = re.search(r"crc_nibble\[16\] = \{(.*?)\};", source, re.S)
    assert table_text
    table = [int(v, 16) for v in re.findall(r"0x([0-9A-Fa-f]{8})u", table_text[1])]
    assert len(table) == 16

    def nibble_crc(data: bytes) -> int:  # bench.c's crc_byte, step for step
        crc = 0xFFFFFFFF
        for b in data:
            crc ^= b
            crc = (crc >> 4) ^ table[crc & 15]
            crc = (crc >> 4) ^ table[crc & 15]
        return crc ^ 0xFFFFFFFF

    rng = random.Random(1)
    for n in (0, 1, 2, 3, 4, 7, 64, 1000):
        data = rng.randbytes(n)
        assert nibble_crc(data) == zlib.crc32(data) == crc32(data)
    assert nibble_crc(b"123456789") == 0xCBF43926  # the CRC-32/IEEE check value


def test_frame_encode_decode() -> None:
    for type_, seq, payload in [(Msg.HELLO, 1, b""), (Msg.INFER, 255, bytes(range(256)) * 3), (Msg.ERROR, 0, b"x")]:
        raw = encode_frame(type_, seq, payload)
        assert raw[:2] == b"TM" and len(raw) == 8 + len(payload) + 4
        assert struct.unpack_from("<BBI", raw, 2) == (type_, seq, len(payload))
        assert struct.unpack_from("<I", raw, len(raw) - 4)[0] == zlib.crc32(raw[2:-4])
        assert decode_frame(raw) == Frame(type_, seq, payload)
    good = encode_frame(Msg.INFO, 9, b"abc")
    for bad in (good[:-1], b"TN" + good[2:], good[:5] + b"\x01" + good[6:], good[:-1] + bytes([good[-1] ^ 1])):
        with pytest.raises(ValueError):
            decode_frame(bad)
    with pytest.raises(ValueError):
        encode_frame(Msg.HELLO, 256)
    with pytest.raises(ValueError):
        encode_frame(Msg.INFER, 1, bytes(MAX_PAYLOAD + 1))


def test_parser_skips_noise_and_drops_bad_frames_at_any_split() -> None:
    f1, f2, f3 = (encode_frame(Msg.ERROR, s, struct.pack("<I", s) + b"msg") for s in (1, 2, 3))
    broken = f2[:10] + bytes([f2[10] ^ 0x40]) + f2[11:]
    stream = b"\x00\xffboot v1\r\nT" + f1 + b"TTT noise T" + broken + b"TM\x7f\xff\xff\xff\xff" + f3 + b"T"
    expected = [Frame(Msg.ERROR, 1, f1[8:-4]), BadFrame(Msg.ERROR, 2, 7), Frame(Msg.ERROR, 3, f3[8:-4])]
    accept = lambda type_, length: type_ == Msg.ERROR and length < 64  # noqa: E731
    for chunk in (1, 2, 5, 13, len(stream)):
        parser = FrameParser(accept)
        events = [e for i in range(0, len(stream), chunk) for e in parser.feed(stream[i : i + chunk])]
        assert events == expected, f"chunks of {chunk}"
        assert parser.frames == 2 and parser.received == len(stream)


def test_parser_finds_a_frame_inside_a_false_one() -> None:
    """Noise with the magic and a plausible header must not swallow the real frame behind it."""
    real = encode_frame(Msg.ACK, 4)
    parser = FrameParser(lambda type_, length: length <= 64)
    events = parser.feed(b"TM\x81\x07\x14\x00\x00\x00" + real + bytes(20))
    assert events == [BadFrame(Msg.INFO, 7, 20), Frame(Msg.ACK, 4, b"")]


def test_info_and_result_payloads() -> None:
    sha = "ab" * 32
    payload = INFO_FIXED.pack(1, 490, 12, 3, 25_000_000, 16000, sha.encode()) + b"mps2-an386\0kws"
    info = DeviceInfo.from_payload(payload)
    assert info == DeviceInfo(1, 490, 12, 3, 25_000_000, 16000, sha, "mps2-an386", "kws")
    assert info.result_bytes == 12 + 3 * 4 + 12
    with pytest.raises(ValueError, match="version 2"):
        DeviceInfo.from_payload(struct.pack("<I", 2) + payload[4:])
    result = Result.from_payload(struct.pack("<iQ3I", -2, 1 << 40, 5, 6, 7) + b"out", 3)
    assert result == Result(-2, 1 << 40, (5, 6, 7), b"out")


# ---- the device, frame by frame ----


def test_device_survives_garbage_before_and_between_frames(kws: Device, line: Line) -> None:
    data, want = sample(kws.firmware.model, 0)
    false_magic = b"boot> TM\x7f\x00\x00\x00\x00\x00 ok T\n"  # an unknown type: ERROR type, then hunting again
    line.send(b"\x00\xff\x13TT garbage\r\n" + encode_frame(Msg.HELLO, 5) + false_magic)
    line.send(b"T" + encode_frame(Msg.INFER, 6, data) + b"\xaa\x55TT")
    info = line.frame()
    assert (info.type, info.seq) == (Msg.INFO, 5)
    noise = line.frame()
    assert (error_code(noise), noise.seq) == (Err.TYPE, 0)
    result = line.frame()
    assert (result.type, result.seq) == (Msg.RESULT, 6)
    assert Result.from_payload(result.payload, kws.firmware.layers).output == want


def test_device_bad_crc_gets_error_and_leaves_no_trace(kws: Device, line: Line) -> None:
    data, want = sample(kws.firmware.model, 1)
    good = encode_frame(Msg.INFER, 8, data)
    damaged = bytearray(encode_frame(Msg.INFER, 7, bytes(len(data))))
    damaged[100] ^= 0x10  # lands in the input tensor; the frame must be refused
    line.send(bytes(damaged))
    frame = line.frame()
    assert (error_code(frame), frame.seq) == (Err.CRC, 7)
    wrong_crc = good[:-1] + bytes([good[-1] ^ 0xFF])
    line.send(wrong_crc[:3] + b"\x09" + wrong_crc[4:])  # seq 9, CRC wrong either way
    frame = line.frame()
    assert (error_code(frame), frame.seq) == (Err.CRC, 9)
    line.send(good)
    frame = line.frame()
    assert (frame.type, frame.seq) == (Msg.RESULT, 8)
    assert Result.from_payload(frame.payload, kws.firmware.layers).output == want


def test_device_wrong_input_size_gets_error_and_stays_in_step(kws: Device, line: Line) -> None:
    for seq, size in ((1, 489), (2, 491), (3, 0)):
        line.send(encode_frame(Msg.INFER, seq, bytes(size)))
        frame = line.frame()
        assert (error_code(frame), frame.seq) == (Err.INPUT_SIZE, seq)
        assert b"490" in frame.payload
    line.send(encode_frame(Msg.HELLO, 4))
    assert line.frame().type == Msg.INFO


def test_device_refuses_impossible_headers_at_once(kws: Device, line: Line) -> None:
    """Answered right after the header: no payload is waited for, so nothing stalls."""
    cases = [
        (struct.pack("<2sBBI", b"TM", Msg.HELLO, 1, 5), Err.LENGTH),
        (struct.pack("<2sBBI", b"TM", Msg.EXIT, 2, 3), Err.LENGTH),
        (struct.pack("<2sBBI", b"TM", Msg.INFER, 3, MAX_PAYLOAD + 1), Err.LENGTH),
        (struct.pack("<2sBBI", b"TM", 0x55, 4, 0), Err.TYPE),
        (struct.pack("<2sBBI", b"TM", Msg.INFO, 5, 0), Err.TYPE),
    ]
    for header, code in cases:
        started = time.monotonic()
        line.send(header)
        frame = line.frame()
        assert (error_code(frame), frame.seq) == (code, header[3])
        assert time.monotonic() - started < STALL
    line.send(encode_frame(Msg.HELLO, 6))
    assert line.frame().type == Msg.INFO


def test_device_stalled_frame_times_out(kws: Device, line: Line) -> None:
    frame = encode_frame(Msg.INFER, 11, bytes(490))
    for partial, seq in ((frame[: len(frame) // 2], 11), (frame[:-2], 11), (b"TM\x02", 0)):
        started = time.monotonic()
        line.send(partial)
        answer = line.frame()
        waited = time.monotonic() - started
        assert (error_code(answer), answer.seq) == (Err.TIMEOUT, seq)
        assert STALL * 0.9 < waited < STALL + 1.0
    line.send(encode_frame(Msg.HELLO, 12))
    assert line.frame().type == Msg.INFO


# ---- BenchClient against the device ----


@pytest.mark.parametrize("name", MODELS)
def test_infer_is_bit_exact_with_layer_cycles(devices: dict[str, Device], name: str) -> None:
    dev = devices[name]
    fw = dev.firmware
    with client(dev.url) as c:
        info = c.verify(fw.model_hash, name=name)
        assert (info.version, info.board, info.model_name, info.clock_hz) == (1, "host-test", name, 10**9)
        assert info.layers == fw.layers
        for seed in range(2):
            data, want = sample(fw.model, seed)
            assert info.input_bytes == len(data) and info.output_bytes == len(want)
            result = c.infer(data)
            assert result.status == 0
            assert result.output == want, f"{name} seed {seed}: outputs differ from TFLite Micro"
            assert len(result.layer_cycles) == info.layers
            assert 0 < sum(result.layer_cycles) <= result.total_cycles
            assert sum(1 for n in result.layer_cycles if n > 0) >= info.layers // 2


class NoisyRelay:
    """A TCP relay standing in for a serial line that damages chosen bytes.

    `flip_up`/`flip_down` hold stream offsets (host -> device / device -> host)
    whose byte gets inverted; `boot_noise` reaches the host when it connects.
    """

    def __init__(self, target: str, boot_noise: bytes = b"") -> None:
        host, port = target.removeprefix("socket://").split(":")
        self.target = (host, int(port))
        self.boot_noise = boot_noise
        self.flip_up: set[int] = set()
        self.flip_down: set[int] = set()
        self.up = self.down = 0  # bytes relayed each way
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _damage(self, data: bytes, start: int, flips: set[int]) -> bytes:
        out = bytearray(data)
        for offset in flips:
            if start <= offset < start + len(out):
                out[offset - start] ^= 0xFF
        return bytes(out)

    def _run(self) -> None:
        host, _ = self.server.accept()
        device = socket.create_connection(self.target)
        host.sendall(self.boot_noise)
        with host, device:
            while True:
                ready, _, _ = select.select([host, device], [], [], 10)
                if not ready:
                    return
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    if src is host:
                        device.sendall(self._damage(data, self.up, self.flip_up))
                        self.up += len(data)
                    else:
                        host.sendall(self._damage(data, self.down, self.flip_down))
                        self.down += len(data)

    def wait_idle(self, up: int, down: int = 0) -> None:
        """Until at least `up`/`down` bytes have passed: offsets to damage are counted from there."""
        deadline = time.monotonic() + 5
        while (self.up < up or self.down < down) and time.monotonic() < deadline:
            time.sleep(0.01)


def test_client_rides_out_a_noisy_line(kws: Device) -> None:
    """Boot noise, a request garbled on the way in, an answer garbled on the way out: retries hide them all."""
    fw = kws.firmware
    data, want = sample(fw.model, 0)
    infer_frame = 8 + len(data) + 4
    relay = NoisyRelay(kws.url, boot_noise=b"\r\nU-Boot 2024.01 TT\r\n\x00\xfe" * 3)
    with client(relay.url) as c:
        info = c.hello()
        result_frame = 8 + info.result_bytes + 4
        up, down = relay.up, relay.down
        relay.flip_up = {up + 8 + 100}  # a payload byte of the next INFER: the device answers ERROR crc
        assert c.infer(data).output == want
        relay.wait_idle(up + 2 * infer_frame)
        assert relay.up == up + 2 * infer_frame, "the garbled INFER was not sent again"

        up, down = relay.up, relay.down
        relay.flip_down = {down + 8 + 20}  # a cycle count in the next RESULT: the host drops the frame
        assert c.infer(data).output == want
        relay.wait_idle(up + 2 * infer_frame, down + 2 * result_frame)
        assert relay.up == up + 2 * infer_frame, "the garbled RESULT did not make the host ask again"

        up = relay.up
        relay.flip_up = {up + 2}  # the type byte: the device answers ERROR type at once, then skips the rest
        assert c.infer(data).output == want
        relay.wait_idle(up + 2 * infer_frame)
        assert relay.up == up + 2 * infer_frame


def test_client_handshake_outwaits_a_frame_left_half_sent(kws: Device) -> None:
    """A previous session died mid-INFER: the device is still reading it when the next host says HELLO."""
    host, port = kws.url.removeprefix("socket://").split(":")
    with socket.create_connection((host, int(port))) as raw:  # not pyserial: its close() sleeps 0.3 s
        raw.sendall(encode_frame(Msg.INFER, 1, bytes(490))[:200])
    with client(kws.url) as c:
        started = time.monotonic()
        assert c.hello().model_name == "kws_ref_model"
        waited = time.monotonic() - started
    assert STALL * 0.9 < waited < 3, "the first HELLO should have been swallowed by the half frame"


def test_verify_names_both_models_when_the_board_runs_another(devices: dict[str, Device]) -> None:
    other = devices["ad01_int8"].firmware
    with client(devices["kws_ref_model"].url) as c:
        with pytest.raises(
            DeviceMismatchError, match=r"runs model kws_ref_model \(aeea.*not ad01_int8.*deploy it first"
        ):
            c.verify(other.model_hash, name="ad01_int8")
        with pytest.raises(InputDataError, match="takes 490 bytes of input, got 491"):
            c.infer(bytes(491))


def test_exit_acknowledges_then_stops_with_the_status(firmwares: dict[str, Firmware]) -> None:
    dev = start(firmwares["ad01_int8"])
    try:
        with client(dev.url) as c:
            c.hello()
            c.exit(7)
        assert dev.process.wait(timeout=5) == 7
    finally:
        dev.process.kill()
        dev.process.wait()


# ---- the bench report: one row per layer of the model ----


@pytest.fixture(scope="module")
def patched_vww(tmp_path_factory: pytest.TempPathFactory) -> tuple[Planned, Firmware]:
    """VWW planned for the smallest arena (--prefer memory), its first layers patch by patch, with bench.c for the
    host."""
    model = mlperf_dir() / "vww_96_int8.tflite"
    planned = plan_model(optimize(load_model(model)), options=PlanOptions(prefer="memory"))
    assert planned.patches is not None, "VWW is expected to run its first layers patch by patch"
    project = tmp_path_factory.mktemp("patched") / "vww_96_int8"
    project.mkdir()
    write_project(render_model(planned.graph, planned.plan, load_board("host")), project)
    exe = project / "bench"
    built = subprocess.run(_compile_command(project, exe), capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    return planned, Firmware(model, exe, len(planned.graph.ops), sha)


def test_bench_report_groups_the_patch_stage(patched_vww: tuple[Planned, Firmware]) -> None:
    """Per-layer cycles measured on the device, summed into the model's own layers: tiles and region copies in the
    layer they run, so VWW's 411 timed ops make its 31 layers."""
    planned, fw = patched_vww
    layers = optimize(load_model(fw.model)).ops
    samples = [sample(fw.model, seed) for seed in range(2)]
    dev = start(fw)
    try:
        with client(dev.url) as c:
            c.verify(fw.model_hash, name="vww_96_int8")
            results = [c.infer(data) for data, _ in samples]
    finally:
        dev.process.kill()
        dev.process.wait()
    board, expected = load_board("mps2-an500"), [want for _, want in samples]
    r = bench_report(planned.graph, board, results, expected, dev.url, planned.plan)
    assert r["schema"] == "tinyml.bench/3" and r["matched"] == r["runs"] == 2
    assert r["counter"] == "ticks" and "cycles" not in r  # mps2-an500 counts SysTick ticks
    assert [layer["index"] for layer in r["layers"]] == list(range(len(layers)))
    assert [layer["op"] for layer in r["layers"]] == [op.type for op in layers]
    split = planned.patches.split
    assert [layer["tiles"] for layer in r["layers"]] == [64] * split + [1] * (len(layers) - split)
    # the first layer gathers each tile's input from the image, the last scatters each tile's output
    assert [layer["ops"] for layer in r["layers"][:split]] == [128, 64, 64, 128]
    assert sum(layer["ops"] for layer in r["layers"]) == len(results[0].layer_cycles) == fw.layers
    # each timed op counts in exactly one layer: over one run, the layers add up to the device's counts
    one = bench_report(planned.graph, board, results[:1], expected[:1], dev.url, planned.plan)
    assert sum(layer["ticks"] for layer in one["layers"]) == sum(results[0].layer_cycles) > 0
    assert all(layer["ticks"] > 0 for layer in one["layers"][:split])
    # the estimate groups alike: the stage's layers sum their tiles and region copies
    assert sum(layer["estimated_cycles"] for layer in r["layers"]) == r["estimate"]["cycles"] == planned.cycles

    text = format_bench(r)
    rows = [line for line in text.splitlines() if re.match(r"^\s+\d+ [A-Z]", line)]
    assert len(rows) == len(layers)
    assert [row.rstrip().endswith("  64 tiles") for row in rows] == [True] * split + [False] * (len(layers) - split)
    assert "TINYML_COPY_REGION" not in text and "patch 1/64" not in text


def test_bench_report_calls_each_count_what_it_is(patched_vww: tuple[Planned, Firmware]) -> None:
    """An emulated board counts SysTick ticks (instructions under QEMU -icount); a hardware board's counter counts
    cycles at its clock. Either way the estimate is the cost model's for the board the user named: for
    `--board stm32f746 --emulate`, the F746 at 216 MHz, not the emulated 25 MHz."""
    planned, _ = patched_vww
    n = len(planned.graph.ops)
    results = [Result(0, 100 * n + 7 * run, (100,) * n, b"out") for run in range(3)]
    f746 = load_board("stm32f746")

    emulated = bench_report(planned.graph, emulation_board(f746), results, [b"out"] * 3, None, planned.plan, f746)
    assert emulated["counter"] == "ticks" and emulated["clock_hz"] == 25_000_000
    assert emulated["ticks"] == {"min": 100 * n, "median": 100 * n + 7, "max": 100 * n + 14}
    assert emulated["instructions"]["median"] == 40 * (100 * n + 7) and "cycles" not in emulated
    guess = emulated["estimate"]
    assert (guess["board"], guess["core"], guess["clock_hz"]) == ("stm32f746", "cortex-m7", 216_000_000)
    cycles = plan_cycles(planned.graph, planned.plan.kernels, planned.plan.in_place, "cortex-m7")
    assert guess["cycles"] == cycles and guess["ms"] == round(cycles / 216_000, 4)
    assert all(layer["instructions"] == 40 * layer["ticks"] for layer in emulated["layers"])
    text = format_bench(emulated)
    assert f"instructions  median {40 * (100 * n + 7):,}" in text and "40 per SysTick tick" in text
    assert "timer ticks   median" in text and "SysTick at the emulated 25 MHz" in text
    assert f"estimate      {cycles:,} cycles, {guess['ms']:.3f} ms at 216 MHz on stm32f746" in text
    assert re.search(r"#\s+op\s+instructions\s+share\s+estimated cycles", text)

    hardware = bench_report(planned.graph, f746, results, [b"out"] * 3, "/dev/ttyACM0", planned.plan)
    assert hardware["counter"] == "cycles" and "ticks" not in hardware and "instructions" not in hardware
    assert hardware["ms"]["median"] == pytest.approx((100 * n + 7) / 216_000)
    assert hardware["estimate"] == guess
    text = format_bench(hardware)
    assert "cycles        median" in text and "ms at 216 MHz" in text and "timer ticks" not in text


# ---- BenchClient against ports that are not a tinyml board ----


class FakePort:
    """A TCP "serial port" served by `behave(conn)` on a thread."""

    def __init__(self, behave: Callable[[socket.socket], None]) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.stop = threading.Event()
        self.behave = behave
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        conn, _ = self.server.accept()
        with conn, contextlib.suppress(OSError):  # OSError: the client hung up
            self.behave(conn)

    def close(self) -> None:
        self.stop.set()
        self.server.close()


MakePort = Callable[[Callable[[socket.socket], None]], FakePort]


@pytest.fixture
def fake_port() -> Iterator[MakePort]:
    ports: list[FakePort] = []

    def make(behave: Callable[[socket.socket], None]) -> FakePort:
        ports.append(FakePort(behave))
        return ports[-1]

    yield make
    for p in ports:
        p.close()


def assert_fails_cleanly(url: str, match: str, within: float, **kw: float) -> SerialError:
    started = time.monotonic()
    with pytest.raises(SerialError, match=match) as caught, client(url, **kw) as c:
        c.hello()
    assert time.monotonic() - started < within
    assert url in caught.value.message and caught.value.fix and caught.value.exit_code == 30
    return caught.value


def test_silent_port_fails_within_the_timeout(fake_port: MakePort) -> None:
    port = fake_port(lambda conn: port.stop.wait(10))
    assert_fails_cleanly(port.url, "no answer from .* the line is silent", within=1.0 + 0.6, connect_timeout=1.0)


def test_babbling_port_fails_within_the_timeout(fake_port: MakePort) -> None:
    """Random bytes at UART pace, with false magics and plausible headers among them."""

    def babble(conn: socket.socket) -> None:
        rng = random.Random(3)
        tricks = [b"TM\x81\x01\x60\x00\x00\x00", b"TM\xe0\x02\x08\x00\x00\x00", b"TM\x83", b"TTM"]
        while not port.stop.is_set():
            conn.sendall(rng.randbytes(100) + rng.choice(tricks))
            time.sleep(0.01)

    port = fake_port(babble)
    assert_fails_cleanly(port.url, "but no bench protocol frame", within=1.0 + 0.6, connect_timeout=1.0)


def test_unanswered_infer_fails_within_the_timeout(fake_port: MakePort) -> None:
    """A board that shakes hands, then hangs in the inference."""
    info = INFO_FIXED.pack(1, 4, 2, 1, 1000, 64, b"0" * 64) + b"fake\0m"

    def hello_only(conn: socket.socket) -> None:
        parser = FrameParser()
        while data := conn.recv(4096):
            for frame in parser.feed(data):
                if isinstance(frame, Frame) and frame.type == Msg.HELLO:
                    conn.sendall(encode_frame(Msg.INFO, frame.seq, info))

    port = fake_port(hello_only)
    with client(port.url, infer_timeout=0.5) as c:
        assert c.hello().board == "fake"
        started = time.monotonic()
        with pytest.raises(SerialError, match="no answer to INFER"):
            c.infer(b"abcd")
        assert time.monotonic() - started < 0.5 + 0.5


def test_other_protocol_version_is_a_mismatch(fake_port: MakePort) -> None:
    def old_firmware(conn: socket.socket) -> None:
        frame = decode_frame(conn.recv(12))
        conn.sendall(encode_frame(Msg.INFO, frame.seq, struct.pack("<I", 2) + bytes(100)))
        port.stop.wait(5)

    port = fake_port(old_firmware)
    with (
        client(port.url) as c,
        pytest.raises(
            DeviceMismatchError, match="sent bench protocol version 2; this tinyml speaks bench protocol version 1"
        ),
    ):
        c.hello()


def test_unopenable_ports_fail_cleanly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"socket://127.0.0.1:{s.getsockname()[1]}"  # bound, not listening: refused
    for url in (closed, "/dev/tinyml-no-such-port", "nosuchscheme://x"):
        with pytest.raises(SerialError, match=f"cannot open serial port {re.escape(url)}"):
            BenchClient(url)
    # loop:// echoes our own HELLOs back: bytes, but never an answer
    assert_fails_cleanly("loop://", "but no bench protocol frame", within=1.0, connect_timeout=0.5)


def test_default_frame_timeout_matches_the_firmware() -> None:
    header = (RUNTIME / "tm_bench.h").read_text()
    assert f"#define TM_BENCH_FRAME_TIMEOUT_MS {int(FRAME_TIMEOUT * 1000)}u" in header
    assert f"#define TM_BENCH_MAX_PAYLOAD (1u << {MAX_PAYLOAD.bit_length() - 1})" in header


def test_bench_c_builds_for_cortex_m(firmwares: dict[str, Firmware], tmp_path: Path) -> None:
    """The server as the boards compile it (int32_t is long there), warnings as errors."""
    try:
        gcc = require_tool("arm-none-eabi-gcc")
    except Exception:
        pytest.skip("arm-none-eabi-gcc is not installed")
    project = firmwares["kws_ref_model"].exe.parent
    cmd = [gcc, "-mcpu=cortex-m4", "-mthumb", "-std=c99", "-Os", "-Wall", "-Wextra", "-Werror", "-Wconversion"]
    cmd += ["-DTM_PROFILE_LAYERS", f"-I{project / 'tinyml' / 'include'}", f"-I{RUNTIME}", f"-I{TEST_FIRMWARE}"]
    cmd += [f"-I{project}", "-c", str(RUNTIME / "bench.c"), "-o", str(tmp_path / "bench.o")]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
