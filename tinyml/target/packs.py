"""CMSIS packs: where CMSIS-NN and the CMSIS core headers come from.

Users get them the way embedded developers do, as ARM's CMSIS packs, fetched
with cmsis-pack-manager into a user cache (`tinyml packs install`) or unpacked
from .pack files they already have (`tinyml packs install FILE.pack ...`, as
`cpackget add` does, for machines without internet and for CI); or they point
tinyml at existing checkouts (`--cmsis-nn DIR` / `CMSIS_NN_ROOT`, `--cmsis DIR`
/ `CMSIS_ROOT`). Nothing from CMSIS is part of tinyml itself.
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

from tinyml.errors import PackError, ToolchainError, UsageError
from tinyml.resources import cache_root

#: (vendor, pack) of what tinyml needs, and a file that proves a tree is one
PACKS = {
    "CMSIS-NN": ("ARM", "CMSIS-NN", "Include/arm_nnfunctions.h"),
    "CMSIS": ("ARM", "CMSIS", "CMSIS/Core/Include/cmsis_compiler.h"),
}
FIX = (
    "run `tinyml packs install` (downloads them) or `tinyml packs install FILE.pack ...`, or point at "
    "checkouts of ARM-software/CMSIS-NN and ARM-software/CMSIS_6 with --cmsis-nn DIR --cmsis DIR (or CMSIS_NN_ROOT "
    "and CMSIS_ROOT)"
)


@dataclass(frozen=True)
class CmsisPaths:
    """A CMSIS-NN tree and a CMSIS (core) tree."""

    nn: Path
    core: Path

    @property
    def include_dirs(self) -> list[Path]:
        return [self.nn / "Include", self.core / "CMSIS" / "Core" / "Include"]


def packs_dir() -> Path:
    return cache_root() / "packs"


def _is_tree(path: Path, name: str) -> bool:
    return (path / PACKS[name][2]).is_file()


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def installed() -> dict[str, list[tuple[str, Path]]]:
    """Installed pack trees: name -> [(version, path)], newest first."""
    found: dict[str, list[tuple[str, Path]]] = {}
    for name, (vendor, pack, _) in PACKS.items():
        root = packs_dir() / f"{vendor}.{pack}"
        versions = [(d.name, d) for d in root.iterdir() if _is_tree(d, name)] if root.is_dir() else []
        found[name] = sorted(versions, key=lambda v: _version_key(v[0]), reverse=True)
    return found


def _locate(name: str, given: str | Path | None, env: str) -> tuple[Path | None, str]:
    """The tree for `name`: the option, else the environment variable, else the newest installed pack."""
    for source, value in ((f"--{name.lower()}", given), (env, os.environ.get(env))):
        if value:
            path = Path(value).expanduser().resolve()  # builds run in other directories
            if not _is_tree(path, name):
                raise ToolchainError(
                    f"{source} points at {path}, which is not a {name} tree (no {PACKS[name][2]})", FIX
                )
            return path, source
    versions = installed()[name]
    if versions:
        return versions[0][1], f"pack {versions[0][0]}"
    return None, f"{env} (unset) or {packs_dir() / '.'.join(PACKS[name][:2])}"


def find_cmsis(cmsis_nn: str | Path | None = None, cmsis: str | Path | None = None) -> tuple[CmsisPaths | None, str]:
    """The CMSIS-NN and CMSIS trees to use, or None and a description of where tinyml looked."""
    nn, nn_from = _locate("CMSIS-NN", cmsis_nn, "CMSIS_NN_ROOT")
    core, core_from = _locate("CMSIS", cmsis, "CMSIS_ROOT")
    missing = [where for path, where in ((nn, nn_from), (core, core_from)) if path is None]
    if nn is None or core is None:
        return None, " and ".join(missing)
    return CmsisPaths(nn, core), f"CMSIS-NN from {nn_from}, CMSIS from {core_from}"


@dataclass(frozen=True)
class Installed:
    """One pack that is now installed: which, where, and whether it was there already."""

    name: str  # a key of PACKS
    version: str
    path: Path
    already: bool

    @property
    def label(self) -> str:
        vendor, pack, _ = PACKS[self.name]
        return f"{vendor}.{pack} {self.version}"


@dataclass(frozen=True)
class _PackFile:
    """A checked pack archive: readable, every member inside the pack, a tinyml pack with its marker file."""

    path: Path
    name: str  # a key of PACKS
    version: str


def install(silent: bool = False) -> list[Installed]:
    """Download the newest ARM::CMSIS-NN and ARM::CMSIS packs with cmsis-pack-manager and unpack them."""
    import cmsis_pack_manager

    store = packs_dir() / "downloads"
    store.mkdir(parents=True, exist_ok=True)
    cache = cmsis_pack_manager.Cache(silent, True, json_path=str(store), data_path=str(store))
    try:
        cache.cache_descriptors()
    except Exception as e:  # the Rust core raises bare Exceptions with its message
        raise PackError(
            f"cannot download the CMSIS pack index: {_reason(e)}",
            "check the internet connection (and any proxy), or install pack files you have: "
            "`tinyml packs install FILE.pack ...`, or use existing checkouts: --cmsis-nn DIR --cmsis DIR",
        ) from None
    if not any(store.glob("*.pdsc")):
        raise PackError(
            "cannot download the CMSIS pack index: nothing arrived (no network?)",
            "check the internet connection (and any proxy), or install pack files you have: "
            "`tinyml packs install FILE.pack ...`, or use existing checkouts: --cmsis-nn DIR --cmsis DIR",
        )
    refs = []
    for vendor, pack, _ in PACKS.values():
        versions = [m.group(1) for p in store.glob(f"{vendor}.{pack}.*.pdsc") if (m := _pdsc_version(p, vendor, pack))]
        if not versions:
            raise PackError(f"the pack index has no {vendor}.{pack} pack", "try again later, or use --cmsis-nn/--cmsis")
        refs.append(cmsis_pack_manager.CmsisPackRef(vendor, pack, max(versions, key=_version_key)))
    try:
        cache.download_pack_list(refs)
    except Exception as e:
        raise PackError(f"cannot download the CMSIS packs: {_reason(e)}", "check the internet connection") from None
    archives = [store / ref.get_pack_name() for ref in refs]
    for archive in archives:
        if not archive.is_file():
            raise PackError(f"cannot download the CMSIS packs: {archive.name} did not arrive", "try again later")
    return install_files(archives)


def install_files(files: list[Path]) -> list[Installed]:
    """Install CMSIS pack files (zips with the .pdsc at their root) into the packs directory, as `cpackget add`.

    Every file is checked (readable, checksums, descriptor, member paths) before any is unpacked, so one bad
    file among several installs nothing. Each pack is unpacked beside the packs and renamed into place, so an
    interrupted install never leaves a half tree where `installed()` would find it.
    """
    checked = [_check(Path(f)) for f in files]
    return [_unpack(pack) for pack in checked]


_BAD_PACK = "download the pack file again from ARM's pack index, www.keil.arm.com/packs"
_VERSION = re.compile(r"\d+(\.\d+)*([-+][0-9A-Za-z.\-+]*)?")


def _check(path: Path) -> _PackFile:
    """The pack in `path`, or the one problem that stops it being installed."""
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise UsageError(
            f"pack file {path} {what}", "give the path of a CMSIS .pack file, e.g. ARM.CMSIS-NN.7.0.0.pack"
        )
    try:
        with zipfile.ZipFile(path) as z:
            damaged = z.testzip()
            members = z.namelist()
            descriptors = [m for m in members if "/" not in m and m.lower().endswith(".pdsc")]
            descriptor = z.read(descriptors[0]) if len(descriptors) == 1 else None
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as e:
        raise PackError(f"{path} is not a readable pack (a zip archive): {e}", _BAD_PACK) from None
    except OSError as e:
        raise UsageError(f"cannot read pack file {path}: {e.strerror or e}", "check the file's permissions") from None
    if damaged is not None:
        raise PackError(f"{path} is corrupt: its member {damaged} fails its checksum", _BAD_PACK)
    unsafe = [m for m in members if not _inside(m)]
    if unsafe:
        raise PackError(f"{path} is unsafe to unpack: its member {unsafe[0]!r} points outside the pack", _BAD_PACK)
    if descriptor is None:
        found = f"{len(descriptors)} .pdsc files" if descriptors else "no .pdsc file"
        raise PackError(f"{path} is not a CMSIS pack: {found} at its root, where a pack has one", _BAD_PACK)
    vendor, pack, version = _describe(descriptor, path / descriptors[0])
    name = next((key for key, (v, p, _) in PACKS.items() if (v, p) == (vendor, pack)), None)
    if name is None:
        wanted = " and ".join(f"{v}.{p}" for v, p, _ in PACKS.values())
        raise PackError(
            f"{path} is the {vendor}.{pack} pack; tinyml uses only {wanted}", f"install the {wanted} pack files"
        )
    if PACKS[name][2] not in members:
        raise PackError(f"{path} ({vendor}.{pack} {version}) lacks {PACKS[name][2]}: an incomplete pack", _BAD_PACK)
    return _PackFile(path, name, version)


def _inside(member: str) -> bool:
    """Whether a zip member's path stays inside the directory it is unpacked into, on any system."""
    parts = PurePosixPath(member.replace("\\", "/")).parts
    return not member.startswith(("/", "\\")) and ".." not in parts and not (parts and ":" in parts[0])


