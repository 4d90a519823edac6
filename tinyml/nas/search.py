"""`tinyml search`: the whole TinyNAS search, from labelled images to a checked deployable model.

1. The data is read once (pixels in 0..1, as `tinyml quantize` and `tinyml eval` read them) and split, by seed,
   into training, validation (for the estimates) and held-out (for the finalists' figures) images.
2. Stage 1 chooses the width and resolution whose fitting models have the most compute, and prints its table.
3. A weight-sharing supernet over that space is trained on the training images and saved beside the log; trials
   read it from there (or from Ray's object store), whichever process runs them.
4. Evolution under the budgets, each candidate's accuracy estimated by the supernet, through the runner.
5. How well the estimates rank candidates is measured: a handful are trained from scratch briefly, and the
   Spearman correlation of their accuracies with their estimates is printed.
6. The best few are fine-tuned from the supernet, quantized, compiled, checked bit-exact and measured
   (tinyml.nas.finalists); the best of them becomes OUT/best.keras and OUT/best.tflite, beside the Pareto front
   (pareto.json, pareto.png).

Every step records what it did in the search log (tinyml.nas.log) before the next starts. Rerunning the same
command after an interruption (Ctrl-C, a full disk, a lost machine) skips what the log holds and, every random
choice coming from the seed, reaches the same result. Result files are written whole or not at all.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from tinyml.errors import DiskFullError, OutputDirError, UsageError
from tinyml.nas.evolution import Candidate, Evolution, EvolutionOptions, evolve, pareto_front
from tinyml.nas.finalists import FinalData, Finalist, finish, write_atomic
from tinyml.nas.log import LOG_NAME, SearchLog
from tinyml.nas.runner import Runner, make_runner
from tinyml.nas.space import Arch, SearchSpace, default_space

if TYPE_CHECKING:
    from tinyml.nas.cost import Budgets
    from tinyml.nas.data import Labelled
    from tinyml.nas.supernet import Supernet
    from tinyml.target.boards import Board

SUPERNET_NAME = "supernet.npz"
#: what a search writes in its output directory: anything else there is the user's, and makes it refuse to start
OWN_FILES = (LOG_NAME, SUPERNET_NAME, "finalists", "best.keras", "best.tflite", "pareto.json", "pareto.png")
#: shares of --budget-hours after which the evolution stops, and the rank check is skipped; the finalists get the rest
EVOLUTION_SHARE = 0.6
RANK_CHECK_SHARE = 0.75
PROXIES = ("none", "synflow", "naswot")


@dataclass(frozen=True)
class SearchOptions:
    """Every knob of a search. Those in `config()` change its result and key its log; the others (where trials
    run, how long it may take, bars) do not."""

    seed: int = 0
    #: "8" (int8) or "mixed" (8/4/2 bits per layer chosen under the budgets for the finalists)
    bits: str = "8"
    #: resize the images to this size before anything (None: their own)
    image_size: int | None = None
    #: read at most this many images (a seeded choice)
    limit: int | None = None
    #: shares of the images held out for validation (estimates) and for the finalists' figures
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    #: candidates sampled per (width, resolution) in stage 1
    stage1_samples: int = 100
    #: supernet training
    supernet_epochs: int = 8
    batch_size: int = 64
    lr: float = 0.05
    #: evolution
    population: int = 16
    generations: int = 6
    parents: int = 4
    #: zero-cost proxy pruning ("none", "synflow", "naswot"), keeping this share of the children
    proxy: str = "none"
    proxy_keep: float = 0.5
    #: validation images each estimate uses, and training images that recalibrate its batch norms
    estimate_samples: int = 500
    calib_samples: int = 256
    #: candidates trained from scratch to check the estimates' ranking, and their epochs
    rank_check: int = 4
    rank_epochs: int = 3
    #: finalists fine-tuned from the supernet, their epochs, and quantization-aware training's epochs
    finalists: int = 2
    finalist_epochs: int = 10
    qat_epochs: int = 2
    #: held-out images the finalists are evaluated on (a seeded choice), and compared with TFLite Micro on
    test_samples: int = 2000
    check_samples: int = 8
    #: not part of the result: where trials run, and how long the search may take
    workers: int = max(1, os.cpu_count() or 1)
    ray: str | None = None
    budget_hours: float | None = None

    def config(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("workers", "ray", "budget_hours"):
            d.pop(k)
        return d

    def evolution(self) -> EvolutionOptions:
        return EvolutionOptions(
            population=self.population,
            generations=self.generations,
            parents=self.parents,
            proxy_keep=self.proxy_keep if self.proxy != "none" else 1.0,
        )


@dataclass
class SearchResult:
    """What the command prints at the end."""

    out: Path
    best: Finalist
    finalists: list[Finalist]
    front: list[Candidate]
    evolution: Evolution
    spearman: float | None
    runner: str
    resumed: bool


# --- trials: module-level functions, run in the runner's workers -------------------------------------------------


@dataclass(frozen=True)
class EstimateData:
    """What every estimate reads: the supernet's checkpoint, and the images it is scored and recalibrated on."""

    supernet: bytes
    sha256: str
    val: Labelled
    calib: Labelled
    #: the proxies' inputs: channels, classes, and a batch of training images
    channels: int
    classes: int


