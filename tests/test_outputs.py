"""sectune.outputs: the staged, locked model directory and the output checks, without a CLI."""

from __future__ import annotations

import os

import pytest

from sectune.errors import SectuneError
from sectune.outputs import check_output_dir, check_output_file, staged_dir


def test_staged_dir_success_swaps_and_removes_old(tmp_path):
    final = tmp_path / "model"
    final.mkdir()
    (final / "sectune.json").write_text("{}")
    (final / "old.bin").write_text("old")
    with staged_dir(final) as stage:
        assert stage == tmp_path / ".model.partial" and stage.is_dir()
        (stage / "new.bin").write_text("new")
        assert (final / "old.bin").exists()  # untouched while building
    assert sorted(p.name for p in final.iterdir()) == ["new.bin"]
    assert sorted(os.listdir(tmp_path)) == ["model"]  # no staging or moved-aside leftovers


def test_staged_dir_failure_keeps_stage_and_final_then_resumes(tmp_path):
    final = tmp_path / "model"
    final.mkdir()
    (final / "sectune.json").write_text("{}")
    with pytest.raises(KeyboardInterrupt):
        with staged_dir(final) as stage:
            (stage / "epoch1.ckpt").write_text("1")
            raise KeyboardInterrupt
    assert (final / "sectune.json").read_text() == "{}"
    assert (tmp_path / ".model.partial" / "epoch1.ckpt").exists()
    with staged_dir(final) as stage:  # resume: staging dir reused with what it holds
        assert (stage / "epoch1.ckpt").read_text() == "1"
        (stage / "done").write_text("")
    assert sorted(p.name for p in final.iterdir()) == ["done", "epoch1.ckpt"]
    assert not (tmp_path / ".model.partial").exists()


def test_staged_dir_creates_new_final(tmp_path):
    final = tmp_path / "runs" / "a"
    with staged_dir(final) as stage:
        (stage / "f").write_text("x")
    assert (final / "f").read_text() == "x"


def test_staged_dir_never_replaces_what_appeared_meanwhile(tmp_path):
    """The check runs again at the swap: files a user put at the output during a long run survive."""
    final = tmp_path / "model"
    with pytest.raises(SectuneError, match="not a sectune model"):
        with staged_dir(final) as stage:
            (stage / "sectune.json").write_text("{}")
            final.mkdir()
            (final / "notes.txt").write_text("mine")
    assert (final / "notes.txt").read_text() == "mine"
    assert (tmp_path / ".model.partial" / "sectune.json").is_file()  # the run's work is kept too


def test_check_output_dir_markers_name_what_may_be_replaced(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "metrics.json").write_text("{}")
    assert check_output_dir(report, markers=("metrics.json",), what="evaluation report") == report
    with pytest.raises(SectuneError, match="not a sectune model"):
        check_output_dir(report)


def test_check_output_file_allows_replacing_an_ordinary_output(tmp_path):
    out = tmp_path / "alerts.jsonl"
    out.write_text("old alerts\n")
    assert check_output_file(out, inputs=[tmp_path / "log.txt", "-", None, 3.5]) == out
    assert out.read_text() == "old alerts\n"  # checked, not touched
    assert sorted(os.listdir(tmp_path)) == ["alerts.jsonl"]  # the probe file is gone
