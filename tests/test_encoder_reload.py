"""An encoder reloads exactly as saved: weights that do not fit the declared pooling are refused, never
completed with a randomly initialised head."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from sectune.methods.base import load
from sectune.methods.encoder import EncoderClassifier
from sectune.methods.pooled import HEAD_FILE
from tests.conftest import make_texts
from tests.test_cli import assert_one_line_error
from tests.test_model_info import edited, predict

TEXTS = ["sql injection in login query", "script in html comment"]


@pytest.fixture(scope="module")
def encoders(tiny_bert_dir, tmp_path_factory) -> dict[str, Path]:
    """A binary encoder trained for 2 steps with each pooling, saved; the fit model's probabilities kept beside it."""
    root = tmp_path_factory.mktemp("encoders")
    for pooling in ("cls", "mean"):
        model = EncoderClassifier(model=tiny_bert_dir, pooling=pooling, max_steps=2, batch_size=4, verbose=False)
        model.fit(*make_texts(6, classes=("sqli", "xss")))
        model.save_pretrained(root / pooling)
        np.save(root / f"{pooling}.npy", model.predict_proba(TEXTS))
    return {pooling: root / pooling for pooling in ("cls", "mean")}


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_unedited_model_reloads_with_the_same_probabilities(capsys, encoders, tmp_path, pooling) -> None:
    again = load(encoders[pooling], verbose=False)
    np.testing.assert_allclose(
        again.predict_proba(TEXTS), np.load(encoders[pooling].parent / f"{pooling}.npy"), atol=1e-6
    )
    code, out, err = predict(capsys, encoders[pooling], tmp_path)
    assert code == 0, err
    assert len(out.splitlines()) == 2


@pytest.mark.parametrize(("saved", "declared"), [("cls", "mean"), ("mean", "cls")])
def test_pooling_switched_to_what_the_weights_do_not_match_is_refused(
    capsys, encoders, tmp_path, saved, declared
) -> None:
    directory = edited(encoders, saved, tmp_path, {"state": {"pooling": declared}})
    code, out, err = predict(capsys, directory, tmp_path)
    assert_one_line_error(code, err, str(directory), f"the weights do not match pooling '{declared}'")
    assert out == ""


def test_mean_pooling_head_of_another_shape_is_refused(capsys, encoders, tmp_path) -> None:
    directory = edited(encoders, "mean", tmp_path, {})
    save_file({"weight": torch.zeros(2, 16), "bias": torch.zeros(2)}, str(directory / HEAD_FILE))  # the body is 32 wide
    code, _, err = predict(capsys, directory, tmp_path)
    assert_one_line_error(code, err, str(directory / HEAD_FILE), "the weights do not match pooling 'mean'")


def test_classification_head_of_another_shape_is_refused(capsys, encoders, tmp_path) -> None:
    """config.json and sectune.json both say 3 classes; the saved head has 2 rows: refused, not re-initialised."""
    labels = ["a", "b", "c"]
    directory = edited(encoders, "cls", tmp_path, {"labels": labels})
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    config.update(id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
    (directory / "config.json").write_text(json.dumps(config), encoding="utf-8")
    code, _, err = predict(capsys, directory, tmp_path)
    assert_one_line_error(code, err, str(directory), "the weights do not match pooling 'cls'", "classifier.weight")


def test_unknown_pooling_is_refused(capsys, encoders, tmp_path) -> None:
    directory = edited(encoders, "cls", tmp_path, {"state": {"pooling": "max"}})
    code, _, err = predict(capsys, directory, tmp_path)
    assert_one_line_error(code, err, str(directory), "field 'state.pooling' must be 'mean' or 'cls'")


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_labels_that_do_not_fit_the_head_are_refused(capsys, encoders, tmp_path, pooling) -> None:
    directory = edited(encoders, pooling, tmp_path, {"labels": ["a", "b", "c"]})
    code, _, err = predict(capsys, directory, tmp_path)
    assert_one_line_error(code, err, str(directory), "do not fit the 3 labels of sectune.json field 'labels'")


def test_plain_transformers_cannot_misload_a_mean_pooling_model(tmp_path, tiny_bert_dir) -> None:
    """Plain AutoModelForSequenceClassification on a mean-pooling directory once loaded the body and an
    untrained head (~0.5 everywhere); the body now sits in body/, so it fails loudly, and sectune loads it."""
    from transformers import AutoModelForSequenceClassification

    import sectune
    from sectune.methods.encoder import EncoderClassifier
    from sectune.testing import make_texts

    texts, labels = make_texts(6)
    model = EncoderClassifier(model=tiny_bert_dir, pooling="mean", max_steps=2, batch_size=4, verbose=False)
    model.fit(texts, labels).save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "body" / "config.json").is_file() and not (tmp_path / "m" / "config.json").exists()
    with pytest.raises((OSError, ValueError)):  # "Unrecognized model ... should have a model_type in config.json"
        AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "m"))
    assert np.allclose(sectune.load(tmp_path / "m").predict_proba(texts), model.predict_proba(texts), atol=1e-6)