_supernets: dict[str, Supernet] = {}


def _supernet(data: EstimateData) -> Supernet:
    """The supernet of `data`, loaded once per worker process."""
    from tinyml.nas.supernet import Supernet

    if data.sha256 not in _supernets:
        _supernets.clear()
        with tempfile.TemporaryDirectory(prefix="tinyml-supernet-") as d:
            path = Path(d) / SUPERNET_NAME
            path.write_bytes(data.supernet)
            _supernets[data.sha256] = Supernet.load(path)
    return _supernets[data.sha256]


def estimate_task(data: EstimateData, arch: Arch) -> float:
    """A candidate's accuracy on the validation images with the supernet's weights (batch norms recalibrated)."""
    return float(_supernet(data).accuracy(arch, data.val, data.calib))


def synflow_task(data: EstimateData, arch: Arch) -> float:
    from tinyml.nas.proxies import synflow

    return float(synflow(arch, data.channels, data.classes))


def naswot_task(data: EstimateData, arch: Arch) -> float:
    from tinyml.nas.proxies import naswot

    return float(naswot(arch, data.calib.x[:64], data.classes))


@dataclass(frozen=True)
class TrainData:
    train: Labelled
    val: Labelled


@dataclass(frozen=True)
class TrainJob:
    """One candidate to train: from scratch (init None), or from a saved .keras model's weights; `keep` returns
    the trained model as .keras bytes."""

    arch: Arch
    epochs: int
    batch_size: int
    lr: float
    seed: int
    init: bytes | None = None
    keep: bool = False


def train_task(data: TrainData, job: TrainJob) -> tuple[float, bytes | None]:
    """Train one candidate; its validation top-1, and the model when asked for."""
    import keras

    from tinyml.nas.model import build_keras
    from tinyml.nas.train import Recipe, train

    recipe = Recipe(epochs=job.epochs, batch_size=job.batch_size, lr=job.lr, seed=job.seed)
    with tempfile.TemporaryDirectory(prefix="tinyml-train-") as d:
        path = Path(d) / "model.keras"
        if job.init is None:
            model = build_keras(job.arch, data.train.channels, len(data.train.classes), seed=job.seed)
        else:
            path.write_bytes(job.init)
            model = keras.models.load_model(path)
        accuracy = train(model, data.train, data.val, recipe)
        if not job.keep:
            return accuracy, None
        model.save(path)
        return accuracy, path.read_bytes()


# --- the output directory --------------------------------------------------------------------------------------


