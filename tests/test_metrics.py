from __future__ import annotations

import csv
import json

import matplotlib.image
import numpy as np
import pytest
from sklearn.metrics import f1_score

from sectune.errors import SectuneError
from sectune.metrics import (
    evaluate_predictions,
    format_metrics_table,
    predicted_labels,
    threshold_for_fpr,
    top_k,
    write_per_class_csv,
)
from sectune.plots import plot_confusion, plot_roc, plot_training_curve

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BIN_LABELS = ["benign", "malicious"]


def _plain_json(value) -> bool:
    """True when value is built only from JSON's own Python types (no numpy scalars)."""
    if isinstance(value, dict):
        return all(type(k) is str and _plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain_json(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def _binary_proba(pos_scores, neg_scores):
    """Rows of [P(benign), P(malicious)] plus matching true labels."""
    scores = np.array(list(pos_scores) + list(neg_scores), dtype=float)
    y = ["malicious"] * len(pos_scores) + ["benign"] * len(neg_scores)
    return y, np.column_stack([1 - scores, scores])


# ---------------------------------------------------------------- top-k / predictions

TOY_LABELS = ["a", "b", "c"]
TOY_PROBA = np.array(
    [
        [0.7, 0.2, 0.1],  # true a: rank 1
        [0.5, 0.3, 0.2],  # true b: rank 2
        [0.1, 0.3, 0.6],  # true a: rank 3
        [0.2, 0.5, 0.3],  # true c: rank 2
    ]
)
TOY_TRUE = ["a", "b", "a", "c"]


def test_top_k_known_answers():
    got = top_k(TOY_PROBA, TOY_LABELS, 2)
    assert got == [
        [("a", 0.7), ("b", 0.2)],
        [("a", 0.5), ("b", 0.3)],
        [("c", 0.6), ("b", 0.3)],
        [("b", 0.5), ("c", 0.3)],
    ]
    assert all(type(p) is float for row in got for _, p in row)
    # k is capped at the number of labels
    assert [lab for lab, _ in top_k(TOY_PROBA[:1], TOY_LABELS, 10)[0]] == ["a", "b", "c"]


def test_top_k_ties_follow_label_order():
    proba = np.array([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4], [1 / 3, 1 / 3, 1 / 3]])
    got = [[lab for lab, _ in row] for row in top_k(proba, TOY_LABELS, 2)]
    assert got == [["a", "b"], ["b", "c"], ["a", "b"]]


def test_toy_topk_metrics():
    m = evaluate_predictions(TOY_TRUE, TOY_PROBA, TOY_LABELS)
    assert m["n"] == 4
    assert m["top1"] == m["accuracy"] == 0.25
    assert m["top3"] == 1.0 and m["top5"] == 1.0  # k capped at 3 labels


def test_top3_top5_differ_with_more_labels():
    labels = list("abcdef")
    base = np.array([0.30, 0.25, 0.20, 0.12, 0.08, 0.05])  # ranks a..f in order
    proba = np.tile(base, (4, 1))
    y = ["a", "d", "f", "b"]  # ranks 1, 4, 6, 2
    m = evaluate_predictions(y, proba, labels)
    assert (m["top1"], m["top3"], m["top5"]) == (0.25, 0.5, 0.75)


def test_predicted_labels_argmax_and_threshold_rule():
    assert predicted_labels(TOY_PROBA, TOY_LABELS) == ["a", "a", "c", "b"]
    proba = np.array([[0.4, 0.6], [0.7, 0.3], [0.5, 0.5]])
    # default: positive = labels[1], threshold 0.5, ties (>=) go positive
    assert predicted_labels(proba, BIN_LABELS) == ["malicious", "benign", "malicious"]
    assert predicted_labels(proba, BIN_LABELS, threshold=0.55) == ["malicious", "benign", "benign"]
    assert predicted_labels(proba, BIN_LABELS, positive_label="benign", threshold=0.65) == [
        "malicious",
        "benign",
        "malicious",
    ]


def test_bad_inputs_raise_sectune_error():
    with pytest.raises(SectuneError, match="binary"):
        predicted_labels(TOY_PROBA, TOY_LABELS, threshold=0.3)
    with pytest.raises(SectuneError, match="not one of"):
        predicted_labels(np.array([[0.5, 0.5]]), BIN_LABELS, positive_label="evil")
    with pytest.raises(SectuneError, match="shape"):
        evaluate_predictions(TOY_TRUE, TOY_PROBA[:, :2], TOY_LABELS)
    with pytest.raises(SectuneError, match="rows"):
        evaluate_predictions(TOY_TRUE[:3], TOY_PROBA, TOY_LABELS)


# ---------------------------------------------------------------- multi-class metrics


def test_unseen_labels_counted_and_scored_wrong():
    proba = np.array(
        [
            [0.8, 0.1, 0.1],  # true a, pred a
            [0.6, 0.3, 0.1],  # true b, pred a
            [0.1, 0.1, 0.8],  # true c, pred c
            [0.1, 0.7, 0.2],  # true x (unseen), pred b
            [0.2, 0.2, 0.6],  # true x (unseen), pred c
        ]
    )
    y = ["a", "b", "c", "x", "x"]
    m = evaluate_predictions(y, proba, TOY_LABELS)
    assert m["unseen_labels"] == {"x": 2} and m["n_unseen"] == 2
    assert m["accuracy"] == pytest.approx(2 / 5)
    assert m["top3"] == pytest.approx(3 / 5)  # unseen rows can never hit
    # by hand: F1 a = 2/3, b = 0, c = 2/3 (P 1/2, R 1), x = 0
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0 + 2 / 3 + 0) / 4)
    per = {r["label"]: r for r in m["per_class"]}
    assert per["x"] == {"label": "x", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert [r["label"] for r in m["per_class"]] == ["x", "a", "b", "c"]  # support desc, then label
    assert _plain_json(m)
    json.dumps(m, allow_nan=False)


def test_f1s_match_sklearn_on_union():
    rng = np.random.default_rng(0)
    labels = ["a", "b", "c", "d", "never"]  # "never" is neither true nor predicted
    proba = rng.dirichlet(np.ones(5), size=60)
    proba[:, 4] = 0.0
    y = list(rng.choice(["a", "b", "c", "d", "zz"], size=60))
    m = evaluate_predictions(y, proba, labels)
    y_pred = predicted_labels(proba, labels)
    for avg in ("macro", "weighted"):
        assert m[f"{avg}_f1"] == pytest.approx(f1_score(y, y_pred, average=avg, zero_division=0))
    assert "never" not in {r["label"] for r in m["per_class"]}
    assert "zz" in {r["label"] for r in m["per_class"]}
    assert sum(r["support"] for r in m["per_class"]) == 60
    assert "positive_label" not in m and "roc_auc" not in m


def test_any_metrics_with_label_sets():
    labels = ["a", "b", "c", "d"]
    proba = np.array(
        [
            [0.1, 0.6, 0.2, 0.1],  # ranks b,c,a,d ; true a ; set {a,b}
            [0.4, 0.3, 0.2, 0.1],  # ranks a,b,c,d ; true c ; set {c,d}
            [0.1, 0.2, 0.3, 0.4],  # ranks d,c,b,a ; true a ; set {a,c}
        ]
    )
    y = ["a", "c", "a"]
    sets = [["a", "b"], ["d"], ["c", "unseen-extra"]]  # primary label always counts too
    m = evaluate_predictions(y, proba, labels, true_label_sets=sets)
    assert m["top1"] == 0.0 and m["top3"] == pytest.approx(2 / 3)
    assert m["top1_any"] == pytest.approx(1 / 3)
    assert m["top3_any"] == 1.0
    assert m["top5_any"] == 1.0
    assert "top1_any" not in evaluate_predictions(y, proba, labels)
    with pytest.raises(SectuneError):
        evaluate_predictions(y, proba, labels, true_label_sets=sets[:2])


# ---------------------------------------------------------------- binary metrics


def test_binary_perfect_separation():
    y, proba = _binary_proba([0.9, 0.8, 0.7], [0.1, 0.2, 0.3])
    m = evaluate_predictions(y, proba, BIN_LABELS)
    assert m["positive_label"] == "malicious" and m["threshold"] == 0.5
    assert m["roc_auc"] == 1.0 and m["pr_auc"] == 1.0
    assert m["fpr_at_tpr95"] == 0.0 and m["fpr_at_tpr99"] == 0.0
    assert m["tpr_at_fpr"] == {"0.001": 1.0, "0.01": 1.0}
    assert (m["precision"], m["recall"], m["f1"]) == (1.0, 1.0, 1.0)


def test_binary_crafted_fpr_at_tpr95_is_quarter():
    # The lowest positive (0.6) sits below one of four negatives (0.65).
    y, proba = _binary_proba([0.9, 0.8, 0.7, 0.6], [0.65, 0.3, 0.2, 0.1])
    m = evaluate_predictions(y, proba, BIN_LABELS)
    assert m["fpr_at_tpr95"] == 0.25 and m["fpr_at_tpr99"] == 0.25
    assert m["tpr_at_fpr"] == {"0.001": 0.75, "0.01": 0.75}
    assert m["roc_auc"] == pytest.approx(15 / 16)  # one discordant pair of 16
    assert m["pr_auc"] == pytest.approx(0.25 * 3 + 0.25 * 0.8)
    assert m["precision"] == pytest.approx(0.8) and m["recall"] == 1.0
    # the threshold, not argmax, decides predictions
    m7 = evaluate_predictions(y, proba, BIN_LABELS, threshold=0.7)
    assert (m7["precision"], m7["recall"]) == (1.0, 0.75)
    assert m7["accuracy"] == pytest.approx(7 / 8)
    assert m7["roc_auc"] == m["roc_auc"]  # ranking metrics ignore the threshold
    assert _plain_json(m7)


def test_binary_positive_label_first_column():
    y, proba = _binary_proba([0.9, 0.8], [0.3, 0.1])
    m = evaluate_predictions(y, proba, BIN_LABELS, positive_label="benign")
    assert m["positive_label"] == "benign"
    assert m["roc_auc"] == 1.0 and m["recall"] == 1.0


def test_binary_single_class_gives_none_aucs():
    y, proba = _binary_proba([], [0.1, 0.6, 0.3])
    m = evaluate_predictions(y, proba, BIN_LABELS)
    assert m["roc_auc"] is None and m["pr_auc"] is None
    assert m["fpr_at_tpr95"] is None and m["fpr_at_tpr99"] is None
    assert m["tpr_at_fpr"] == {"0.001": None, "0.01": None}
    assert m["accuracy"] == pytest.approx(2 / 3)
    json.dumps(m, allow_nan=False)


# ---------------------------------------------------------------- threshold_for_fpr

NEG = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
POS = [0.35, 0.85, 0.97, 0.99]


@pytest.mark.parametrize(
    "target, expected",
    [
        (0.0, 0.97),  # no negative may pass: lowest score above all negatives
        (0.05, 0.97),
        (0.1, 0.95),  # one of ten negatives may pass
        (0.2, 0.85),  # a positive between negatives lowers the threshold further
        (0.65, 0.5),  # six negatives may pass (0.5 .. 0.95)
        (0.7, 0.35),  # seven may: the positive at 0.35 is the lowest such score
        (1.0, 0.1),
    ],
)
def test_threshold_for_fpr_known_scores(target, expected):
    y = np.array([0] * len(NEG) + [1] * len(POS))
    scores = np.array(NEG + POS)
    assert threshold_for_fpr(y, scores, target) == pytest.approx(expected)


def test_threshold_for_fpr_is_lowest_within_budget():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=300)
    scores = rng.normal(y.astype(float), 1.0)
    neg = scores[y == 0]
    for target in (0.01, 0.1, 0.3):
        t = threshold_for_fpr(y, scores, target)
        assert np.mean(neg >= t) <= target
        lower = scores[scores < t]
        if lower.size:
            assert np.mean(neg >= lower.max()) > target


