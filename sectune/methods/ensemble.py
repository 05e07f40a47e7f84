"""``ensemble``: several methods trained on the same rows, their probabilities averaged with weights.

Methods err in different places (TF-IDF on words it never saw, character statistics on plain prose, an encoder
on rare tokens), so a weighted average of their probabilities often beats each of them. The weights are chosen on
the validation rows, which no member trained on (an early-stopping member only used them to pick its checkpoint):
the non-negative weights summing to 1 that minimise the validation log-loss of the average. Fixed weights
(``weights="1,2"``) skip that search.

The model directory holds each member as an ordinary sectune model directory under ``members/`` (loaded by
:func:`sectune.methods.base.load`, with the same security rules as any model) and the weights in ``sectune.json``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Annotated, Any, Mapping, Sequence

import numpy as np
from pydantic import Field

from sectune.errors import SectuneError, shorten
from sectune.methods.base import INFO_FILE, REGISTRY, Classifier, Seed, load, method_class, read_info
from sectune.methods.hf import check_texts
from sectune.methods.tags import MethodTags
from sectune.security import SECURITY_SWITCHES

log = logging.getLogger("sectune")

MEMBERS_DIR = "members"
EPS = 1e-15  # probabilities are clipped to [EPS, 1] before the log, as scikit-learn's log_loss does
PASSED_ON = ("seed", "verbose", *sorted(SECURITY_SWITCHES))  # the ensemble's settings a member gets when it takes them


@dataclasses.dataclass(kw_only=True, repr=False, eq=False)
class Ensemble(Classifier):
    """A weighted average of the probabilities of other methods (``members``), weights chosen on validation."""

    name = "ensemble"
    tags = MethodTags(
        uses_validation=True,  # the weights are chosen on held-out rows
        fast_test_params={
            "members": "tfidf-logreg,features-logreg",
            "member_params": {"tfidf-logreg": {"min_df": 1}},
            "verbose": False,
        },
    )
    runtime_params = frozenset({"verbose", *SECURITY_SWITCHES})

    members: Annotated[
        str, Field(min_length=1, description="comma-separated methods whose probabilities are averaged (2 or more)")
    ] = "tfidf-logreg,encoder"
    member_params: Annotated[
        dict[str, dict[str, Any]] | None,
        Field(description="each member method's own parameters, e.g. {encoder: {epochs: 3}} (none: their defaults)"),
    ] = None
    weights: Annotated[
        str,
        Field(
            min_length=1,
            description="auto: chosen on the validation rows to minimise log-loss; or one number per member, e.g. 1,2",
        ),
    ] = "auto"
    seed: Seed = 42
    verbose: bool = True
    allow_pickle: bool = False  # passed on to the members that take it (runtime only, as for every method)
    trust_remote_code: bool = False

    # --- parameters -----------------------------------------------------------------------
    @classmethod
    def validate_params(cls, params: dict[str, Any], source: str = "parameter") -> dict[str, Any]:
        """Beyond the annotations: the members exist, the weights fit them, and each member's own parameters pass
        that member's checks, so a bad setting fails in one line before the first member trains."""
        checked = super().validate_params(params, source)
        names = member_names(checked.get("members", cls.members), source)
        parse_weights(checked.get("weights", cls.weights), len(names), source)
        for name, own in (checked.get("member_params") or {}).items():
            if name not in names:
                raise SectuneError(
                    f"ensemble: {source} 'member_params' names '{shorten(name)}', which is not a member "
                    f"({', '.join(names)})"
                )
            switches = sorted(SECURITY_SWITCHES & set(own))
            if switches:
                raise SectuneError(
                    f"ensemble: {source} 'member_params' of {name} sets {switches[0]}, which only the user may "
                    f"turn on when running (--{switches[0].replace('_', '-')})"
                )
            try:
                method_class(name).validate_params(dict(own), source=f"member_params {source}")
            except SectuneError as exc:
                raise SectuneError(f"ensemble: {exc}") from None
        return checked

    def _member_params(self, name: str) -> dict[str, Any]:
        """What member ``name`` is built with: the ensemble's seed, verbosity and switches where it takes them,
        then its own ``member_params``."""
        accepted = method_class(name).param_names()
        passed = {k: getattr(self, k) for k in PASSED_ON if k in accepted}
        return {**passed, **(self.member_params or {}).get(name, {})}

    def base_model(self) -> str | None:
        """The first member's base model (an encoder's): the one pretrained model the ensemble builds on, named
        alone so that the model card's hub metadata stays a single model id."""
        for name in member_names(self.members):
            cls = method_class(name)
            found = (self.member_params or {}).get(name, {}).get("model") or cls.tags.default_base_model
            if found:
                return found
        return None

    # --- training -------------------------------------------------------------------------
    def _fit(self, texts, labels, eval_texts, eval_labels) -> None:
        names = member_names(self.members)
        self.members_: list[Classifier] = []
        self._last_ = None  # the last prediction's member probabilities (see extra_metrics)
        for i, name in enumerate(names, 1):
            if self.verbose:
                log.info("%s: training member %d/%d, %s ...", self.name, i, len(names), name)
            member = method_class(name)(**self._member_params(name))
            member.label_texts = self.label_texts
            # only an early-stopping member sees the validation rows, and only to stop: the rest never see them
            held_out = (eval_texts, eval_labels) if member.tags.uses_validation else (None, None)
            member.fit(texts, labels, *held_out)
            if member.labels_ != self.labels_:  # same rows, same sorted labels: columns line up; a bug otherwise
                raise AssertionError(f"{name}'s labels {member.labels_} differ from the ensemble's {self.labels_}")
            self.members_.append(member)
        self.member_names_ = names
        self.member_validation_: dict[str, dict[str, float]] = {}
        fixed = parse_weights(self.weights, len(names))
        if eval_texts:
            index = {label: k for k, label in enumerate(self.labels_)}
            y = np.array([index[label] for label in eval_labels])
            probas = [member.predict_proba(eval_texts) for member in self.members_]
            self.member_validation_ = {name: _scores(p, y) for name, p in zip(names, probas)}
            chosen = fixed if fixed is not None else choose_weights(probas, y)
            if self.verbose:
                for name, found in self.member_validation_.items():
                    log.info(
                        "%s: %s on %d validation rows: accuracy %.4f, log-loss %.4f",
                        self.name,
                        name,
                        len(y),
                        found["accuracy"],
                        found["log_loss"],
                    )
                mixed = _scores(np.tensordot(chosen, np.stack(probas), axes=1), y)
                log.info(
                    "%s: weights %s (%s): accuracy %.4f, log-loss %.4f",
                    self.name,
                    ", ".join(f"{n} {w:.3f}" for n, w in zip(names, chosen)),
                    "fixed" if fixed is not None else "chosen on validation",
                    mixed["accuracy"],
                    mixed["log_loss"],
                )
        elif fixed is not None:
            chosen = fixed
        else:
            log.warning("%s: no validation rows to choose the weights on: weighing the members equally", self.name)
            chosen = np.full(len(names), 1.0 / len(names))
        self.weights_ = [float(w) for w in chosen]

    # --- inference ------------------------------------------------------------------------
    def member_probas(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Each member's probabilities (columns follow ``labels_``) by member name: what the ensemble averages,
        to compare it with its members."""
        self.check_fitted("predicting")
        texts = check_texts(texts)
        return {name: self._member_proba(i, texts) for i, name in enumerate(self.member_names_)}

    def _member_proba(self, i: int, texts: list[str]) -> np.ndarray:
        """Member ``i``'s probabilities, reused from the last prediction when it scored these very texts: the
        pipeline predicts the test rows, then asks extra_metrics about the same rows."""
        last = getattr(self, "_last_", None)
        if last is not None and i in last[1] and last[0] == texts:
            return last[1][i]
        return self.members_[i].predict_proba(texts)

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        probas = {i: self._member_proba(i, texts) for i, w in enumerate(self.weights_) if w > 0}  # skip weight 0
        self._last_ = (texts, probas)
        out = sum(self.weights_[i] * p for i, p in probas.items())
        out = np.asarray(out, dtype=np.float64)
        return out / out.sum(axis=1, keepdims=True)

    def extra_metrics(self, texts: Sequence[str], labels: Sequence[str | None]) -> dict[str, Any]:
        """Each member's accuracy on these rows (unseen labels count as wrong, as in ``accuracy``) and the weights:
        an ensemble is worth its cost only when it beats every member."""
        if not len(texts):
            return {}
        accuracy = {
            name: round(float(np.mean([self.labels_[k] == y for k, y in zip(p.argmax(axis=1), labels)])), 6)
            for name, p in self.member_probas(texts).items()
        }
        return {"members_accuracy": accuracy, "ensemble_weights": dict(zip(self.member_names_, self.weights_))}

    def training_history(self) -> list[dict[str, Any]]:
        """The members' logs, each row naming its member (usually one member trains step by step)."""
        return [
            {"member": name, **row}
            for name, m in zip(self.member_names_, self.members_)
            for row in m.training_history()
        ]

    def training_stats(self) -> dict[str, Any]:
        """The members' skipped optimiser steps, summed, and the zero-shot start of a member whose head began from
        the label texts. The weights are in the state (sectune.json keeps only known facts under ``training``)."""
        stats = [m.training_stats() for m in self.members_]
        skipped = [s["skipped_steps"] for s in stats if s.get("skipped_steps") is not None]
        head = next((s["head_init"] for s in stats if s.get("head_init")), None)
        return {**({"skipped_steps": sum(skipped)} if skipped else {}), **({"head_init": head} if head else {})}

    # --- persistence ----------------------------------------------------------------------
    def _save_state(self, directory: Path) -> dict[str, Any]:
        dirs = []
        for i, (name, member) in enumerate(zip(self.member_names_, self.members_)):
            relative = f"{MEMBERS_DIR}/{i}-{name}"
            member.save_pretrained(directory / relative)
            dirs.append(relative)
        return {"members": dirs, "weights": list(self.weights_), "member_validation": self.member_validation_}

    def _load_state(self, directory: Path, state: Mapping[str, Any]) -> None:
        """Load each member from its own directory, as any model (its sectune.json checked, no switch taken from a
        file); refuse weights or members that do not fit the ensemble, naming the file."""
        path = directory / INFO_FILE
        names = member_names(self.members)
        dirs = state.get("members")
        if not isinstance(dirs, list) or len(dirs) != len(names) or not all(isinstance(d, str) for d in dirs):
            raise SectuneError(
                f"sectune.json field 'state.members' must list {len(names)} member directories ({', '.join(names)})",
                path=path,
            )
        self.weights_ = _stored_weights(state.get("weights"), len(names), path)
        found = state.get("member_validation")
        self.member_validation_ = dict(found) if isinstance(found, dict) else {}
        runtime = {"verbose": self.verbose, **{k: True for k in SECURITY_SWITCHES if getattr(self, k, False)}}
        self.members_ = []
        for relative, name in zip(dirs, names):
            member_dir = directory / relative
            if (
                not member_dir.resolve().is_relative_to(directory.resolve())
                or member_dir.resolve() == directory.resolve()
            ):
                raise SectuneError(
                    f"sectune.json field 'state.members': '{shorten(relative)}' is not inside the model directory",
                    path=path,
                )
            method = read_info(member_dir).get("method")
            if method != name:
                raise SectuneError(
                    f"sectune.json field 'state.members': {relative} holds a '{shorten(method)}' model, not '{name}'",
                    path=path,
                )
            member = load(member_dir, **runtime)
            if member.labels_ != self.labels_:
                raise SectuneError(
                    f"its labels {member.labels_} differ from the ensemble's {self.labels_}",
                    path=member_dir / INFO_FILE,
                )
            self.members_.append(member)
        self.member_names_ = names
        self._last_ = None


def member_names(text: str, source: str = "parameter") -> list[str]:
    """The method names of ``members="a,b"``: 2 or more distinct registered methods, none an ensemble."""
    names = [part.strip() for part in str(text).split(",") if part.strip()]
    problem = None
    if len(names) < 2:
        problem = f"needs 2 or more comma-separated methods, got {len(names)}"
    elif Ensemble.name in names:
        problem = "an ensemble cannot be a member of an ensemble"
    elif unknown := [n for n in names if n not in REGISTRY]:
        problem = f"unknown method '{shorten(unknown[0])}' (available: {', '.join(n for n in REGISTRY if n != Ensemble.name)})"
    elif len(set(names)) != len(names):
        problem = "names a method twice (give its settings once, in member_params)"
    if problem:
        raise SectuneError(f"ensemble: {source} 'members': {problem}")
    return names


def parse_weights(text: str, n: int, source: str = "parameter") -> np.ndarray | None:
    """``weights``: None for "auto" (chosen on validation), else ``n`` non-negative numbers normalised to sum 1."""
    text = str(text).strip()
    if text == "auto":
        return None
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) != n or not all(math.isfinite(v) and v >= 0 for v in values) or sum(values) <= 0:
        raise SectuneError(
            f"ensemble: {source} 'weights': expected 'auto' or {n} non-negative numbers, one per member, not all "
            f"zero (e.g. {','.join(['1'] * n)}), got '{shorten(text)}'"
        )
    return np.array(values) / sum(values)