def prepare_out(out: Path) -> bool:
    """Make `out` ready: a new or empty directory, or one holding a search's log (which then resumes; the log
    checks it is the same search). True when resuming. Leftovers of an interrupted write are removed."""
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"{out} is a file, not a directory", "choose a new directory name with -o")
    if out.is_dir():
        names = sorted(p.name for p in out.iterdir())
        for name in names:
            if name.startswith(".") and name.endswith(".partial"):
                path = out / name
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        names = [n for n in names if not n.endswith(".partial")]
        if names and LOG_NAME not in names:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            raise OutputDirError(
                f"{out} already holds {len(names)} file(s) a search did not write: {shown}",
                "choose a new or empty directory with -o (a search's own directory resumes it)",
            )
        return LOG_NAME in names
    out.mkdir(parents=True)
    return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _intact(record: dict[str, Any] | None, *paths: tuple[str, str]) -> bool:
    """A logged step's files are all there, unchanged: (path key, hash key) pairs of the record."""
    if record is None:
        return False
    for path_key, hash_key in paths:
        path = Path(record[path_key])
        if not path.is_file() or _sha256(path) != record[hash_key]:
            return False
    return True


#: where the bars draw: the terminal's stderr while TensorFlow's is captured
_bar_stream: list[TextIO] = []


@contextmanager
def _bars_on(stream: TextIO) -> Iterator[None]:
    _bar_stream.append(stream)
    try:
        yield
    finally:
        _bar_stream.pop()


@contextmanager
def _bar(total: int, desc: str, enabled: bool) -> Iterator[Any]:
    """One stage's tqdm bar on the terminal (none in pipes, logs and tests): trials done, the time left, and the
    best accuracy so far as its postfix."""
    from tqdm import tqdm

    out = _bar_stream[-1] if _bar_stream else sys.stderr
    with tqdm(total=total, desc=desc, file=out, disable=not (enabled and out.isatty()), leave=False) as t:
        yield t


def _seeded_subset(data: Labelled, n: int, seed: int) -> Labelled:
    if data.n <= n:
        return data
    return data.subset(np.sort(np.random.default_rng(seed).permutation(data.n)[:n]))


def _save_npz(path: Path, data: Labelled) -> Path:
    np.savez(path, x=data.x.astype(np.float32), y=data.y.astype(np.int64))
    return path


# --- the search ------------------------------------------------------------------------------------------------


def run_search(
    data: str | Path,
    board: str | Board,
    budgets: Budgets,
    out: str | Path,
    options: SearchOptions,
    progress: bool = True,
    say: Callable[[str], None] | None = None,
) -> SearchResult:
    """Search, deploy-check and write the best model for `board` within `budgets` (see the module's docstring).
    `say` prints the tables and summaries (default: on stdout); `progress` shows bars on a terminal. TensorFlow's
    own chatter, here and in the workers, is captured (TINYML_DEBUG=1 shows it)."""
    from tinyml import pipeline
    from tinyml.quant.quiet import tensorflow_quiet

    start = time.monotonic()
    budget = options.budget_hours * 3600 if options.budget_hours else math.inf
    deadlines = (start + budget * EVOLUTION_SHARE, start + budget * RANK_CHECK_SHARE)
    out = Path(out)
    b = pipeline.target(board)
    if b.kind != "mcu":
        raise UsageError(f"the search fits a microcontroller's memory; {b.name} is not one", "see `tinyml boards`")
    if options.bits not in ("8", "mixed"):
        raise UsageError(f"--bits {options.bits}: the search quantizes with 8 or mixed", "use --bits 8 or mixed")
    from tinyml.quant.data import open_data

    open_data(data).require_labels()  # an empty or unlabelled folder fails before any worker starts
    resumed = prepare_out(out)
    sys.stdout.flush()
    with os.fdopen(os.dup(1), "w", buffering=1) as stdout, tensorflow_quiet() as stderr:
        tell = say or (lambda line: print(line, file=stdout))
        with make_runner(options.workers, options.ray) as runner, _bars_on(stderr):
            tell(f"trials run in {runner.describe()}")
            try:
                return _search(data, b, budgets, out, options, progress, tell, runner, resumed, deadlines)
            except OSError as e:
                if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                raise DiskFullError(
                    f"the disk holding {out} (or the temporary directory) is full; the search stopped with its log "
                    "intact",
                    "free some space and rerun the same command: it resumes where it stopped",
                ) from None