def test_threshold_for_fpr_edge_cases():
    t = threshold_for_fpr(np.array([0, 0, 1]), np.array([0.9, 0.1, 0.5]), 0.0)
    assert 0.9 < t < 0.9 + 1e-9  # flag nothing rather than exceed the budget
    assert threshold_for_fpr(np.array([0, 0]), np.array([0.2, 0.8]), 0.5) == 0.8
    with pytest.raises(SectuneError, match="negative"):
        threshold_for_fpr(np.array([1, 1]), np.array([0.2, 0.8]), 0.1)


# ---------------------------------------------------------------- outputs


def test_write_per_class_csv(tmp_path):
    y, proba = ["a", "b", "x"], np.array([[0.9, 0.1, 0.0], [0.8, 0.1, 0.1], [0.1, 0.1, 0.8]])
    m = evaluate_predictions(y, proba, TOY_LABELS)
    path = tmp_path / "per_class.csv"
    write_per_class_csv(m, path)
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["label", "precision", "recall", "f1", "support"]
    body = {r[0]: r[1:] for r in rows[1:]}
    assert set(body) == {"a", "b", "c", "x"}
    assert [float(v) for v in body["a"][:3]] == pytest.approx([0.5, 1.0, 2 / 3])
    assert body["c"][3] == "0" and body["x"][3] == "1"


