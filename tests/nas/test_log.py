"""The search log: records survive reopening, a torn last line is dropped, another search's log is refused, and a
full disk leaves the log as it was."""

from __future__ import annotations

import errno
import json
import os

import pytest

from tinyml.errors import DiskFullError, SearchLogError
from tinyml.nas.log import LOG_NAME, SearchLog

CONFIG = {"board": "stm32f746", "budgets": {"sram": 65536, "flash": None}, "data": "ab12", "options": {"seed": 3}}


def test_records_survive_reopening(tmp_path):
    log = SearchLog.open(tmp_path, CONFIG)
    log.append("candidate", key="k1", estimate=0.5)
    log.append("candidate", key="k2", estimate=0.75)
    again = SearchLog.open(tmp_path, dict(CONFIG))
    assert [r["event"] for r in again.records] == ["config", "candidate", "candidate"]
    assert again.last("candidate", key="k2")["estimate"] == 0.75
    assert again.last("candidate", key="k3") is None
    again.append("generation", index=0)
    assert [r["event"] for r in SearchLog.open(tmp_path, CONFIG).records][-1] == "generation"
    # one complete JSON object per line
    lines = (tmp_path / LOG_NAME).read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["config", "candidate", "candidate", "generation"]


def test_torn_last_line_is_dropped(tmp_path):
    log = SearchLog.open(tmp_path, CONFIG)
    log.append("candidate", key="k1", estimate=0.5)
    path = tmp_path / LOG_NAME
    good = path.read_bytes()
    path.write_bytes(good + b'{"event":"candidate","key":"k2","esti')  # the write an interruption cut short
    again = SearchLog.open(tmp_path, CONFIG)
    assert [r.get("key") for r in again.records] == [None, "k1"]
    assert path.read_bytes() == good  # cut off, so the next record starts on its own line
    again.append("candidate", key="k2", estimate=0.25)
    assert SearchLog.open(tmp_path, CONFIG).last("candidate", key="k2")["estimate"] == 0.25


def test_damage_before_the_last_line_is_refused(tmp_path):
    log = SearchLog.open(tmp_path, CONFIG)
    log.append("candidate", key="k1", estimate=0.5)
    path = tmp_path / LOG_NAME
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"garbage\n" + lines[1])
    with pytest.raises(SearchLogError, match="damaged at line 2"):
        SearchLog.open(tmp_path, CONFIG)


def test_a_log_of_nothing_done_is_replaced(tmp_path):
    SearchLog.open(tmp_path, CONFIG)  # the search stopped at once (its budgets fit no model, say)
    log = SearchLog.open(tmp_path, {**CONFIG, "budgets": {"sram": 131072, "flash": None}})
    assert log.records[0]["config"]["budgets"]["sram"] == 131072 and len(log.records) == 1


def test_another_searchs_log_is_refused(tmp_path):
    SearchLog.open(tmp_path, CONFIG).append("candidate", key="k1", estimate=0.5)
    with pytest.raises(SearchLogError) as e:
        SearchLog.open(tmp_path, {**CONFIG, "options": {"seed": 4}})
    assert "belongs to another search (this command differs in seed)" in e.value.message
    assert "afresh" in e.value.fix and e.value.exit_code == 15
    assert len(SearchLog.open(tmp_path, CONFIG).records) == 2  # untouched


def test_full_disk_leaves_the_log_intact(tmp_path, monkeypatch):
    log = SearchLog.open(tmp_path, CONFIG)
    log.append("candidate", key="k1", estimate=0.5)
    before = (tmp_path / LOG_NAME).read_bytes()
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        """Write half the record, as a filling disk does, then fail."""
        if len(data) > 8:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(DiskFullError) as e:
        log.append("candidate", key="k2", estimate=0.75)
    monkeypatch.undo()
    assert str(tmp_path) in e.value.message and "full" in e.value.message
    assert "rerun the same command" in e.value.fix and e.value.exit_code == 16
    assert (tmp_path / LOG_NAME).read_bytes() == before
    assert [r.get("key") for r in SearchLog.open(tmp_path, CONFIG).records] == [None, "k1"]