def _search(
    data_path: str | Path,
    board: Board,
    budgets: Budgets,
    out: Path,
    options: SearchOptions,
    progress: bool,
    say: Callable[[str], None],
    runner: Runner,
    resumed: bool,
    deadlines: tuple[float, float],
) -> SearchResult:
    from tinyml.nas.data import load_labelled, resized, split

    data = load_labelled(data_path, size=options.image_size, limit=options.limit, seed=options.seed, progress=progress)
    channels, classes = data.channels, len(data.classes)
    config = {
        "data": {"sha256": data.sha256, "samples": data.n, "classes": data.classes, "size": data.size},
        "board": board.name,
        "budgets": asdict(budgets),
        "options": options.config(),
    }
    log = SearchLog.open(out, config)
    if resumed:
        done = sum(1 for r in log.records if r["event"] == "candidate")
        say(f"resuming the search in {out}: {done} candidate(s) already scored")
    say(
        f"{data.n:,} images of {classes} classes ({data.size}x{data.size}x{channels}) from {data.path}; "
        f"budgets: {_budget_text(budgets, board)}"
    )
    rest, test = split(data, options.test_fraction, options.seed)
    train, val = split(rest, options.val_fraction / (1 - options.test_fraction), options.seed + 1)

    # stage 1: the width and resolution
    space, rows = _stage1(log, board, budgets, channels, classes, data.size, options, progress)
    from tinyml.nas.stage1 import format_space_table

    say(format_space_table(rows, space))
    resolution = space.resolutions[0]
    train_r, val_r, test_r = (resized(d, resolution) for d in (train, val, test))

    # the supernet
    supernet_path = _supernet_checkpoint(log, out, space, train_r, channels, classes, options, progress, say)
    estimate_data = EstimateData(
        supernet_path.read_bytes(),
        _sha256(supernet_path),
        _seeded_subset(val_r, options.estimate_samples, options.seed),
        _seeded_subset(train_r, options.calib_samples, options.seed),
        channels,
        classes,
    )

    # stage 2: evolution
    result = _evolve(
        log, space, board, budgets, channels, classes, options, runner, estimate_data, deadlines[0], progress
    )
    best = result.best
    stopped = " (stopped early: --budget-hours)" if result.stopped else ""
    say(
        f"evolution: {len(result.history)} candidates scored over {result.generations} generation(s), "
        f"{result.rejected} refused over budget{stopped}; best estimate {100 * (best.estimate or 0):.1f}%: "
        f"{best.arch.describe()}"
    )

    # how well the estimates rank candidates
    rho = _rank_check(log, result, train_r, val_r, options, runner, progress, deadlines[1], say)

    # finalists
    with tempfile.TemporaryDirectory(prefix="tinyml-search-data-") as tmp:
        final_data = FinalData(
            calib=_save_npz(Path(tmp) / "calib.npz", _seeded_subset(train_r, 200, options.seed)),
            train=_save_npz(Path(tmp) / "train.npz", _seeded_subset(train_r, 5000, options.seed)),
            test=_save_npz(Path(tmp) / "test.npz", _seeded_subset(test_r, options.test_samples, options.seed)),
            check=_seeded_subset(test_r, options.check_samples, options.seed + 2).x,
        )
        finalists = _finalists(
            log, out, result, board, budgets, options, runner, train_r, val_r, supernet_path, final_data, progress
        )
    chosen = _choose(finalists)
    front = pareto_front(result.history)
    _write_outputs(out, chosen, finalists, front, result, board, budgets, rho)
    log.append("done", best=chosen.key, accuracy=chosen.accuracy)
    return SearchResult(out, chosen, finalists, front, result, rho, runner.describe(), resumed)


def _budget_text(budgets: Budgets, board: Board) -> str:
    parts = [
        f"SRAM {budgets.sram:,} B" if budgets.sram is not None else None,
        f"flash {budgets.flash:,} B" if budgets.flash is not None else None,
        f"latency {budgets.latency_ms:g} ms" if budgets.latency_ms is not None else None,
    ]
    return ", ".join(p for p in parts if p) + f" on {board.name}"


