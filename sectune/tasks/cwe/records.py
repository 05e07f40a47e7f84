"""The CVE-record commands: ``sectune data cve`` (build a labelled set) and raw records as
prediction input (the triage queue: each CVE, the CWE it states, and the model's suggestions)."""

from __future__ import annotations

import gzip
import logging
from collections import Counter
from pathlib import Path
from typing import Iterator, Sequence

import orjson

from sectune.errors import SectuneError
from sectune.outputs import check_output_file
from sectune.tasks.cwe.catalog import check_labels, load_catalog
from sectune.tasks.cwe.ingest import (
    CveRecord,
    IngestStats,
    ingest,
    output_format,
    write_manifest,
    write_records,
)
from sectune.tasks.cwe.merge import LABEL_PRECEDENCE, keep_preferred

log = logging.getLogger("sectune")


def is_cve_source(path: str | Path) -> bool:
    """A directory, a zip, or a JSON document holding CVE JSON 5 / NVD API 2.0 / NVD JSON 1.1 records
    (not a data table)."""
    if str(path) == "-":
        return False
    p = Path(path)
    if p.is_dir() or p.suffix.lower() == ".zip":
        return True
    name = p.name.lower()
    if not p.is_file() or not (name.endswith(".json") or name.endswith(".json.gz")):
        return False
    try:
        raw = gzip.decompress(p.read_bytes()) if name.endswith(".gz") else p.read_bytes()
        obj = orjson.loads(raw)
    except (OSError, orjson.JSONDecodeError, EOFError):
        return False  # JSON Lines or not JSON: the table reader will say what is wrong
    return isinstance(obj, dict) and ("cveMetadata" in obj or "vulnerabilities" in obj or "CVE_Items" in obj)


def read_cve_records(source: str | Path, *, labels: str = "cna-then-adp", progress: bool = True) -> list[CveRecord]:
    """Every published record with an English description, labelled or not (cwe may be [])."""
    records, stats = ingest([source], labels=labels, progress=progress, require_cwe=False)
    records = list(records)
    log.info(stats.summary_line())
    if not records:
        raise SectuneError("no CVE record with an English description found", path=source)
    return records


def build_cve_dataset(
    sources: Sequence[str],
    output: str,
    *,
    labels: str = "cna-then-adp",
    since: str | None = None,
    fetch: str | None = None,
    download_dir: str = ".",
    cwe_xml: str | None = None,
    progress: bool = True,
) -> str:
    """Ingest sources (after downloading the CVE List when asked) into a labelled file + manifest.

    With ``labels="nvd-then-cna"`` and more than one source (a cvelistV5 zip and NVD feeds describe
    the same CVEs), the records are held in memory (about 1 KB a record) and merged to one per CVE id
    by LABEL_PRECEDENCE (NVD's label first); otherwise they stream straight to the file.
    """
    output_format(output)  # fail on a bad output name before any download or reading
    sources = list(sources)
    for written in (output, f"{output}.manifest.json"):
        check_output_file(written, inputs=[*sources, cwe_xml])
    if fetch:
        from sectune.tasks.cwe.fetch import DEFAULT_CVE_URL, download

        url = DEFAULT_CVE_URL if fetch == "default" else fetch
        dest = Path(download_dir) / (url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] or "cvelist.zip")
        sources.append(str(download(url, dest, progress=progress)))
    if not sources:
        raise SectuneError("data cve needs a SOURCE (directory, .zip, .json) or --fetch")
    catalog = load_catalog(cwe_xml)
    records, stats = ingest(sources, labels=labels, since=since, progress=progress)
    merged = labels == "nvd-then-cna" and len(sources) > 1
    if merged:
        records = iter(_merge(records, stats))
    primaries: Counter[str] = Counter()

    def counted(stream: Iterator[CveRecord]) -> Iterator[CveRecord]:
        for record in stream:
            primaries[record.cwe[0]] += 1
            yield record

    write_records(counted(records), output)
    report = check_labels(catalog, primaries.elements())
    extra: dict = {"cwe_labels": report}
    merge_line = ""
    if merged:
        extra["deduplication"] = {
            "by": "cve_id",
            "label_precedence": list(LABEL_PRECEDENCE),
            "duplicates_dropped": stats.skipped_duplicate,
        }
        merge_line = (
            f"\nmerged {len(sources)} sources by CVE id (label precedence {' > '.join(LABEL_PRECEDENCE)}): "
            f"dropped {stats.skipped_duplicate:,} duplicate{'' if stats.skipped_duplicate == 1 else 's'}"
        )
    write_manifest(stats, output, extra=extra)
    counts = report["counts"]
    return (
        f"{stats.summary_line()}{merge_line}\nprimary CWE labels: {counts['ok']:,} fine for mapping, {counts['discouraged']:,} discouraged "
        f"and {counts['prohibited']:,} prohibited by MITRE (e.g. categories), {counts['deprecated']:,} deprecated, "
        f"{counts['unknown']:,} unknown to CWE {catalog.version}\nwritten {output} and {output}.manifest.json"
    )


def _merge(records: Iterator[CveRecord], stats: IngestStats) -> list[CveRecord]:
    """All records read, one per CVE id (keep_preferred); the stats then count the kept ones as
    written and the rest as duplicates, so they still add up."""
    kept, dropped = keep_preferred(records, cve_id=lambda r: r.cve_id, label_source=lambda r: r.label_source)
    stats.skipped_duplicate = dropped
    stats.written = len(kept)
    stats.by_label_source.clear()
    stats.by_label_source.update(Counter(r.label_source or "unlabelled" for r in kept))
    return kept
