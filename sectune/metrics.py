"""Metrics for any classifier's output, so every method is scored the same way.

Everything here works from a probability matrix and the model's label list, so an
encoder, a decoder and a classical baseline all produce comparable, JSON-ready numbers.
Test rows whose true label the model never saw are kept and scored as wrong: dropping
them would flatter the model.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

from sectune.errors import SectuneError

TOP_KS = (1, 3, 5)
TPR_TARGETS = (0.95, 0.99)
FPR_TARGETS = (0.001, 0.01)


def _check_proba(proba: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Validate shapes early so a column/label mix-up fails loudly instead of scoring garbage."""
    labels = [str(label) for label in labels]
    if not labels:
        raise SectuneError("the model has no labels")
    if len(set(labels)) != len(labels):
        dupes = sorted(label for label, c in Counter(labels).items() if c > 1)
        raise SectuneError(f"duplicate labels in the model's label list: {', '.join(dupes)}")
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape[1] != len(labels):
        raise SectuneError(
            f"probabilities have shape {proba.shape}, expected (rows, {len(labels)}) to match the {len(labels)} labels"
        )
    if not np.all(np.isfinite(proba)):
        raise SectuneError("probabilities contain NaN or infinite values")
    return proba, labels


def _binary_setup(labels: list[str], positive_label: str | None, threshold: float | None) -> tuple[int, float] | None:
    """Return (positive column, threshold) for binary tasks, None for multi-class."""
    if len(labels) != 2:
        if positive_label is not None or threshold is not None:
            raise SectuneError(
                f"positive_label/threshold only apply to binary models; this one has {len(labels)} labels"
            )
        return None
    positive = labels[1] if positive_label is None else str(positive_label)
    if positive not in labels:
        raise SectuneError(f"positive label {positive!r} is not one of the model's labels {labels}")
    threshold = 0.5 if threshold is None else float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise SectuneError(f"threshold must be between 0 and 1, got {threshold}")
    return labels.index(positive), threshold


def predicted_labels(
    proba: np.ndarray,
    labels: Sequence[str],
    *,
    positive_label: str | None = None,
    threshold: float | None = None,
) -> list[str]:
    """One label per row: argmax, or for binary models P(positive) >= threshold.

    Binary models use the threshold (default 0.5) so that a tuned operating point is
    what gets scored and served. Argmax ties go to the earlier label.
    """
    proba, labels = _check_proba(proba, labels)
    binary = _binary_setup(labels, positive_label, threshold)
    if binary is None:
        return [labels[i] for i in proba.argmax(axis=1)]
    pos, thr = binary
    neg_label = labels[1 - pos]
    return [labels[pos] if p >= thr else neg_label for p in proba[:, pos]]


def ranking(proba: np.ndarray) -> np.ndarray:
    """Column indices per row, best first; a stable sort breaks ties by label order."""
    return np.argsort(-proba, axis=1, kind="stable")


def top_k(proba: np.ndarray, labels: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
    """Per row, the k most probable (label, probability) pairs, best first; k is capped at n_labels."""
    proba, labels = _check_proba(proba, labels)
    if k < 1:
        raise SectuneError(f"k must be at least 1, got {k}")
    order = ranking(proba)[:, : min(k, len(labels))]
    return [[(labels[j], float(row[j])) for j in idx] for row, idx in zip(proba, order)]


def topk_hits(order: np.ndarray, labels: list[str], wanted: list[set[str]], k: int) -> float:
    """Fraction of rows where any wanted label is among the k best columns."""
    k = min(k, len(labels))
    hits = sum(bool(want.intersection(labels[j] for j in idx[:k])) for idx, want in zip(order, wanted))
    return hits / len(wanted)


def threshold_for_fpr(y_true_binary: np.ndarray, scores: np.ndarray, target_fpr: float) -> float:
    """Lowest threshold (rule: score >= threshold is positive) whose FPR on negatives is <= target_fpr.

    FPR only rises as the threshold falls, so the lowest admissible threshold gives the
    highest recall within the false-positive budget. Candidates are the observed scores;
    if even the top score would exceed the budget, the result sits just above every
    score, i.e. flag nothing.
    """
    y = np.asarray(y_true_binary).astype(bool)
    scores = np.asarray(scores, dtype=float)
    if y.shape != scores.shape or y.ndim != 1:
        raise SectuneError(f"labels {y.shape} and scores {scores.shape} must be equal-length 1-D arrays")
    if not 0.0 <= target_fpr <= 1.0:
        raise SectuneError(f"target FPR must be between 0 and 1, got {target_fpr}")
    if y.all():
        raise SectuneError("cannot pick a threshold for a false-positive rate without negative examples")
    if not y.any():
        # roc_curve needs both classes; with negatives only, FPR depends on negatives alone.
        y_for_curve = np.concatenate([y, [True]])
        scores_for_curve = np.concatenate([scores, [scores.min()]])
    else:
        y_for_curve, scores_for_curve = y, scores
    fpr, _, thresholds = roc_curve(y_for_curve, scores_for_curve, drop_intermediate=False)
    ok = np.isfinite(thresholds) & (fpr <= target_fpr)
    if not ok.any():
        return float(np.nextafter(scores.max(), np.inf))
    return float(thresholds[ok].min())


def _binary_metrics(y_true: list[str], y_pred: list[str], scores: np.ndarray, positive: str, threshold: float) -> dict:
    """Operating-point and ranking metrics for the positive class.

    Rows with labels outside the model's two count as negatives. Ranking metrics are
    None when y_true holds a single class, since they are undefined there.
    """
    y_bin = np.array([y == positive for y in y_true])
    p_bin = np.array([y == positive for y in y_pred])
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_bin, p_bin, average="binary", pos_label=True, zero_division=0
    )
    out: dict = {
        "positive_label": positive,
        "threshold": float(threshold),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "roc_auc": None,
        "pr_auc": None,
        **{f"fpr_at_tpr{round(t * 100)}": None for t in TPR_TARGETS},
        "tpr_at_fpr": {str(f): None for f in FPR_TARGETS},
    }
    if y_bin.all() or not y_bin.any():
        return out
    out["roc_auc"] = float(roc_auc_score(y_bin, scores))
    out["pr_auc"] = float(average_precision_score(y_bin, scores))
    fpr, tpr, _ = roc_curve(y_bin, scores, drop_intermediate=False)
    for t in TPR_TARGETS:
        out[f"fpr_at_tpr{round(t * 100)}"] = float(fpr[tpr >= t].min())
    out["tpr_at_fpr"] = {str(f): float(tpr[fpr <= f].max()) for f in FPR_TARGETS}
    return out


