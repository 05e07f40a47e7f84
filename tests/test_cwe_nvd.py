"""NVD JSON 1.1 feeds, label modes by weakness source, and merging sources by CVE id.

Fixtures (hand-written, not real CVEs; their names are not record names, so directory scans of
tests/fixtures/cve do not pick them up):
- nvd_feed11_sample.json: NVD 1.1 feed. CVE-2019-0001 CWE-79, CWE-20, CWE-79 over two problemtype
  entries; 0002 NVD-CWE-noinfo only; 0003 NVD-CWE-Other + CWE-787; 0004 "** REJECT **"; 0005 no CWE;
  item 5 without CVE_data_meta (malformed); 0007 CWE-89.
- nvd_api2_sources.json: NVD API 2.0, weaknesses from nvd@nist.gov and a CNA (psirt@example.com).
- merge_cve5_CVE-2019-0001.json / -0002.json: CVE JSON 5 records of the same CVEs as the 1.1 feed,
  with the CNA's labels CWE-20 and CWE-400.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import zipfile
from pathlib import Path

import orjson
import pytest

from sectune.tasks.cwe.ingest import (
    LABEL_MODES,
    CveRecord,
    MalformedRecord,
    SkipReason,
    ingest,
    parse_cve_json5,
    parse_nvd11,
)
from sectune.tasks.cwe.merge import LABEL_PRECEDENCE, keep_preferred
from sectune.tasks.cwe.records import build_cve_dataset, is_cve_source
from tests.test_cwe_ingest import assert_balanced

FIXTURES = Path(__file__).parent / "fixtures" / "cve"
NVD11 = FIXTURES / "nvd_feed11_sample.json"
NVD2_SOURCES = FIXTURES / "nvd_api2_sources.json"
CVE5_0001 = FIXTURES / "merge_cve5_CVE-2019-0001.json"
CVE5_0002 = FIXTURES / "merge_cve5_CVE-2019-0002.json"

NVD11_ROWS = [
    ("CVE-2019-0001", ["CWE-79", "CWE-20"], "nvd", "2019-01-01", "cve@mitre.org"),  # feed order, deduplicated
    ("CVE-2019-0003", ["CWE-787"], "nvd", "2019-03-05", "cve@mitre.org"),  # NVD-CWE-Other ignored
    ("CVE-2019-0007", ["CWE-89"], "nvd", "2019-12-31", "cve@mitre.org"),  # after the malformed item
]


def run(sources, **kw) -> tuple[list[CveRecord], object]:
    records, stats = ingest(sources, progress=False, **kw)
    return list(records), stats


def rows(records) -> list[tuple]:
    return [(r.cve_id, r.cwe, r.label_source, r.published, r.assigner) for r in records]


# ---------------------------------------------------------------- NVD JSON 1.1


def test_nvd11_feed():
    records, stats = run([NVD11])
    assert rows(records) == NVD11_ROWS
    assert records[0].description.startswith("Cross-site scripting in Example Forum 2.1")
    assert (stats.records_read, stats.written, stats.skipped_rejected, stats.skipped_noinfo) == (7, 3, 1, 1)
    assert (stats.skipped_no_cwe, stats.skipped_no_description, stats.malformed, stats.files_read) == (1, 0, 1, 1)
    assert stats.malformed_examples == [(str(NVD11), "CVE_Items[5]: cve.CVE_data_meta is missing")]
    assert stats.by_label_source == {"nvd": 3}
    assert_balanced(stats)


def test_parse_nvd11_results_and_bad_top_level():
    results = list(parse_nvd11(orjson.loads(NVD11.read_bytes())))
    assert [r if isinstance(r, SkipReason) else type(r).__name__ for r in results] == [
        "CveRecord",
        SkipReason.NOINFO,
        "CveRecord",
        SkipReason.REJECTED,
        SkipReason.NO_CWE,
        "MalformedRecord",
        "CveRecord",
    ]
    unlabelled = list(parse_nvd11(orjson.loads(NVD11.read_bytes()), require_cwe=False))
    assert [r.cve_id for r in unlabelled if isinstance(r, CveRecord) and not r.cwe] == [
        "CVE-2019-0002",
        "CVE-2019-0005",
    ]
    with pytest.raises(MalformedRecord, match="'CVE_Items' is not a list"):
        list(parse_nvd11({"CVE_Items": {}}))


def test_nvd11_bad_items(tmp_path):
    doc = orjson.loads(NVD11.read_bytes())
    doc["CVE_Items"][0]["cve"]["problemtype"]["problemtype_data"] = "CWE-79"
    doc["CVE_Items"][2] = "not an item"
    (tmp_path / "f.json").write_bytes(orjson.dumps(doc))
    records, stats = run([tmp_path / "f.json"])
    assert [r.cve_id for r in records] == ["CVE-2019-0007"]
    assert [reason for _, reason in stats.malformed_examples] == [
        "CVE_Items[0]: cve.problemtype.problemtype_data is not a list",
        "CVE_Items[2]: not an object",
        "CVE_Items[5]: cve.CVE_data_meta is missing",
    ]
    (tmp_path / "g.json").write_text('{"CVE_data_type": "CVE", "CVE_Items": 3}')
    records, stats = run([tmp_path / "g.json"])
    assert records == [] and stats.malformed == 1 and stats.records_read == 1


@pytest.mark.parametrize("layout", ["json", "json.gz", "dir", "dir-gz", "zip", "zip-gz"])
def test_nvd11_layouts(tmp_path, layout):
    data = NVD11.read_bytes()
    plain, packed = "nvdcve-1.1-2019.json", "nvdcve-1.1-2019.json.gz"
    if layout == "json":
        source = tmp_path / plain
        source.write_bytes(data)
    elif layout == "json.gz":
        source = tmp_path / packed
        source.write_bytes(gzip.compress(data))
    elif layout.startswith("dir"):
        source = tmp_path / "feeds"
        (source / "2019").mkdir(parents=True)
        if layout == "dir":
            (source / "2019" / plain).write_bytes(data)
        else:
            (source / "2019" / packed).write_bytes(gzip.compress(data))
        (source / "README.md").write_text("not a feed")
        (source / "nvdcve-1.1-modified.meta").write_text("lastModifiedDate:2019-12-31")
    else:
        source = tmp_path / "feeds.zip"
        with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as zf:
            if layout == "zip":
                zf.writestr(f"feeds/{plain}", data)
            else:
                zf.writestr(f"feeds/{packed}", gzip.compress(data))
            zf.writestr("feeds/nvdcve-1.1-2019.meta", "sha256:...")
    records, stats = run([source])
    assert rows(records) == NVD11_ROWS, layout
    assert stats.files_read == 1 and stats.malformed == 1, layout
    assert is_cve_source(source)


def test_corrupt_gzip_member_in_zip_is_reported(tmp_path):
    source = tmp_path / "feeds.zip"
    with zipfile.ZipFile(source, "w") as zf:
        zf.writestr("nvdcve-1.1-2019.json.gz", gzip.compress(NVD11.read_bytes())[:100])
    records, stats = run([source])
    assert records == [] and stats.malformed == 1
    assert stats.malformed_examples[0][1].startswith("not a valid gzip file")


def test_is_cve_source_recognises_nvd11(tmp_path):
    assert is_cve_source(NVD11)
    table = tmp_path / "rows.json"
    table.write_text('{"rows": []}')
    assert not is_cve_source(table)


# ---------------------------------------------------------------- label modes


# cve_id -> (cwe, label_source) or the skip reason, for each mode, from nvd_api2_sources.json
NVD2_EXPECTED: dict[str, dict[str, tuple[list[str], str] | SkipReason]] = {
    "cna-then-adp": {  # as before sources were told apart: every weakness, Primary first, "nvd"
        "CVE-2024-2000": (["CWE-787", "CWE-119", "CWE-20", "CWE-125"], "nvd"),
        "CVE-2024-2001": (["CWE-79"], "nvd"),
        "CVE-2024-2002": (["CWE-22"], "nvd"),
        "CVE-2024-2003": (["CWE-89"], "nvd"),
    },
    "nvd-then-cna": {
        "CVE-2024-2000": (["CWE-119", "CWE-20"], "nvd"),
        "CVE-2024-2001": (["CWE-79"], "cna"),  # NVD said noinfo only
        "CVE-2024-2002": (["CWE-22"], "nvd"),
        "CVE-2024-2003": (["CWE-89"], "cna"),
    },
    "nvd": {
        "CVE-2024-2000": (["CWE-119", "CWE-20"], "nvd"),
        "CVE-2024-2001": SkipReason.NOINFO,
        "CVE-2024-2002": (["CWE-22"], "nvd"),
        "CVE-2024-2003": SkipReason.NO_CWE,
    },
    "cna": {
        "CVE-2024-2000": (["CWE-787", "CWE-125"], "cna"),
        "CVE-2024-2001": (["CWE-79"], "cna"),
        "CVE-2024-2002": SkipReason.NO_CWE,
        "CVE-2024-2003": (["CWE-89"], "cna"),
    },
    "adp": {f"CVE-2024-{n}": SkipReason.NO_CWE for n in range(2000, 2004)},  # NVD records have no ADP
}


@pytest.mark.parametrize("labels", LABEL_MODES)
def test_nvd2_label_modes(labels):
    from sectune.tasks.cwe.ingest import parse_nvd

    results = list(parse_nvd(orjson.loads(NVD2_SOURCES.read_bytes()), labels=labels))
    ids = [f"CVE-2024-{n}" for n in range(2000, 2004)]
    got = {
        cve_id: (r.cwe, r.label_source) if isinstance(r, CveRecord) else r
        for cve_id, r in zip(ids, results, strict=True)
    }
    assert got == NVD2_EXPECTED[labels]
    records, stats = run([NVD2_SOURCES], labels=labels)
    assert {r.cve_id: (r.cwe, r.label_source) for r in records} == {
        k: v for k, v in NVD2_EXPECTED[labels].items() if not isinstance(v, SkipReason)
    }
    assert_balanced(stats)


@pytest.mark.parametrize("labels", LABEL_MODES)
def test_nvd11_label_modes(labels):
    records, stats = run([NVD11], labels=labels)
    if labels in ("cna", "adp"):  # the feed holds NVD's label only
        assert records == [] and stats.skipped_no_cwe == 5 and stats.skipped_noinfo == 0
    else:
        assert rows(records) == NVD11_ROWS
    assert_balanced(stats)


def test_cve_json5_under_nvd_modes():
    obj = orjson.loads((FIXTURES / "CVE-2024-0003.json").read_bytes())  # CNA n/a, CISA-ADP CWE-22
    assert parse_cve_json5(obj, "nvd-then-cna").label_source == "adp"
    for name in ("CVE-2024-0001.json", "CVE-2024-0004.json", "CVE-2024-0007.json"):
        obj = orjson.loads((FIXTURES / name).read_bytes())
        same = parse_cve_json5(obj, "cna-then-adp")
        assert parse_cve_json5(obj, "nvd-then-cna") == same
        assert parse_cve_json5(obj, "nvd") is SkipReason.NO_CWE
        assert parse_cve_json5(obj, "nvd", require_cwe=False).cwe == []


def test_cli_choices_are_the_label_modes():
    from sectune.cli import build_parser

    parser = build_parser()
    data = next(a for a in parser._actions if getattr(a, "choices", None) and "data" in a.choices).choices["data"]
    cve = next(a for a in data._actions if getattr(a, "choices", None) and "cve" in a.choices).choices["cve"]
    labels = next(a for a in cve._actions if "--labels" in a.option_strings)
    assert tuple(labels.choices) == LABEL_MODES


# ---------------------------------------------------------------- merging by CVE id


def test_keep_preferred():
    assert LABEL_PRECEDENCE == ("nvd", "cna", "adp")
    items = [
        ("CVE-1", "cna", "a"),
        ("CVE-2", "adp", "b"),
        ("CVE-1", "nvd", "c"),  # NVD beats the CNA read before it
        ("CVE-3", "", "d"),
        ("CVE-2", "cna", "e"),  # the CNA beats the ADP
        ("CVE-1", "nvd", "f"),  # an equal: the first read stays
        ("CVE-3", None, "g"),
        ("CVE-3", "other", "h"),  # other and empty sources rank equal, after adp
        ("CVE-4", "adp", "i"),
        ("CVE-4", "unknown", "j"),
    ]
    kept, dropped = keep_preferred(items, cve_id=lambda t: t[0], label_source=lambda t: t[1])
    assert [t[2] for t in kept] == ["c", "e", "d", "i"]  # order of first appearance of each id
    assert dropped == 6
    assert keep_preferred([], cve_id=str, label_source=str) == ([], 0)
    rows_ = iter([{"cve_id": "CVE-9", "label_source": "cna"}, {"cve_id": "CVE-9", "label_source": "nvd"}])
    kept, dropped = keep_preferred(rows_, cve_id=lambda r: r["cve_id"], label_source=lambda r: r["label_source"])
    assert kept == [{"cve_id": "CVE-9", "label_source": "nvd"}] and dropped == 1


MERGED = [
    {"cve_id": "CVE-2019-0001", "cwe": ["CWE-79", "CWE-20"], "label_source": "nvd", "assigner": "cve@mitre.org"},
    {"cve_id": "CVE-2019-0002", "cwe": ["CWE-400"], "label_source": "cna", "assigner": "examplecna"},  # NVD: noinfo
    {"cve_id": "CVE-2019-0003", "cwe": ["CWE-787"], "label_source": "nvd", "assigner": "cve@mitre.org"},
    {"cve_id": "CVE-2019-0007", "cwe": ["CWE-89"], "label_source": "nvd", "assigner": "cve@mitre.org"},
]


def _read_rows(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_build_merges_sources_by_cve_id(tmp_path):
    out = tmp_path / "cve.jsonl"
    summary = build_cve_dataset(
        [str(CVE5_0001), str(CVE5_0002), str(NVD11)], str(out), labels="nvd-then-cna", progress=False
    )
    got = _read_rows(out)
    assert [{k: r[k] for k in MERGED[0]} for r in got] == MERGED
    assert got[0]["description"].startswith("Cross-site scripting")  # NVD's record, text and all
    assert "1 duplicate CVE id;" in summary.splitlines()[0]
    assert "(label precedence nvd > cna > adp): dropped 1 duplicate\n" in summary
    manifest = orjson.loads((tmp_path / "cve.jsonl.manifest.json").read_bytes())
    assert manifest["deduplication"] == {
        "by": "cve_id",
        "label_precedence": ["nvd", "cna", "adp"],
        "duplicates_dropped": 1,
    }
    counts = manifest["counts"]
    assert (counts["written"], counts["skipped_duplicate"]) == (4, 1)
    assert counts["by_label_source"] == {"cna": 1, "nvd": 3}
    assert counts["records_read"] == 9  # 2 CVE JSON 5 + 7 NVD items


def test_build_streams_without_merge(tmp_path):
    out = tmp_path / "cve.jsonl"
    summary = build_cve_dataset([str(CVE5_0001), str(NVD11)], str(out), progress=False)  # cna-then-adp
    assert [r["cve_id"] for r in _read_rows(out)] == ["CVE-2019-0001", *(r[0] for r in NVD11_ROWS)]
    assert "duplicate" not in summary
    manifest = orjson.loads((tmp_path / "cve.jsonl.manifest.json").read_bytes())
    assert "deduplication" not in manifest and manifest["counts"]["skipped_duplicate"] == 0
    build_cve_dataset([str(NVD11)], str(out), labels="nvd-then-cna", progress=False)  # one source: no merge
    assert "deduplication" not in orjson.loads((tmp_path / "cve.jsonl.manifest.json").read_bytes())


def test_cli_nvd_then_cna(tmp_path):
    out = tmp_path / "out.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "sectune", "data", "cve", str(CVE5_0001), str(CVE5_0002), str(NVD11)]
        + ["--labels", "nvd-then-cna", "-o", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert [{k: r[k] for k in MERGED[0]} for r in _read_rows(out)] == MERGED
    assert "dropped 1 duplicate" in done.stdout
