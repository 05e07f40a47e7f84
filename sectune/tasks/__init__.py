"""Tasks: what a kind of problem adds to the generic pipeline, declared in one place.

A task is a :class:`Task` subclass registered in :data:`TASKS`: its columns, default split, the causal
LLM's built-in prompt, its own settings (a pydantic model), label preparation and extra metrics, the
model card's task section, ``sectune compare``'s breakdowns and the raw inputs ``sectune predict``
reads. The base class is the generic task and adds nothing, so a task overrides only what it changes.

Adding a task is one module (``sectune/tasks/NAME/task.py``) and one line in :data:`TASKS`; the
generic files (api, config, card, compare, cli, prompts) know tasks only through this registry.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from sectune.errors import SectuneError, first_problem, shorten
from sectune.io import Table, concat_tables

if TYPE_CHECKING:
    from sectune.config import TrainConfig
    from sectune.methods.base import Classifier
    from sectune.prompts import PromptTemplate

log = logging.getLogger("sectune")

# name -> "module:Class", imported only when the task is used (the CWE catalogue is not loaded for command lines)
TASKS: dict[str, str] = {
    "generic": "sectune.tasks:Task",
    "cwe": "sectune.tasks.cwe.task:CweTask",
    "cmdline": "sectune.tasks.cmdline.task:CmdlineTask",
}


def task_class(name: str) -> type["Task"]:
    """The registered task class called ``name``; one line naming the known ones otherwise."""
    if name not in TASKS:
        raise SectuneError(f"unknown task '{shorten(str(name))}' (available: {', '.join(TASKS)})")
    module, cls = TASKS[name].split(":")
    return getattr(importlib.import_module(module), cls)


@dataclass
class RawInput:
    """Texts read from a task's own raw format (CVE records), with the labels each record states."""

    ids: list[Any]
    texts: list[str]
    stated: list[list[str]]  # per record: the labels its source gives (may be empty)
    stated_key: str = "stated"  # the key predictions carry them under (cwe: "cwe")


@dataclass
class RecallTable:
    """How ``compare`` shows one of a task's recall breakdowns: a report section, one row per group."""

    title: str  # the section heading
    row_title: str  # the first column's heading
    plot: str | None = None  # a bar chart file for the breakdowns worth a picture
    plot_title: str = ""


@dataclass
class Breakdowns:
    """One method's figures beyond the shared columns of ``compare``."""

    cells: dict[str, Any] = field(default_factory=dict)  # extra cells of the method's row (see Task.compare_columns)
    tables: dict[str, dict[str, float | None]] = field(
        default_factory=dict
    )  # table key (Task.compare_tables) -> group -> recall


# keep(table) -> the training/validation rows to keep; rows -> test rows to score. Returns their flags,
# or None when the kept rows hold one class. Given by compare to tasks that measure recall on held-out groups.
Refit = Callable[[Callable[[Table], list[int]], list[int]], "np.ndarray | None"]


