"""Tasks: what a kind of problem adds to the generic pipeline (label preparation, extra metrics).

- ``generic``: any labelled text; adds nothing.
- ``cwe``: CVE descriptions -> CWE ids, through the CWE catalogue (``sectune.tasks.cwe``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from sectune.io import Table

if TYPE_CHECKING:
    from sectune.config import TrainConfig
    from sectune.methods.base import Classifier


class Task:
    """What a task adds to the generic pipeline: label preparation and extra metrics.

    The generic task adds nothing; the CWE task maps labels through the CWE catalogue and
    scores near misses in the CWE tree.
    """

    def __init__(self, name: str = "generic", *, cwe_xml: str | None = None, rollup: str | None = None, allowed_only: bool = False) -> None:
        self.name, self.cwe_xml, self.rollup, self.allowed_only = name, cwe_xml, rollup, allowed_only
        self.catalog = None
        if name == "cwe":
            from sectune.tasks.cwe.catalog import load_catalog

            self.catalog = load_catalog(cwe_xml)

    @classmethod
    def for_config(cls, cfg: "TrainConfig") -> "Task":
        return cls(cfg.task, cwe_xml=cfg.cwe_xml, rollup=cfg.rollup, allowed_only=cfg.allowed_only)

    @classmethod
    def for_model(cls, clf: "Classifier") -> "Task":
        settings = clf.info.get("cwe") or {}
        return cls(clf.info.get("task", "generic"), cwe_xml=settings.get("cwe_xml"), rollup=settings.get("rollup"),
                   allowed_only=settings.get("allowed_only", False))

    def settings(self) -> dict[str, Any]:
        return {"cwe_xml": self.cwe_xml, "catalog_version": self.catalog.version if self.catalog else None,
                "rollup": self.rollup, "allowed_only": self.allowed_only}

    def prepare(self, table: Table) -> tuple[Table, dict[str, Any]]:
        if self.catalog is None:
            return table, {}
        from sectune.tasks.cwe import task as cwe_task

        return cwe_task.prepare(table, self.catalog, rollup=self.rollup, allowed_only=self.allowed_only)

    def drop_seen(self, train: Table, test: Table, report: dict[str, Any]) -> Table:
        """CWE: a test description that also stands in training is dropped (CNAs reuse text across
        CVEs; a copy scored as a success is not a generalisation)."""
        if self.catalog is None:
            return test
        import logging

        seen = set(train.texts)
        keep = [i for i, text in enumerate(test.texts) if text not in seen]
        report["test_rows_dropped_as_duplicate_descriptions"] = len(test) - len(keep)
        logging.getLogger("sectune").info("%d test rows dropped: their description also appears in training", len(test) - len(keep))
        return test.subset(keep)

    def metrics(self, model: "Classifier", table: Table, proba: np.ndarray, train_labels: Sequence[str] | None = None) -> dict[str, Any]:
        from sectune.metrics import evaluate_predictions, predicted_labels

        metrics = evaluate_predictions(table.labels, proba, model.labels_, threshold=model.threshold_, true_label_sets=table.label_lists)
        if self.catalog is not None:
            from sectune.tasks.cwe import task as cwe_task

            y_pred = predicted_labels(proba, model.labels_, threshold=model.threshold_)
            metrics.update(cwe_task.cwe_metrics(table.labels, y_pred, metrics["per_class"], train_labels or model.labels_, self.catalog))
        return metrics

    def map_labels(self, labels: Sequence[str]) -> list[str]:
        """A record's own labels as this model sees them (normalised, rolled up), for comparisons."""
        if self.catalog is None:
            return list(labels)
        from sectune.tasks.cwe.catalog import normalize_cwe

        mapped = [normalize_cwe(c) or c for c in labels]
        if self.rollup:
            mapped = [self.catalog.rollup(c, self.rollup) or c for c in mapped]
        return list(dict.fromkeys(mapped))

    def namer(self):
        """Human names for labels where the task has them (CWE ids -> CWE names), else None."""
        return self.catalog.name if self.catalog is not None else None
