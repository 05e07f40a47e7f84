"""One contract for every registered method, in the spirit of scikit-learn's check_estimator.

A new method must add its fast test parameters to FAST_PARAMS, and then passes these checks or
is not done.
"""

from __future__ import annotations

import numpy as np
import pytest

from sectune.errors import SectuneError
from sectune.methods.base import REGISTRY, load, method_class
from tests.conftest import make_texts

# Small, fast settings per method; "{tiny}" is replaced with the tiny random BERT's directory, "{tiny_llama}" with
# the tiny random Llama's.
FAST_PARAMS: dict[str, dict] = {
    "tfidf-logreg": {"min_df": 1},
    "embed-logreg": {"model": "{tiny}", "batch_size": 4, "verbose": False},
    "encoder": {"model": "{tiny}", "max_steps": 4, "batch_size": 4, "predict_batch_size": 4, "lr": 1e-3, "verbose": False},
    "rules": {"min_support": 2, "verbose": False},
    "features-logreg": {"C": 1.0, "verbose": False},
    "charcnn": {"embed_dim": 8, "filters": 8, "kernel_sizes": [3, 5], "max_length": 256, "max_steps": 4, "batch_size": 4,
                "predict_batch_size": 4, "verbose": False},
    "causal-llm": {"model": "{tiny_llama}", "max_steps": 2, "batch_size": 4, "predict_batch_size": 4, "lr": 1e-3,
                   "report_generation": False, "verbose": False},
}
# A method with ``binary_only = True`` (rules) is checked on a two-class version of the same data instead of the
# three-class one, and must refuse three classes with a SectuneError (test_binary_only_refuses_multiclass).
BINARY_CLASSES = ("sqli", "xss")


def classes_for(name: str) -> tuple[str, ...]:
    return BINARY_CLASSES if getattr(method_class(name), "binary_only", False) else ("sqli", "xss", "overflow")


@pytest.fixture(scope="module")
def tiny(tiny_bert_dir, tiny_llama_dir) -> dict[str, str]:
    return {"{tiny}": tiny_bert_dir, "{tiny_llama}": tiny_llama_dir}


def resolved(name: str, tiny: dict[str, str]) -> dict:
    return {k: tiny.get(v, v) if isinstance(v, str) else v for k, v in FAST_PARAMS[name].items()}


def make(name: str, tiny: dict[str, str], **extra):
    return method_class(name)(**resolved(name, tiny), **extra)


def test_every_registered_method_has_fast_params() -> None:
    assert set(FAST_PARAMS) == set(REGISTRY)


@pytest.fixture(scope="module")
def fitted(tiny):
    """Each method fitted once on a 3-class set (shared by the checks below to keep the suite fast)."""
    return {name: make(name, tiny).fit(*make_texts(8, classes=classes_for(name))) for name in REGISTRY}


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_probabilities_shape_and_label_order(fitted, name) -> None:
    model = fitted[name]
    assert model.labels_ == sorted(classes_for(name))  # sorted, like scikit-learn's classes_
    texts, _ = make_texts(7, seed=1)  # 21 texts: longer than every internal batch (4)
    proba = model.predict_proba(texts)
    assert proba.shape == (21, len(model.labels_))
    assert np.all(proba >= 0) and np.all(proba <= 1)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    predicted = model.predict(texts)
    assert len(predicted) == len(texts)
    assert predicted == [model.labels_[i] for i in proba.argmax(axis=1)]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_row_order_is_kept_across_batches(fitted, name) -> None:
    model = fitted[name]
    texts, _ = make_texts(7, seed=2)
    together = model.predict_proba(texts)
    one_by_one = np.vstack([model.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_save_load_round_trip(fitted, name, tmp_path) -> None:
    model = fitted[name]
    texts, _ = make_texts(3, seed=3)
    model.save_pretrained(tmp_path / "m")
    files = {p.suffix for p in (tmp_path / "m").rglob("*") if p.is_file()}
    assert not files & {".bin", ".pt", ".pth", ".pkl", ".pickle", ".joblib"}, "no pickle in a model directory"
    again = load(tmp_path / "m")
    assert type(again) is type(model)
    assert again.labels_ == model.labels_
    assert again.saved_params() == model.saved_params()
    np.testing.assert_allclose(again.predict_proba(texts), model.predict_proba(texts), atol=1e-6)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_binary_task_and_single_class_refused(tiny, name) -> None:
    texts, labels = make_texts(8, classes=("sqli", "xss"))
    model = make(name, tiny).fit(texts, labels)
    assert model.labels_ == ["sqli", "xss"]
    assert model.predict_proba(texts[:5]).shape == (5, 2)
    with pytest.raises(SectuneError, match="at least 2 classes"):
        make(name, tiny).fit(texts[:8], labels[:8])


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_get_params_reflects_init(tiny, name) -> None:
    model = make(name, tiny)
    for key, expected in resolved(name, tiny).items():
        assert model.get_params()[key] == expected
    with pytest.raises(SectuneError, match="unknown parameter"):
        model.set_params(no_such_setting=1)


@pytest.mark.parametrize("name", sorted(n for n in REGISTRY if getattr(method_class(n), "binary_only", False)))
def test_binary_only_refuses_multiclass(tiny, name) -> None:
    texts, labels = make_texts(8)
    with pytest.raises(SectuneError, match="binary"):
        make(name, tiny).fit(texts, labels)
