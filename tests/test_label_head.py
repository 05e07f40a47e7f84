"""``head_init='label-text'``: the encoder's head starts from the embeddings of what its labels mean."""

from __future__ import annotations

import pytest
import torch

from sectune.errors import SectuneError
from sectune.methods.encoder import EncoderClassifier
from sectune.tasks import task_class

LABEL_TEXTS = ["SQL injection in a database query", "cross-site scripting in a web page", "stack buffer overflow"]


def test_cwe_task_describes_a_label_by_mitres_name_and_description() -> None:
    found = task_class("cwe")().describe_labels(["CWE-79", "CWE-99999"])
    assert list(found) == ["CWE-79"], "a CWE the catalogue does not hold has no text"
    assert found["CWE-79"].startswith("Improper Neutralization of Input During Web Page Generation")
    assert "served to other users" in found["CWE-79"], "the description follows the name"
    assert task_class("generic")().describe_labels(["a", "b"]) == {}


def test_head_rows_point_at_the_label_embeddings(tiny_bert_dir) -> None:
    """Each row is its label text's unit embedding over one fitted temperature: a label's own text scores it first."""
    from transformers import AutoModel, AutoTokenizer

    from sectune.methods.pooled import MeanPoolingClassifier

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    net = MeanPoolingClassifier(AutoModel.from_pretrained(tiny_bert_dir), len(LABEL_TEXTS)).train()
    found = net.init_head_from_label_texts(tokenizer, LABEL_TEXTS, LABEL_TEXTS * 2, [0, 1, 2] * 2, max_length=32)
    assert found["zero_shot_top1"] == 1.0 and found["temperature"] > 0
    assert net.training, "the network is left in the mode it was in"
    with torch.no_grad():
        batch = tokenizer(LABEL_TEXTS, padding=True, return_tensors="pt")
        embeddings = torch.nn.functional.normalize(net.eval().pooled(**batch), dim=-1)
        rows = net.classifier.weight * found["temperature"]
        assert torch.allclose(rows, embeddings, atol=1e-5)
        assert torch.count_nonzero(net.classifier.bias) == 0
        assert net(**batch).logits.argmax(-1).tolist() == [0, 1, 2]


def test_label_text_head_needs_mean_pooling(tiny_bert_dir) -> None:
    model = EncoderClassifier(model=tiny_bert_dir, pooling="cls", head_init="label-text", max_steps=1, verbose=False)
    with pytest.raises(SectuneError, match="needs mean pooling .*--pooling mean"):
        model.fit(["a b", "c d", "e f", "g h"], ["x", "y", "x", "y"])


def test_labels_without_text_stand_for_themselves(tiny_bert_dir) -> None:
    """From Python, with no task to describe them, the label strings are the texts."""
    texts, labels = ["union select password", "alert(document.cookie)"] * 4, ["sqli", "xss"] * 4
    model = EncoderClassifier(
        model=tiny_bert_dir, pooling="mean", head_init="label-text", max_steps=1, batch_size=4, verbose=False
    )
    model.label_texts = {"xss": "cross-site scripting"}
    model.fit(texts, labels)
    assert model.training_stats()["head_init"]["described_labels"] == 1
    assert model.predict_proba(texts).shape == (8, 2)
