"""The training run's settings: one pydantic model shared by the CLI, YAML files and the Python API.

A run's resolved configuration is saved as ``config.yaml`` in its output directory, so
``sectune train --config OUTPUT/config.yaml`` reproduces it with one command.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sectune.errors import SectuneError, first_problem, shorten
from sectune.security import SECURITY_SWITCHES, flag
from sectune.settings import user_params
from sectune.tasks import task_class

# Run-level settings a method also receives when its constructor takes them.
SHARED_WITH_METHOD = ("seed", "allow_pickle", "trust_remote_code")


class TrainConfig(BaseModel):
    """A run: its own settings as fields, the chosen method's parameters in ``params`` and the chosen task's in
    ``task_settings``. Built from flat keys (``max_steps: 200``), each routed to the method or the task that
    declares it (:mod:`sectune.settings`); a key neither takes is one line naming the method or task."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    data: str | list[str] = Field(
        description="one data file, or several read as one (the task says which of two rows for the same record is kept)"
    )
    output: str
    method: str = "encoder"
    task: str = "generic"
    text_column: str | None = None  # default: the task's (text; description for cwe)
    label_column: str | None = None  # default: the task's (label; cwe for cwe)
    split: str | None = None  # default: the task's (stratified; time:published for cwe)
    test_size: float = Field(0.2, gt=0, lt=1)
    validation_size: float = Field(0.1, ge=0, lt=1)
    seed: int = 42
    eval_data: str | None = None
    min_examples: int | None = Field(None, ge=1)
    target_fpr: float = Field(
        0.001, gt=0, lt=1, description="binary tasks: the operating threshold keeps validation FPR at or below this"
    )
    resume: bool = False
    allow_pickle: bool = False
    trust_remote_code: bool = False
    params: dict[str, Any] = Field(
        default_factory=dict, description="the method's parameters, checked against its signature"
    )
    task_settings: dict[str, Any] = Field(
        default_factory=dict, description="the task's settings, checked against its Settings model"
    )

    @model_validator(mode="before")
    @classmethod
    def _route(cls, values: Any) -> Any:
        """Flat keys and ``params:`` entries to where they belong: this model, the task's settings or the method's."""
        if not isinstance(values, dict):
            return values
        from sectune.methods.base import method_class

        flat = flatten(values)
        run = {k: flat.pop(k) for k in list(flat) if k in cls.model_fields}
        method, task = run.get("method", "encoder"), run.get("task", "generic")
        settings = task_class(task).Settings
        tasks = {k: flat.pop(k) for k in list(flat) if k in settings.model_fields}
        method_cls = method_class(method)
        _refuse_not_taken(method_cls.name, task, flat, user_params(method_cls))
        _refuse_not_taken(
            method_cls.name,
            task,
            {k: v for k, v in run.items() if k in ("resume", *SECURITY_SWITCHES) and v},
            method_cls.param_names(),
        )
        try:
            checked = settings.model_validate(tasks)
        except ValidationError as exc:
            name, problem = first_problem(exc)
            raise SectuneError(f"task '{task}': setting '{name}': {problem}") from None
        return {
            **run,
            "params": method_cls.validate_params(flat),
            "task_settings": {k: getattr(checked, k) for k in tasks},
        }

    @field_validator("data")
    @classmethod
    def _one_or_more_files(cls, data: str | list[str]) -> str | list[str]:
        """A list of one file is that file (so a run records it the same way); an empty list is no data."""
        if isinstance(data, list):
            if not data:
                raise ValueError("names no data file")
            return data[0] if len(data) == 1 else data
        return data

    @property
    def data_files(self) -> list[str]:
        return self.data if isinstance(self.data, list) else [self.data]

    @model_validator(mode="after")
    def _task_defaults(self) -> "TrainConfig":
        """Each task's natural columns and split, unless the user named others."""
        task = task_class(self.task)
        self.text_column = self.text_column or task.text_column
        self.label_column = self.label_column or task.label_column
        self.split = self.split or task.default_split
        return self

    def method_params(self, accepted: Sequence[str]) -> dict[str, Any]:
        """What the method's constructor receives: its parameters and the run-level settings it also takes (seed)."""
        return {**{k: getattr(self, k) for k in SHARED_WITH_METHOD if k in accepted}, **self.params}

    def to_yaml(self) -> str:
        """The run as a flat YAML config (run keys, task settings, method parameters), which routes back the same;
        security switches are left out (a file must not turn them on)."""
        run = self.model_dump(exclude={"params", "task_settings", *SECURITY_SWITCHES})
        flat = {**run, **self.task_settings, **self.params}
        # absolute paths: the file is read again from wherever the user is (the model card's "How to reproduce")
        absolute = {k: os.path.abspath(v) if k == "output" else _absolute_if_exists(v) for k, v in flat.items()}
        return yaml.safe_dump(absolute, sort_keys=False)


def _absolute_if_exists(value: Any) -> Any:
    """A value that names an existing file (or a list of them, ``data``) made absolute; any other value as it is."""
    if isinstance(value, list):
        return [_absolute_if_exists(v) for v in value]
    return os.path.abspath(value) if isinstance(value, str) and os.path.exists(value) else value


def flatten(values: dict[str, Any]) -> dict[str, Any]:
    """One flat mapping: a ``params:`` (or ``task_settings:``) mapping's entries beside the top-level keys, which they override."""
    flat = {k: v for k, v in values.items() if k not in ("params", "task_settings")}
    for nested in ("task_settings", "params"):
        flat.update(values.get(nested) or {})
    return flat


def _refuse_not_taken(method: str, task: str, keys: dict[str, Any], accepted: Sequence[str]) -> None:
    """One line for the first key the chosen method does not take: its flag and who takes it, or the method's own list."""
    from sectune.settings import takers

    unknown = sorted(set(keys) - set(accepted))
    for key in unknown:
        kind, owners = takers(key)
        if owners:
            chosen = method if kind == "method" else task
            raise SectuneError(f"{kind} '{chosen}' does not take {flag(key)} (need {kind}: {' or '.join(owners)})")
    if unknown:
        raise SectuneError(
            f"method '{method}' has no parameter(s) {shorten(', '.join(unknown))} (it takes: {', '.join(accepted)})"
        )


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML config's flat keys (``-`` spelled ``_``); one clear line when it is missing or not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise SectuneError("no such config file", path=path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SectuneError(f"is not valid YAML: {str(exc).splitlines()[0]}", path=path) from exc
    if not isinstance(loaded, dict):
        raise SectuneError("must be a mapping of setting: value", path=path)
    return flatten({str(k).replace("-", "_"): v for k, v in loaded.items()})


def make_config(values: dict[str, Any], source: str | Path | None = None) -> TrainConfig:
    """A validated TrainConfig; one clear line on a bad key or value (``source``: the file it came from)."""
    try:
        return TrainConfig(**values)
    except ValidationError as exc:
        field, problem = first_problem(exc)
        where = f" in {source}" if source else ""
        raise SectuneError(f"setting '{field}'{where}: {problem}") from None


def load_config(path: str | Path | None, overrides: dict[str, Any]) -> TrainConfig:
    """YAML file (optional) updated by explicitly given settings (None: not given), flat or in ``params``."""
    values = read_config_file(path) if path else {}
    values.update({k: v for k, v in flatten(overrides).items() if v is not None})
    return make_config(values, path)
