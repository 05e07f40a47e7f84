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

    def clean_split(self, table: Table, train_idx: np.ndarray, test_idx: np.ndarray, report: dict[str, Any]) -> np.ndarray:
        """CWE: identical descriptions must not stand on both sides (CNAs reuse text across CVEs)."""
        if self.catalog is None:
            return test_idx
        import logging

        from sectune.tasks.cwe import task as cwe_task

        test_idx, shared = cwe_task.drop_shared_descriptions(table, train_idx, test_idx)
        report["test_rows_dropped_as_duplicate_descriptions"] = shared
        logging.getLogger("sectune").info("%d test rows dropped: their description also appears in training", shared)
        return test_idx

    def metrics(self, model: "Classifier", table: Table, proba: np.ndarray, train_labels: Sequence[str] | None = None) -> dict[str, Any]:
        from sectune.evaluate import evaluate_predictions, predicted_labels

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
