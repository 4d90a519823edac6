"""CMSIS packs: where CMSIS-NN and the CMSIS core headers come from.

Users get them the way embedded developers do, as ARM's CMSIS packs, fetched
with cmsis-pack-manager into a user cache (`tinyml packs install`); or they
point tinyml at existing checkouts (`--cmsis-nn DIR` / `CMSIS_NN_ROOT`,
`--cmsis DIR` / `CMSIS_ROOT`). Nothing from CMSIS is part of tinyml itself.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tinyml.errors import PackError, ToolchainError
from tinyml.resources import cache_root

#: (vendor, pack) of what tinyml needs, and a file that proves a tree is one
PACKS = {
    "CMSIS-NN": ("ARM", "CMSIS-NN", "Include/arm_nnfunctions.h"),
    "CMSIS": ("ARM", "CMSIS", "CMSIS/Core/Include/cmsis_compiler.h"),
}
FIX = (
    "run `tinyml packs install` (needs internet), or point at checkouts of ARM-software/CMSIS-NN and "
    "ARM-software/CMSIS_6 with --cmsis-nn DIR --cmsis DIR (or CMSIS_NN_ROOT and CMSIS_ROOT)"
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


def _locate(name: str, given: str | None, env: str) -> tuple[Path | None, str]:
    """The tree for `name`: the option, else the environment variable, else the newest installed pack."""
    for source, value in ((f"--{name.lower()}", given), (env, os.environ.get(env))):
        if value:
            path = Path(value).expanduser()
            if not _is_tree(path, name):
                raise ToolchainError(
                    f"{source} points at {path}, which is not a {name} tree (no {PACKS[name][2]})", FIX
                )
            return path, source
    versions = installed()[name]
    if versions:
        return versions[0][1], f"pack {versions[0][0]}"
    return None, f"{env} (unset) or {packs_dir() / '.'.join(PACKS[name][:2])}"


def find_cmsis(cmsis_nn: str | None = None, cmsis: str | None = None) -> tuple[CmsisPaths | None, str]:
    """The CMSIS-NN and CMSIS trees to use, or None and a description of where tinyml looked."""
    nn, nn_from = _locate("CMSIS-NN", cmsis_nn, "CMSIS_NN_ROOT")
    core, core_from = _locate("CMSIS", cmsis, "CMSIS_ROOT")
    missing = [where for path, where in ((nn, nn_from), (core, core_from)) if path is None]
    if nn is None or core is None:
        return None, " and ".join(missing)
    return CmsisPaths(nn, core), f"CMSIS-NN from {nn_from}, CMSIS from {core_from}"


def install(silent: bool = False) -> dict[str, Path]:
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
            "check the internet connection (and any proxy), or use existing checkouts: --cmsis-nn DIR --cmsis DIR",
        ) from None
    if not any(store.glob("*.pdsc")):
        raise PackError(
            "cannot download the CMSIS pack index: nothing arrived (no network?)",
            "check the internet connection (and any proxy), or use existing checkouts: --cmsis-nn DIR --cmsis DIR",
        )
    refs = []
    for name, (vendor, pack, _) in PACKS.items():
        versions = [m.group(1) for p in store.glob(f"{vendor}.{pack}.*.pdsc") if (m := _pdsc_version(p, vendor, pack))]
        if not versions:
            raise PackError(f"the pack index has no {vendor}.{pack} pack", "try again later, or use --cmsis-nn/--cmsis")
        refs.append((name, cmsis_pack_manager.CmsisPackRef(vendor, pack, max(versions, key=_version_key))))
    try:
        cache.download_pack_list([ref for _, ref in refs])
    except Exception as e:
        raise PackError(f"cannot download the CMSIS packs: {_reason(e)}", "check the internet connection") from None
    result = {}
    for name, ref in refs:
        archive = store / ref.get_pack_name()
        target = packs_dir() / f"{ref.vendor}.{ref.pack}" / ref.version
        if not _is_tree(target, name):
            with zipfile.ZipFile(archive) as z:
                z.extractall(target)
        result[name] = target
    return result


def _pdsc_version(path: Path, vendor: str, pack: str) -> re.Match[str] | None:
    return re.fullmatch(rf"{re.escape(vendor)}\.{re.escape(pack)}\.(\d[\w.\-]*)\.pdsc", path.name)


def _reason(e: Exception) -> str:
    text = str(e.args[0] if e.args else e)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text.splitlines()[0][:200] if text else type(e).__name__
