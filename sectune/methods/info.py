"""The schema of ``sectune.json``: what a model directory must declare before any weights are read.

The file is plain JSON a user can edit; a damaged one must stop loading with one line naming the
field, not surface later as a traceback or a model that silently predicts nonsense. Checks are
strict (no "1" for 1, no 1 for "1"): :meth:`Classifier.save_pretrained` has always written
strings for labels and numbers for numbers, so anything else was not written by sectune.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from sectune.errors import SectuneError, first_problem


class ModelInfo(BaseModel):
    """The keys every method relies on; the free-form rest (task, training, metrics, pooling...) is kept as is."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    format_version: int = Field(1, ge=1)
    method: str
    labels: list[str] = Field(min_length=2)
    params: dict[str, Any] = Field(default_factory=dict)
    threshold: float | None = None

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


def validate_info(info: dict[str, Any], path: Path) -> ModelInfo:
    """``info`` checked against :class:`ModelInfo`; one line naming the first bad field, never its (maybe huge) value."""
    try:
        return ModelInfo.model_validate(info)
    except ValidationError as exc:
        field, problem = first_problem(exc)
        raise SectuneError(f"field '{field}': {problem}", path=path) from None


def check_outputs(found: int, n_labels: int, path: Path, *, binary_single: bool = False) -> None:
    """Refuse weights whose number of outputs does not match the labels in sectune.json: probability
    columns are named by position, so a mismatch would mislabel them or fail deep inside predict.

    ``binary_single``: a binary model scores with one output (logistic regression's coef has one row).
    """
    if found != (1 if binary_single and n_labels == 2 else n_labels):
        raise SectuneError(f"holds {found} output(s), which do not fit the {n_labels} labels of sectune.json field 'labels'", path=path)