def test_format_metrics_table():
    y, proba = _binary_proba([0.9, 0.8, 0.7, 0.6], [0.65, 0.3, 0.2, 0.1])
    text = format_metrics_table(evaluate_predictions(y, proba, BIN_LABELS))
    assert "macro F1" in text and "0.9375" in text and "ROC AUC" in text
    assert "FPR at TPR 95%" in text and "0.2500" in text and "TPR at FPR 0.1%" in text
    single = format_metrics_table(evaluate_predictions(["benign"], np.array([[0.9, 0.1]]), BIN_LABELS))
    assert "n/a" in single
    multi = format_metrics_table(evaluate_predictions(["a", "z"], TOY_PROBA[:2], TOY_LABELS))
    assert "ROC AUC" not in multi and "unseen-label rows" in multi


# ---------------------------------------------------------------- plots


def _is_png(path) -> bool:
    return path.exists() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_MAGIC


def test_plot_confusion_pools_and_scales(tmp_path):
    rng = np.random.default_rng(2)
    labels = [f"CWE-{i}" for i in range(30)]
    y = list(rng.choice(labels, size=400))
    y_pred = [t if rng.random() < 0.6 else rng.choice(labels) for t in y]
    small, big = tmp_path / "small.png", tmp_path / "big.png"
    plot_confusion(y, y_pred, labels, small, top=3)
    plot_confusion(y, y_pred, labels, big, top=20)
    assert _is_png(small) and _is_png(big)
    # the figure grows with the number of classes shown
    assert matplotlib.image.imread(big).shape[1] > matplotlib.image.imread(small).shape[1]
    with pytest.raises(SectuneError):
        plot_confusion([], [], labels, tmp_path / "empty.png")


