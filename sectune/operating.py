"""Operating points a team can trust: thresholds that say what the data can resolve, and calibrated scores.

**Threshold policy** (:func:`select_threshold`, used at training time on the validation rows and by
``sectune calibrate`` on a benign baseline log):

- *Resolvable floor.* With ``n`` negatives and no false positive among them, the 95% upper bound of the
  false-positive rate is about ``3/n`` (the rule of three), so a target below ``3/n`` cannot be told apart
  from it. The threshold is chosen for ``max(target, 3/n)``; the log says so and the record keeps
  ``fpr_floor``, ``effective_fpr`` and ``resolvable``.
- *A bound that holds on new rows.* The threshold lets through the most negatives whose one-sided 95%
  Clopper-Pearson upper bound of the FPR stays within that target (2 of 1,300 for 0.5%, 111 of 13,000 for
  1%; none at the floor): a threshold that lets exactly ``target * n`` through sits at the target's point
  estimate and exceeds it on new rows about as often as not.
- *Achieved FPR with a confidence interval.* The false positives the threshold lets through on the
  negatives, with a 95% Clopper-Pearson interval (exact, sound at zero counts).
- *Never a threshold no positive reaches.* When the FPR-constrained threshold flags no positive (typical
  of saturated scores: benign lines at 1.0), it falls back to the top positive score, so the
  top-scoring positive(s) alert, and records ``fallback`` and the FPR this costs. Only a set without
  positives (a benign baseline) can end with a threshold that flags none of them, and it is said.

**Calibration** (:func:`fit_calibration`): a 1-2 parameter map of the method's probabilities fitted on the
validation rows, kept only when it lowers the cross-validated log-loss. Binary models: temperature
(``sigmoid(logit(p) / T)``) or Platt (``sigmoid(a * logit(p) + b)``, ``a > 0``), both strictly
increasing, so rankings (ROC-AUC) stay; multi-class: temperature scaling of the log-probabilities (the
argmax stays). Isotonic regression is left out on purpose: its flat steps tie scores and change rankings,
and it needs more rows than a validation split usually holds.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_softmax

from sectune.errors import SectuneError
from sectune.metrics import FPR_TARGETS, threshold_for_fpr

log = logging.getLogger("sectune")
RULE_OF_THREE = 3.0
CONFIDENCE = 0.95


def fpr_floor(n_negatives: int) -> float:
    """The lowest false-positive rate ``n_negatives`` can resolve: 3/n (the rule of three), at most 1."""
    return 1.0 if n_negatives <= 0 else min(1.0, RULE_OF_THREE / n_negatives)


def fpr_upper_bound(k: int, n: int, confidence: float = CONFIDENCE) -> float:
    """The one-sided ``confidence`` upper bound of a rate of ``k`` events in ``n`` trials (Clopper-Pearson):
    ``1 - 0.05 ** (1/n)``, about 3/n, at ``k = 0``."""
    from scipy.stats import beta

    return 1.0 if n <= 0 or k >= n else float(beta.ppf(confidence, k + 1, n - k))


def false_positive_budget(n_negatives: int, target_fpr: float, confidence: float = CONFIDENCE) -> int:
    """The most false positives ``n_negatives`` may hold while the FPR's upper bound stays within ``target_fpr``
    (0 when even none exceeds it): a threshold that lets exactly ``target_fpr * n`` through would exceed the
    target on new rows about as often as not."""
    low, high = 0, n_negatives  # the bound rises with k: the largest k whose bound is within the target
    while low < high:
        mid = (low + high + 1) // 2
        if fpr_upper_bound(mid, n_negatives, confidence) <= target_fpr * (1 + 1e-9):
            low = mid
        else:
            high = mid - 1
    return low


def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of a rate of ``k`` events in ``n`` trials."""
    from scipy.stats import beta

    if n <= 0:
        return 0.0, 1.0
    alpha = 1.0 - confidence
    low = 0.0 if k <= 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k >= n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return low, high


