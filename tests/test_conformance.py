"""Every registered method passes :func:`sectune.testing.check_method`, on tiny local models where it needs one."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from sectune.methods.base import REGISTRY, method_class
from sectune.methods.tags import MethodTags
from sectune.methods.tfidf import TfidfLogreg
from sectune.testing import check_method, make_texts


@pytest.fixture(scope="module")
def local_models(tiny_bert_dir, tiny_llama_dir) -> dict[str, str]:
    """The tiny random models standing in for each method's default base model (the packaged ones are slow)."""
    from sectune.models import DEFAULT_CAUSAL_LM_LABEL, DEFAULT_ENCODER_LABEL

    return {DEFAULT_ENCODER_LABEL: tiny_bert_dir, DEFAULT_CAUSAL_LM_LABEL: tiny_llama_dir}


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_method_passes_the_contract(name, local_models) -> None:
    cls = method_class(name)
    base = cls.tags.default_base_model
    check_method(cls, **({"model": local_models[base]} if base else {}))


def test_every_method_declares_its_tags() -> None:
    for name in REGISTRY:
        cls = method_class(name)
        assert isinstance(cls.tags, MethodTags) and cls.name == name
        assert cls.tags.fast_test_params, f"{name} declares no fast_test_params"


class _Unfit(TfidfLogreg):
    """A method whose tags claim what it cannot do."""

    tags = dataclasses.replace(TfidfLogreg.tags, explains=True)


class _Forgetful(TfidfLogreg):
    """A method whose fit changes a parameter."""

    def _fit(self, texts, labels, eval_texts, eval_labels) -> None:
        super()._fit(texts, labels, eval_texts, eval_labels)
        self.max_iter = self.max_iter * 2


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (_Unfit, "tfidf-logreg: tags match the class: explains=True disagrees"),
        (_Forgetful, "tfidf-logreg: fit: fit() changed the parameters"),
    ],
)
def test_check_method_catches_a_broken_method(cls, message) -> None:
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_method(cls)


def test_binary_only_is_refused_through_the_pipeline(tmp_path) -> None:
    """rules on a three-class file: one clear line before training, not a broken model."""
    import sectune
    from sectune.errors import SectuneError

    texts, labels = make_texts(10)
    data = tmp_path / "three.csv"
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(texts, labels)), encoding="utf-8")
    with pytest.raises(SectuneError, match=r"rules is a binary detector: it needs exactly 2 labels, found 3"):
        sectune.train(data, output=tmp_path / "m", method="rules", verbose=False)
    assert not (tmp_path / "m").exists()


def test_a_refused_fit_leaves_a_fitted_model_usable() -> None:
    texts, labels = make_texts(8)
    model = TfidfLogreg(min_df=1, verbose=False).fit(texts, labels)
    before = model.predict_proba(texts[:3])
    with pytest.raises(Exception, match="at least 2 classes"):
        model.fit(texts[:8], labels[:8])
    np.testing.assert_array_equal(model.predict_proba(texts[:3]), before)
