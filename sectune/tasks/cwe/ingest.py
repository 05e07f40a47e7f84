"""CVE records -> labelled (description, CWE) records, streamed.

Three formats are read: CVE JSON 5 (the CVE List, cvelistV5), NVD API 2.0 responses and 2.0 feeds
({"vulnerabilities": [...]}), and NVD JSON 1.1 feeds (nvdcve-1.1-YYYY.json[.gz], {"CVE_Items": [...]},
the format most archives hold).

Sources can be the size of the whole CVE List (hundreds of thousands of files), so records are read,
parsed and written one at a time; nothing grows with the number of records except counters.
A broken record is counted and reported, never fatal: one bad file must not stop a long run.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import shutil
import struct
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path

import orjson

from sectune.errors import SectuneError
from sectune.io import atomic_write, file_sha256
from sectune.tasks.cwe.catalog import normalize_cwe

log = logging.getLogger("sectune")

LABEL_MODES = ("cna-then-adp", "cna", "adp", "nvd-then-cna", "nvd")
NVD_SOURCE = "nvd@nist.gov"  # the source of NVD analysts' weaknesses in NVD API 2.0 records
COLUMNS = ("cve_id", "description", "cwe", "label_source", "assigner", "published")
MAX_EXAMPLES = 20

# Record files inside a directory or zip; everything else (delta.json, deltaLog.json, README...) is ignored.
# NVD feeds (nvdcve-1.1-2019.json, nvdcve-2.0-2024.json) may also be gzipped.
_RECORD_NAME = re.compile(r"(?:CVE-\d{4}-\d+\.json|nvdcve-[\w.-]*\.json(?:\.gz)?)$", re.IGNORECASE)
_NOINFO = re.compile(r"\s*(?:NVD-CWE-(?:noinfo|Other)|CWE-noinfo)\b", re.IGNORECASE)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}$")
_BATCH = 1_000  # records per write call and progress update: small, so memory stays flat
_ROW_GROUP = 10_000  # records per Parquet row group


@dataclass(slots=True)
class CveRecord:
    """One labelled CVE: the description text and its CWE ids, primary first."""

    cve_id: str
    description: str
    cwe: list[str]
    label_source: str  # "cna" | "adp" | "nvd" | "" (unlabelled)
    assigner: str | None
    published: str | None  # YYYY-MM-DD
    state: str = "PUBLISHED"

    def to_row(self) -> dict:
        return {
            "cve_id": self.cve_id,
            "description": self.description,
            "cwe": self.cwe,
            "label_source": self.label_source,
            "assigner": self.assigner,
            "published": self.published,
        }


class SkipReason(str, Enum):
    """Why a well-formed record yields no training example."""

    REJECTED = "rejected"
    NO_DESCRIPTION = "no_description"
    NOINFO = "noinfo"  # the only label-ish entries are CWE-noinfo / NVD-CWE-noinfo / NVD-CWE-Other
    NO_CWE = "no_cwe"


class MalformedRecord(ValueError):
    """A record that is not valid CVE JSON 5 / NVD 2.0 / NVD 1.1; the message says what is wrong."""


@dataclass
class IngestStats:
    """Counts filled in while the records stream; complete once the iterator is exhausted."""

    sources: list[str] = field(default_factory=list)
    labels: str = "cna-then-adp"
    since: str | None = None
    files_read: int = 0
    records_read: int = 0  # = written + all skipped_* + malformed
    written: int = 0
    skipped_rejected: int = 0
    skipped_no_description: int = 0
    skipped_noinfo: int = 0
    skipped_no_cwe: int = 0
    skipped_before_since: int = 0
    skipped_duplicate: int = 0  # same CVE id from another source, dropped when sources are merged
    malformed: int = 0
    malformed_examples: list[tuple[str, str]] = field(default_factory=list)
    by_label_source: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add_malformed(self, name: str, reason: str) -> None:
        self.records_read += 1
        self.malformed += 1
        if len(self.malformed_examples) < MAX_EXAMPLES:
            self.malformed_examples.append((name, reason))
            log.info("%s: %s (skipped)", name, reason)

    @property
    def records_per_second(self) -> float:
        return self.records_read / self.seconds if self.seconds > 0 else 0.0

    def summary_line(self) -> str:
        sources = ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_label_source.items()))
        since = f", {self.skipped_before_since:,} published before {self.since}" if self.since else ""
        if self.skipped_duplicate:
            plural = "" if self.skipped_duplicate == 1 else "s"
            since += f", {self.skipped_duplicate:,} duplicate CVE id{plural}"
        return (
            f"read {self.records_read:,} records from {self.files_read:,} file{'' if self.files_read == 1 else 's'}: "
            f"wrote {self.written:,}"
            f"{f' ({sources})' if sources else ''}; skipped {self.skipped_rejected:,} rejected, "
            f"{self.skipped_no_description:,} without English description, {self.skipped_noinfo:,} CWE-noinfo only, "
            f"{self.skipped_no_cwe:,} without CWE{since}; {self.malformed:,} malformed; "
            f"{self.seconds:.1f} s ({self.records_per_second:,.0f} records/s)"
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["malformed_examples"] = [{"file": f, "reason": r} for f, r in self.malformed_examples]
        d["records_per_second"] = round(self.records_per_second, 1)
        d["seconds"] = round(self.seconds, 3)
        return d


# ---------------------------------------------------------------- sources


def _check_sources(sources: Sequence[str | Path]) -> list[Path]:
    """Fail on a missing or unsupported source before anything is read."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    if not sources:
        raise SectuneError("no sources given (a directory, .zip, .json or .json.gz)")
    paths = []
    for s in sources:
        p = Path(s)
        if not p.exists():
            raise SectuneError("no such file or directory", path=s)
        name = p.name.lower()
        if not (p.is_dir() or name.endswith((".zip", ".json", ".json.gz"))):
            raise SectuneError("unsupported source type (expected a directory, .zip, .json or .json.gz)", path=s)
        if name.endswith(".zip") and not zipfile.is_zipfile(p):
            raise SectuneError("not a valid zip file", path=s)
        paths.append(p)
    return paths


