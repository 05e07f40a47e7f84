"""``sectune train ... --resume`` after a kill: damaged checkpoints, and data that is not the run's own."""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path

import pytest

from sectune.io import file_sha256
from sectune.methods.encoder import EncoderClassifier
from tests.conftest import make_texts
from tests.test_cli import assert_one_line_error, run
from tests.test_training import FirstStep, StopAt

ENCODER = [
    "--method",
    "encoder",
    "--max-steps",
    "8",
    "--eval-steps",
    "2",
    "--batch-size",
    "4",
    "--early-stopping-patience",
    "0",
]


def write_csv(path: Path, texts: list[str], labels: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels))
    return path


def train(capsys, monkeypatch, data: Path, out: Path, tiny: str, *callbacks, resume: bool = False) -> tuple[int, str]:
    """One encoder run through the real CLI; ``callbacks`` go to the Trainer (to kill it, or to watch it)."""
    monkeypatch.setattr(EncoderClassifier, "extra_callbacks", list(callbacks))
    code, _, err = run(
        capsys, "train", str(data), "--output", str(out), "--model", tiny, *ENCODER, *(["--resume"] if resume else [])
    )
    return code, err


def killed_run(capsys, monkeypatch, data: Path, out: Path, tiny: str, at_step: int) -> Path:
    """Train until ``at_step`` and die there, as a killed process would: the checkpoints stay in the staging dir."""
    code, err = train(capsys, monkeypatch, data, out, tiny, StopAt(at_step))
    assert code == 130, err
    return out.with_name(f".{out.name}.partial") / "checkpoints"


def truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


@pytest.mark.parametrize("damaged", ["model.safetensors", "optimizer.pt", "trainer_state.json"])
def test_damaged_last_checkpoint_falls_back_to_the_previous_one(
    capsys, monkeypatch, caplog, tmp_path, labelled_csv, tiny_bert_dir, damaged
) -> None:
    out = tmp_path / "model"
    checkpoints = killed_run(capsys, monkeypatch, labelled_csv, out, tiny_bert_dir, at_step=5)
    assert sorted(p.name for p in checkpoints.iterdir()) == ["checkpoint-2", "checkpoint-4"]
    truncate(checkpoints / "checkpoint-4" / damaged)
    first = FirstStep()
    with caplog.at_level(logging.WARNING, logger="sectune"):
        code, err = train(capsys, monkeypatch, labelled_csv, out, tiny_bert_dir, first, resume=True)
    assert code == 0, err
    assert "Traceback" not in err
    assert first.first == 3, "training picked up after checkpoint-2, the last good one"
    warned = [r.getMessage() for r in caplog.records if "checkpoint-4" in r.getMessage()]
    assert len(warned) == 1 and "damaged" in warned[0] and damaged in warned[0], caplog.text
    info = json.loads((out / "sectune.json").read_text())
    assert "resumed_from" not in info["run"]["training"], "the same data: nothing to record"
    assert not (out / "run.json").exists(), "the run's bookkeeping stays out of the model directory"


def test_damaged_only_checkpoint_is_one_clear_error(capsys, monkeypatch, tmp_path, labelled_csv, tiny_bert_dir) -> None:
    out = tmp_path / "model"
    checkpoints = killed_run(capsys, monkeypatch, labelled_csv, out, tiny_bert_dir, at_step=3)
    assert [p.name for p in checkpoints.iterdir()] == ["checkpoint-2"]
    truncate(checkpoints / "checkpoint-2" / "model.safetensors")
    code, err = train(capsys, monkeypatch, labelled_csv, out, tiny_bert_dir, resume=True)
    assert "Traceback" not in err
    assert_one_line_error(
        code,
        err,
        f"checkpoint {checkpoints / 'checkpoint-2'} is damaged (model.safetensors",
        "no earlier good checkpoint: rerun without --resume",
    )
    assert (checkpoints / "checkpoint-2").is_dir(), "nothing is deleted when there is nothing to fall back to"


@pytest.mark.parametrize(
    "classes, shown",
    [
        (("sqli", "xss"), "this data has 2 labels [sqli, xss]"),
        (("sqli", "xss", "rce"), "this data has 3 labels [rce, sqli, xss]"),
    ],
)
def test_resume_on_other_labels_is_refused_before_training(
    capsys, monkeypatch, tmp_path, labelled_csv, tiny_bert_dir, classes, shown
) -> None:
    out = tmp_path / "model"
    checkpoints = killed_run(capsys, monkeypatch, labelled_csv, out, tiny_bert_dir, at_step=5)
    texts, labels = make_texts(10, classes=("sqli", "xss", "overflow")[: len(classes)])
    other = write_csv(
        tmp_path / "other.csv", texts, [dict(zip(("sqli", "xss", "overflow"), classes))[y] for y in labels]
    )
    first = FirstStep()
    code, err = train(capsys, monkeypatch, other, out, tiny_bert_dir, first, resume=True)
    assert "Traceback" not in err
    assert_one_line_error(code, err, "was trained on 3 labels [overflow, sqli, xss]", shown, "rerun without --resume")
    assert first.first is None, "no training step ran"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["checkpoint-2", "checkpoint-4"]


def test_resume_on_another_file_with_the_same_labels_warns_and_records_it(
    capsys, monkeypatch, caplog, tmp_path, labelled_csv, tiny_bert_dir
) -> None:
    out = tmp_path / "model"
    killed_run(capsys, monkeypatch, labelled_csv, out, tiny_bert_dir, at_step=5)
    other = write_csv(tmp_path / "other.csv", *make_texts(10, seed=1))
    first = FirstStep()
    with caplog.at_level(logging.WARNING, logger="sectune"):
        code, err = train(capsys, monkeypatch, other, out, tiny_bert_dir, first, resume=True)
    assert code == 0, err
    assert first.first == 5, "the run continued from its checkpoint"
    assert any(str(labelled_csv) in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records), (
        caplog.text
    )
    info = json.loads((out / "sectune.json").read_text())
    assert info["run"]["training"]["resumed_from"] == {"data": str(labelled_csv), "sha256": file_sha256(labelled_csv)}
    assert info["run"]["training"]["data"]["sha256"] == file_sha256(other)
