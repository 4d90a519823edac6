"""The search log: an append-only JSON-lines file in the output directory, from which a search resumes.

One record per event: the configuration first (data, board, budgets, seed, space, every knob that changes the
result), then the stage-1 table, the supernet checkpoint (path and sha256), every evaluated candidate with its
footprint and estimate, every generation, the rank check and the finalists. Each record is one line, written
and flushed to disk (fsync) before the search moves on, so an interruption at any moment loses at most the line
being written. Reopening the log drops such a torn last line and hands back every complete record; the search
then skips the work they describe and, because every random choice comes from the seed, reaches the result an
uninterrupted search would have reached.

A log written by a search with another configuration is refused (it belongs to that search), and so is one
damaged before its last line. A full disk stops the search with one message; the log keeps every record it had.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tinyml.errors import DiskFullError, SearchLogError

SCHEMA = "tinyml.search-log/1"
LOG_NAME = "search.log"


class SearchLog:
    """The log of one search: its records so far, and `append` for the next."""

    def __init__(self, path: Path, records: list[dict[str, Any]]) -> None:
        self.path = path
        self.records = records

    @classmethod
    def open(cls, out: Path, config: dict[str, Any]) -> SearchLog:
        """The log in `out` (created with `config` as its first record when there is none). An existing log must
        have been started with exactly `config`; its torn last line, if any, is cut off."""
        path = out / LOG_NAME
        if not path.exists():
            return cls._fresh(path, config)
        records = _read(path)
        first = records[0] if records else None
        if first is None:
            return cls._fresh(path, config)  # interrupted while writing the very first record
        if first.get("event") != "config" or first.get("schema") != SCHEMA:
            raise SearchLogError(
                f"{path} is not a search log this tinyml can resume",
                f"choose another output directory with -o, or delete {path.parent} to start afresh",
            )
        if first.get("config") != config and len(records) == 1:
            return cls._fresh(path, config)  # a search that stopped before doing anything: nothing to keep
        if first.get("config") != config:
            ours, theirs = _flat(config), _flat(first["config"])
            differ = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
            raise SearchLogError(
                f"{path} belongs to another search (this command differs in {', '.join(differ)})",
                f"rerun that search's command to resume it, choose another output directory with -o, or delete "
                f"{path.parent} to start afresh",
            )
        return cls(path, records)

    @classmethod
    def _fresh(cls, path: Path, config: dict[str, Any]) -> SearchLog:
        """A new log at `path` (emptied if it exists) holding the configuration record."""
        if path.exists():
            _truncate(path, 0)
        log = cls(path, [])
        log.append("config", schema=SCHEMA, config=config)
        return log

    def append(self, event: str, **data: Any) -> dict[str, Any]:
        """Write one record and flush it to disk before returning. On any failure (a full disk, Ctrl-C in the
        middle) the file is cut back to its previous length, so it never ends in half a record."""
        record = {"event": event, **data}
        line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except BaseException as e:
                os.ftruncate(fd, size)
                if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise DiskFullError(
                        f"the disk holding {self.path.parent} is full; the search stopped with its log intact",
                        "free some space (or move the output directory to a larger disk) and rerun the same "
                        "command: it resumes where it stopped",
                    ) from None
                if isinstance(e, OSError):
                    raise SearchLogError(
                        f"cannot write the search log {self.path}: {e.strerror}", "check the directory's permissions"
                    ) from None
                raise
        finally:
            os.close(fd)
        self.records.append(record)
        return record

    def events(self, event: str) -> Iterator[dict[str, Any]]:
        """Every record of one kind, in the order they were written."""
        return (r for r in self.records if r["event"] == event)

    def last(self, event: str, **match: Any) -> dict[str, Any] | None:
        """The latest record of one kind whose fields equal `match`, or None."""
        found = None
        for r in self.events(event):
            if all(r.get(k) == v for k, v in match.items()):
                found = r
        return found


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"options": {"seed": 1}} as {"seed": 1}: the names a message gives for what differs."""
    flat: dict[str, Any] = {}
    for k, v in config.items():
        flat.update(_flat(v) if isinstance(v, dict) and k == "options" else {prefix + k: v})
    return flat


def _read(path: Path) -> list[dict[str, Any]]:
    """The log's complete records. A last line without its newline (or that is not JSON) was being written when
    the search stopped: it is cut off the file. A bad line before the last means the file was damaged."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SearchLogError(f"cannot read the search log {path}: {e.strerror}", "check its permissions") from None
    records: list[dict[str, Any]] = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        line = data[pos:] if end < 0 else data[pos:end]
        try:
            record = json.loads(line)
            ok = end >= 0 and isinstance(record, dict) and isinstance(record.get("event"), str)
        except ValueError:
            ok = False
        if not ok:
            if end < 0 or not data[end + 1 :].strip():  # the last line
                _truncate(path, pos)  # the torn last record
                break
            raise SearchLogError(
                f"{path} is damaged at line {len(records) + 1}",
                f"delete {path.parent} to start the search afresh (the lines before it are intact)",
            )
        records.append(record)
        pos = end + 1
    return records


def _truncate(path: Path, size: int) -> None:
    with path.open("r+b") as f:
        f.truncate(size)
        f.flush()
        os.fsync(f.fileno())
