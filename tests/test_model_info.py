"""A damaged or edited ``sectune.json`` stops ``sectune predict`` with one line naming the field (exit 2).

Models are built once with the cheap methods; each test copies one, edits its sectune.json and runs the CLI.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from sectune.methods.base import load
from sectune.methods.charcnn import CharCNN
from sectune.methods.features import FeaturesLogreg
from sectune.methods.rules import RulesClassifier
from sectune.methods.tfidf import TfidfLogreg
from tests.conftest import make_texts
from tests.test_cli import assert_one_line_error, run


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """One saved model per cheap method: tfidf-logreg with 3 classes, the others binary."""
    root = tmp_path_factory.mktemp("models")
    three = make_texts(8)
    two = make_texts(8, classes=("sqli", "xss"))
    built = {
        "tfidf-logreg": TfidfLogreg(min_df=1, verbose=False).fit(*three),
        "features-logreg": FeaturesLogreg(verbose=False).fit(*two),
        "rules": RulesClassifier(verbose=False).fit(*two),
        "charcnn": CharCNN(embed_dim=4, filters=4, kernel_sizes=(3,), max_steps=2, verbose=False).fit(*two),
    }
    for name, model in built.items():
        model.save_pretrained(root / name)
    return {name: root / name for name in built}


def edited(models: dict[str, Path], method: str, tmp_path: Path, changes: dict[str, Any]) -> Path:
    """A copy of a saved model whose sectune.json has ``changes`` applied."""
    directory = tmp_path / "model"
    shutil.copytree(models[method], directory)
    path = directory / "sectune.json"
    path.write_text(json.dumps({**json.loads(path.read_text(encoding="utf-8")), **changes}), encoding="utf-8")
    return directory


def predict(capsys, directory: Path, tmp_path: Path) -> tuple[int, str, str]:
    """``sectune predict`` on two lines: (exit code, stdout, stderr) of this run only."""
    capsys.readouterr()  # drop what building the model printed
    texts = tmp_path / "input.txt"
    texts.write_text("sql injection in login query\nscript in html comment\n", encoding="utf-8")
    return run(capsys, "predict", str(directory), str(texts))


@pytest.mark.parametrize("method", ["tfidf-logreg", "features-logreg", "rules", "charcnn"])
def test_unedited_model_predicts(capsys, models, tmp_path, method) -> None:
    code, out, err = predict(capsys, models[method], tmp_path)
    assert code == 0, err
    assert len(out.splitlines()) == 2


def test_threshold_just_above_1_is_valid(capsys, models, tmp_path) -> None:
    """threshold_for_fpr writes it when every score would be a false positive: such a model must load and flag nothing."""
    directory = edited(models, "features-logreg", tmp_path, {"threshold": math.nextafter(1.0, math.inf)})
    code, _, err = predict(capsys, directory, tmp_path)
    assert code == 0, err
    assert load(directory).predict(make_texts(4, classes=("sqli", "xss"))[0]) == ["sqli"] * 8


DAMAGED: dict[str, tuple[dict[str, Any], str]] = {
    "labels null": ({"labels": None}, "field 'labels': Input should be a valid list"),
    "labels a string": ({"labels": "sqli,xss"}, "field 'labels'"),
    "one label": ({"labels": ["sqli"]}, "field 'labels': List should have at least 2 items"),
    "repeated labels": ({"labels": ["sqli", "sqli", "xss"]}, "field 'labels': labels must be distinct"),
    "numeric labels": ({"labels": [0, 1, 2]}, "field 'labels[0]': Input should be a valid string"),
    "format_version string": ({"format_version": "1"}, "field 'format_version': Input should be a valid integer"),
    "format_version 0": ({"format_version": 0}, "field 'format_version': Input should be greater than or equal to 1"),
    "method number": ({"method": 3}, "field 'method': Input should be a valid string"),
    "params list": ({"params": ["C", 10]}, "field 'params': Input should be a valid dictionary"),
    "threshold string": ({"threshold": "high"}, "field 'threshold': Input should be a valid number"),
    "threshold above 1": ({"threshold": 1.5}, "field 'threshold': must be between 0 and 1"),
    "threshold negative": ({"threshold": -0.1}, "field 'threshold': must be between 0 and 1"),
    "threshold bool": ({"threshold": True}, "field 'threshold': Input should be a valid number"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_damaged_field_is_one_line_naming_it(capsys, models, tmp_path, case) -> None:
    changes, needle = DAMAGED[case]
    directory = edited(models, "tfidf-logreg", tmp_path, changes)
    code, out, err = predict(capsys, directory, tmp_path)
    assert_one_line_error(code, err, str(directory / "sectune.json"), needle)
    assert out == ""


def test_non_finite_threshold_is_refused(capsys, models, tmp_path) -> None:
    directory = edited(models, "tfidf-logreg", tmp_path, {})
    path = directory / "sectune.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"threshold": null', '"threshold": NaN'), encoding="utf-8")
    code, _, err = predict(capsys, directory, tmp_path)
    assert_one_line_error(code, err, "field 'threshold'")


def test_huge_value_is_not_echoed(capsys, models, tmp_path) -> None:
    directory = edited(models, "tfidf-logreg", tmp_path, {"threshold": "9" * 100_000, "labels": ["x" * 100_000]})
    code, _, err = predict(capsys, directory, tmp_path)
    assert_one_line_error(code, err, "field 'labels'", "(and 1 more problem(s))")
    assert len(err) < 300 and "99999" not in err and "xxxxx" not in err


def test_existing_messages_are_kept(capsys, models, tmp_path) -> None:
    directory = edited(models, "tfidf-logreg", tmp_path, {"format_version": 3})
    code, _, err = predict(capsys, directory, tmp_path)
    assert_one_line_error(code, err, "written by a newer sectune (format 3)")
    (directory / "sectune.json").write_text('{"method": "tfidf-logreg"}', encoding="utf-8")
    code, _, err = predict(capsys, directory, tmp_path)
    assert_one_line_error(code, err, "is not a sectune model file (no method or labels)")


WRONG_COUNT = {  # labels that pass the schema but not the weights: (method, labels)
    "tfidf-logreg: 4 labels for 3 outputs": ("tfidf-logreg", ["a", "b", "c", "d"]),
    "tfidf-logreg: 2 labels for 3 outputs": ("tfidf-logreg", ["a", "b"]),
    "features-logreg: 3 labels for a binary head": ("features-logreg", ["a", "b", "c"]),
    "rules: 3 labels for a binary detector": ("rules", ["a", "b", "c"]),
    "charcnn: 3 labels for 2 outputs": ("charcnn", ["a", "b", "c"]),
}


@pytest.mark.parametrize("case", sorted(WRONG_COUNT))
def test_labels_that_do_not_fit_the_weights_are_refused(capsys, models, tmp_path, case) -> None:
    method, labels = WRONG_COUNT[case]
    directory = edited(models, method, tmp_path, {"labels": labels})
    code, _, err = predict(capsys, directory, tmp_path)
    assert_one_line_error(
        code, err, str(directory), f"do not fit the {len(labels)} labels of sectune.json field 'labels'"
    )


@pytest.mark.parametrize("lora_r", [4, 0], ids=["adapter", "full"])
def test_causal_llm_classifier_head_refuses_labels_that_do_not_fit(capsys, tiny_llama_dir, tmp_path, lora_r) -> None:
    from sectune.methods.causal_llm import CausalLLMClassifier

    model = CausalLLMClassifier(
        model=tiny_llama_dir,
        head="classifier",
        lora_r=lora_r,
        max_steps=1,
        batch_size=4,
        verbose=False,
        report_generation=False,
    )
    model.fit(*make_texts(3, classes=("sqli", "xss"))).save_pretrained(tmp_path / "llm")
    code, _, err = predict(capsys, tmp_path / "llm", tmp_path)
    assert code == 0, err
    directory = edited({"llm": tmp_path / "llm"}, "llm", tmp_path, {"labels": ["a", "b", "c"]})
    code, _, err = predict(capsys, directory, tmp_path)
    assert_one_line_error(
        code, err, str(directory), "holds 2 output(s), which do not fit the 3 labels of sectune.json field 'labels'"
    )