def select_threshold(y: np.ndarray, scores: np.ndarray, target_fpr: float, *, quiet: bool = False) -> dict[str, Any]:
    """The threshold for ``target_fpr`` on these rows under the module's policy, with what it achieves."""
    y = np.asarray(y).astype(bool)
    scores = np.asarray(scores, dtype=float)
    negatives = int((~y).sum())
    floor = fpr_floor(negatives)
    effective = max(float(target_fpr), floor)
    resolvable = target_fpr >= floor
    budget = false_positive_budget(negatives, effective)
    threshold = float(threshold_for_fpr(y, scores, budget / negatives if negatives else 0.0))
    fallback = None
    if y.any() and not (scores[y] >= threshold).any():
        threshold = float(scores[y].max())
        fallback = "top_positive"
    flagged = scores >= threshold
    false_positives = int(flagged[~y].sum())
    fpr = false_positives / negatives if negatives else 0.0
    low, high = clopper_pearson(false_positives, negatives)
    out: dict[str, Any] = {
        "target_fpr": float(target_fpr),
        "threshold": threshold,
        "fpr_floor": floor,
        "effective_fpr": effective,
        "resolvable": bool(resolvable),
        "negatives": negatives,
        "false_positives": false_positives,
        "fpr": fpr,
        "fpr_ci95": [low, high],
        "tpr": float(flagged[y].mean()) if y.any() else None,
        "fallback": fallback,
    }
    if not quiet:
        if not resolvable:
            log.warning(
                "target FPR %g is below what %d negative rows can resolve (rule of three: 3/%d = %.2g); "
                "the threshold is chosen for FPR <= %.2g instead",
                target_fpr,
                negatives,
                negatives,
                floor,
                effective,
            )
        if fallback:
            log.warning(
                "no positive row scores at or above the threshold for FPR <= %.2g (saturated scores?): the threshold "
                "falls back to the top positive score %.6g, at FPR %.4f",
                effective,
                threshold,
                fpr,
            )
        elif y.size and not flagged.any():
            log.warning(
                "the threshold %.6g flags none of these rows: every score above it is a false positive", threshold
            )
    return out


def operating_points(y: np.ndarray, scores: np.ndarray) -> dict[str, dict[str, Any]]:
    """The standard operating points (FPR 0.1% and 1%), each chosen on these rows under the same policy."""
    points = {}
    for target in FPR_TARGETS:
        chosen = select_threshold(y, scores, target, quiet=True)
        points[str(target)] = {
            k: chosen[k] for k in ("threshold", "effective_fpr", "resolvable", "fpr", "fpr_ci95", "tpr", "fallback")
        }
    return points


def recall_at_stored(selection: dict[str, Any] | None, y: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Recall and FPR on these (test) rows at the operating points' thresholds chosen on validation."""
    points = (selection or {}).get("operating_points") or {}
    y = np.asarray(y).astype(bool)
    scores = np.asarray(scores, dtype=float)
    out: dict[str, Any] = {}
    for target in FPR_TARGETS:
        point = points.get(str(target))
        if not point:
            out[str(target)] = None
            continue
        flagged = scores >= point["threshold"]
        out[str(target)] = {
            "threshold": point["threshold"],
            "chosen_for_fpr": point.get("effective_fpr"),  # above the target when validation could not resolve it
            "recall": float(flagged[y].mean()) if y.any() else None,
            "fpr": float(flagged[~y].mean()) if (~y).any() else None,
        }
    return out


# --- calibration ------------------------------------------------------------------------------
def _logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1-p)) without clipping (0 -> -inf, 1 -> inf), so distinct scores stay distinct."""
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def apply_calibration(proba: np.ndarray, calibration: dict[str, Any] | None) -> np.ndarray:
    """``proba`` mapped by a stored calibration (None or method "none": unchanged)."""
    if not calibration or calibration.get("method", "none") == "none":
        return proba
    proba = np.asarray(proba, dtype=np.float64)
    method = calibration["method"]
    if proba.shape[1] == 2:
        z = _logit(proba[:, 1])
        if method == "temperature":
            z = z / calibration["temperature"]
        elif method == "platt":
            with np.errstate(invalid="ignore"):
                z = calibration["a"] * z + calibration["b"]
        else:  # pragma: no cover - the schema allows no other
            raise SectuneError(f"unknown calibration method '{method}'")
        p1 = expit(z)
        return np.column_stack([1.0 - p1, p1])
    if method != "temperature":
        raise SectuneError(f"calibration '{method}' is for binary models; a multi-class model takes temperature")
    with np.errstate(divide="ignore"):
        logp = np.log(proba)
    return np.exp(log_softmax(logp / calibration["temperature"], axis=1))


def _log_loss(proba: np.ndarray, y_idx: np.ndarray) -> float:
    p = np.clip(proba[np.arange(len(y_idx)), y_idx], 1e-15, 1.0)
    return float(-np.log(p).mean())


def _fit_one(method: str, proba: np.ndarray, y_idx: np.ndarray) -> dict[str, Any]:
    """Fit ``method``'s parameters by maximum likelihood (logits clipped at +-40 for the fit only)."""
    with np.errstate(divide="ignore"):
        logp = np.clip(np.log(proba), -40.0, 0.0)

    def nll(params: np.ndarray) -> float:
        cal = _params(method, params)
        if proba.shape[1] == 2:
            z = np.clip(logp[:, 1] - logp[:, 0], -40, 40)
            z = z / cal["temperature"] if method == "temperature" else cal["a"] * z + cal["b"]
            lp = -np.logaddexp(0.0, np.where(y_idx == 1, -z, z))
            return float(-lp.mean())
        lp = log_softmax(logp / cal["temperature"], axis=1)
        return float(-lp[np.arange(len(y_idx)), y_idx].mean())

    start = np.zeros(1 if method == "temperature" else 2)
    result = minimize(nll, start, method="L-BFGS-B", bounds=[(-5.0, 5.0)] * len(start))
    return _params(method, result.x)


