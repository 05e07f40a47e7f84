"""The training run's settings: one pydantic model shared by the CLI, YAML files and the Python API.

A run's resolved configuration is saved as ``config.yaml`` in its output directory, so
``sectune train --config OUTPUT/config.yaml`` reproduces it with one command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sectune.errors import SectuneError, first_problem, shorten
from sectune.security import SECURITY_SWITCHES

# Settings that are handed to the method's constructor when it takes a parameter of that name.
METHOD_SETTINGS = (
    "model", "max_length", "batch_size", "grad_accum", "epochs", "max_steps", "lr", "head_lr_scale", "warmup_ratio",
    "weight_decay", "max_grad_norm", "class_weight", "eval_steps", "early_stopping_patience",
    "lora_r", "lora_alpha", "lora_dropout", "pooling", "precision", "seed", "allow_pickle", "trust_remote_code",
    # causal-llm
    "head", "zero_shot", "prompt_template", "chat", "lora_target", "gradient_checkpointing", "quantize",
)


class TrainConfig(BaseModel):
    """Every key of ``sectune train``; a YAML config holds the same keys as the flags."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    data: str
    output: str
    method: str = "encoder"
    task: Literal["generic", "cwe"] = "generic"
    text_column: str | None = None  # default: text (generic), description (cwe)
    label_column: str | None = None  # default: label (generic), cwe (cwe)
    split: str | None = None  # default: stratified (generic), time:published (cwe)
    test_size: float = Field(0.2, gt=0, lt=1)
    validation_size: float = Field(0.1, ge=0, lt=1)
    seed: int = 42
    eval_data: str | None = None
    min_examples: int | None = Field(None, ge=1)
    target_fpr: float = Field(0.001, gt=0, lt=1, description="binary tasks: the operating threshold keeps validation FPR at or below this")
    resume: bool = False
    # CWE task
    rollup: str | None = Field(None, description="map each CWE to its nearest ancestor in this view, e.g. 1003")
    allowed_only: bool = False
    cwe_xml: str | None = None
    # method settings (None: the method's own default)
    model: str | None = None
    max_length: int | None = Field(None, gt=0)
    batch_size: int | None = Field(None, gt=0)
    grad_accum: int | None = Field(None, gt=0)
    epochs: float | None = Field(None, gt=0)
    max_steps: int | None = Field(None, gt=0)
    lr: float | None = Field(None, gt=0)
    head_lr_scale: float | None = Field(None, gt=0)
    warmup_ratio: float | None = Field(None, ge=0, lt=1)
    weight_decay: float | None = Field(None, ge=0)
    max_grad_norm: float | None = Field(None, gt=0)
    class_weight: Literal["balanced", "sqrt", "none"] | None = None
    eval_steps: int | None = Field(None, gt=0)
    early_stopping_patience: int | None = Field(None, ge=0)
    lora_r: int | None = Field(None, ge=0)
    lora_alpha: int | None = Field(None, gt=0)
    lora_dropout: float | None = Field(None, ge=0, lt=1)
    pooling: Literal["auto", "mean", "cls"] | None = None
    precision: Literal["auto", "fp32", "bf16", "fp16"] | None = None
    allow_pickle: bool = False
    trust_remote_code: bool = False
    # causal-llm
    head: Literal["lm", "classifier"] | None = None
    zero_shot: bool | None = None
    prompt_template: str | None = Field(None, description="a built-in template (cmdline, cwe, binary, multiclass) or a YAML file")
    chat: bool | None = None
    lora_target: str | None = Field(None, description="attention (default), all-linear, or module names separated by commas")
    gradient_checkpointing: bool | None = None
    quantize: Literal["4bit", "8bit", "none"] | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="extra method parameters, e.g. {C: 5.0}")

    @model_validator(mode="after")
    def _task_defaults(self) -> "TrainConfig":
        """Each task's natural columns and split, unless the user named others."""
        cwe = self.task == "cwe"
        self.text_column = self.text_column or ("description" if cwe else "text")
        self.label_column = self.label_column or ("cwe" if cwe else "label")
        self.split = self.split or ("time:published" if cwe else "stratified")
        if not cwe and (self.rollup or self.allowed_only or self.cwe_xml):
            raise ValueError("rollup, allowed_only and cwe_xml need task: cwe")
        return self

    def method_params(self, accepted: list[str]) -> dict[str, Any]:
        """The settings this method's constructor takes; unknown extra params are an error."""
        chosen = {k: getattr(self, k) for k in METHOD_SETTINGS if k in accepted and getattr(self, k) is not None}
        if chosen.get("class_weight") == "none":
            chosen["class_weight"] = None
        unknown = set(self.params) - set(accepted)
        if unknown:
            raise SectuneError(f"method '{self.method}' has no parameter(s) {shorten(', '.join(sorted(unknown)))} (it takes: {', '.join(accepted)})")
        return {**chosen, **self.params}

    def to_yaml(self) -> str:
        """The run as a YAML config; security switches are left out (a file must not turn them on)."""
        return yaml.safe_dump(self.model_dump(exclude_defaults=False, exclude=set(SECURITY_SWITCHES)), sort_keys=False)


def route_settings(values: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """``values`` updated by ``settings``: TrainConfig keys (max_steps) set, any other key (C, quantize) joins
    ``params`` as a method parameter, so Python callers pass both alike; the method refuses a parameter it does not take."""
    values = dict(values)
    params = dict(values.get("params") or {})
    for key, value in settings.items():
        if key == "params":
            params.update(value or {})
        elif key in TrainConfig.model_fields:
            values[key] = value
        else:
            params[key] = value
    if params:  # no empty mapping: it would replace a config file's own params
        values["params"] = params
    return values


def load_config(path: str | Path | None, overrides: dict[str, Any]) -> TrainConfig:
    """YAML file (optional) updated by explicitly given flags; one clear line on a bad key or value."""
    values: dict[str, Any] = {}
    if path:
        path = Path(path)
        if not path.is_file():
            raise SectuneError("no such config file", path=path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise SectuneError(f"is not valid YAML: {str(exc).splitlines()[0]}", path=path) from exc
        if not isinstance(loaded, dict):
            raise SectuneError("must be a mapping of setting: value", path=path)
        values.update({str(k).replace("-", "_"): v for k, v in loaded.items()})
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig(**values)
    except ValidationError as exc:
        field, problem = first_problem(exc)
        source = f" in {path}" if path else ""
        raise SectuneError(f"setting '{field}'{source}: {problem}") from None
