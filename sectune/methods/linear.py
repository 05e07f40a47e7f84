"""A scikit-learn logistic-regression head stored as safetensors, never pickle.

Shared by the methods whose last step is a linear classifier over fixed features.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from safetensors.numpy import load_file, save_file
from sklearn.linear_model import LogisticRegression

from sectune.methods.info import check_outputs

HEAD_FILE = "head.safetensors"


def fit_logreg(
    features, labels: Sequence[str], *, C: float, max_iter: int, class_weight: str | None, seed: int
) -> LogisticRegression:
    """``class_weight`` "none" (the CLI's spelling) is scikit-learn's None."""
    class_weight = None if class_weight == "none" else class_weight
    head = LogisticRegression(C=C, max_iter=max_iter, class_weight=class_weight, random_state=seed)
    return head.fit(features, np.asarray(labels))


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