def fit_temperature(proba: np.ndarray, y_idx: np.ndarray) -> float:
    """The temperature T that makes ``softmax(log(proba) / T)`` fit ``y_idx`` best (maximum likelihood)."""
    return _fit_one("temperature", proba, y_idx)["temperature"]


def _params(method: str, x: np.ndarray) -> dict[str, Any]:
    if method == "temperature":
        return {"method": "temperature", "temperature": float(np.exp(x[0]))}
    return {"method": "platt", "a": float(np.exp(x[0])), "b": float(x[1])}


def fit_calibration(proba: np.ndarray, labels: list[str], y_true: list[str], *, folds: int = 5) -> dict[str, Any]:
    """Choose and fit a calibration on validation rows; ``{"method": "none", ...}`` when none helps.

    Candidates: none, temperature, and for binary models Platt; the choice is the lowest mean log-loss
    over ``folds`` cross-validation folds (fitting and scoring on the same rows would always favour the
    larger form). Fewer than 10 rows, or a class with fewer than ``folds`` rows, keep "none".
    """
    proba = np.asarray(proba, dtype=np.float64)
    index = {label: i for i, label in enumerate(labels)}
    keep = [i for i, label in enumerate(y_true) if label in index]
    proba = proba[keep]
    y_idx = np.array([index[y_true[i]] for i in keep], dtype=int)
    counts = np.bincount(y_idx, minlength=len(labels))
    candidates = ["temperature", "platt"] if len(labels) == 2 else ["temperature"]
    none = {"method": "none", "rows": len(y_idx)}
    if len(y_idx) < 10 or (counts[counts > 0] < folds).any() or (counts > 0).sum() < 2:
        return {**none, "reason": "too few validation rows to calibrate"}
    rng = np.random.default_rng(0)
    fold = np.empty(len(y_idx), dtype=int)
    for c in np.flatnonzero(counts):  # stratified: every fold sees every class
        rows = rng.permutation(np.flatnonzero(y_idx == c))
        fold[rows] = np.arange(len(rows)) % folds
    losses = {"none": _log_loss(proba, y_idx)}
    for method in candidates:
        total = 0.0
        for f in range(folds):
            fit, held = fold != f, fold == f
            cal = _fit_one(method, proba[fit], y_idx[fit])
            total += _log_loss(apply_calibration(proba[held], cal), y_idx[held]) * held.sum()
        losses[method] = total / len(y_idx)
    best = min(losses, key=lambda m: (losses[m], m != "none"))
    rounded = {k: round(v, 6) for k, v in losses.items()}
    if best == "none":
        return {**none, "cv_log_loss": rounded}
    return {**_fit_one(best, proba, y_idx), "rows": len(y_idx), "cv_log_loss": rounded}
