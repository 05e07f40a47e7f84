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
from typing import Any, Sequence

import numpy as np

from sectune.io import Table
from sectune.tasks.cwe.catalog import Catalog, check_labels, normalize_cwe
from sectune.tasks.cwe.hierarchy import near_miss_share

log = logging.getLogger("sectune")

TEXT_COLUMN = "description"
LABEL_COLUMN = "cwe"
DEFAULT_SPLIT = "time:published"
FREQUENT = 20  # per-class recall is reported for the 20 most frequent classes and for the rest


def prepare(table: Table, catalog: Catalog, *, rollup: str | None = None, allowed_only: bool = False) -> tuple[Table, dict[str, Any]]:
    """Normalise, roll up and filter each row's CWE list; the primary (first) CWE is the class.

    A row whose list is empty after mapping (no ancestor in the view, nothing allowed) is
    dropped and counted, never silently.
    """
    lists = table.label_lists or [[label] for label in table.labels]
    primaries = [normalize_cwe(cwes[0]) or str(cwes[0]) for cwes in lists]
    report: dict[str, Any] = {"rows_in": len(table), "classes_in": len(set(primaries)), "catalog": check_labels(catalog, primaries)}
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
        mapped = list(dict.fromkeys(c for c in mapped if c))
        keep.append(i)
        new_lists.append(mapped)
    out = table.subset(keep)
    out.label_lists = new_lists
    out.labels = [cwes[0] for cwes in new_lists]
    report.update(rows_out=len(out), classes_out=len(set(out.labels)), dropped_no_rollup=dropped["no_rollup"],
                  dropped_not_allowed=dropped["not_allowed"], rollup=rollup, allowed_only=allowed_only)
    counts = report["catalog"]["counts"]
    log.info("CWE labels: %d rows, %d classes -> %d rows, %d classes%s%s; primary labels MITRE discourages: %d, prohibits: %d, "
             "deprecated: %d, unknown to CWE %s: %d", report["rows_in"], report["classes_in"], report["rows_out"], report["classes_out"],
             f" (rollup to view {rollup}: {dropped['no_rollup']} rows without an ancestor in it dropped)" if rollup else "",
             f" (allowed only: {dropped['not_allowed']} rows dropped)" if allowed_only else "",
             counts["discouraged"], counts["prohibited"], counts["deprecated"], catalog.version, counts["unknown"])
    return out, report


def cwe_metrics(y_true: Sequence[str], y_pred: Sequence[str], per_class: list[dict], train_labels: Sequence[str], catalog: Catalog) -> dict[str, Any]:
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
