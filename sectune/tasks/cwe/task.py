"""The CWE task: how CVE -> CWE data is labelled, split and scored beyond the generic metrics.

- labels are normalised (``CWE-079`` -> ``CWE-79``), optionally rolled up to a view (``--rollup
  1003``: each CWE to its nearest ancestor in NVD's view, fewer and better-populated classes) and
  kept to what MITRE allows for vulnerability mapping (``--allowed-only``);
- identical descriptions never cross the train/test split;
- a wrong top-1 that is the true CWE's parent, child or sibling is a near miss, counted apart.
"""

from __future__ import annotations

import logging
from collections import Counter
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
from pydantic import Field

from sectune.io import Table, concat_tables
from sectune.metrics import format_value
from sectune.prompts import PromptTemplate
from sectune.tasks import RawInput, Task
from sectune.tasks.cwe.catalog import Catalog, check_labels, load_catalog, normalize_cwe
from sectune.tasks.cwe.hierarchy import near_miss_share

if TYPE_CHECKING:
    from sectune.methods.base import Classifier

log = logging.getLogger("sectune")

FREQUENT = 20  # per-class recall is reported for the 20 most frequent classes and for the rest
GIVEN = "given_cwe"  # the primary CWE as the data gave it, before a rollup mapped it


def prepare(
    table: Table,
    catalog: Catalog,
    *,
    rollup: str | None = None,
    allowed_only: bool = False,
    drop_prohibited: bool = False,
) -> tuple[Table, dict[str, Any]]:
    """Normalise, roll up and filter each row's CWE list; the primary (first) CWE is the class.

    A row whose list is empty after mapping (no ancestor in the view, nothing allowed) is
    dropped and counted, never silently.
    """
    lists = table.label_lists or [[label] for label in table.labels]
    primaries = [normalize_cwe(cwes[0]) or str(cwes[0]) for cwes in lists]
    report: dict[str, Any] = {
        "rows_in": len(table),
        "classes_in": len(set(primaries)),
        "catalog": check_labels(catalog, primaries),
    }
    keep, new_lists = [], []
    dropped = Counter()
    for i, cwes in enumerate(lists):
        mapped = [normalize_cwe(c) or str(c) for c in cwes]
        if rollup:
            mapped = [catalog.rollup(c, rollup) for c in mapped]
            if not any(mapped):
                dropped["no_rollup"] += 1
                continue
        if allowed_only:
            mapped = [c for c in mapped if c and catalog.allowed(c)]
            if not mapped:
                dropped["not_allowed"] += 1
                continue
        if drop_prohibited:
            mapped = [c for c in mapped if c and catalog.mapping_bucket(c) not in ("prohibited", "deprecated")]
            if not mapped:
                dropped["prohibited"] += 1
                continue
        mapped = list(dict.fromkeys(c for c in mapped if c))
        keep.append(i)
        new_lists.append(mapped)
    out = table.subset(keep)
    out.columns[GIVEN] = [primaries[i] for i in keep]  # the strict scores compare with the gold as given
    out.label_lists = new_lists
    out.labels = [cwes[0] for cwes in new_lists]
    report.update(
        rows_out=len(out),
        classes_out=len(set(out.labels)),
        dropped_no_rollup=dropped["no_rollup"],
        dropped_not_allowed=dropped["not_allowed"],
        dropped_prohibited=dropped["prohibited"],
        rollup=rollup,
        allowed_only=allowed_only,
        drop_prohibited=drop_prohibited,
    )
    counts = report["catalog"]["counts"]
    log.info(
        "CWE labels: %d rows, %d classes -> %d rows, %d classes%s%s%s; primary labels MITRE discourages: %d, prohibits: %d, "
        "deprecated: %d, unknown to CWE %s: %d",
        report["rows_in"],
        report["classes_in"],
        report["rows_out"],
        report["classes_out"],
        f" (rollup to view {rollup}: {dropped['no_rollup']} rows without an ancestor in it dropped)" if rollup else "",
        f" (allowed only: {dropped['not_allowed']} rows dropped)" if allowed_only else "",
        f" (prohibited or deprecated CWEs dropped: {dropped['prohibited']} rows left without a label)"
        if drop_prohibited
        else "",
        counts["discouraged"],
        counts["prohibited"],
        counts["deprecated"],
        catalog.version,
        counts["unknown"],
    )
    return out, report


def cwe_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], per_class: list[dict], train_labels: Sequence[str], catalog: Catalog
) -> dict[str, Any]:
    """Near misses in the CWE tree, and recall for frequent vs rare classes (a model that only
    learns the frequent ones shows here)."""
    frequent = {label for label, _ in Counter(train_labels).most_common(FREQUENT)}
    recalls = {row["label"]: row["recall"] for row in per_class if row.get("support", 0) > 0}
    top = [r for label, r in recalls.items() if label in frequent]
    rest = [r for label, r in recalls.items() if label not in frequent]
    return {
        "hierarchy": near_miss_share(list(y_true), list(y_pred), catalog),
        "recall_frequent": {
            f"top{FREQUENT}_macro_recall": float(np.mean(top)) if top else None,
            "rest_macro_recall": float(np.mean(rest)) if rest else None,
            f"top{FREQUENT}_classes": len(top),
            "rest_classes": len(rest),
        },
    }


