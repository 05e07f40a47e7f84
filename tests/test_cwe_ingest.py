"""CVE JSON 5 / NVD 2.0 ingestion: label rules, skip counts, source layouts, outputs, streaming, real data."""

from __future__ import annotations

import csv
import gzip
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import orjson
import pytest

from sectune.errors import SectuneError
from sectune.io import read_table
from sectune.tasks.cwe.ingest import (
    CveRecord,
    MalformedRecord,
    SkipReason,
    ingest,
    iter_sources,
    parse_cve_json5,
    parse_nvd,
    write_manifest,
    write_records,
)

FIXTURES = Path(__file__).parent / "fixtures" / "cve"
SHARED_CVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cve"
CVE_FILES = sorted(FIXTURES.glob("CVE-*.json"))
NVD_JSON = FIXTURES / "nvd_api2_sample.json"

# cve_id -> (cwe, label_source) for each label mode, from the fixture records
EXPECTED = {
    "cna-then-adp": {
        "CVE-2024-0001": (["CWE-89"], "cna"),
        "CVE-2024-0002": (["CWE-787", "CWE-20", "CWE-125"], "cna"),
        "CVE-2024-0003": (["CWE-22"], "adp"),
        "CVE-2024-0004": (["CWE-287"], "cna"),
        "CVE-2024-0006": (["CWE-79"], "cna"),
        "CVE-2024-0007": (["CWE-79", "CWE-352"], "cna"),
    },
    "cna": {
        "CVE-2024-0001": (["CWE-89"], "cna"),
        "CVE-2024-0002": (["CWE-787", "CWE-20", "CWE-125"], "cna"),
        "CVE-2024-0004": (["CWE-287"], "cna"),
        "CVE-2024-0006": (["CWE-79"], "cna"),
        "CVE-2024-0007": (["CWE-79", "CWE-352"], "cna"),
    },
    "adp": {
        "CVE-2024-0003": (["CWE-22"], "adp"),
        "CVE-2024-0004": (["CWE-306"], "adp"),
    },
}
MALFORMED = {
    "CVE-2023-0010.json": "invalid JSON",
    "CVE-2023-0011.json": "cveMetadata is missing",
    "CVE-2023-0012.json": "containers.cna.descriptions is not a list",
    "CVE-2023-0013.json": "not a JSON object",
}


def run(sources, **kw) -> tuple[list[CveRecord], object]:
    records, stats = ingest(sources, progress=False, **kw)
    return list(records), stats


def counts(stats) -> dict:
    keys = (
        "records_read",
        "written",
        "skipped_rejected",
        "skipped_no_description",
        "skipped_noinfo",
        "skipped_no_cwe",
        "skipped_before_since",
        "malformed",
    )
    return {k: getattr(stats, k) for k in keys}


def assert_balanced(stats) -> None:
    skipped = (
        stats.skipped_rejected
        + stats.skipped_no_description
        + stats.skipped_noinfo
        + stats.skipped_no_cwe
        + stats.skipped_before_since
        + stats.skipped_duplicate
    )
    assert stats.records_read == stats.written + skipped + stats.malformed
    assert sum(stats.by_label_source.values()) == stats.written


def cvelist_dir(root: Path, files=CVE_FILES) -> Path:
    """The fixtures laid out like a cvelistV5 checkout, with the non-record JSON files it also holds."""
    for f in files:
        year, number = f.stem.split("-")[1:]
        folder = root / "cves" / year / f"{int(number) // 1000}xxx"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, folder / f.name)
    (root / "cves" / "delta.json").write_text('{"fetchTime": "2024-11-01", "new": []}')
    (root / "cves" / "deltaLog.json").write_text("[]")
    (root / ".github").mkdir()
    (root / ".github" / "CVE-2099-0001.json").write_text("not scanned: hidden folder")
    (root / "README.md").write_text("cvelistV5")
    return root


