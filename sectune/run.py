"""The run record: how a model came to be (task, data, split, threshold choice, scores, versions), kept in
``sectune.json`` under ``"run"``, apart from what loads the model.

Loading never reads it; the model card, ``sectune evaluate`` (the columns trained on) and the task (its
settings: the CWE rollup, label names) do. It is typed so that a damaged record is refused like a damaged
loading field, in one line naming it (``run.training.data.rows``): half-reading it would let an edited task
setting change how ``sectune evaluate`` scores. Every fact is optional, so records of partial runs
(zero-shot, merged, saved from Python) and of older sectune versions stay valid; a record that names no
task is the generic task's.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError


class _Record(BaseModel):
    """Strict like the loading fields (no "20" for 20): sectune writes numbers as numbers."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class DataFile(_Record):
    path: str | None = None  # several files read as one: their paths, comma-separated
    sha256: str | None = None  # several files: of their digests joined
    rows: int | None = Field(None, ge=0)  # read from the file, before --min-examples dropped any
    text_column: str | None = None
    label_column: str | None = None
    files: list["DataFile"] | None = None  # several files read as one: each one's path, sha256 and rows


class Resumed(_Record):
    """The unfinished run a --resume continued, when it was trained on another file with the same labels."""

    data: str
    sha256: str


class Training(_Record):
    data: DataFile = Field(default_factory=DataFile)
    eval_data: DataFile | None = None  # --eval-data: the test rows came from this file instead of a split
    split: str | None = None
    test_size: float | None = None
    seed: int | None = None
    min_examples: int | None = None
    dropped: dict[str, int] | None = None  # rows and classes --min-examples removed
    train_rows: int | None = None
    validation_rows: int | None = None
    test_rows: int | None = None
    train_seconds: float | None = None
    arguments: dict[str, Any] | None = None  # the method's parameters as trained (never a security switch)
    skipped_steps: int | None = None  # optimiser steps skipped for non-finite gradients (Classifier.training_stats)
    head_init: dict[str, int | float] | None = None  # encoder head_init='label-text': zero-shot top-1, temperature
    resumed_from: Resumed | None = None
    processes: int | None = None  # `accelerate launch` processes (data parallel): each took batch_size rows a step
    machines: int | None = None  # the machines those processes ran on, when several


class OperatingPoint(_Record):
    """A standard operating point (FPR 0.1%, 1%) chosen on the validation rows (sectune.operating.operating_points)."""

    threshold: float
    effective_fpr: float
    resolvable: bool
    fpr: float
    fpr_ci95: list[float]
    tpr: float | None = None
    fallback: str | None = None


class Baseline(_Record):
    """The benign baseline log ``sectune calibrate`` chose the threshold on."""

    path: str
    sha256: str | None = None
    lines: int = Field(ge=0)  # command lines scored
    format: str | None = None


class ThresholdSelection(_Record):
    """How a binary model's operating threshold was chosen: on the validation rows (api.choose_threshold,
    ``source`` "validation") or on a benign baseline log (``sectune calibrate``, ``source`` "calibrate").
    The policy (rule-of-three floor, confidence interval, fallback) is :mod:`sectune.operating`'s; records
    of older versions hold the first six fields only."""

    target_fpr: float
    threshold: float
    validation_rows: int
    positive_label: str
    validation_fpr: float
    validation_tpr: float | None = None  # None: a baseline log holds no positive line
    source: str | None = None
    fpr_floor: float | None = None  # 3/negatives: the lowest FPR these rows can resolve (rule of three)
    effective_fpr: float | None = None  # max(target_fpr, fpr_floor): what the threshold was chosen for
    resolvable: bool | None = None  # target_fpr >= fpr_floor
    validation_negatives: int | None = None
    validation_false_positives: int | None = None
    validation_fpr_ci95: list[float] | None = None  # Clopper-Pearson 95%
    fallback: str | None = None  # "top_positive": the FPR-constrained threshold flagged no positive
    operating_points: dict[str, OperatingPoint] | None = None  # "0.001", "0.01": chosen on validation
    baseline: Baseline | None = None


class RunRecord(_Record):
    """The provenance of one model directory. The only free-form entry is the task's own, under its name
    (``{"task": "cwe", "cwe": {settings..., "report": {...}}}``, see ``Task.record``): a task owns its settings."""

    model_config = ConfigDict(extra="allow")

    task: str | None = None
    base_model: str | None = None
    training: Training = Field(default_factory=Training)
    threshold_selection: ThresholdSelection | None = None
    metrics: dict[str, Annotated[float, Field(allow_inf_nan=True)]] | None = (
        None  # headline test scores (metrics.json: all)
    )
    versions: dict[str, str] | None = None
    merged_from_adapter: bool | None = None  # sectune merge wrote these full weights from a LoRA adapter

    @model_validator(mode="after")
    def _only_the_task_adds(self) -> "RunRecord":
        for key, value in (self.model_extra or {}).items():
            if key != (self.task or "generic"):
                raise PydanticCustomError(
                    "extra_forbidden", "unknown field '{key}' (only the task's own entry may be added)", {"key": key}
                )
            if not isinstance(value, dict):
                raise PydanticCustomError("task_entry", "the task's entry '{key}' must be an object", {"key": key})
        return self

    def as_dict(self) -> dict[str, Any]:
        """The record as sectune.json holds it: the facts that were set, JSON types only."""
        return self.model_dump(mode="json", exclude_unset=True)