def iter_sources(
    sources: Sequence[str | Path], *, on_error: Callable[[str, str], None] | None = None
) -> Iterator[tuple[str, bytes]]:
    """(display name, raw JSON bytes) of every record file, one at a time.

    A source is a directory (searched recursively, e.g. a cvelistV5 checkout), a .zip of one
    (nested zips such as CVEProject's release "cves.zip" included), a .json or a .json.gz file.
    In directories and zips only ``CVE-*.json`` and ``nvdcve-*.json(.gz)`` files are records.
    A file that cannot be read is passed to ``on_error(name, reason)``; without it, SectuneError.
    """

    def fail(name: str, reason: str) -> None:
        if on_error is None:
            raise SectuneError(reason, path=name)
        on_error(name, reason)

    for p in _check_sources(sources):
        name = p.name.lower()
        if p.is_dir():
            yield from _iter_dir(p, fail)
        elif name.endswith(".zip"):
            try:
                zf = zipfile.ZipFile(p)
            except (zipfile.BadZipFile, OSError) as e:
                raise SectuneError(f"not a valid zip file ({e})", path=p) from None
            with zf:
                yield from _iter_zip(zf, str(p), fail)
        else:
            data = _read_file(p, fail)
            if data is not None:
                yield str(p), data


def _read_file(p: Path, fail: Callable[[str, str], None]) -> bytes | None:
    try:
        data = p.read_bytes()
        return gzip.decompress(data) if p.name.lower().endswith(".gz") else data
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        fail(str(p), f"not a valid gzip file ({e})")
    except OSError as e:
        fail(str(p), f"cannot read ({e.strerror or e})")
    return None