def test_plot_training_curve(tmp_path):
    history = [
        {"loss": 2.0, "step": 10},
        {"loss": 1.2, "step": 20},
        {"eval_loss": 1.1, "eval_macro_f1": 0.4, "step": 20},
        {"loss": 0.8, "step": 30},
        {"eval_loss": 0.9, "eval_macro_f1": 0.6, "step": 30},
        {"train_runtime": 12.0, "step": 30},
    ]
    path = tmp_path / "curve.png"
    assert plot_training_curve(history, path) is True
    assert _is_png(path)
    for empty in ([], [{"train_runtime": 1.0, "step": 5}]):
        missing = tmp_path / "none.png"
        assert plot_training_curve(empty, missing) is False
        assert not missing.exists()


def test_plot_roc(tmp_path):
    y, proba = _binary_proba([0.9, 0.8, 0.7, 0.6], [0.65, 0.3, 0.2, 0.1])
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve([v == "malicious" for v in y], proba[:, 1])
    path = tmp_path / "roc.png"
    plot_roc({"model": (fpr, tpr), "baseline": (np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.6, 1.0]))}, path)
    assert _is_png(path)
    with pytest.raises(SectuneError):
        plot_roc({}, tmp_path / "none.png")


def test_terminal_table_leaves_out_top_k_that_cannot_miss():
    """Top-3/top-5 accuracy of a binary task is always 1.0: the table does not print it."""
    from sectune.metrics import format_metrics_table

    binary = format_metrics_table({"n": 4, "accuracy": 0.5, "top3": 1.0, "top5": 1.0, "per_class": {"0": {}, "1": {}}})
    assert "top-3" not in binary and "top-5" not in binary
    four = format_metrics_table(
        {"n": 4, "accuracy": 0.5, "top3": 0.9, "top5": 1.0, "per_class": dict.fromkeys("abcd", {})}
    )
    assert "top-3 accuracy" in four and "top-5" not in four