def _describe(descriptor: bytes, where: Path) -> tuple[str, str, str]:
    """(vendor, name, newest release version) from a .pdsc, the way pack managers read it."""
    try:
        root = ElementTree.fromstring(descriptor)
    except ElementTree.ParseError as e:
        raise PackError(f"{where} is not a valid pack descriptor: {e}", _BAD_PACK) from None
    vendor, pack = (root.findtext(tag, "").strip() for tag in ("vendor", "name"))
    versions = [v for r in root.iterfind("releases/release") if (v := r.get("version", "").strip())]
    if root.tag != "package" or not vendor or not pack or not versions:
        raise PackError(f"{where} lacks the <vendor>, <name> or <releases> of a pack descriptor", _BAD_PACK)
    version = max(versions, key=_version_key)
    if not _VERSION.fullmatch(version):
        raise PackError(f"{where} gives {version!r} as its version, which is not a version number", _BAD_PACK)
    return vendor, pack, version


def _unpack(pack: _PackFile) -> Installed:
    """Unpack into a staging directory beside the packs, then rename it into place (one atomic step)."""
    vendor, name, _ = PACKS[pack.name]
    target = packs_dir() / f"{vendor}.{name}" / pack.version
    if _is_tree(target, pack.name):
        return Installed(pack.name, pack.version, target, already=True)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".unpacking-", dir=packs_dir()) as staging:
            tree = Path(staging) / "tree"
            with zipfile.ZipFile(pack.path) as z:
                z.extractall(tree)
            if target.exists():  # a partial tree (an interrupted older install): it goes with the staging directory
                target.rename(Path(staging) / "partial")
            try:
                tree.rename(target)
            except OSError:
                if not _is_tree(target, pack.name):  # not another tinyml installing the same pack at the same time
                    raise
                return Installed(pack.name, pack.version, target, already=True)
    except OSError as e:
        raise PackError(
            f"cannot unpack {pack.path} into {target}: {e.strerror or e}",
            f"check the free space and permissions of {packs_dir()} (or set TINYML_CACHE)",
        ) from None
    return Installed(pack.name, pack.version, target, already=False)


def _pdsc_version(path: Path, vendor: str, pack: str) -> re.Match[str] | None:
    return re.fullmatch(rf"{re.escape(vendor)}\.{re.escape(pack)}\.(\d[\w.\-]*)\.pdsc", path.name)


def _reason(e: Exception) -> str:
    text = str(e.args[0] if e.args else e)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text.splitlines()[0][:200] if text else type(e).__name__