def zip_dir(folder: Path, out: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            zf.write(p, prefix + p.relative_to(folder).as_posix())
    return out


# ---------------------------------------------------------------- label rules and skip counts


@pytest.mark.parametrize("labels", ["cna-then-adp", "cna", "adp"])
def test_label_paths(labels):
    records, stats = run([FIXTURES], labels=labels)
    got = {r.cve_id: (r.cwe, r.label_source) for r in records}
    assert got == EXPECTED[labels]
    assert_balanced(stats)


def test_skip_counts_and_malformed_reports():
    records, stats = run([FIXTURES])
    assert counts(stats) == {
        "records_read": 13,
        "written": 6,
        "skipped_rejected": 1,
        "skipped_no_description": 0,
        "skipped_noinfo": 1,
        "skipped_no_cwe": 1,
        "skipped_before_since": 0,
        "malformed": 4,
    }
    assert stats.files_read == 13  # the NVD file is not a record file name inside a directory
    assert stats.by_label_source == {"cna": 5, "adp": 1}
    reported = {Path(name).name: reason for name, reason in stats.malformed_examples}
    assert set(reported) == set(MALFORMED)
    for name, reason in MALFORMED.items():
        assert reported[name].startswith(reason)
    assert stats.seconds > 0


def test_skip_counts_by_mode():
    _, cna = run([FIXTURES], labels="cna")
    assert (cna.skipped_noinfo, cna.skipped_no_cwe) == (0, 3)  # CWE-noinfo is in the ADP container only
    _, adp = run([FIXTURES], labels="adp")
    assert (adp.skipped_noinfo, adp.skipped_no_cwe) == (1, 5)
    assert_balanced(cna)
    assert_balanced(adp)


def test_summary_line():
    _, stats = run([FIXTURES])
    line = stats.summary_line()
    assert "\n" not in line
    assert line.startswith("read 13 records from 13 files: wrote 6 (adp 1, cna 5); skipped 1 rejected, ")
    assert "1 CWE-noinfo only, 1 without CWE; 4 malformed" in line
    assert "records/s" in line
    _, stats = run([FIXTURES], since="2024-01-01")
    assert "3 published before 2024-01-01" in stats.summary_line()


def test_record_fields():
    records, _ = run([FIXTURES])
    by_id = {r.cve_id: r for r in records}
    # de first, then en-US with outer whitespace; dated by the CNA's datePublic
    r6 = by_id["CVE-2024-0006"]
    assert r6.description == "A vulnerability in Example Widget allows cross-site scripting via the name field."
    assert r6.published == "2023-06-01"
    # neither datePublished nor datePublic: the CNA's providerMetadata.dateUpdated
    assert by_id["CVE-2024-0007"].published == "2022-11-30"
    r2 = by_id["CVE-2024-0002"]
    assert (r2.assigner, r2.published, r2.state) == ("vendorcna", "2024-02-20", "PUBLISHED")


def cve5(descriptions, problem_types, **cna_extra) -> dict:
    cna = {
        "descriptions": descriptions,
        "problemTypes": problem_types,
        "providerMetadata": {"dateUpdated": "2021-01-01T00:00:00"},
        **cna_extra,
    }
    return {
        "cveMetadata": {"cveId": "CVE-2021-0001", "state": "PUBLISHED", "dateUpdated": "2022-02-02T00:00:00"},
        "containers": {"cna": cna},
    }


@pytest.mark.parametrize("lang", ["en", "en-US", "en_US", "EN", "En-gb"])
def test_english_variants(lang):
    obj = cve5(
        [{"lang": "fr", "value": "Texte"}, {"lang": lang, "value": "\n Text \t"}],
        [{"descriptions": [{"lang": "en", "cweId": "CWE-79", "description": "CWE-79 XSS"}]}],
    )
    assert parse_cve_json5(obj).description == "Text"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"cweId": "CWE-0079", "description": "x"}, ["CWE-79"]),
        ({"description": "CWE-79 Improper Neutralization of Input"}, ["CWE-79"]),
        ({"description": "CWE 89: SQL Injection"}, ["CWE-89"]),
        ({"description": "CWE - 352 Cross-Site Request Forgery"}, ["CWE-352"]),
        ({"cweId": "CWE-noinfo", "description": "CWE-20 Improper Input Validation"}, ["CWE-20"]),
        ({"description": "n/a"}, SkipReason.NO_CWE),
        ({"description": "Elevation of Privilege"}, SkipReason.NO_CWE),
        ({"description": "Cross-site scripting (CWE-79)"}, SkipReason.NO_CWE),  # not leading: not a label
        ({"description": "CWE-noinfo Not enough information"}, SkipReason.NOINFO),
        ({"cweId": "NVD-CWE-noinfo", "description": "Insufficient Information"}, SkipReason.NOINFO),
        ({"description": "NVD-CWE-Other"}, SkipReason.NOINFO),
    ],
)
def test_cwe_reading(entry, expected):
    obj = cve5([{"lang": "en", "value": "Text"}], [{"descriptions": [{"lang": "en", "type": "CWE", **entry}]}])
    result = parse_cve_json5(obj)
    assert (result.cwe if isinstance(result, CveRecord) else result) == expected


