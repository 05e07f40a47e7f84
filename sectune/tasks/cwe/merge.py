"""One record per CVE id when several sources describe the same CVEs (a cvelistV5 zip and NVD feeds).

Generic over the item type, so the training code can apply the same rule to table rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")

# First wins: NVD's analysts map to CWEs more consistently than CNAs do, and a CNA's own label
# before an ADP's (CISA-ADP) added later. Any other or empty label source comes after these.
LABEL_PRECEDENCE: tuple[str, ...] = ("nvd", "cna", "adp")


def _rank(source: str | None) -> int:
    return LABEL_PRECEDENCE.index(source) if source in LABEL_PRECEDENCE else len(LABEL_PRECEDENCE)


def keep_preferred(
    items: Iterable[T], *, cve_id: Callable[[T], str], label_source: Callable[[T], str | None]
) -> tuple[list[T], int]:
    """One item per CVE id: the one whose label source comes first in LABEL_PRECEDENCE, the first
    read among equals; output in order of first appearance of each id. Returns (kept, number dropped).

    Holds one item per distinct id in memory.
    """
    best: dict[str, tuple[int, T]] = {}  # insertion order = first appearance, kept when a value is replaced
    read = 0
    for item in items:
        read += 1
        key = cve_id(item)
        rank = _rank(label_source(item))
        held = best.get(key)
        if held is None or rank < held[0]:
            best[key] = (rank, item)
    return [item for _, item in best.values()], read - len(best)
