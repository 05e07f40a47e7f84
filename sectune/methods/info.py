"""The schema of ``sectune.json``: what a model directory must declare before any weights are read.

The file is plain JSON a user can edit; a damaged one must stop loading with one line naming the
field, not surface later as a traceback or a model that silently predicts nonsense. Checks are
strict (no "1" for 1, no 1 for "1"): :meth:`Classifier.save_pretrained` has always written
strings for labels and numbers for numbers, so anything else was not written by sectune.

Format 2 keeps two records apart: what loads the model (method, params, labels, threshold, and the
method's private ``state``) and how it came to be (``run``, :class:`sectune.run.RunRecord`). Format 1
held both flat in one object; :func:`upgrade_v1` reads it into the format 2 layout.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from sectune.errors import SectuneError, first_problem
from sectune.run import RunRecord

FORMAT_VERSION = 2
LOADING_KEYS = ("format_version", "method", "params", "labels", "threshold")
# What format 1 kept flat beside the run facts for a method's own loading (encoder: pooling; causal-llm: prompt,
# weights). Format 1 is closed, so this list is a fixed fact of it, not something a method adds to.
V1_STATE_KEYS = ("pooling", "prompt", "weights")


class Calibration(BaseModel):
    """How the method's probabilities are mapped before use (:mod:`sectune.operating`), the same for every method:
    ``Classifier.predict_proba`` applies it after the method's own scores. None or "none": unchanged."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    method: Literal["none", "temperature", "platt"]
    temperature: float | None = Field(None, gt=0)
    a: float | None = Field(None, gt=0)  # platt: sigmoid(a * logit(p) + b); a > 0 keeps the ranking
    b: float | None = None
    rows: int | None = Field(None, ge=0)  # the validation rows it was fitted on
    reason: str | None = None
    cv_log_loss: dict[str, float] | None = None  # the candidates' cross-validated log-loss on those rows

    @model_validator(mode="after")
    def _complete(self) -> "Calibration":
        needs = {"temperature": ("temperature",), "platt": ("a", "b")}.get(self.method, ())
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise PydanticCustomError(
                "calibration", "calibration '{method}' needs '{name}'", {"method": self.method, "name": missing[0]}
            )
        return self


class ModelInfo(BaseModel):
    """``sectune.json`` in format 2: the loading fields, the method's ``state`` and the ``run`` record, nothing else."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    format_version: int = Field(FORMAT_VERSION, ge=1)
    method: str
    labels: list[str] = Field(min_length=2)
    params: dict[str, Any] = Field(default_factory=dict)
    threshold: float | None = None
    state: dict[str, Any] = Field(
        default_factory=dict
    )  # the method's own facts (Classifier._save_state), read back as is
    run: RunRecord = Field(default_factory=RunRecord)
    calibration: Calibration | None = None  # every method's: applied after its scores (Classifier.predict_proba)
    # set by `sectune export` (sectune.export): the directory holds an exported model, loaded by its runtime
    export: dict[str, Any] | None = None

    @field_validator("labels")
    @classmethod
    def _distinct(cls, labels: list[str]) -> list[str]:
        """Columns of the probabilities are looked up by label, so two equal labels would hide a class."""
        if len(set(labels)) != len(labels):
            raise PydanticCustomError("distinct", "labels must be distinct")
        return labels

    @field_validator("threshold")
    @classmethod
    def _probability(cls, threshold: float | None) -> float | None:
        """A cut-off on a probability. The float just above 1 is one too: where even the top validation score
        (which can be 1.0) is a false positive, ``threshold_for_fpr`` puts it just above, to flag nothing."""
        if threshold is not None and not 0 <= threshold <= math.nextafter(1.0, math.inf):
            raise PydanticCustomError("probability", "must be between 0 and 1")
        return threshold


def upgrade_v1(info: dict[str, Any]) -> dict[str, Any]:
    """A format 1 ``sectune.json`` in the format 2 layout: the loading keys stay, the method's keys go to
    ``state``, every other key (task and its entry, base_model, training, metrics, versions...) to ``run``."""
    top = {k: info[k] for k in LOADING_KEYS if k in info}
    state = {k: info[k] for k in V1_STATE_KEYS if k in info}
    run = {k: v for k, v in info.items() if k not in LOADING_KEYS and k not in V1_STATE_KEYS}
    return {**top, "format_version": FORMAT_VERSION, "state": state, "run": run}


def is_v1(info: dict[str, Any]) -> bool:
    """Written in format 1: it says so, or names no format (format 1 did not always)."""
    version = info.get("format_version", 1)
    return type(version) is int and version == 1


def validate_info(info: dict[str, Any], path: Path) -> ModelInfo:
    """``info`` checked against :class:`ModelInfo`; one line naming the first bad field (``run.training.data.rows``),
    never its (maybe huge) value."""
    try:
        return ModelInfo.model_validate(info)
    except ValidationError as exc:
        field, problem = first_problem(exc, nested=True)
        raise SectuneError(f"field '{field}': {problem}", path=path) from None


def check_outputs(found: int, n_labels: int, path: Path, *, binary_single: bool = False) -> None:
    """Refuse weights whose number of outputs does not match the labels in sectune.json: probability
    columns are named by position, so a mismatch would mislabel them or fail deep inside predict.

    ``binary_single``: a binary model scores with one output (logistic regression's coef has one row).
    """
    if found != (1 if binary_single and n_labels == 2 else n_labels):
        raise SectuneError(
            f"holds {found} output(s), which do not fit the {n_labels} labels of sectune.json field 'labels'", path=path
        )