def strict_scores(given: Sequence[str], proba: np.ndarray, labels: Sequence[str], catalog: Catalog) -> dict[str, Any]:
    """Top-1, top-3, macro-F1 and hierarchy-aware top-1 of a rolled-up model against the gold CWEs as given: a
    rollup makes the task easier (CWE-121 -> CWE-787), and an analyst is judged on the CWE itself."""
    from sklearn.metrics import f1_score

    from sectune.metrics import ranking, topk_hits

    labels, gold = list(labels), [str(g) for g in given]
    order = ranking(proba)
    top1 = [labels[idx[0]] for idx in order]
    wanted = [{g} for g in gold]
    return {
        "top1": topk_hits(order, labels, wanted, 1),
        "top3": topk_hits(order, labels, wanted, 3),
        "macro_f1": float(f1_score(gold, top1, average="macro", zero_division=0)),
        "hierarchy_top1": near_miss_share(gold, top1, catalog)["hierarchy_top1"],
    }


class CweTask(Task):
    """CVE descriptions -> CWE ids, through the CWE catalogue (labels, metrics, names, raw CVE records)."""

    name = "cwe"
    text_column = "description"
    label_column = "cwe"
    default_split = "time:published"
    merge_columns = ("cve_id", "label_source")
    prompt_template = "cwe"
    prompts = {
        "cwe": PromptTemplate(
            name="cwe",
            instruction="You are a security analyst. Which CWE weakness does the following vulnerability description describe? "
            "Answer with the CWE id.",
            input="Description: {text}",
            verbalizers="names",
        )
    }

    class Settings(Task.Settings):
        rollup: str | None = Field(
            None, description="map each CWE to its nearest ancestor in this CWE view, e.g. 1003 (NVD's)"
        )
        allowed_only: bool = Field(
            False,
            description="keep only CWEs MITRE allows for vulnerability mapping (drops discouraged ones such as CWE-20)",
        )
        drop_prohibited: bool = Field(
            False,
            description="drop CWEs MITRE prohibits for mapping (categories such as CWE-264, deprecated entries) and "
            "rows left without one; keep discouraged ones",
        )
        cwe_xml: str | None = Field(None, description="a CWE catalogue XML (default: the one the cwe2 package ships)")

    @cached_property
    def catalog(self) -> Catalog:
        return load_catalog(self.options.cwe_xml)

    def settings(self) -> dict[str, Any]:
        return {
            "cwe_xml": self.options.cwe_xml,
            "catalog_version": self.catalog.version,
            "rollup": self.options.rollup,
            "allowed_only": self.options.allowed_only,
            "drop_prohibited": self.options.drop_prohibited,
        }

    def inputs(self) -> list[str]:
        return [self.options.cwe_xml] if self.options.cwe_xml else []

    def combine(self, tables: Sequence[Table]) -> tuple[Table, int]:
        """Several files (the CVE List's CNA labels and NVD's, say) as one: a CVE that stands in more than one keeps
        one row, NVD's label first, then the CNA's, then ADP's (:data:`LABEL_PRECEDENCE`), the file named first
        among equals. Rows without a ``cve_id`` are all kept."""
        from sectune.tasks.cwe.merge import keep_preferred

        table = concat_tables(tables)
        ids = table.columns.get("cve_id") or [None] * len(table)
        sources = table.columns.get("label_source") or [None] * len(table)
        kept, dropped = keep_preferred(
            range(len(table)), cve_id=lambda i: ids[i] or f"\0row {i}", label_source=lambda i: sources[i]
        )
        if dropped:
            log.info("%d rows dropped: their CVE id stands in another row with a preferred label", dropped)
        return (table.subset(kept), dropped) if dropped else (table, 0)

    def prepare(self, table: Table) -> tuple[Table, dict[str, Any]]:
        return prepare(
            table,
            self.catalog,
            rollup=self.options.rollup,
            allowed_only=self.options.allowed_only,
            drop_prohibited=self.options.drop_prohibited,
        )

    def drop_seen(self, train: Table, test: Table, report: dict[str, Any]) -> Table:
        """A test description that also stands in training is dropped (CNAs reuse text across CVEs;
        a copy scored as a success is not a generalisation)."""
        seen = set(train.texts)
        keep = [i for i, text in enumerate(test.texts) if text not in seen]
        report["test_rows_dropped_as_duplicate_descriptions"] = len(test) - len(keep)
        log.info("%d test rows dropped: their description also appears in training", len(test) - len(keep))
        return test.subset(keep)

    def metrics(
        self, model: "Classifier", table: Table, proba: np.ndarray, train_labels: Sequence[str] | None = None
    ) -> dict[str, Any]:
        from sectune.metrics import predicted_labels

        metrics = super().metrics(model, table, proba, train_labels)
        y_pred = predicted_labels(proba, model.labels_, threshold=model.threshold_)
        metrics.update(
            cwe_metrics(table.labels, y_pred, metrics["per_class"], train_labels or model.labels_, self.catalog)
        )
        given = table.columns.get(GIVEN)
        if self.options.rollup and given is not None:
            metrics["strict"] = strict_scores(given, proba, model.labels_, self.catalog)
        return metrics

    def map_labels(self, labels: Sequence[str]) -> list[str]:
        mapped = [normalize_cwe(c) or c for c in labels]
        if self.options.rollup:
            mapped = [self.catalog.rollup(c, self.options.rollup) or c for c in mapped]
        return list(dict.fromkeys(mapped))

    def namer(self) -> Callable[[str], str | None]:
        return self.catalog.name

    def describe_labels(self, labels: Sequence[str]) -> dict[str, str]:
        return {label: text for label in labels if (text := self.catalog.describe(label))}

    def card_section(self, info: dict[str, Any], metrics: dict[str, Any]) -> str:
        return card_section(info.get(self.name), metrics)

    @classmethod
    def add_data_parsers(cls, data_subparsers: Any) -> None:
        from sectune.tasks.cwe.commands import add_data_parsers

        add_data_parsers(data_subparsers)

    def is_raw_source(self, path: str | Path) -> bool:
        from sectune.tasks.cwe.records import is_cve_source

        return is_cve_source(path)

    def read_raw(self, path: str | Path, *, progress: bool = True, **options: Any) -> RawInput:
        """CVE JSON 5 / NVD records: the triage queue, with the CWE each record states (``labels``: which container's)."""
        from sectune.tasks.cwe.records import read_cve_records

        records = read_cve_records(path, progress=progress, **options)
        return RawInput(
            [r.cve_id for r in records], [r.description for r in records], [r.cwe for r in records], stated_key="cwe"
        )