def test_published_fallbacks_and_description_skip():
    obj = cve5([{"lang": "en", "value": "Text"}], [{"descriptions": [{"lang": "en", "cweId": "CWE-20"}]}])
    assert parse_cve_json5(obj).published == "2021-01-01"  # the CNA's dateUpdated
    del obj["containers"]["cna"]["providerMetadata"]
    assert parse_cve_json5(obj).published == "2022-02-02"  # the record's dateUpdated
    obj["containers"]["cna"]["descriptions"] = [{"lang": "de", "value": "Nur Deutsch"}, {"lang": "en", "value": "  "}]
    assert parse_cve_json5(obj) is SkipReason.NO_DESCRIPTION


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda o: o.pop("cveMetadata"), "cveMetadata is missing"),
        (lambda o: o.update(cveMetadata=[]), "cveMetadata is not an object"),
        (lambda o: o["cveMetadata"].update(state="RESERVED"), "cveMetadata.state is 'RESERVED'"),
        (lambda o: o["cveMetadata"].pop("cveId"), "cveMetadata.cveId is missing"),
        (lambda o: o.pop("containers"), "containers is missing"),
        (lambda o: o["containers"]["cna"].update(problemTypes={"x": 1}), "containers.cna.problemTypes is not a list"),
        (lambda o: o["containers"].update(adp="CISA"), "containers.adp is not a list"),
        (
            lambda o: (
                o["cveMetadata"].update(datePublished=20240101),  # dates are read for labelled records
                o["containers"]["cna"].update(problemTypes=[{"descriptions": [{"cweId": "CWE-20"}]}]),
            ),
            "cveMetadata.datePublished is not a string",
        ),
    ],
)
def test_malformed_records_raise(mutate, reason):
    obj = cve5([{"lang": "en", "value": "Text"}], [{"descriptions": [{"lang": "en", "description": "n/a"}]}])
    mutate(obj)
    with pytest.raises(MalformedRecord, match=reason.replace("(", r"\(")):
        parse_cve_json5(obj)


# ---------------------------------------------------------------- NVD API 2.0


@pytest.mark.parametrize("name", ["nvd_api2_sample.json", "nvd_api2_sample.json.gz"])
def test_nvd(name):
    records, stats = run([FIXTURES / name])
    assert [(r.cve_id, r.cwe, r.label_source, r.published, r.assigner) for r in records] == [
        ("CVE-2024-1000", ["CWE-89", "CWE-20"], "nvd", "2024-04-01", "security@example.com"),  # Primary first
        ("CVE-2024-1002", ["CWE-79"], "nvd", "2023-08-09", "security@example.com"),  # NVD-CWE-Other ignored
    ]
    assert records[0].description == "SQL injection in Example Shop allows attackers to read the database."
    assert counts(stats) == {
        "records_read": 7,
        "written": 2,
        "skipped_rejected": 1,
        "skipped_no_description": 0,
        "skipped_noinfo": 2,
        "skipped_no_cwe": 1,
        "skipped_before_since": 0,
        "malformed": 1,
    }
    assert stats.malformed_examples == [(str(FIXTURES / name), "vulnerabilities[6]: not an object")]
    assert stats.files_read == 1


def test_parse_nvd_yields_malformed_entries():
    results = list(parse_nvd(orjson.loads(NVD_JSON.read_bytes())))
    assert [r if isinstance(r, SkipReason) else type(r).__name__ for r in results] == [
        "CveRecord",
        SkipReason.NOINFO,
        "CveRecord",
        SkipReason.REJECTED,
        SkipReason.NO_CWE,
        SkipReason.NOINFO,
        "MalformedRecord",
    ]
    with pytest.raises(MalformedRecord):
        list(parse_nvd({"vulnerabilities": {}}))