def _iter_dir(top: Path, fail: Callable[[str, str], None]) -> Iterator[tuple[str, bytes]]:
    def walk_error(e: OSError) -> None:
        raise SectuneError(f"cannot read directory ({e.strerror or e})", path=e.filename)

    for folder, dirs, files in os.walk(top, onerror=walk_error):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # skip .git, deterministic order
        for f in sorted(files):
            if _RECORD_NAME.match(f):
                data = _read_file(Path(folder, f), fail)
                if data is not None:
                    yield os.path.join(folder, f), data


def _iter_zip(zf: zipfile.ZipFile, label: str, fail: Callable[[str, str], None]) -> Iterator[tuple[str, bytes]]:
    for info in zf.infolist():
        if info.is_dir() or "/." in "/" + info.filename:  # hidden folders (.git, .github), as in directories
            continue
        base = info.filename.rpartition("/")[2]
        name = f"{label}:{info.filename}"
        if base.lower().endswith(".zip"):
            yield from _iter_nested_zip(zf, info, name, fail)
        elif _RECORD_NAME.match(base):
            try:
                data = _read_member(zf, info)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as e:
                fail(name, f"cannot read zip member ({e})")
                continue
            if base.lower().endswith(".gz"):
                try:
                    data = gzip.decompress(data)
                except (gzip.BadGzipFile, EOFError, zlib.error) as e:
                    fail(name, f"not a valid gzip file ({e})")
                    continue
            yield name, data


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes, CRC-checked. Plain deflated/stored members are inflated directly, which
    is about twice as fast as ZipFile.read for small files (no per-member file object or name decode)."""
    fp = zf.fp
    if fp is None or info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return zf.read(info)
    fp.seek(info.header_offset)
    header = fp.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile("bad local file header")
    name_len, extra_len = struct.unpack_from("<HH", header, 26)
    fp.seek(name_len + extra_len, 1)
    raw = fp.read(info.compress_size)
    data = zlib.decompress(raw, -15) if info.compress_type == zipfile.ZIP_DEFLATED else raw
    if len(data) != info.file_size or zlib.crc32(data) != info.CRC:
        raise zipfile.BadZipFile("CRC or size mismatch")
    return data


def _iter_nested_zip(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, fail: Callable[[str, str], None]
) -> Iterator[tuple[str, bytes]]:
    """A zip inside the zip: copied to a temp file (seeking inside a compressed member is too slow)."""
    with tempfile.TemporaryFile() as tmp:
        try:
            with zf.open(info) as src:
                shutil.copyfileobj(src, tmp, 1 << 20)
            tmp.seek(0)
            inner = zipfile.ZipFile(tmp)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as e:
            fail(name, f"not a valid zip file ({e})")
            return
        with inner:
            yield from _iter_zip(inner, name, fail)


# ---------------------------------------------------------------- parsing


def _obj(d: dict, key: str, where: str, required: bool = False) -> dict:
    v = d.get(key)
    if type(v) is dict:
        return v
    if v is None and not required:
        return {}
    raise MalformedRecord(f"{where} is missing" if v is None else f"{where} is not an object")


def _arr(d: dict, key: str, where: str) -> list:
    v = d.get(key)
    if type(v) is list:
        return v
    if v is None:
        return []
    raise MalformedRecord(f"{where} is not a list")


def _str(d: dict, key: str, where: str) -> str | None:
    v = d.get(key)
    if v is None or type(v) is str:
        return v or None
    raise MalformedRecord(f"{where} is not a string")


def _english(entries: list, key: str, where: str) -> str | None:
    """Text of the first entry whose lang starts with "en" (en, en-US, en_US, EN...), stripped."""
    for e in entries:
        if type(e) is not dict:
            raise MalformedRecord(f"{where} holds a non-object entry")
        lang = e.get("lang")
        if type(lang) is str and lang[:2].lower() == "en":
            text = e.get(key)
            if type(text) is not str:
                if text is None:
                    continue
                raise MalformedRecord(f"{where}[].{key} is not a string")
            text = text.strip()
            if text:
                return text
    return None


def _entry_cwe(cwe_id: object, text: object) -> tuple[str | None, bool]:
    """(CWE from cweId, else from leading text; whether the entry is a noinfo marker)."""
    cwe = normalize_cwe(cwe_id) if type(cwe_id) is str else None
    if cwe is None and type(text) is str:
        cwe = normalize_cwe(text)
    if cwe is not None:
        return cwe, False
    noinfo = (type(cwe_id) is str and _NOINFO.match(cwe_id) is not None) or (
        type(text) is str and _NOINFO.match(text) is not None
    )
    return None, noinfo


def _container_cwes(container: dict, where: str) -> tuple[list[str], bool]:
    """CWE ids of one container in listed order (deduplicated), and whether a noinfo marker was seen."""
    cwes: list[str] = []
    noinfo = False
    for pt in _arr(container, "problemTypes", f"{where}.problemTypes"):
        if type(pt) is not dict:
            raise MalformedRecord(f"{where}.problemTypes holds a non-object entry")
        for d in _arr(pt, "descriptions", f"{where}.problemTypes[].descriptions"):
            if type(d) is not dict:
                raise MalformedRecord(f"{where}.problemTypes[].descriptions holds a non-object entry")
            cwe, marker = _entry_cwe(d.get("cweId"), d.get("description"))
            if cwe is not None:
                cwes.append(cwe)
            noinfo = noinfo or marker
    return list(dict.fromkeys(cwes)), noinfo


def parse_cve_json5(obj: dict, labels: str = "cna-then-adp", require_cwe: bool = True) -> CveRecord | SkipReason:
    """One CVE JSON 5 record -> a labelled record, or why it has none; MalformedRecord if invalid.

    ``labels``: "cna-then-adp" (the CNA's CWEs, else those of the first ADP container that has
    any, e.g. CISA-ADP), "cna" or "adp" only. A CVE JSON 5 record has no NVD container, so
    "nvd-then-cna" reads it as "cna-then-adp" and "nvd" finds no label. ``require_cwe=False`` keeps
    unlabelled records (with ``cwe=[]``): they are what a triage queue most needs suggestions for.
    """
    if type(obj) is not dict:
        raise MalformedRecord("not a JSON object")
    meta = _obj(obj, "cveMetadata", "cveMetadata", required=True)
    cve_id = _str(meta, "cveId", "cveMetadata.cveId")
    if cve_id is None:
        raise MalformedRecord("cveMetadata.cveId is missing")
    state = meta.get("state")
    if state == "REJECTED":
        return SkipReason.REJECTED
    if state != "PUBLISHED":
        raise MalformedRecord(f"cveMetadata.state is {state!r}, expected PUBLISHED or REJECTED")
    containers = _obj(obj, "containers", "containers", required=True)
    cna = _obj(containers, "cna", "containers.cna", required=True)
    description = _english(
        _arr(cna, "descriptions", "containers.cna.descriptions"), "value", "containers.cna.descriptions"
    )
    if description is None:
        return SkipReason.NO_DESCRIPTION

    cwes: list[str] = []
    source = ""
    noinfo = False
    if labels in ("cna-then-adp", "nvd-then-cna", "cna"):
        cwes, noinfo = _container_cwes(cna, "containers.cna")
        source = "cna"
    if not cwes and labels in ("cna-then-adp", "nvd-then-cna", "adp"):
        for i, adp in enumerate(_arr(containers, "adp", "containers.adp")):
            if type(adp) is not dict:
                raise MalformedRecord("containers.adp holds a non-object entry")
            cwes, marker = _container_cwes(adp, f"containers.adp[{i}]")
            noinfo = noinfo or marker
            if cwes:
                source = "adp"
                break
    if not cwes and require_cwe:
        return SkipReason.NOINFO if noinfo else SkipReason.NO_CWE

    published = (
        _str(meta, "datePublished", "cveMetadata.datePublished")
        or _str(cna, "datePublic", "containers.cna.datePublic")
        or _str(
            _obj(cna, "providerMetadata", "containers.cna.providerMetadata"),
            "dateUpdated",
            "containers.cna.providerMetadata.dateUpdated",
        )
        or _str(meta, "dateUpdated", "cveMetadata.dateUpdated")
    )
    return CveRecord(
        cve_id=cve_id,
        description=description,
        cwe=cwes,
        label_source=source if cwes else "",
        assigner=_str(meta, "assignerShortName", "cveMetadata.assignerShortName"),
        published=published[:10] if published else None,
        state=state,
    )


def _value_cwes(entries: list, where: str) -> tuple[list[str], bool]:
    """CWE ids of NVD description entries ({"lang", "value": "CWE-79"}) in listed order, and whether a
    noinfo marker (NVD-CWE-noinfo, NVD-CWE-Other) was seen: the same shape in the 2.0 and 1.1 formats."""
    cwes: list[str] = []
    noinfo = False
    for d in entries:
        if type(d) is not dict:
            raise MalformedRecord(f"{where} holds a non-object entry")
        cwe, marker = _entry_cwe(None, d.get("value"))
        if cwe is not None:
            cwes.append(cwe)
        noinfo = noinfo or marker
    return cwes, noinfo


def _nvd_weaknesses(cve: dict, labels: str) -> tuple[list[str], str, bool]:
    """(CWEs, label source, noinfo seen) of an NVD 2.0 record's weaknesses under a label mode.

    A weakness's source is nvd@nist.gov for NVD's analysts, the CNA's address otherwise.
    "nvd-then-cna": NVD's CWEs, else the other sources' (label "cna"); "nvd" or "cna": that side
    only; "adp": none (an NVD record has no ADP container, as for NVD 1.1). "cna-then-adp", the
    default, keeps the behaviour from before sources were told apart: every weakness, label "nvd".
    Primary comes before Secondary within the chosen weaknesses, listed order otherwise.
    """
    found: list[tuple[int, bool, str]] = []  # (rank, by NVD, cwe) in listed order
    noinfo = {True: False, False: False}  # by NVD -> marker seen
    for w in _arr(cve, "weaknesses", "cve.weaknesses"):
        if type(w) is not dict:
            raise MalformedRecord("cve.weaknesses holds a non-object entry")
        by_nvd = (_str(w, "source", "cve.weaknesses[].source") or "").lower() == NVD_SOURCE
        rank = {"Primary": 0, "Secondary": 1}.get(w.get("type"), 2)
        where = "cve.weaknesses[].description"
        cwes, marker = _value_cwes(_arr(w, "description", where), where)
        found.extend((rank, by_nvd, c) for c in cwes)
        noinfo[by_nvd] = noinfo[by_nvd] or marker

    def pick(by_nvd: bool | None) -> list[str]:
        chosen = sorted((f for f in found if by_nvd is None or f[1] is by_nvd), key=lambda f: f[0])  # stable
        return list(dict.fromkeys(c for _, _, c in chosen))

    if labels == "cna-then-adp":
        return pick(None), "nvd", noinfo[True] or noinfo[False]
    if labels == "nvd-then-cna":
        cwes = pick(True)
        return (cwes, "nvd", False) if cwes else (pick(False), "cna", noinfo[True] or noinfo[False])
    if labels in ("nvd", "cna"):
        return pick(labels == "nvd"), labels, noinfo[labels == "nvd"]
    return [], "", False


def _parse_nvd_item(item: object, require_cwe: bool = True, labels: str = "cna-then-adp") -> CveRecord | SkipReason:
    if type(item) is not dict:
        raise MalformedRecord("not an object")
    cve = _obj(item, "cve", "cve", required=True)
    cve_id = _str(cve, "id", "cve.id")
    if cve_id is None:
        raise MalformedRecord("cve.id is missing")
    if cve.get("vulnStatus") == "Rejected":
        return SkipReason.REJECTED
    description = _english(_arr(cve, "descriptions", "cve.descriptions"), "value", "cve.descriptions")
    if description is None:
        return SkipReason.NO_DESCRIPTION
    cwes, source, noinfo = _nvd_weaknesses(cve, labels)
    assigner = _str(cve, "sourceIdentifier", "cve.sourceIdentifier")
    return _nvd_record(cve_id, description, cwes, source, noinfo, require_cwe, assigner, cve, "cve.published")


def _nvd_record(
    cve_id: str,
    description: str,
    cwes: list[str],
    source: str,
    noinfo: bool,
    require_cwe: bool,
    assigner: str | None,
    dated: dict,
    date_key: str,
) -> CveRecord | SkipReason:
    """The record both NVD formats end in, or why it has none; ``dated[date_key]`` holds its publication time."""
    if not cwes and require_cwe:
        return SkipReason.NOINFO if noinfo else SkipReason.NO_CWE
    published = _str(dated, date_key.rpartition(".")[2], date_key)
    return CveRecord(
        cve_id=cve_id,
        description=description,
        cwe=cwes,
        label_source=source if cwes else "",
        assigner=assigner,
        published=published[:10] if published else None,
    )


def _parse_nvd11_item(item: object, require_cwe: bool = True, labels: str = "cna-then-adp") -> CveRecord | SkipReason:
    if type(item) is not dict:
        raise MalformedRecord("not an object")
    cve = _obj(item, "cve", "cve", required=True)
    meta = _obj(cve, "CVE_data_meta", "cve.CVE_data_meta", required=True)
    cve_id = _str(meta, "ID", "cve.CVE_data_meta.ID")
    if cve_id is None:
        raise MalformedRecord("cve.CVE_data_meta.ID is missing")
    where = "cve.description.description_data"
    description = _english(_arr(_obj(cve, "description", "cve.description"), "description_data", where), "value", where)
    if description is not None and description.startswith("** REJECT **"):  # 1.1 has no state field
        return SkipReason.REJECTED
    if description is None:
        return SkipReason.NO_DESCRIPTION
    cwes: list[str] = []
    noinfo = False
    where = "cve.problemtype.problemtype_data"
    for pt in _arr(_obj(cve, "problemtype", "cve.problemtype"), "problemtype_data", where):
        if type(pt) is not dict:
            raise MalformedRecord(f"{where} holds a non-object entry")
        found, marker = _value_cwes(_arr(pt, "description", f"{where}[].description"), f"{where}[].description")
        cwes.extend(found)
        noinfo = noinfo or marker
    if labels in ("cna", "adp"):  # the feed holds NVD's problemtype only
        cwes, noinfo = [], False
    cwes = list(dict.fromkeys(cwes))
    assigner = _str(meta, "ASSIGNER", "cve.CVE_data_meta.ASSIGNER")
    return _nvd_record(cve_id, description, cwes, "nvd", noinfo, require_cwe, assigner, item, "publishedDate")


def _parse_items(
    obj: object, key: str, parse_item: Callable[[object], CveRecord | SkipReason]
) -> Iterator[CveRecord | SkipReason | MalformedRecord]:
    """parse_item on each entry of obj[key]; a bad entry is yielded as a MalformedRecord naming its
    index instead of raised, so it does not end the file. A missing list raises (the whole file is bad)."""
    items = obj.get(key) if type(obj) is dict else None
    if type(items) is not list:
        raise MalformedRecord(f"'{key}' is not a list")
    for i, item in enumerate(items):
        try:
            yield parse_item(item)
        except MalformedRecord as e:
            yield MalformedRecord(f"{key}[{i}]: {e}")


def parse_nvd(
    obj: dict, require_cwe: bool = True, labels: str = "cna-then-adp"
) -> Iterator[CveRecord | SkipReason | MalformedRecord]:
    """Records of an NVD API 2.0 response or 2.0 feed ({"vulnerabilities": [{"cve": {...}}]}).

    CWEs come from weaknesses (Primary first, then Secondary), chosen by source under ``labels``
    (see _nvd_weaknesses); a bad entry is yielded as a MalformedRecord, so it does not end the file.
    """
    return _parse_items(obj, "vulnerabilities", lambda item: _parse_nvd_item(item, require_cwe, labels))


def parse_nvd11(
    obj: dict, require_cwe: bool = True, labels: str = "cna-then-adp"
) -> Iterator[CveRecord | SkipReason | MalformedRecord]:
    """Records of an NVD JSON 1.1 feed (nvdcve-1.1-YYYY.json, {"CVE_Items": [{"cve": {...}}]}).

    CWEs come from the problemtype in feed order, deduplicated; they are NVD's, so label "nvd" in
    every mode except "cna" and "adp", where the record has no label. A description starting
    "** REJECT **" marks a rejected CVE. A bad entry is yielded as a MalformedRecord.
    """
    return _parse_items(obj, "CVE_Items", lambda item: _parse_nvd11_item(item, require_cwe, labels))


# ---------------------------------------------------------------- the pipeline


def _check_options(labels: str, since: str | None) -> None:
    if labels not in LABEL_MODES:
        raise SectuneError(f"unknown label mode '{labels}' (expected one of: {', '.join(LABEL_MODES)})")
    if since is not None and not _DATE.match(since):
        raise SectuneError(f"since must be a date YYYY-MM-DD, got '{since}'")


def ingest(
    sources: Sequence[str | Path],
    *,
    labels: str = "cna-then-adp",
    since: str | None = None,
    progress: bool = True,
    require_cwe: bool = True,
) -> tuple[Iterator[CveRecord], IngestStats]:
    """Labelled records from the sources, lazily, and the stats object they fill as they stream.

    Sources and options are checked now (SectuneError); the files are read only as the iterator
    is consumed, and ``stats`` is complete once it is exhausted.
    """
    if isinstance(sources, (str, Path)):
        sources = [sources]
    _check_options(labels, since)
    paths = _check_sources(sources)
    stats = IngestStats(sources=[str(s) for s in sources], labels=labels, since=since)
    return _stream(paths, labels, since, progress, stats, require_cwe), stats


def _stream(
    paths: list[Path], labels: str, since: str | None, progress: bool, stats: IngestStats, require_cwe: bool = True
) -> Iterator[CveRecord]:
    from tqdm import tqdm

    start = time.perf_counter()
    bar = tqdm(desc="ingest", unit=" records", file=sys.stderr, disable=not progress, mininterval=0.5)
    shown = 0
    by_source = stats.by_label_source
    try:
        for name, data in iter_sources(paths, on_error=stats.add_malformed):
            stats.files_read += 1
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError as e:
                stats.add_malformed(name, f"invalid JSON ({e})")
                continue
            if type(obj) is not dict:
                stats.add_malformed(name, "not a JSON object")
                continue
            results: Iterable
            if "cveMetadata" not in obj and "vulnerabilities" in obj:
                results = parse_nvd(obj, require_cwe, labels)  # a generator: a bad top level raises in the loop below
            elif "cveMetadata" not in obj and "CVE_Items" in obj:
                results = parse_nvd11(obj, require_cwe, labels)
            else:
                try:
                    results = (parse_cve_json5(obj, labels, require_cwe),)
                except MalformedRecord as e:
                    stats.add_malformed(name, str(e))
                    continue
            try:
                for res in results:
                    if type(res) is CveRecord:
                        stats.records_read += 1
                        if since is not None and (res.published is None or res.published < since):
                            stats.skipped_before_since += 1
                            continue
                        stats.written += 1
                        source = res.label_source or "unlabelled"
                        by_source[source] = by_source.get(source, 0) + 1
                        yield res
                    elif isinstance(res, MalformedRecord):
                        stats.add_malformed(name, str(res))
                    else:
                        stats.records_read += 1
                        if res is SkipReason.REJECTED:
                            stats.skipped_rejected += 1
                        elif res is SkipReason.NOINFO:
                            stats.skipped_noinfo += 1
                        elif res is SkipReason.NO_CWE:
                            stats.skipped_no_cwe += 1
                        else:
                            stats.skipped_no_description += 1
            except MalformedRecord as e:  # an NVD file without its 'vulnerabilities' / 'CVE_Items' list
                stats.add_malformed(name, str(e))
            if stats.records_read - shown >= _BATCH:
                bar.update(stats.records_read - shown)
                shown = stats.records_read
    finally:
        bar.update(stats.records_read - shown)
        bar.close()
        stats.seconds = time.perf_counter() - start


# ---------------------------------------------------------------- output


def output_format(output: str | Path) -> str:
    """ "jsonl", "jsonl.gz" or "parquet" from the file name, so a bad name fails before any reading."""
    name = Path(output).name.lower()
    for fmt in ("jsonl.gz", "jsonl", "parquet"):
        if name.endswith("." + fmt):
            return fmt
    raise SectuneError("unknown output format (expected .jsonl, .jsonl.gz or .parquet)", path=output)


def _batches(records: Iterable[CveRecord], size: int = _BATCH) -> Iterator[list[CveRecord]]:
    batch: list[CveRecord] = []
    for r in records:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_records(records: Iterable[CveRecord], output: str | Path) -> int:
    """Write records to .jsonl, .jsonl.gz or .parquet atomically, a batch at a time; returns the count."""
    output = Path(output)
    fmt = output_format(output)
    if fmt == "parquet":
        return _write_parquet(records, output)
    n = 0
    dumps = orjson.dumps
    with atomic_write(output, "wb") as fh:
        sink = gzip.GzipFile(filename="", mode="wb", fileobj=fh, compresslevel=6, mtime=0) if fmt == "jsonl.gz" else fh
        try:
            for batch in _batches(records):
                sink.write(b"".join([dumps(r.to_row(), option=orjson.OPT_APPEND_NEWLINE) for r in batch]))
                n += len(batch)
        finally:
            if sink is not fh:
                sink.close()
    return n


def _write_parquet(records: Iterable[CveRecord], output: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("cve_id", pa.string()),
            ("description", pa.string()),
            ("cwe", pa.list_(pa.string())),
            ("label_source", pa.string()),
            ("assigner", pa.string()),
            ("published", pa.string()),
        ]
    )
    n = 0
    with atomic_write(output, "wb") as fh, pq.ParquetWriter(fh, schema) as writer:
        for batch in _batches(records, _ROW_GROUP):
            columns = {c: [getattr(r, c) for r in batch] for c in COLUMNS}
            writer.write_table(pa.Table.from_pydict(columns, schema=schema))
            n += len(batch)
    return n


def write_manifest(stats: IngestStats, output: str | Path, extra: dict | None = None) -> Path:
    """<output>.manifest.json: where the data came from and what was left out, for the data card."""
    from datetime import datetime, timezone

    from sectune import __version__

    output = Path(output)
    path = output.with_name(output.name + ".manifest.json")
    counts = stats.to_dict()
    doc = {
        "output": str(output),
        "output_sha256": file_sha256(output) if output.is_file() else None,
        "sources": counts.pop("sources"),
        "options": {"labels": counts.pop("labels"), "since": counts.pop("since")},
        "counts": {k: v for k, v in counts.items() if k not in ("malformed_examples", "seconds", "records_per_second")},
        "malformed_examples": counts["malformed_examples"],
        "seconds": counts["seconds"],
        "records_per_second": counts["records_per_second"],
        "summary": stats.summary_line(),
        **(extra or {}),
        "sectune_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with atomic_write(path, "wb") as fh:
        fh.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
    return path
