"""A scikit-learn logistic-regression head stored as safetensors, never pickle.

Shared by the methods whose last step is a linear classifier over fixed features.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from safetensors.numpy import load_file, save_file
from sklearn.linear_model import LogisticRegression

from sectune.methods.info import check_outputs

log = logging.getLogger("sectune")

HEAD_FILE = "head.safetensors"
SLOW_FIT_CELLS = 1_000_000  # rows x classes from which a fit takes minutes rather than seconds (CVE -> CWE: 8M)


def fit_logreg(
    features,
    labels: Sequence[str],
    *,
    C: float,
    max_iter: int,
    class_weight: str | None,
    seed: int,
    log_as: str | None = None,
) -> LogisticRegression:
    """``class_weight`` "none" (the CLI's spelling) is scikit-learn's None.

    ``log_as``: a method name to log the fit under (its size before, its time after), for methods whose fit
    can run for minutes without a word; scikit-learn's own ``verbose`` prints solver internals, not progress.
    """
    class_weight = None if class_weight == "none" else class_weight
    head = LogisticRegression(C=C, max_iter=max_iter, class_weight=class_weight, random_state=seed)
    y = np.asarray(labels)
    if log_as is None:
        return head.fit(features, y)
    rows, columns = features.shape
    classes = len(np.unique(y))
    slow = (
        " (this takes minutes on a large multi-class set such as CVE -> CWE)"
        if rows * classes >= SLOW_FIT_CELLS
        else ""
    )
    log.info(
        "%s: fitting LogisticRegression on %s x %s features, %d classes%s ...",
        log_as,
        f"{rows:,}",
        f"{columns:,}",
        classes,
        slow,
    )
    started = time.perf_counter()
    head.fit(features, y)
    log.info(
        "%s: LogisticRegression fitted in %.1f s (%d iterations of at most %d)",
        log_as,
        time.perf_counter() - started,
        int(np.max(head.n_iter_)),
        max_iter,
    )
    return head


def save_logreg(head: LogisticRegression, directory: Path) -> None:
    save_file(
        {"coef": np.ascontiguousarray(head.coef_), "intercept": np.ascontiguousarray(head.intercept_)},
        str(directory / HEAD_FILE),
    )


def load_logreg(directory: Path, labels: Sequence[str]) -> LogisticRegression:
    """Rebuild a fitted LogisticRegression from its arrays; predict_proba matches the original.

    The rows of ``coef`` must fit ``labels`` (one row for two labels): scikit-learn would otherwise
    return probabilities whose columns name the wrong classes, or fail deep inside predict.
    """
    arrays = load_file(str(directory / HEAD_FILE))
    check_outputs(arrays["coef"].shape[0], len(labels), directory / HEAD_FILE, binary_single=True)
    head = LogisticRegression()
    head.coef_ = arrays["coef"]
    head.intercept_ = arrays["intercept"]
    head.classes_ = np.asarray(list(labels))
    return head