def evaluate_predictions(
    y_true: Sequence[str],
    proba: np.ndarray,
    labels: Sequence[str],
    *,
    positive_label: str | None = None,
    threshold: float | None = None,
    true_label_sets: Sequence[Sequence[str]] | None = None,
) -> dict:
    """Score a probability matrix against true labels; returns a JSON-serialisable dict.

    F1/precision/recall run over the union of true and predicted labels, so labels the
    model never saw count against it. ``true_label_sets`` (plus the primary label) gives
    the ``top*_any`` figures for multi-label records.
    """
    proba, labels = _check_proba(proba, labels)
    y_true = [str(y) for y in y_true]
    n = len(y_true)
    if n == 0:
        raise SectuneError("no rows to evaluate")
    if proba.shape[0] != n:
        raise SectuneError(f"{n} true labels but {proba.shape[0]} rows of probabilities")

    binary = _binary_setup(labels, positive_label, threshold)
    y_pred = predicted_labels(proba, labels, positive_label=positive_label, threshold=threshold)

    known = set(labels)
    unseen = Counter(y for y in y_true if y not in known)
    present = set(y_true) | set(y_pred)
    union = [label for label in labels if label in present] + sorted(unseen)

    order = ranking(proba)
    primary = [{y} for y in y_true]
    # accuracy scores the served prediction (thresholded for binary); top1 scores the ranking.
    metrics: dict = {"n": n, "accuracy": float(accuracy_score(y_true, y_pred))}
    for k in TOP_KS:
        metrics[f"top{k}"] = topk_hits(order, labels, primary, k)
    if true_label_sets is not None:
        if len(true_label_sets) != n:
            raise SectuneError(f"{n} true labels but {len(true_label_sets)} label sets")
        wanted = [{str(x) for x in s} | {y} for s, y in zip(true_label_sets, y_true)]
        for k in TOP_KS:
            metrics[f"top{k}_any"] = topk_hits(order, labels, wanted, k)

    for avg in ("macro", "weighted"):
        metrics[f"{avg}_f1"] = float(f1_score(y_true, y_pred, labels=union, average=avg, zero_division=0))
    macro_p, macro_r, _, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=union, average="macro", zero_division=0
    )
    metrics["macro_precision"] = float(macro_p)
    metrics["macro_recall"] = float(macro_r)
    metrics["unseen_labels"] = dict(sorted(unseen.items()))
    metrics["n_unseen"] = int(sum(unseen.values()))

    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=union, average=None, zero_division=0)
    per_class = [
        {"label": lab, "precision": float(pi), "recall": float(ri), "f1": float(fi), "support": int(si)}
        for lab, pi, ri, fi, si in zip(union, p, r, f, s)
    ]
    metrics["per_class"] = sorted(per_class, key=lambda row: (-row["support"], row["label"]))

    if binary is not None:
        pos, thr = binary
        metrics.update(_binary_metrics(y_true, y_pred, proba[:, pos], labels[pos], thr))
    return metrics