class Task:
    """The generic task: any labelled text, nothing added. Subclasses override what their data needs."""

    name: ClassVar[str] = "generic"
    text_column: ClassVar[str] = "text"
    label_column: ClassVar[str] = "label"
    default_split: ClassVar[str] = "stratified"
    prompt_template: ClassVar[str | None] = (
        None  # causal-llm's built-in template; None: binary or multiclass by label count
    )
    prompts: ClassVar[dict[str, "PromptTemplate"]] = {}  # built-in templates the task adds (--prompt-template NAME)
    compare_columns: ClassVar[
        dict[str, str]
    ] = {}  # compare row cell -> column title ("{}": one column per key of a mapping)
    compare_tables: ClassVar[dict[str, RecallTable]] = {}  # Breakdowns.tables key -> how the report shows it
    merge_columns: ClassVar[tuple[str, ...]] = ()  # read, where a file has them, to combine several data files

    class Settings(BaseModel):
        """The task's own settings; each field's description is its help text."""

        model_config = ConfigDict(extra="forbid")

    def __init__(self, **settings: Any) -> None:
        try:
            self.options = self.Settings(**settings)
        except ValidationError as exc:
            key, problem = first_problem(exc)
            raise SectuneError(f"task '{self.name}': setting '{key}': {problem}") from None

    # --- construction ---------------------------------------------------------------------
    @classmethod
    def for_config(cls, cfg: "TrainConfig") -> "Task":
        """The run's task, with the settings the config routed to it."""
        return task_class(cfg.task)(**cfg.task_settings)

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> "Task":
        """A saved model's task, with the settings its run record (``sectune.json`` ``run``, as a dict) kept."""
        task = task_class(info.get("task") or "generic")
        saved = info.get(task.name)
        saved = saved if isinstance(saved, dict) else {}
        return task(**{k: v for k, v in saved.items() if k in task.Settings.model_fields})

    @classmethod
    def for_model(cls, clf: "Classifier") -> "Task":
        return cls.from_info(clf.info)

    # --- what sectune.json keeps ----------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """The settings a model records (in its run record, under the task's name), enough to rebuild the task."""
        return self.options.model_dump()

    def record(self, report: dict[str, Any]) -> dict[str, Any]:
        """The run record's entry for this task: its settings and preparation report, if it has any."""
        kept = self.settings()
        return {self.name: {**kept, "report": report}} if kept or report else {}

    def inputs(self) -> list[str]:
        """Files the task reads (its settings' paths), none of which a run's output may be."""
        return []

    # --- data -----------------------------------------------------------------------------
    def combine(self, tables: Sequence[Table]) -> tuple[Table, int]:
        """Several data files as one table, and how many rows were dropped as duplicates: the generic task keeps
        every row (it cannot know that two rows are one record)."""
        return concat_tables(tables), 0

    def prepare(self, table: Table) -> tuple[Table, dict[str, Any]]:
        """Labels as the task wants them, and a report of what changed (recorded in sectune.json)."""
        return table, {}

    def alert_label(self, labels: Sequence[str]) -> str:
        """The class a binary model alerts on (``sectune scan``): the one that sorts second, which the
        stored threshold is chosen for."""
        return labels[1]

    def drop_seen(self, train: Table, test: Table, report: dict[str, Any]) -> Table:
        """Test rows that must not count because training already holds them (none, by default)."""
        return test

    def map_labels(self, labels: Sequence[str]) -> list[str]:
        """A record's own labels as this model sees them (normalised, rolled up), for comparisons."""
        return list(labels)

    def namer(self) -> Callable[[str], str | None] | None:
        """Human names for labels where the task has them (CWE ids -> names), else None."""
        return None

    def describe_labels(self, labels: Sequence[str]) -> dict[str, str]:
        """What the labels mean in words, where the task knows (CWE: MITRE's name and description), for methods
        that start from them (``Classifier.label_texts``); none by default."""
        return {}

    # --- scores ---------------------------------------------------------------------------
    def metrics(
        self, model: "Classifier", table: Table, proba: np.ndarray, train_labels: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """The generic metrics; a task adds its own to them."""
        from sectune.metrics import evaluate_predictions

        return evaluate_predictions(
            table.labels, proba, model.labels_, threshold=model.threshold_, true_label_sets=table.label_lists
        )

    def card_section(self, info: dict[str, Any], metrics: dict[str, Any]) -> str:
        """The model card's task section (Markdown) from the run record ``info``, or "" for none."""
        return ""

    # --- sectune compare ------------------------------------------------------------------
    def breakdown_columns(self) -> list[str]:
        """Per-row columns the breakdowns read; compare reads those the file has."""
        return []

    def breakdowns(self, test: Table, flags: np.ndarray, positives: np.ndarray, refit: Refit | None) -> Breakdowns:
        """Recall on slices of the test rows; ``refit`` (None: not asked for) retrains without some rows."""
        return Breakdowns()

    # --- command line -------------------------------------------------------------------
    @classmethod
    def add_data_parsers(cls, data_subparsers: Any) -> None:
        """Add the task's ``sectune data`` builders; each sets ``run_data`` (its handler) as a default."""

    # --- raw inputs of sectune predict ----------------------------------------------------
    def is_raw_source(self, path: str | Path) -> bool:
        """Whether ``path`` is in the task's own raw format rather than a data table."""
        return False

    def read_raw(self, path: str | Path, *, progress: bool = True, **options: Any) -> RawInput:
        raise SectuneError(f"task '{self.name}' reads no raw input format", path=path)