def test_nvd_without_list_is_malformed(tmp_path):
    bad = tmp_path / "nvd.json"
    bad.write_text('{"vulnerabilities": 3}')
    records, stats = run([bad])
    assert records == [] and stats.malformed == 1 and stats.records_read == 1


# ---------------------------------------------------------------- source layouts


def test_cvelist_directory_zip_and_nested_zip(tmp_path):
    expected, _ = run([FIXTURES])
    checkout = cvelist_dir(tmp_path / "cvelistV5-main")
    plain = zip_dir(checkout, tmp_path / "cvelistV5-main.zip", prefix="cvelistV5-main/")
    # a CVEProject release asset: the outer zip holds cves.zip
    inner = zip_dir(checkout, tmp_path / "cves.zip")
    release = tmp_path / "2024-11-01_all_CVEs_at_midnight.zip"
    with zipfile.ZipFile(release, "w", zipfile.ZIP_STORED) as zf:
        zf.write(inner, "cves.zip")
    for source in (checkout, plain, release):
        records, stats = run([source])
        assert sorted(records, key=lambda r: r.cve_id) == sorted(expected, key=lambda r: r.cve_id), source
        assert stats.files_read == 13 and stats.malformed == 4, source  # delta.json etc. not read
    _, stats = run([release])
    assert any(name.startswith(f"{release}:cves.zip:cves/2023/") for name, _ in stats.malformed_examples)


def test_iter_sources_names_and_several_sources(tmp_path):
    checkout = cvelist_dir(tmp_path / "c", files=CVE_FILES[:2])
    names = [name for name, _ in iter_sources([checkout, NVD_JSON])]
    assert [Path(n).name for n in names] == ["CVE-2023-0008.json", "CVE-2023-0009.json", NVD_JSON.name]
    records, stats = run([checkout, NVD_JSON, FIXTURES / "CVE-2024-0001.json"])
    assert [r.cve_id for r in records] == ["CVE-2024-1000", "CVE-2024-1002", "CVE-2024-0001"]
    assert stats.files_read == 4


def test_bad_zip_member_is_reported(tmp_path):
    files = [FIXTURES / f"CVE-{n}.json" for n in ("2023-0008", "2023-0009", "2024-0001")]
    archive = zip_dir(cvelist_dir(tmp_path / "c", files=files), tmp_path / "a.zip")
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("cves/2023/0xxx/CVE-2023-0009.json")
    offset = info.header_offset + 30 + len(info.filename) + 5  # inside the compressed bytes
    data[offset : offset + 20] = bytes(20)
    archive.write_bytes(bytes(data))
    records, stats = run([archive])
    assert stats.malformed == 1 and stats.records_read == 3
    name, reason = stats.malformed_examples[0]
    assert name.endswith("CVE-2023-0009.json") and reason.startswith("cannot read zip member")
    with pytest.raises(SectuneError, match="cannot read zip member"):
        list(iter_sources([archive]))  # without on_error: one error


def test_corrupt_gzip_source_is_reported(tmp_path):
    bad = tmp_path / "nvdcve-2.0-2024.json.gz"
    bad.write_bytes(gzip.compress(NVD_JSON.read_bytes())[:200])
    records, stats = run([bad])
    assert records == [] and stats.malformed == 1
    assert stats.malformed_examples[0][1].startswith("not a valid gzip file")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing", "no such file or directory"),
        (lambda d: _touch(d / "data.csv", b"a,b\n"), "unsupported source type"),
        (lambda d: _touch(d / "broken.zip", b"PK not really"), "not a valid zip file"),
    ],
)
def test_source_errors(tmp_path, make, message):
    source = make(tmp_path)
    with pytest.raises(SectuneError, match=message) as err:
        records, _ = ingest([source], progress=False)
        list(records)
    assert "\n" not in str(err.value) and str(source) in str(err.value)


def _touch(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_option_errors(tmp_path):
    with pytest.raises(SectuneError, match="unknown label mode"):
        ingest([FIXTURES], labels="bogus")
    with pytest.raises(SectuneError, match="YYYY-MM-DD"):
        ingest([FIXTURES], since="2024/01/01")
    with pytest.raises(SectuneError, match="no sources"):
        ingest([])
    with pytest.raises(SectuneError, match="unknown output format"):
        write_records(iter([]), tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


# ---------------------------------------------------------------- since, outputs, manifest


def test_since():
    records, stats = run([FIXTURES], since="2024-01-01")
    assert [r.cve_id for r in records] == ["CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0004"]
    assert stats.skipped_before_since == 3  # 0003 (2023-12-05), 0006 (2023-06-01), 0007 (2022-11-30)
    assert stats.written == 3
    assert_balanced(stats)
    records, _ = run([FIXTURES], since="2024-02-20")  # inclusive
    assert [r.cve_id for r in records] == ["CVE-2024-0002", "CVE-2024-0004"]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".parquet"])
