"""A linear head over fixed features, stored as safetensors (never pickle) and scored as a logistic regression.

Shared by the methods whose last step is a linear classifier over fixed features. Three ways to fit it
(``solver``):

- ``lbfgs``: scikit-learn's exact multinomial logistic regression. Best calibrated, but its memory is the L-BFGS
  history over every coefficient: 10 x 2 copies of classes x features float64, 7 GB on 30k CVE descriptions x
  554 CWEs x 98k terms (13.6 GB on the shared set with 200k terms), so it is for small heads only.
- ``saga``: the same model by stochastic average gradient: memory of a few coefficient copies; slow to converge
  on many classes (a fixed number of passes stops it early, ``max_iter``).
- ``linear-svm``: one-vs-rest linear SVMs (liblinear), the most accurate top-1 on
  CVE -> CWE of the three, turned into probabilities by a softmax over the margins with one temperature fitted on
  a held-out tenth of the rows (then the SVMs are refitted on every row). The head is stored as coefficients / T,
  so it loads and scores as a multinomial logistic regression: the same files, the same export.
- ``auto``: lbfgs when rows x classes is small (binary detectors, a few classes), else linear-svm.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from safetensors.numpy import load_file, save_file
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from sectune.methods.info import check_outputs

log = logging.getLogger("sectune")

HEAD_FILE = "head.safetensors"
SLOW_FIT_CELLS = 1_000_000  # rows x classes from which a fit takes minutes rather than seconds (CVE -> CWE: 8M)
SOLVERS = ("auto", "lbfgs", "saga", "linear-svm")
DEFAULT_C = {"lbfgs": 10.0, "saga": 10.0, "linear-svm": 0.5}  # measured on the CVE set (BENCHMARKS.md)
TEMPERATURE_SHARE = 0.1  # rows held out to fit the linear SVM's softmax temperature


def resolve_solver(solver: str, rows: int, classes: int) -> str:
    """``auto``: the exact lbfgs fit where its memory is small, the linear SVM where it is not."""
    if solver != "auto":
        return solver
    return "lbfgs" if rows * classes < SLOW_FIT_CELLS else "linear-svm"


def fit_linear(
    features,
    labels: Sequence[str],
    *,
    solver: str,
    C: float | None,
    max_iter: int,
    class_weight: str | None,
    seed: int,
    log_as: str | None = None,
) -> LogisticRegression:
    """A fitted head by ``solver`` (see the module), always a LogisticRegression for scoring and saving.

    ``C`` None: the solver's measured default (:data:`DEFAULT_C`)."""
    y = np.asarray(labels)
    chosen = resolve_solver(solver, features.shape[0], len(np.unique(y)))
    C = DEFAULT_C[chosen] if C is None else C
    if chosen == "linear-svm":
        return _timed(
            log_as,
            "linear SVMs + temperature",
            features,
            y,
            max_iter,
            lambda: _fit_svm(features, y, C, max_iter, class_weight, seed),
        )
    return fit_logreg(
        features, y, C=C, max_iter=max_iter, class_weight=class_weight, seed=seed, log_as=log_as, solver=chosen
    )


def fit_logreg(
    features,
    labels: Sequence[str],
    *,
    C: float,
    max_iter: int,
    class_weight: str | None,
    seed: int,
    log_as: str | None = None,
    solver: str = "lbfgs",
) -> LogisticRegression:
    """``log_as``: a method name to log the fit under (its size before, its time after), for methods whose fit
    can run for minutes without a word; scikit-learn's own ``verbose`` prints solver internals, not progress.
    """
    tol = 1e-3 if solver == "saga" else 1e-4  # saga: a few passes reach the accuracy of the exact fit
    head = LogisticRegression(
        C=C,
        max_iter=max_iter,
        class_weight=_sklearn_class_weight(class_weight),
        random_state=seed,
        solver=solver,
        tol=tol,
    )
    y = np.asarray(labels)
    with warnings.catch_warnings():
        if solver == "saga":  # max_iter is the budget of passes, not a failure to converge
            warnings.simplefilter("ignore", ConvergenceWarning)
        return _timed(log_as, f"LogisticRegression ({solver})", features, y, max_iter, lambda: head.fit(features, y))


