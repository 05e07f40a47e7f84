"""Every method and task setting, read from where it is declared, turned into command-line flags.

A method's settings are its ``__init__`` parameters (type, bounds and help in the annotation:
``Annotated[int, Field(ge=1, description="tokens per text")]``); a task's are the fields of its
``Settings`` model. As transformers' ``HfArgumentParser`` does with dataclass fields, one generator
makes the ``sectune train`` flags (and ``evaluate --zero-shot``'s) from them, and :mod:`sectune.config`
routes a flat key to the chosen method or task by the same tables; nothing repeats the list.
"""

from __future__ import annotations

import argparse
import inspect
import types
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from pydantic.fields import FieldInfo

from sectune.security import SECURITY_SWITCHES, flag


@dataclass(frozen=True)
class Setting:
    """One setting as its owners (methods or tasks) declare it."""

    name: str
    annotations: tuple[Any, ...]  # as each owner declares it, with its Annotated bounds
    help: str
    defaults: dict[str, Any]  # owner -> its default
    kind: str  # "method" or "task"

    @property
    def flag(self) -> str:
        return flag(self.name)


def user_params(cls: type) -> list[str]:
    """A method's parameters a user sets: not runtime-only (verbose, checkpoint_dir) nor a security switch."""
    return [p for p in cls.param_names() if p not in cls.runtime_params | SECURITY_SWITCHES]


def _description(annotation: Any) -> str | None:
    """The pydantic ``Field(description=...)`` in an annotation, also inside ``X | None``."""
    if get_origin(annotation) is Annotated:
        for meta in reversed(annotation.__metadata__):
            if isinstance(meta, FieldInfo) and meta.description:
                return meta.description
        return _description(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        found = [d for d in map(_description, get_args(annotation)) if d]
        return found[0] if found else None
    return None


def _collect(kind: str, declared: dict[str, list[tuple[str, Any, Any, str | None]]]) -> dict[str, Setting]:
    """``declared``: name -> [(owner, annotation, default, description)]; the first description found is the help."""
    return {
        name: Setting(
            name,
            tuple(e[1] for e in entries),
            next((d for *_, d in entries if d), ""),
            {e[0]: e[2] for e in entries},
            kind,
        )
        for name, entries in declared.items()
    }


@cache
def method_settings() -> dict[str, Setting]:
    """The union of every registered method's user parameters."""
    from sectune.methods.base import REGISTRY, method_class

    declared: dict[str, list] = {}
    for name in REGISTRY:
        cls = method_class(name)
        hints = get_type_hints(cls.__init__, include_extras=True)
        signature = inspect.signature(cls.__init__).parameters
        for param in user_params(cls):
            annotation = hints.get(param, Any)
            declared.setdefault(param, []).append(
                (name, annotation, signature[param].default, _description(annotation))
            )
    return _collect("method", declared)


@cache
def task_settings() -> dict[str, Setting]:
    """The union of every registered task's ``Settings`` fields."""
    from sectune.tasks import TASKS, task_class

    declared: dict[str, list] = {}
    for name in TASKS:
        for key, field in task_class(name).Settings.model_fields.items():
            annotation = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
            declared.setdefault(key, []).append(
                (name, annotation, field.get_default(call_default_factory=True), field.description)
            )
    return _collect("task", declared)


def takers(key: str) -> tuple[str, list[str]]:
    """Who takes a setting: ("task" or "method", their names); no names when none does. A run-level setting
    only some methods use (resume, allow_pickle) is theirs too."""
    from sectune.methods.base import REGISTRY, method_class

    for kind, known in (("task", task_settings()), ("method", method_settings())):
        if key in known:
            return kind, list(known[key].defaults)
    return "method", [name for name in REGISTRY if key in method_class(name).param_names()]


def restricted(owner: str, names: tuple[str, ...]) -> list[Setting]:
    """Some of one method's settings, as only that method declares them (``evaluate --zero-shot``'s flags)."""
    every = method_settings()
    return [Setting(n, every[n].annotations, every[n].help, {owner: every[n].defaults[owner]}, "method") for n in names]


def _bare(annotation: Any) -> Any:
    """The type under ``Annotated`` and ``| None``: what the flag parses."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation):
            rest = [a for a in get_args(annotation) if a is not type(None)]
            annotation = rest[0] if len(rest) == 1 else Union[tuple(rest)]
        else:
            return annotation


def _yaml_value(text: str) -> Any:
    """A list or mapping flag value, read as YAML (``--kernel-sizes [3,5]``)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise argparse.ArgumentTypeError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}") from None


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else "none" if value is None else str(value)


def _default_text(setting: Setting) -> str:
    """``default X`` (or X per owner); empty when no owner has one to show: None (not set, the help says what
    happens then) or False (a switch that is off) would only be noise on every such flag."""
    if all(v is None or v is False for v in setting.defaults.values()):
        return ""
    values = {_shown(v) for v in setting.defaults.values()}
    if len(values) == 1:
        return f"default {values.pop()}"
    return "default " + ", ".join(f"{owner} {_shown(v)}" for owner, v in setting.defaults.items())


def add_flags(group: argparse._ActionsContainer, settings: list[Setting]) -> None:
    """One flag per setting: its type, Literal choices, bool as a switch (``--no-X`` too where the default is on),
    lists as YAML; the help says what it does, its default and which methods or tasks take it. Default None: not given."""
    for setting in settings:
        bare = _bare(setting.annotations[0])
        owners = ", ".join(setting.defaults)
        where = "; ".join(part for part in (_default_text(setting), f"{setting.kind}: {owners}") if part)
        text = f"{setting.help} ({where})".replace("%", "%%").lstrip()
        kwargs: dict[str, Any] = {"dest": setting.name, "default": None, "help": text}
        if bare is bool:
            kwargs["action"] = (
                argparse.BooleanOptionalAction if any(v is True for v in setting.defaults.values()) else "store_true"
            )
        elif get_origin(bare) is Literal:
            choices = list(
                dict.fromkeys(c for a in map(_bare, setting.annotations) for c in get_args(a) if c is not None)
            )
            kwargs.update(choices=choices, type=type(choices[0]))
        elif bare in (int, float, str):
            kwargs["type"] = bare
        else:
            kwargs.update(type=_yaml_value, metavar="YAML")
        group.add_argument(setting.flag, **kwargs)