def _stage1(
    log: SearchLog,
    board: Board,
    budgets: Budgets,
    channels: int,
    classes: int,
    size: int,
    options: SearchOptions,
    progress: bool,
) -> tuple[SearchSpace, list[Any]]:
    """The space stage 1 chose and its table: from the log, or computed and logged."""
    from tinyml.nas.stage1 import SpaceRow, optimise_space

    record = log.last("stage1")
    if record is not None:
        return SearchSpace.from_dict(record["space"]), [SpaceRow(**row) for row in record["rows"]]
    space, rows = optimise_space(
        default_space(size),
        board,
        budgets,
        channels,
        classes,
        bits=_measure_bits(options),
        samples=options.stage1_samples,
        seed=options.seed,
        progress=progress,
    )
    log.append("stage1", space=space.to_dict(), rows=[asdict(row) for row in rows])
    return space, rows


def _measure_bits(options: SearchOptions) -> str:
    """The bits candidates are measured at: int8, or for mixed precision 4-bit weights (the finalists' bits are
    chosen under the budgets, so a candidate that fits with 4-bit weights can be made to fit)."""
    return "w4a8" if options.bits == "mixed" else "8"


def _supernet_checkpoint(
    log: SearchLog,
    out: Path,
    space: SearchSpace,
    train: Labelled,
    channels: int,
    classes: int,
    options: SearchOptions,
    progress: bool,
    say: Callable[[str], None],
) -> Path:
    """The trained supernet's checkpoint in `out`: the logged one when intact, else trained now."""
    from tinyml.nas.supernet import Supernet
    from tinyml.nas.train import Recipe

    record = log.last("supernet")
    if _intact(record, ("path", "sha256")):
        say(f"supernet: trained earlier, {record['path']}")  # type: ignore[index]
        return Path(record["path"])  # type: ignore[index]
    began = time.monotonic()
    supernet = Supernet(space, channels, classes, seed=options.seed)
    recipe = Recipe(epochs=options.supernet_epochs, batch_size=options.batch_size, lr=options.lr, seed=options.seed)
    supernet.fit(train, options.supernet_epochs, recipe, progress=progress)
    path = out / SUPERNET_NAME
    supernet.save(path)  # whole or not at all
    log.append("supernet", path=str(path), sha256=_sha256(path), seconds=round(time.monotonic() - began, 1))
    say(f"supernet: {options.supernet_epochs} epoch(s) on {train.n:,} images in {time.monotonic() - began:.0f} s")
    return path


def _evolve(
    log: SearchLog,
    space: SearchSpace,
    board: Board,
    budgets: Budgets,
    channels: int,
    classes: int,
    options: SearchOptions,
    runner: Runner,
    estimate_data: EstimateData,
    evolution_deadline: float,
    progress: bool,
) -> Evolution:
    from tinyml.nas.cost import measure

    known = {r["key"]: r["estimate"] for r in log.events("candidate") if r["estimate"] is not None}
    known_proxy = {r["key"]: r["proxy"] for r in log.events("candidate") if r["proxy"] is not None}
    proxy = {"none": None, "synflow": synflow_task, "naswot": naswot_task}[options.proxy]
    evo = options.evolution()
    bits = _measure_bits(options)
    began = time.monotonic()
    with _bar(evo.trials, "evolution", progress) as bar:

        def tick(n: int, best: float | None) -> None:
            bar.update(n)
            if best is not None:
                bar.set_postfix_str(f"best {100 * best:.1f}%")

        def generation(index: int, population: list[Candidate]) -> None:
            log.append("generation", index=index, population=[c.key for c in population])

        result = evolve(
            space,
            lambda arch: measure(arch, board, channels, classes, bits, sram_budget=budgets.sram),
            budgets,
            estimate_task,
            runner,
            evo,
            options.seed,
            shared=runner.share(estimate_data),
            proxy=proxy,
            known=known,
            known_proxy=known_proxy,
            on_candidate=lambda c: log.append("candidate", **c.record()),
            on_generation=generation,
            should_stop=lambda: time.monotonic() > evolution_deadline,
            progress=tick,
        )
    log.append(
        "evolution",
        best=result.best.key,
        generations=result.generations,
        rejected=result.rejected,
        stopped=result.stopped,
        seconds=round(time.monotonic() - began, 1),
    )
    return result


