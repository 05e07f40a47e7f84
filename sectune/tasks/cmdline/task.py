"""The command-line task: is this command line obfuscated? (labels 0/1: the positive ``1`` sorts second,
the class binary thresholds are chosen for and ``sectune scan`` alerts on).

What it adds to the generic pipeline: the causal LLM's command-line question, rows grouped by their
seed line (``group:orig``: a line and its obfuscated twins stay on one side of the split) and
``sectune compare``'s breakdowns: recall per shell,
per technique, and per technique family the method never saw in training (leave one family out).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Sequence

import numpy as np
from pydantic import Field

from sectune.errors import SectuneError, shorten
from sectune.io import Table
from sectune.prompts import PromptTemplate
from sectune.tasks import Breakdowns, RecallTable, Refit, Task
from sectune.tasks.cmdline.families import technique_families, technique_names

log = logging.getLogger("sectune")
LABELS = {"0", "1"}


class CmdlineTask(Task):
    """Obfuscated command-line detection, as ``sectune data cmdline`` writes it (text, label 0/1, shell, technique, orig)."""

    name = "cmdline"
    default_split = "group:orig"
    prompt_template = "cmdline"
    prompts = {
        "cmdline": PromptTemplate(
            name="cmdline",
            instruction="You are a security analyst. Is the following command line obfuscated (encoded, escaped, scrambled or otherwise disguised)? Answer yes or no.",
            input="Command line: {text}",
        )
    }
    compare_columns = {"recall_by_shell": "recall {}", "leave_one_out_recall": "leave-one-out recall"}
    compare_tables = {
        "per_technique": RecallTable(
            "Recall per technique",
            "technique",
            plot="techniques.png",
            plot_title="Recall per obfuscation technique (test positives)",
        ),
        "leave_one_out": RecallTable("Leave one technique family out", "family held out"),
    }

    class Settings(Task.Settings):
        technique_column: str = Field(
            "technique",
            description="column naming each line's obfuscation chain (compare: recall per technique and family)",
        )
        shell_column: str = Field("shell", description="column naming each line's shell (compare: recall per shell)")

    @classmethod
    def add_data_parsers(cls, data_subparsers: Any) -> None:
        from sectune.tasks.cmdline.dataset import add_cmdline_parser, run_cmdline_command

        add_cmdline_parser(data_subparsers).set_defaults(run_data=run_cmdline_command)

    def prepare(self, table: Table) -> tuple[Table, dict[str, Any]]:
        """Labels must be 0/1 (1: obfuscated): scan alerts and the stored threshold are about "1"."""
        found = sorted(set(table.labels or ()))
        if not set(found) <= LABELS:
            raise SectuneError(
                f"task cmdline needs labels 0/1 (1: obfuscated); this data has {shorten(', '.join(found))}",
                path=table.path,
            )
        return table, {}

    def alert_label(self, labels: Sequence[str]) -> str:
        if "1" not in labels:
            raise SectuneError(
                f"a cmdline model alerts on label 1 (obfuscated); this one has {shorten(', '.join(labels))}"
            )
        return "1"

    def breakdown_columns(self) -> list[str]:
        return [self.options.technique_column, self.options.shell_column]

    def breakdowns(self, test: Table, flags: np.ndarray, positives: np.ndarray, refit: Refit | None) -> Breakdowns:
        from sectune.compare import recall_where

        out = Breakdowns()
        shells = test.columns.get(self.options.shell_column)
        techniques = test.columns.get(self.options.technique_column)
        if shells is not None:
            shells_array = np.array(shells)
            out.cells["recall_by_shell"] = {
                s: recall_where(flags, positives & (shells_array == s)) for s in sorted(set(shells))
            }
        if techniques is not None:
            out.tables["per_technique"] = per_technique(flags, positives, techniques)
            if refit is not None:
                held_out = self.leave_one_family_out(test, refit)
                out.tables["leave_one_out"] = held_out
                known = [v for v in held_out.values() if v is not None]
                out.cells["leave_one_out_recall"] = float(np.mean(known)) if known else None
        return out

    def leave_one_family_out(self, test: Table, refit: Refit) -> dict[str, float | None]:
        """For each family in the test lines: trained without any line of it, the recall on it."""
        column = self.options.technique_column
        families_test = [technique_families(str(t or "")) for t in test.columns[column]]
        out: dict[str, float | None] = {}
        for family in sorted(set().union(*families_test)) if families_test else []:

            def keep(table: Table, family: str = family) -> list[int]:
                return [
                    i
                    for i, t in enumerate(table.columns.get(column, [None] * len(table)))
                    if family not in technique_families(str(t or ""))
                ]

            rows = [i for i, fams in enumerate(families_test) if family in fams]
            flags = refit(keep, rows)
            out[family] = None if flags is None else float(np.mean(flags))
            if flags is not None:
                log.info("compare: without %s: recall %.3f on %d held-out lines", family, out[family], len(rows))
        return out


def per_technique(flags: np.ndarray, positives: np.ndarray, techniques: list) -> dict[str, float | None]:
    """Recall per technique of the test positives (a chain counts for each of its techniques)."""
    hits: dict[str, list[bool]] = defaultdict(list)
    for flag, positive, technique in zip(flags, positives, techniques):
        if positive:
            for name in technique_names(str(technique or "")) or ["(unknown)"]:
                hits[name].append(bool(flag))
    from sectune.compare import MIN_SUPPORT

    return {name: float(np.mean(v)) if len(v) >= MIN_SUPPORT else None for name, v in sorted(hits.items())}
