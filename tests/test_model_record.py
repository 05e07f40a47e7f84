"""sectune.json format 2: what loads a model (method, params, labels, threshold, the method's ``state``) apart
from how it came to be (the ``run`` record); format 1 directories, written by the sectune before, still load.

A damaged run record is refused in one line naming the field, like a damaged loading field, rather than loaded
with a warning: the run record is read back (the task's settings steer how ``sectune evaluate`` prepares and
names labels, the columns trained on are evaluate's defaults), so a half-read one could change scores silently.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sectune.api import train
from sectune.card import render_model_card
from sectune.methods.base import load, read_info
from sectune.methods.encoder import EncoderClassifier
from sectune.methods.tfidf import TfidfLogreg
from sectune.run import RunRecord
from sectune.testing import make_texts
from tests.test_cli import assert_one_line_error
from tests.test_model_info import predict

V1 = Path(__file__).parent / "fixtures" / "models" / "v1"
TOP = {"format_version", "method", "params", "labels", "threshold", "state", "run"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A binary tfidf-logreg model directory written by the pipeline (so its run record is complete)."""
    root = tmp_path_factory.mktemp("trained")
    data = root / "data.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("text", "label"), *zip(*make_texts(15, classes=("sqli", "xss")))])
    return train(data, output=root / "model", method="tfidf-logreg", min_df=1, verbose=False).output


def copy_with(source: Path, tmp_path: Path, change) -> Path:
    """A copy of a model directory whose sectune.json went through ``change(info)`` (which edits it in place)."""
    directory = tmp_path / "model"
    shutil.copytree(source, directory)
    path = directory / "sectune.json"
    info = json.loads(path.read_text(encoding="utf-8"))
    change(info)
    path.write_text(json.dumps(info), encoding="utf-8")
    return directory


def test_the_layout_keeps_state_and_run_apart(trained) -> None:
    info = json.loads((trained / "sectune.json").read_text(encoding="utf-8"))
    assert set(info) == TOP and info["format_version"] == 2
    assert info["state"] == {}, "tfidf-logreg's files say it all"
    run = info["run"]
    assert (
        run["task"] == "generic"
        and run["training"]["data"]["rows"] == 30
        and len(run["training"]["data"]["sha256"]) == 64
    )
    assert (
        run["threshold_selection"]["threshold"] == info["threshold"]
        and "macro_f1" in run["metrics"]
        and "numpy" in run["versions"]
    )
    assert run["training"]["arguments"] == info["params"]
    assert RunRecord.model_validate(run).as_dict() == run, "the record reads back as written"


def test_a_model_saved_from_python_has_a_small_run_record(tmp_path) -> None:
    TfidfLogreg(min_df=1, verbose=False).fit(*make_texts(4)).save_pretrained(tmp_path / "m")
    info = json.loads((tmp_path / "m" / "sectune.json").read_text(encoding="utf-8"))
    assert set(info) == TOP and info["run"] == {} and info["state"] == {}
    assert load(tmp_path / "m").info == {}


def test_loading_keeps_the_run_record_and_its_read_only_view(trained) -> None:
    model = load(trained)
    assert model.run.training.data.rows == 30 and model.run.task == "generic"
    view = model.info
    view["task"] = "cwe"
    assert model.run.task == "generic", "info is a copy: editing it changes nothing"


def test_a_method_state_round_trips_apart_from_the_run(tiny_bert_dir, tmp_path) -> None:
    model = EncoderClassifier(model=tiny_bert_dir, pooling="mean", max_steps=1, batch_size=4, verbose=False)
    model.fit(*make_texts(4, classes=("sqli", "xss"))).save_pretrained(tmp_path / "m")
    info = json.loads((tmp_path / "m" / "sectune.json").read_text(encoding="utf-8"))
    assert info["state"] == {"pooling": "mean"} and "pooling" not in info["run"]
    assert info["run"] == {"base_model": tiny_bert_dir}, "saved from Python: the run record names the base model only"
    again = load(tmp_path / "m", verbose=False)
    assert again.pooling_ == "mean"
    texts, _ = make_texts(2, seed=5)
    np.testing.assert_allclose(again.predict_proba(texts), model.predict_proba(texts), atol=1e-6)


def test_a_state_written_in_format_1_layout_still_loads(tiny_bert_dir, tmp_path) -> None:
    """Format 1 kept the encoder's pooling beside the run facts: the reader moves it to state."""
    model = EncoderClassifier(model=tiny_bert_dir, pooling="mean", max_steps=1, batch_size=4, verbose=False)
    model.fit(*make_texts(4, classes=("sqli", "xss"))).save_pretrained(tmp_path / "v2")

    def flatten(info: dict[str, Any]) -> None:
        state, run = info.pop("state"), info.pop("run")
        info.update({**run, **state, "format_version": 1})

    directory = copy_with(tmp_path / "v2", tmp_path, flatten)
    assert read_info(directory)["state"] == {"pooling": "mean"}
    texts, _ = make_texts(2, seed=5)
    np.testing.assert_allclose(
        load(directory, verbose=False).predict_proba(texts), model.predict_proba(texts), atol=1e-6
    )


@pytest.mark.parametrize("name", ["tfidf-logreg", "charcnn"])
def test_format_1_directories_load_and_predict_as_before(name) -> None:
    directory = V1 / name
    raw = json.loads((directory / "sectune.json").read_text(encoding="utf-8"))
    assert raw["format_version"] == 1 and "training" in raw and "run" not in raw
    expected = json.loads((directory / "expected.json").read_text(encoding="utf-8"))
    model = load(directory, verbose=False)
    np.testing.assert_allclose(model.predict_proba(expected["texts"]), expected["proba"], atol=1e-6)
    info = read_info(directory)
    assert set(info) == TOP and info["format_version"] == 2 and info["state"] == {}
    assert (
        info["run"]["task"] == "generic"
        and info["run"]["training"] == raw["training"]
        and info["run"]["versions"] == raw["versions"]
    )
    assert model.run.training.train_rows == info["run"]["training"]["train_rows"]