def _rank_check(
    log: SearchLog,
    result: Evolution,
    train: Labelled,
    val: Labelled,
    options: SearchOptions,
    runner: Runner,
    progress: bool,
    deadline: float,
    say: Callable[[str], None],
) -> float | None:
    """Train `rank_check` candidates (spread over the estimates' ranking) from scratch briefly and print the
    Spearman correlation of their accuracies with their estimates (and with the proxy's scores, if one ran)."""
    from tinyml.nas.proxies import spearman

    scored = sorted((c for c in result.history if c.estimate is not None), key=lambda c: (c.estimate, c.key))
    k = min(options.rank_check, len(scored))
    if k < 3:
        why = f"--rank-check {options.rank_check}" if options.rank_check < 3 else f"only {k} candidates scored"
        say(f"rank check: skipped ({why}; a rank correlation needs 3 candidates or more)")
        return None
    picks = [scored[int(i)] for i in np.unique(np.round(np.linspace(0, len(scored) - 1, k)).astype(int))]
    trained: dict[str, float] = {r["key"]: r["accuracy"] for r in log.events("rank")}
    todo = [c for c in picks if c.key not in trained]
    if todo and time.monotonic() > deadline:
        say("rank check: skipped (--budget-hours leaves no time for it)")
        return None
    if todo:
        shared = runner.share(TrainData(train, val))
        jobs = [TrainJob(c.arch, options.rank_epochs, options.batch_size, options.lr, options.seed) for c in todo]
        with _bar(len(jobs), "rank check", progress) as bar:
            step = max(1, runner.workers)
            for i in range(0, len(jobs), step):
                for c, (acc, _) in zip(
                    todo[i : i + step], runner.map(train_task, jobs[i : i + step], shared), strict=True
                ):
                    trained[c.key] = acc
                    log.append("rank", key=c.key, accuracy=acc, estimate=c.estimate)
                    bar.update(1)
    estimates = [c.estimate or 0.0 for c in picks]
    accuracies = [trained[c.key] for c in picks]
    rho = float(spearman(estimates, accuracies))
    line = (
        f"rank check: {len(picks)} candidates trained from scratch for {options.rank_epochs} epoch(s); Spearman "
        f"rho of supernet estimate vs accuracy {rho:+.2f}"
    )
    if all(c.proxy is not None for c in picks):
        line += f", of {options.proxy} vs accuracy {float(spearman([c.proxy for c in picks], accuracies)):+.2f}"
    say(line)
    return rho


def _finalists(
    log: SearchLog,
    out: Path,
    result: Evolution,
    board: Board,
    budgets: Budgets,
    options: SearchOptions,
    runner: Runner,
    train: Labelled,
    val: Labelled,
    supernet_path: Path,
    data: FinalData,
    progress: bool,
) -> list[Finalist]:
    """The best `finalists` candidates fine-tuned from the supernet (through the runner), then quantized, checked
    and measured here; each logged when done, so a resumed search keeps them."""
    from tinyml.nas.supernet import Supernet

    scored = sorted((c for c in result.history if c.estimate is not None), key=_by_estimate)
    picks = scored[: options.finalists]
    done: dict[str, Finalist] = {}
    for r in log.events("finalist"):
        if _intact(r, ("keras", "keras_sha256"), ("tflite", "tflite_sha256")):
            done[r["key"]] = Finalist.from_record(r)
    todo = [c for c in picks if c.key not in done]
    if todo:
        supernet = Supernet.load(supernet_path)
        jobs = []
        for c in todo:
            with tempfile.TemporaryDirectory(prefix="tinyml-export-") as d:
                path = Path(d) / "init.keras"
                supernet.export(c.arch).save(path)
                jobs.append(
                    TrainJob(
                        c.arch,
                        options.finalist_epochs,
                        options.batch_size,
                        options.lr / 5,  # fine-tuning inherited weights
                        options.seed,
                        path.read_bytes(),
                        keep=True,
                    )
                )
        with _bar(len(todo) * 2, "finalists", progress) as bar:
            trained = runner.map(train_task, jobs, runner.share(TrainData(train, val)))
            bar.update(len(todo))
            for c, (_, model) in zip(todo, trained, strict=True):
                folder = out / "finalists" / c.key
                folder.mkdir(parents=True, exist_ok=True)
                keras_path = folder / "model.keras"
                assert model is not None
                write_atomic(keras_path, model)
                f = finish(
                    c.arch, keras_path, folder, board, budgets, options.bits, data, options.qat_epochs, options.seed
                )
                record = f.record()
                record["keras_sha256"] = _sha256(Path(f.keras))
                record["tflite_sha256"] = _sha256(Path(f.tflite))
                log.append("finalist", **record)
                done[c.key] = f
                bar.update(1)
    return [done[c.key] for c in picks]