def _stored_weights(value: Any, n: int, path: Path) -> list[float]:
    """The weights from sectune.json: ``n`` finite non-negative numbers, not all zero (normalised to sum 1)."""
    ok = (
        isinstance(value, list)
        and len(value) == n
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 for v in value)
        and sum(value) > 0
    )
    if not ok:
        raise SectuneError(
            f"sectune.json field 'state.weights' must be {n} finite non-negative numbers, one per member, not all zero",
            path=path,
        )
    total = float(sum(value))
    return [float(v) / total for v in value]


def _log_loss(p_true: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p_true, EPS, 1.0))))


def _scores(proba: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": round(float(np.mean(proba.argmax(axis=1) == y)), 6),
        "log_loss": round(_log_loss(proba[np.arange(len(y)), y]), 6),
    }


def choose_weights(probas: Sequence[np.ndarray], y: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise the log-loss of ``sum(w_i * probas[i])`` on labels ``y``.

    L-BFGS over a softmax parametrisation (starting from equal weights, so deterministic), then the best of that,
    equal weights and each member alone: the softmax never reaches a corner exactly, and keeping the corners
    guarantees the ensemble's validation log-loss is no worse than any member's."""
    from scipy.optimize import minimize
    from scipy.special import softmax

    picked = np.stack([p[np.arange(len(y)), y] for p in probas])  # (members, rows): each true-class probability
    m = len(probas)

    def loss(w: np.ndarray) -> float:
        return _log_loss(w @ picked)

    def objective(z: np.ndarray) -> tuple[float, np.ndarray]:
        w = softmax(z)
        mixed = np.clip(w @ picked, EPS, 1.0)
        grad_w = -(picked / mixed).mean(axis=1)
        return loss(w), w * (grad_w - w @ grad_w)  # the chain rule through the softmax

    found = minimize(objective, np.zeros(m), jac=True, method="L-BFGS-B")
    candidates = [softmax(found.x), np.full(m, 1.0 / m), *np.eye(m)]
    losses = [loss(w) for w in candidates]
    best = candidates[int(np.argmin(losses))]  # ties: the first, so the search's answer
    return best / best.sum()