def test_a_format_1_binary_model_keeps_its_threshold_and_card() -> None:
    info = read_info(V1 / "charcnn")
    assert (
        info["threshold"]
        == info["run"]["threshold_selection"]["threshold"]
        == load(V1 / "charcnn", verbose=False).threshold_
    )
    card = render_model_card(info, {})
    assert (
        info["run"]["training"]["data"]["sha256"] in card
        and "- Task: `generic`" in card
        and "- Method: `charcnn`" in card
    )


def test_the_card_renders_from_the_run_record(trained) -> None:
    card = (trained / "README.md").read_text(encoding="utf-8")
    run = read_info(trained)["run"]
    assert run["training"]["data"]["sha256"] in card and f"- Rows: {run['training']['data']['rows']}" in card
    assert "numpy " + run["versions"]["numpy"] in card
    assert "No training data details were recorded." in render_model_card({**read_info(trained), "run": {}}, {}), (
        "a record without provenance still gets a card"
    )


V1_DAMAGED = {  # the loading fields of a format 1 file are held to the same schema, under the same names
    "labels a string": ({"labels": "sqli,xss"}, "field 'labels'"),
    "threshold above 1": ({"threshold": 1.5}, "field 'threshold': must be between 0 and 1"),
    "params list": ({"params": ["C", 10]}, "field 'params': Input should be a valid dictionary"),
    "rows a string": (
        {"training": {"data": {"rows": "30"}}},
        "field 'run.training.data.rows': Input should be a valid integer",
    ),
}


@pytest.mark.parametrize("case", sorted(V1_DAMAGED))
def test_a_damaged_format_1_field_is_one_line_naming_it(capsys, tmp_path, case) -> None:
    changes, needle = V1_DAMAGED[case]
    directory = copy_with(V1 / "tfidf-logreg", tmp_path, lambda info: info.update(changes))
    code, out, err = predict(capsys, directory, tmp_path)
    assert_one_line_error(code, err, str(directory / "sectune.json"), needle)
    assert out == ""


def _set(path: str, value: Any):
    """An edit of sectune.json: ``value`` at the dotted ``path``."""
    *parents, last = path.split(".")

    def change(info: dict[str, Any]) -> None:
        for key in parents:
            info = info.setdefault(key, {})
        info[last] = value

    return change


DAMAGED_RUN = {
    "rows a string": (
        "run.training.data.rows",
        "30",
        "field 'run.training.data.rows': Input should be a valid integer",
    ),
    "seed a float": ("run.training.seed", 4.5, "field 'run.training.seed': Input should be a valid integer"),
    "threshold selection partial": (
        "run.threshold_selection",
        {"threshold": 0.5},
        "field 'run.threshold_selection.target_fpr': Field required",
    ),
    "metric a string": ("run.metrics.macro_f1", "high", "field 'run.metrics.macro_f1': Input should be a valid number"),
    "run a list": ("run", [], "field 'run': Input should be a valid dictionary"),
    "unknown run field": ("run.notes", {"a": 1}, "unknown field 'notes' (only the task's own entry may be added)"),
    "task entry not an object": ("run.generic", 3, "the task's entry 'generic' must be an object"),
    "unknown training field": ("run.training.epochs", 3, "field 'run.training.epochs': Extra inputs are not permitted"),
    "unknown top-level field": ("pooling", "mean", "field 'pooling': Extra inputs are not permitted"),
    "state a list": ("state", ["mean"], "field 'state': Input should be a valid dictionary"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED_RUN))
def test_a_damaged_record_is_one_line_naming_the_field(capsys, trained, tmp_path, case) -> None:
    path, value, needle = DAMAGED_RUN[case]
    directory = copy_with(trained, tmp_path, _set(path, value))
    code, out, err = predict(capsys, directory, tmp_path)
    assert_one_line_error(code, err, str(directory / "sectune.json"), needle)
    assert out == ""


def test_the_task_adds_its_own_entry_under_its_name(capsys, trained, tmp_path) -> None:
    directory = copy_with(trained, tmp_path, _set("run.generic", {"report": {}}))
    code, _, err = predict(capsys, directory, tmp_path)
    assert code == 0, err


@pytest.mark.parametrize("switch", ["trust_remote_code", "allow_pickle"])
def test_a_security_switch_stored_in_state_is_refused(capsys, trained, tmp_path, switch) -> None:
    directory = copy_with(trained, tmp_path, _set(f"state.{switch}", True))
    code, _, err = predict(capsys, directory, tmp_path)
    assert_one_line_error(code, err, "--" + switch.replace("_", "-"), "which a model directory cannot turn on")


class _Leaky(TfidfLogreg):
    """A method whose state would carry a security switch."""

    def _save_state(self, directory: Path) -> dict[str, Any]:
        return {**super()._save_state(directory), "trust_remote_code": True}


def test_a_method_state_never_carries_a_security_switch(tmp_path) -> None:
    with pytest.raises(TypeError, match="without a security switch"):
        _Leaky(min_df=1, verbose=False).fit(*make_texts(4)).save_pretrained(tmp_path / "m")
    assert not (tmp_path / "m" / "sectune.json").exists()