def test_outputs_readable(tmp_path, suffix):
    records, stats = ingest([FIXTURES], progress=False)
    out = tmp_path / "new" / "dir" / f"cve{suffix}"  # created if needed
    assert write_records(records, out) == 6
    table = read_table(out, text_column="description", label_column="cwe", extra_columns=["cve_id", "label_source"])
    assert table.columns["cve_id"] == [cid for cid in EXPECTED["cna-then-adp"]]
    assert table.label_lists == [cwe for cwe, _ in EXPECTED["cna-then-adp"].values()]
    assert table.labels == [cwe[0] for cwe, _ in EXPECTED["cna-then-adp"].values()]  # first CWE is the class
    assert table.texts[0].startswith("SQL injection in the login form")
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temp file left behind
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        assert pq.read_schema(out).names == ["cve_id", "description", "cwe", "label_source", "assigner", "published"]
    else:
        raw = gzip.decompress(out.read_bytes()) if suffix.endswith(".gz") else out.read_bytes()
        first = orjson.loads(raw.splitlines()[0])
        assert first == {
            "cve_id": "CVE-2024-0001",
            "description": first["description"],
            "cwe": ["CWE-89"],
            "label_source": "cna",
            "assigner": "examplecna",
            "published": "2024-01-10",
        }


def test_manifest(tmp_path):
    records, stats = ingest([FIXTURES, NVD_JSON], labels="cna", since="2023-01-01", progress=False)
    out = tmp_path / "cve.jsonl"
    write_records(records, out)
    path = write_manifest(stats, out)
    assert path == tmp_path / "cve.jsonl.manifest.json"
    doc = orjson.loads(path.read_bytes())
    import sectune

    assert doc["sources"] == [str(FIXTURES), str(NVD_JSON)]
    assert doc["options"] == {"labels": "cna", "since": "2023-01-01"}
    assert doc["counts"]["written"] == stats.written == 6  # CVE-2024-0007 (2022) dropped by since
    assert doc["counts"]["skipped_before_since"] == 1
    assert doc["counts"]["malformed"] == 5
    assert doc["counts"]["by_label_source"] == {"cna": 6}  # labels="cna": the NVD records keep their CNA weaknesses
    assert {e["file"] for e in doc["malformed_examples"]} >= {str(FIXTURES / n) for n in MALFORMED}
    assert all(set(e) == {"file", "reason"} for e in doc["malformed_examples"])
    assert doc["sectune_version"] == sectune.__version__
    assert doc["created"].endswith("+00:00") and doc["summary"] == stats.summary_line()
    assert len(doc["output_sha256"]) == 64


def test_malformed_examples_capped(tmp_path):
    for i in range(30):
        (tmp_path / f"CVE-2020-{i:04d}.json").write_text("{")
    records, stats = run([tmp_path])
    assert stats.malformed == 30 and len(stats.malformed_examples) == 20


# ---------------------------------------------------------------- streaming


