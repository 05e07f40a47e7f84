"""The fine-tuning parameters every transformers method shares, declared once with their bounds and help.

``encoder`` and ``causal-llm`` are dataclasses built on :class:`FineTuneArgs`: each adds only its own
parameters and overrides only the defaults it needs (:func:`defaults`), so a setting's type, bounds and
help text (which become its ``sectune train`` flag) are written in one place, and
:func:`sectune.training.make_trainer` takes the method itself as its arguments.

No ``from __future__ import annotations`` here on purpose: the field types must be objects, not strings,
for the subclasses' generated ``__init__`` (read by ``get_type_hints``) to resolve them in any module.
"""

import dataclasses
from typing import Annotated, Any, Callable, ClassVar, Optional

from pydantic import Field

from sectune.methods.base import Fraction, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Precision, Seed


@dataclasses.dataclass(kw_only=True, repr=False, eq=False)
class FineTuneArgs:
    """What the Trainer needs (see :func:`sectune.training.make_trainer`) and what every fine-tuned model loads with."""

    # Steer a run (where checkpoints go, progress bars, which files may load) but are not part of the model.
    runtime_params: ClassVar[frozenset[str]] = frozenset(
        {"verbose", "checkpoint_dir", "runs_dir", "resume", "allow_pickle", "trust_remote_code"}
    )

    model: Annotated[
        Optional[str],
        Field(description="base model: a Hugging Face id or local directory (default: the method's packaged model)"),
    ] = None
    max_length: Annotated[PositiveInt, Field(description="tokens per text")] = 128
    batch_size: Annotated[PositiveInt, Field(description="texts per training step")] = 16
    grad_accum: Annotated[PositiveInt, Field(description="gradient accumulation steps")] = 1
    epochs: Annotated[PositiveFloat, Field(description="passes over the training rows")] = 3.0
    max_steps: Annotated[
        Optional[PositiveInt], Field(description="stop after this many optimiser steps (overrides epochs)")
    ] = None
    lr: Annotated[PositiveFloat, Field(description="peak learning rate (AdamW, linear warmup and decay)")] = 5e-5
    head_lr_scale: Annotated[
        PositiveFloat, Field(description="the new classification head's learning rate as a multiple of lr")
    ] = 10.0
    warmup_ratio: Annotated[Fraction, Field(description="share of the steps that warm the learning rate up")] = 0.06
    weight_decay: Annotated[NonNegativeFloat, Field(description="AdamW weight decay (not on biases and norms)")] = 0.01
    max_grad_norm: Annotated[NonNegativeFloat, Field(description="gradient clipping (0: no clipping)")] = 1.0
    eval_steps: Annotated[
        Optional[PositiveInt], Field(description="evaluate and checkpoint every N steps (default: every epoch)")
    ] = None
    early_stopping_patience: Annotated[
        Optional[NonNegativeInt], Field(description="evaluations without macro-F1 gain before stopping (0: off)")
    ] = 3
    lora_r: Annotated[NonNegativeInt, Field(description="LoRA rank (0: full fine-tuning)")] = 0
    lora_alpha: Annotated[
        PositiveInt, Field(description="LoRA scaling (alpha / r multiplies the adapter's update)")
    ] = 16
    lora_dropout: Annotated[Fraction, Field(description="dropout on the LoRA adapters' input")] = 0.1
    precision: Precision = "auto"
    predict_batch_size: Annotated[PositiveInt, Field(description="texts scored at a time when predicting")] = 64
    seed: Seed = 42
    verbose: bool = True
    checkpoint_dir: Optional[str] = None
    runs_dir: Optional[str] = None
    resume: Annotated[bool, Field(description="continue an interrupted run from its last checkpoint")] = False
    allow_pickle: bool = False
    trust_remote_code: bool = False


def defaults(**values: Any) -> Callable[[type], type]:
    """Class decorator, under ``@dataclass``: give inherited fields other defaults, keeping their declared type
    and help, so a method states only what differs (causal-llm: ``@defaults(lr=2e-4, lora_r=8)``)."""

    def apply(cls: type) -> type:
        inherited = {
            f.name: f for base in cls.__mro__[1:] if dataclasses.is_dataclass(base) for f in dataclasses.fields(base)
        }
        unknown = set(values) - set(inherited)
        if unknown:
            raise TypeError(f"{cls.__name__}: no inherited field(s) {', '.join(sorted(unknown))}")
        own = cls.__dict__.get("__annotations__", {})
        cls.__annotations__ = {**{name: inherited[name].type for name in values}, **own}
        for name, value in values.items():
            setattr(cls, name, value)
        return cls

    return apply
