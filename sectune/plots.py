"""PNG figures for model directories and reports; rendered headless so they work on servers and CI."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402

from sectune.errors import SectuneError  # noqa: E402

OTHER = "(other)"
_MAX_LABEL_CHARS = 32


def _short(label: str) -> str:
    """Truncate long labels so tick text does not swallow the matrix."""
    return label if len(label) <= _MAX_LABEL_CHARS else label[: _MAX_LABEL_CHARS - 1] + "…"


def plot_confusion(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    labels_order: Sequence[str],
    path: str | os.PathLike,
    top: int = 20,
) -> None:
    """Row-normalised confusion matrix of the ``top`` most frequent true classes.

    With hundreds of classes a full matrix is unreadable, so the rest are pooled into
    "(other)" on both axes. Classes are shown by frequency; ties follow ``labels_order``.
    """
    y_true = [str(y) for y in y_true]
    y_pred = [str(y) for y in y_pred]
    if not y_true:
        raise SectuneError("no rows to plot a confusion matrix from")
    if len(y_true) != len(y_pred):
        raise SectuneError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if top < 1:
        raise SectuneError(f"top must be at least 1, got {top}")

    counts = Counter(y_true)
    rank = {label: i for i, label in enumerate(str(x) for x in labels_order)}
    by_freq = sorted(counts, key=lambda lab: (-counts[lab], rank.get(lab, len(rank)), lab))
    shown = by_freq[:top]
    keep = set(shown)
    pooled = len(by_freq) > len(shown) or any(p not in keep for p in y_pred)
    axis = shown + ([OTHER] if pooled else [])
    cm = confusion_matrix(
        [y if y in keep else OTHER for y in y_true],
        [y if y in keep else OTHER for y in y_pred],
        labels=axis,
    ).astype(float)
    row_sums = cm.sum(axis=1, keepdims=True)
    cm = np.divide(cm, row_sums, out=np.zeros_like(cm), where=row_sums > 0)

    n = len(axis)
    side = min(max(5.0, 0.45 * n + 3.0), 24.0)
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    try:
        image = ax.imshow(cm, cmap="Blues", vmin=0.0, vmax=1.0)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
        ticks = [_short(lab) for lab in axis]
        ax.set_xticks(range(n), ticks, rotation=45 if n <= 8 else 90, ha="right" if n <= 8 else "center")
        ax.set_yticks(range(n), ticks)
        ax.set_xlabel("Predicted label")
        ax.set_ylabel("True label")
        if n <= 25:
            for i in range(n):
                for j in range(n):
                    if cm[i, j] >= 0.005:
                        ax.text(
                            j,
                            i,
                            f"{cm[i, j]:.2f}",
                            ha="center",
                            va="center",
                            fontsize=7,
                            color="white" if cm[i, j] > 0.5 else "black",
                        )
        title = f"Confusion matrix, row-normalised (n={len(y_true)})\n"
        title += f"top {len(shown)} of {len(counts)} true classes by frequency"
        if pooled:
            title += f"; the rest pooled as {OTHER}"
        ax.set_title(title)
        fig.savefig(path, dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)


def _series(log_history: list[dict], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of entries carrying both ``step`` and a finite ``key``."""
    steps, values = [], []
    for entry in log_history:
        value, step = entry.get(key), entry.get("step")
        if isinstance(value, (int, float)) and isinstance(step, (int, float)) and math.isfinite(value):
            steps.append(float(step))
            values.append(float(value))
    return steps, values


def plot_training_curve(log_history: list[dict], path: str | os.PathLike) -> bool:
    """Plot training loss, eval loss and eval macro-F1 against step from Trainer's ``log_history``.

    Returns False and writes nothing when there is nothing to plot (e.g. a run too short to log),
    so callers can skip linking the figure.
    """
    train = _series(log_history, "loss")
    evl = _series(log_history, "eval_loss")
    f1 = _series(log_history, "eval_macro_f1")
    if not (train[0] or evl[0] or f1[0]):
        return False

    fig, ax = plt.subplots(figsize=(8, 4.5))
    try:
        handles = []
        if train[0]:
            handles += ax.plot(*train, color="tab:blue", label="training loss")
        if evl[0]:
            handles += ax.plot(*evl, color="tab:orange", marker="o", label="eval loss")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        if f1[0]:
            ax2 = ax.twinx()
            handles += ax2.plot(*f1, color="tab:green", marker="s", linestyle="--", label="eval macro-F1")
            ax2.set_ylabel("macro-F1")
            ax2.set_ylim(0.0, 1.0)
        # below the axes: "best" placement ignores the twin axis and lands on the F1 line
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=len(handles), frameon=False)
        ax.set_title("Training curve")
        fig.savefig(path, dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return True


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | os.PathLike) -> None:
    """Overlay named ROC curves with a log FPR axis, where low-false-positive behaviour is visible.

    FPR = 0 cannot sit on a log axis, so it is drawn at the axis floor (the smallest
    non-zero FPR seen, at most 1e-3).
    """
    if not curves:
        raise SectuneError("no ROC curves to plot")
    cleaned = {}
    for name, (fpr, tpr) in curves.items():
        fpr, tpr = np.asarray(fpr, dtype=float), np.asarray(tpr, dtype=float)
        if fpr.shape != tpr.shape or fpr.ndim != 1 or fpr.size == 0:
            raise SectuneError(f"ROC curve {name!r}: fpr and tpr must be equal-length, non-empty 1-D arrays")
        cleaned[name] = (fpr, tpr)
    positive = [f[f > 0].min() for f, _ in cleaned.values() if (f > 0).any()]
    floor = min([1e-3, *positive])

    fig, ax = plt.subplots(figsize=(7, 5.5))
    try:
        for name, (fpr, tpr) in cleaned.items():
            ax.plot(np.clip(fpr, floor, 1.0), tpr, label=str(name))
        chance = np.logspace(math.log10(floor), 0, 200)
        ax.plot(chance, chance, color="grey", linestyle=":", label="chance")
        ax.set_xscale("log")
        ax.set_xlim(floor, 1.0)
        ax.set_ylim(0.0, 1.01)
        ax.set_xlabel("false positive rate (log scale)")
        ax.set_ylabel("true positive rate")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="lower right")
        ax.set_title("ROC curves")
        fig.savefig(path, dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)


def plot_grouped_bars(
    values: dict[str, dict[str, float | None]], path: str | os.PathLike, *, title: str, ylabel: str
) -> None:
    """Bars per group (e.g. obfuscation technique), one colour per series (e.g. method)."""
    series = list(values)
    groups = sorted({g for per in values.values() for g in per})
    if not series or not groups:
        raise SectuneError("nothing to plot")
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.45 * len(groups) * max(1, len(series) / 2) + 2), 5))
    try:
        x = np.arange(len(groups))
        for i, name in enumerate(series):
            heights = [values[name].get(g) for g in groups]
            ax.bar(
                x + (i - (len(series) - 1) / 2) * width,
                [h if h is not None else 0.0 for h in heights],
                width,
                label=name,
            )
        ax.set_xticks(x)
        ax.set_xticklabels(groups, rotation=60, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