def test_streams_in_constant_memory(tmp_path):
    template = orjson.loads((FIXTURES / "CVE-2024-0001.json").read_bytes())
    long_text = "An SQL injection in Example Widget lets remote attackers run commands. " * 50
    total = 0
    for i in range(2000):
        template["cveMetadata"]["cveId"] = cve_id = f"CVE-2024-{10000 + i}"
        template["containers"]["cna"]["descriptions"][0]["value"] = f"{i} {long_text}"
        folder = tmp_path / "cves" / "2024" / f"{10 + i // 1000}xxx"
        folder.mkdir(parents=True, exist_ok=True)
        data = orjson.dumps(template)
        (folder / f"{cve_id}.json").write_bytes(data)
        total += len(data)
    # measured in a fresh interpreter: in this one, threads and caches left by earlier tests allocate meanwhile
    script = f"""
import tracemalloc
from sectune.tasks.cwe.ingest import ingest
list(ingest([{str(FIXTURES / "CVE-2024-0001.json")!r}], progress=False)[0])  # first-use imports are not measured
records, stats = ingest([{str(tmp_path)!r}], progress=False)
tracemalloc.start()
n = sum(1 for _ in records)
print(n, stats.written, tracemalloc.get_traced_memory()[1])
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    n, written, peak = map(int, out.split())
    assert n == written == 2000
    assert total > 7_000_000
    assert peak < total / 20, f"peak {peak:,} bytes while reading {total:,}"


# ---------------------------------------------------------------- the shared real data


needs_shared = pytest.mark.skipif(not (SHARED_CVE / "raw_json5" / "index.csv").is_file(), reason="no shared CVE data")


def _reference() -> dict[str, dict]:
    with gzip.open(SHARED_CVE / "cve_cwe.jsonl.gz") as fh:
        return {r["cve_id"]: r for r in map(orjson.loads, fh)}


def _split(cell: str) -> list[str]:
    return cell.split(";") if cell else []


@needs_shared
def test_real_raw_json5_matches_index():
    raw = SHARED_CVE / "raw_json5"
    rows = list(csv.DictReader((raw / "index.csv").open(encoding="utf-8")))
    assert len(rows) == 300
    reference = _reference()
    for row in rows:
        obj = orjson.loads((raw / row["file"]).read_bytes())
        cna, adp = _split(row["cna_cwes"]), _split(row["adp_cwes"])
        results = {mode: parse_cve_json5(obj, mode) for mode in ("cna-then-adp", "cna", "adp")}
        if row["state"] == "REJECTED":
            assert set(results.values()) == {SkipReason.REJECTED}, row["file"]
            continue
        expected = {
            "cna-then-adp": (cna, "cna")
            if cna
            else (adp, "adp")
            if adp
            else SkipReason.NOINFO
            if row["cna_noinfo"] or row["adp_noinfo"]
            else SkipReason.NO_CWE,
            "cna": (cna, "cna") if cna else SkipReason.NOINFO if row["cna_noinfo"] else SkipReason.NO_CWE,
            "adp": (adp, "adp") if adp else SkipReason.NOINFO if row["adp_noinfo"] else SkipReason.NO_CWE,
        }
        for mode, result in results.items():
            got = (result.cwe, result.label_source) if isinstance(result, CveRecord) else result
            assert got == expected[mode], (row["file"], mode)
        record = results["cna-then-adp"]
        if isinstance(record, CveRecord):
            if row["datePublished"]:
                assert record.published == row["datePublished"][:10], row["file"]
            ref = reference[record.cve_id]
            assert (record.description, record.cwe, record.label_source, record.assigner) == (
                ref["description"],
                ref["cwe"],
                ref["label_source"],
                ref["assigner"],
            ), row["file"]
        category = row["category"]
        assert category != "noinfo" or results["cna-then-adp"] is SkipReason.NOINFO
        assert category != "no_cwe_text_only" or results["cna-then-adp"] is SkipReason.NO_CWE

    records, stats = run([raw])
    assert counts(stats) == {
        "records_read": 300,
        "written": 233,
        "skipped_rejected": 20,
        "skipped_no_description": 0,
        "skipped_noinfo": 25,
        "skipped_no_cwe": 22,
        "skipped_before_since": 0,
        "malformed": 0,
    }


@needs_shared
def test_real_10k_zip(tmp_path):
    records, stats = ingest([SHARED_CVE / "raw_json5_10k.zip"], progress=False)
    out = tmp_path / "cve.jsonl"
    assert write_records(records, out) == 7148  # the README: 7,148 of the 10,000 carry a CWE
    assert counts(stats) == {
        "records_read": 10_000,
        "written": 7148,
        "skipped_rejected": 22,
        "skipped_no_description": 0,
        "skipped_noinfo": stats.skipped_noinfo,
        "skipped_no_cwe": 10_000 - 22 - 7148 - stats.skipped_noinfo,
        "skipped_before_since": 0,
        "malformed": 0,
    }
    assert stats.files_read == 10_000 and stats.skipped_noinfo > 0
    assert_balanced(stats)
    reference = _reference()
    for line in out.read_bytes().splitlines():
        row = orjson.loads(line)
        assert row == {k: reference[row["cve_id"]][k] for k in row}, row["cve_id"]