def _by_estimate(c: Candidate) -> tuple[float, int, str]:
    return (-(c.estimate or 0.0), c.footprint.peak_sram, c.key)


def _choose(finalists: list[Finalist]) -> Finalist:
    """The best finalist as deployed: bit-exact and within the budgets first, then the highest top-1 of the
    compiled C, then the smaller peak SRAM."""
    return min(finalists, key=lambda f: (not f.bit_exact, bool(f.failures), -f.accuracy, f.peak_sram, f.key))


def _write_outputs(
    out: Path,
    best: Finalist,
    finalists: list[Finalist],
    front: list[Candidate],
    result: Evolution,
    board: Board,
    budgets: Budgets,
    rho: float | None,
) -> None:
    """best.keras, best.tflite, pareto.json and pareto.png, each written whole or not at all."""
    write_atomic(out / "best.keras", Path(best.keras).read_bytes())
    write_atomic(out / "best.tflite", Path(best.tflite).read_bytes())
    doc = {
        "schema": "tinyml.pareto/1",
        "board": board.name,
        "budgets": asdict(budgets),
        "objectives": ["accuracy (supernet estimate, higher)", "peak_sram", "flash", "latency_ms (lower)"],
        "front": [c.record() for c in front],
        "finalists": [f.record() for f in finalists],
        "best": best.key,
        "spearman": rho,
        "candidates": len(result.history),
    }
    write_atomic(out / "pareto.json", (json.dumps(doc, indent=2) + "\n").encode())
    write_atomic(out / "pareto.png", _plot(result.history, front, finalists, budgets))


def _plot(history: list[Candidate], front: list[Candidate], finalists: list[Finalist], budgets: Budgets) -> bytes:
    """Accuracy against peak SRAM, flash and latency: every scored candidate, the front, the finalists as built."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [c for c in history if c.estimate is not None]
    axes_of = (  # the SRAM budget holds the RAM the image needs: the peak, plus stack and runtime
        (
            "RAM on the board (KB)",
            lambda fp: (fp.ram if fp.ram is not None else fp.peak_sram) / 1024,
            "ram",
            budgets.sram,
        ),
        ("flash (KB)", lambda fp: fp.flash / 1024, "flash", budgets.flash),
        ("latency (ms)", lambda fp: fp.latency_ms, "latency_ms", budgets.latency_ms),
    )
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), sharey=True)
    for ax, (label, x, field, limit) in zip(axes, axes_of, strict=True):
        ax.scatter([x(c.footprint) for c in scored], [100 * c.estimate for c in scored], s=10, c="0.7", label="scored")
        ax.scatter([x(c.footprint) for c in front], [100 * c.estimate for c in front], s=22, c="C0", label="Pareto")
        scale = 1024 if field != "latency_ms" else 1
        ax.scatter(
            [(getattr(f, field) or 0) / scale for f in finalists],
            [100 * f.accuracy for f in finalists],
            marker="*",
            s=120,
            c="C3",
            label="finalists (int8, measured)",
        )
        if limit is not None:
            ax.axvline(limit / scale, color="C3", linestyle="--", linewidth=1)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("top-1 (%): supernet estimate, or as compiled for the finalists")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()
