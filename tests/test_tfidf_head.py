"""tfidf-logreg's heads (lbfgs, saga, linear SVM + temperature) and character n-grams: each fits, scores rows that
sum to 1, saves and loads to the same probabilities; ``auto`` keeps the exact fit for small heads only."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from sectune.errors import SectuneError
from sectune.methods.base import load
from sectune.methods.linear import SLOW_FIT_CELLS, resolve_solver
from sectune.methods.tfidf import TfidfLogreg
from sectune.testing import make_texts


@pytest.fixture(scope="module")
def data() -> tuple[list[str], list[str]]:
    return make_texts(60)


@pytest.mark.parametrize("solver", ["lbfgs", "saga", "linear-svm"])
@pytest.mark.parametrize("analyzer", ["word", "word+char"])
def test_each_head_fits_scores_and_round_trips(tmp_path, data, solver, analyzer) -> None:
    texts, labels = data
    model = TfidfLogreg(min_df=1, solver=solver, analyzer=analyzer, verbose=False).fit(texts, labels)
    proba = model.predict_proba(texts)
    assert proba.shape == (len(texts), 3) and np.allclose(proba.sum(axis=1), 1)
    assert np.mean(np.array(model.predict(texts)) == np.array(labels)) > 0.9
    model.save_pretrained(tmp_path)
    assert (tmp_path / "char_vocabulary.json").exists() == (analyzer == "word+char")
    np.testing.assert_allclose(load(tmp_path).predict_proba(texts), proba, rtol=1e-6, atol=1e-9)


def test_the_linear_svm_head_ranks_as_the_svm_and_scales_margins_by_a_fitted_temperature(data) -> None:
    texts, labels = data
    model = TfidfLogreg(min_df=1, solver="linear-svm", C=0.5, verbose=False).fit(texts, labels)
    features = model._features(texts)
    svm = LinearSVC(C=0.5, tol=1e-3, random_state=42).fit(features, labels)
    temperature = model.head_.temperature_
    assert 1e-3 < temperature < 100
    np.testing.assert_allclose(
        model.head_.decision_function(features), svm.decision_function(features) / temperature, rtol=1e-3, atol=1e-3
    )


def test_auto_keeps_the_exact_fit_for_small_heads_only() -> None:
    assert resolve_solver("auto", 38_000, 2) == "lbfgs"  # a binary detector
    assert resolve_solver("auto", 30_000, 554) == "linear-svm"  # CVE -> CWE: 7 GB with lbfgs
    assert resolve_solver("auto", SLOW_FIT_CELLS, 1) == "linear-svm"
    assert resolve_solver("saga", 10, 2) == "saga"


def test_a_head_that_does_not_fit_its_vocabularies_is_refused(tmp_path, data) -> None:
    texts, labels = data
    TfidfLogreg(min_df=1, analyzer="word+char", verbose=False).fit(texts, labels).save_pretrained(tmp_path)
    info = json.loads((tmp_path / "sectune.json").read_text())
    info["state"]["char_ngrams"] = False  # an edited file: the head then takes more features than the words give
    (tmp_path / "sectune.json").write_text(json.dumps(info))
    with pytest.raises(SectuneError, match="its head takes .* features but its vocabularies hold"):
        load(tmp_path)


def test_a_bad_solver_is_one_line() -> None:
    with pytest.raises(SectuneError, match="solver"):
        TfidfLogreg.validate_params({"solver": "newton"})