def _sklearn_class_weight(class_weight: str | None) -> str | None:
    """The CLI's "none" is scikit-learn's None."""
    return None if class_weight == "none" else class_weight


def _fit_svm(
    features, y: np.ndarray, C: float, max_iter: int, class_weight: str | None, seed: int
) -> LogisticRegression:
    """One-vs-rest linear SVMs whose margins / T are the logits; T minimises the log-loss of a held-out tenth."""
    from scipy.special import softmax
    from sklearn.model_selection import train_test_split

    from sectune.operating import fit_temperature

    rows = np.arange(features.shape[0])
    counts = dict(zip(*np.unique(y, return_counts=True)))
    splittable = np.array([counts[label] >= 2 for label in y])  # a class seen once stays in the fit
    fit_rows, held_rows = train_test_split(rows[splittable], test_size=TEMPERATURE_SHARE, random_state=seed)
    fit_rows = np.concatenate([fit_rows, rows[~splittable]])
    first = _svm_head(features[fit_rows], y[fit_rows], C, max_iter, class_weight, seed)
    margins = first.decision_function(features[held_rows])
    margins = margins if margins.ndim == 2 else np.stack([-margins, margins], axis=1) / 2
    index = {label: k for k, label in enumerate(first.classes_)}
    known = np.array([label in index for label in y[held_rows]])
    truth = np.array([index[label] for label in y[held_rows][known]])
    temperature = fit_temperature(softmax(margins[known], axis=1), truth)
    head = _svm_head(features, y, C, max_iter, class_weight, seed)
    head.coef_ = (head.coef_ / temperature).astype(np.float32)
    head.intercept_ = (head.intercept_ / temperature).astype(np.float32)
    head.temperature_ = temperature
    return head


def _svm_head(
    features, y: np.ndarray, C: float, max_iter: int, class_weight: str | None, seed: int
) -> LogisticRegression:
    """liblinear's one-vs-rest LinearSVC as a LogisticRegression holding its coefficients.

    One process on purpose: joblib workers over the classes halve the time on two cores but each holds a copy of
    the features and its share of the coefficients (0.9 GB more on the CVE set, which breaks the 2 GB budget)."""
    from sklearn.svm import LinearSVC

    svm = LinearSVC(
        C=C, max_iter=max_iter, class_weight=_sklearn_class_weight(class_weight), random_state=seed, tol=1e-3
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        svm.fit(features, y)
    head = LogisticRegression()
    head.coef_, head.intercept_, head.classes_ = svm.coef_, svm.intercept_, svm.classes_
    return head


def _timed(
    log_as: str | None, what: str, features, y: np.ndarray, max_iter: int, fit: Callable[[], LogisticRegression]
) -> LogisticRegression:
    """``fit()``, with its size logged before and its time after under ``log_as`` (a method name; None: silent)."""
    if log_as is None:
        return fit()
    rows, columns = features.shape
    classes = len(np.unique(y))
    slow = (
        " (this takes minutes on a large multi-class set such as CVE -> CWE)"
        if rows * classes >= SLOW_FIT_CELLS
        else ""
    )
    log.info(
        "%s: fitting %s on %s x %s features, %d classes%s ...", log_as, what, f"{rows:,}", f"{columns:,}", classes, slow
    )
    started = time.perf_counter()
    head = fit()
    iterations = getattr(head, "n_iter_", None)
    done = f" ({int(np.max(iterations))} iterations of at most {max_iter})" if iterations is not None else ""
    temperature = getattr(head, "temperature_", None)
    done += f" (softmax temperature {temperature:.3g})" if temperature is not None else ""
    log.info("%s: %s fitted in %.1f s%s", log_as, what, time.perf_counter() - started, done)
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