def card_section(settings: Any, metrics: dict[str, Any]) -> str:
    """The model card's CWE section: label mapping, MITRE's guidance on the labels, near misses.

    Works from what sectune.json recorded, without the catalogue, so any saved model gets it."""
    if not isinstance(settings, dict):
        return ""
    report = settings.get("report") or {}
    counts = (report.get("catalog") or {}).get("counts") or {}
    out = [
        "## CWE labels",
        "",
        f"- CWE catalogue: {settings.get('catalog_version') or 'n/a'} ({settings.get('cwe_xml') or 'the cwe2 package'})",
        f"- rollup: {'view ' + str(settings['rollup']) + ' (each CWE mapped to its nearest ancestor in the view)' if settings.get('rollup') else 'none'}",
        f"- allowed only: {'yes (CWEs MITRE allows for vulnerability mapping)' if settings.get('allowed_only') else 'no'}",
        f"- prohibited CWEs dropped: {'yes (categories, views, deprecated entries)' if settings.get('drop_prohibited') else 'no'}",
    ]
    if report:
        out.append(
            f"- rows {report.get('rows_in')} -> {report.get('rows_out')}, classes {report.get('classes_in')} -> {report.get('classes_out')}; "
            f"primary labels MITRE discourages: {counts.get('discouraged', 0)}, prohibits: {counts.get('prohibited', 0)}, "
            f"deprecated: {counts.get('deprecated', 0)}, unknown: {counts.get('unknown', 0)}"
        )
    if "test_rows_dropped_as_duplicate_descriptions" in report:
        out.append(
            f"- test rows dropped because their description also stands in training: {report['test_rows_dropped_as_duplicate_descriptions']}"
        )
    hierarchy = metrics.get("hierarchy")
    if isinstance(hierarchy, dict):
        out.append(
            f"- near misses: {hierarchy.get('near_miss')} of {hierarchy.get('n_wrong')} wrong top-1 predictions "
            f"({format_value(hierarchy.get('near_miss_share'))}) are the true CWE's parent, child or sibling in view 1000"
        )
        if hierarchy.get("hierarchy_top1") is not None:
            out.append(
                f"- hierarchy-aware top-1 (the true CWE, its parent or its child in view 1000): "
                f"{format_value(hierarchy['hierarchy_top1'])}"
            )
    strict = metrics.get("strict")
    if isinstance(strict, dict):
        out.append(
            "- against the CWEs as given, before the rollup: "
            + ", ".join(f"{k} {format_value(strict.get(k))}" for k in ("top1", "top3", "macro_f1", "hierarchy_top1"))
        )
    recall = metrics.get("recall_frequent")
    if isinstance(recall, dict):
        out.append(
            f"- macro recall: {format_value(recall.get(f'top{FREQUENT}_macro_recall'))} over the {FREQUENT} most frequent classes, "
            f"{format_value(recall.get('rest_macro_recall'))} over the other {recall.get('rest_classes')}"
        )
    return "\n".join(out) + "\n"
