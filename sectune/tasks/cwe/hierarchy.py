"""Near-miss metric: how far off the wrong CWE predictions are in the CWE tree.

Top-1 accuracy counts "CWE-20 for CWE-1284" (its parent) as wrong as "CWE-79 for a buffer
overflow"; this tells the two apart using the ChildOf hierarchy of view 1000.
"""

from __future__ import annotations

from collections.abc import Sequence

from sectune.tasks.cwe.catalog import Catalog

RELATIONS = ("parent", "child", "sibling", "ancestor", "descendant", "unrelated", "unknown")
NEAR = frozenset({"parent", "child", "sibling"})


def near_miss_share(y_true: Sequence[str], y_pred: Sequence[str], catalog: Catalog) -> dict:
    """Counts of wrong top-1 predictions by where the prediction sits relative to the truth.

    ``by_relation[r]`` counts wrong predictions that are the true CWE's r (``ancestor`` and
    ``descendant`` are two or more steps away; ``unknown`` means an id is not in the catalogue).
    ``near_miss`` counts parent, child and sibling; ``near_miss_share`` is that over ``n_wrong``
    (0.0 when nothing is wrong). ``hierarchy_top1``: the share of rows whose prediction is the true CWE or its
    parent or child (the hierarchy-aware top-1 public CWE benchmarks report beside the strict one).
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    by_relation = dict.fromkeys(RELATIONS, 0)
    for true, predicted in zip(y_true, y_pred):
        relation = catalog.relation(true, predicted)
        if relation != "same":
            by_relation[relation] += 1
    n_wrong = sum(by_relation.values())
    near = sum(by_relation[r] for r in NEAR)
    return {
        "n": len(y_true),
        "n_wrong": n_wrong,
        "near_miss": near,
        "near_miss_share": near / n_wrong if n_wrong else 0.0,
        "hierarchy_top1": (len(y_true) - n_wrong + by_relation["parent"] + by_relation["child"]) / len(y_true)
        if len(y_true)
        else 0.0,
        "by_relation": by_relation,
    }