PER_CLASS_COLUMNS = ("label", "precision", "recall", "f1", "support")


def write_per_class_csv(metrics: dict, path: str | os.PathLike) -> None:
    """Write the per-class table so it can be sorted and filtered in a spreadsheet."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=PER_CLASS_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(metrics.get("per_class") or [])


def format_value(value: object) -> str:
    """How a metric reads in a table: 4 decimals, n/a when missing (shared by the CLI and the card)."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def operating_point_rows(metrics: dict) -> list[tuple[str, object]]:
    """Recall at FPR 0.1%/1% twice: at the threshold chosen on validation at training time (what a deployment
    gets; with the FPR it achieved here) and the oracle figure, whose threshold is chosen on these very rows."""
    rows: list[tuple[str, object]] = []
    chosen = metrics.get("recall_at_fpr_validation") or {}
    for fpr, tpr in (metrics.get("tpr_at_fpr") or {}).items():
        point = chosen.get(fpr)
        if point:
            rows.append((f"recall at FPR {float(fpr):.1%} (validation threshold)", point.get("recall")))
            chosen_for = point.get("chosen_for_fpr")
            floor = f", chosen for {chosen_for:.2%}: rule of three" if chosen_for and chosen_for > float(fpr) else ""
            rows.append((f"  achieved FPR (target {float(fpr):.1%}{floor})", point.get("fpr")))
        rows.append((f"TPR at FPR {float(fpr):.1%} (oracle: threshold chosen on test)", tpr))
    return rows


def format_metrics_table(metrics: dict) -> str:
    """A short block of headline numbers for the terminal; missing keys are skipped."""
    rows: list[tuple[str, object]] = [("rows", metrics.get("n"))]
    if metrics.get("n_unseen"):
        kinds = len(metrics.get("unseen_labels") or {})
        rows.append(("unseen-label rows", f"{metrics['n_unseen']} ({kinds} distinct, scored as wrong)"))
    names = [
        ("accuracy", "accuracy"),
        ("top3", "top-3 accuracy"),
        ("top5", "top-5 accuracy"),
        ("top1_any", "top-1 (any label)"),
        ("top3_any", "top-3 (any label)"),
        ("top5_any", "top-5 (any label)"),
        ("macro_f1", "macro F1"),
        ("weighted_f1", "weighted F1"),
        ("macro_precision", "macro precision"),
        ("macro_recall", "macro recall"),
    ]
    n_labels = len(metrics.get("per_class") or {})
    # top-k of k or fewer classes is always 1.0: noise, not a result
    shown = [(k, t) for k, t in names if not (k[:3] == "top" and n_labels and int(k[3]) >= n_labels)]
    rows += [(title, metrics[key]) for key, title in shown if key in metrics]
    if "positive_label" in metrics:
        pos = metrics["positive_label"]
        rows += [
            ("positive label", pos),
            ("threshold", metrics.get("threshold")),
            (f"precision ({pos})", metrics.get("precision")),
            (f"recall ({pos})", metrics.get("recall")),
            (f"F1 ({pos})", metrics.get("f1")),
            ("ROC AUC", metrics.get("roc_auc")),
            ("PR AUC", metrics.get("pr_auc")),
            ("FPR at TPR 95%", metrics.get("fpr_at_tpr95")),
            ("FPR at TPR 99%", metrics.get("fpr_at_tpr99")),
        ]
        rows += operating_point_rows(metrics)
    if "hierarchy" in metrics:  # the CWE task's extras
        h = metrics["hierarchy"]
        rows.append(
            (
                "near misses (wrong top-1)",
                f"{h['near_miss']} of {h['n_wrong']} ({h['near_miss_share']:.1%}: parent, child or sibling)",
            )
        )
        if "hierarchy_top1" in h:
            rows.append(("hierarchy-aware top-1", h["hierarchy_top1"]))
    for key, value in (metrics.get("strict") or {}).items():  # a rolled-up CWE model against the gold as given
        rows.append((f"strict {key.replace('_', '-')}", value))
    if "members_accuracy" in metrics:  # an ensemble is worth its cost only when it beats each member
        for name, value in metrics["members_accuracy"].items():
            rows.append((f"accuracy of member {name}", value))
    if "generation_accuracy" in metrics:  # causal-llm: the generate-one-token-and-parse recipe, beside the scores
        rows.append(("generation accuracy", metrics["generation_accuracy"]))
        rows.append(("generation unparsed", metrics.get("generation_unparsed")))
    for key, value in (metrics.get("recall_frequent") or {}).items():
        if key.endswith("macro_recall"):
            rows.append((key.replace("_macro_recall", " classes: macro recall").replace("top", "top-"), value))
    width = max(len(title) for title, _ in rows)
    return "\n".join(f"{title:<{width}}  {format_value(value)}" for title, value in rows)
