"""Training on several data files read as one: the CWE task keeps one row per CVE id by label source (NVD, then the
CNA, then ADP; the file named first among equals), the generic task keeps every row, and the run records each file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sectune.cli import main
from sectune.io import read_table
from sectune.tasks.cwe.task import CweTask

PHRASES = {
    "CWE-79": "cross-site scripting in the comment field of product {i}",
    "CWE-89": "SQL injection through the id parameter of product {i}",
    "CWE-787": "out-of-bounds write in the image parser of product {i}",
}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def cve_rows(source: str, ids: range, year: int = 2024) -> list[dict]:
    cwes = list(PHRASES)
    return [
        {
            "cve_id": f"CVE-{year}-{i:04d}",
            "description": PHRASES[cwes[i % 3]].format(i=i),
            "cwe": [cwes[i % 3]],
            "label_source": source,
            "published": f"{year}-{1 + i % 12:02d}-{1 + i % 27:02d}",
        }
        for i in ids
    ]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["--quiet", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cwe_combine_prefers_nvd_then_cna_then_adp_then_the_first_file(tmp_path) -> None:
    cna = cve_rows("cna", range(0, 4))
    nvd = cve_rows("nvd", range(2, 6))
    nvd[0]["cwe"] = ["CWE-20"]  # CVE-2024-0002: NVD disagrees with the CNA; NVD's label must win
    adp = [{**cve_rows("adp", range(5, 7))[0], "cwe": ["CWE-400"]}, *cve_rows("adp", range(6, 7))]
    again = [{**cve_rows("cna", range(0, 1))[0], "cwe": ["CWE-1"]}]  # same source as the first file: the first wins
    no_id = [{"description": "a record without an id", "cwe": ["CWE-79"], "label_source": "cna"}] * 2
    paths = [
        write_jsonl(tmp_path / name, rows)
        for name, rows in (("cna.jsonl", cna), ("nvd.jsonl", nvd), ("adp.jsonl", adp), ("again.jsonl", again + no_id))
    ]
    tables = [read_table(p, "description", "cwe", optional_columns=CweTask.merge_columns) for p in paths]
    table, dropped = CweTask().combine(tables)
    by_id = {
        cve: (labels, table.columns["label_source"][i])
        for i, (cve, labels) in enumerate(zip(table.columns["cve_id"], table.label_lists))
        if cve
    }
    assert by_id["CVE-2024-0002"] == (["CWE-20"], "nvd")
    assert by_id["CVE-2024-0005"][1] == "nvd"  # NVD over ADP although the ADP file came later
    assert by_id["CVE-2024-0000"] == (["CWE-79"], "cna")  # first file among equal sources
    assert sorted(by_id) == [f"CVE-2024-{i:04d}" for i in range(7)]
    assert (len(table), dropped) == (7 + 2, 4)  # 11 rows with an id, 7 ids; the rows without one are all kept
    # every row still names its own file and line
    row = table.columns["cve_id"].index("CVE-2024-0006")
    assert table.where(row) == f"{paths[2]} line 2"


def test_generic_task_keeps_every_row_of_every_file(tmp_path) -> None:
    from sectune.tasks import Task

    a = write_jsonl(tmp_path / "a.jsonl", [{"text": "x", "label": "p"}, {"text": "y", "label": "q"}])
    b = write_jsonl(tmp_path / "b.jsonl", [{"text": "x", "label": "p"}])
    table, dropped = Task().combine([read_table(a), read_table(b)])
    assert (table.texts, dropped, table.files) == (["x", "y", "x"], 0, [str(a), str(b)])


def test_train_on_two_files_records_both_and_reproduces_from_its_config(capsys, tmp_path) -> None:
    cna = write_jsonl(tmp_path / "cna.jsonl", cve_rows("cna", range(0, 90)))
    nvd_rows = cve_rows("nvd", range(60, 120))
    nvd = write_jsonl(tmp_path / "nvd.jsonl", nvd_rows)
    out = tmp_path / "model"
    code, stdout, err = run(
        capsys, "train", str(cna), str(nvd), "--task", "cwe", "--method", "tfidf-logreg", "--output", str(out)
    )
    assert code == 0, err
    record = json.loads((out / "sectune.json").read_text())["run"]["training"]
    assert [f["path"] for f in record["data"]["files"]] == [str(cna), str(nvd)]
    assert [f["rows"] for f in record["data"]["files"]] == [90, 60]
    assert record["dropped"]["duplicate_rows"] == 30
    assert record["data"]["rows"] == 150
    assert record["train_rows"] + record["test_rows"] + record["validation_rows"] <= 120
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["data"] == [str(cna.resolve()), str(nvd.resolve())]
    code, _, err = run(capsys, "train", "--config", str(out / "config.yaml"), "--output", str(tmp_path / "again"))
    assert code == 0, err
    again = json.loads((tmp_path / "again" / "sectune.json").read_text())["run"]["training"]["data"]
    assert again["sha256"] == record["data"]["sha256"]


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"description": "", "cwe": ["CWE-79"]}, "second.jsonl:3: empty text"),  # its own file and line
        ({"text": "no description", "cwe": ["CWE-79"]}, "no field 'description'"),
    ],
)
def test_a_bad_row_in_the_second_file_is_one_line_naming_it(capsys, tmp_path, bad, message) -> None:
    first = write_jsonl(tmp_path / "first.jsonl", cve_rows("cna", range(0, 30)))
    second = write_jsonl(tmp_path / "second.jsonl", [*cve_rows("nvd", range(30, 32)), bad])
    code, _, err = run(
        capsys, "train", str(first), str(second), "--task", "cwe", "--method", "tfidf-logreg", "-o", str(tmp_path / "m")
    )
    assert code != 0 and "second.jsonl" in err and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


def test_a_config_naming_no_data_file_is_one_line(capsys, tmp_path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"data": [], "output": str(tmp_path / "m"), "method": "tfidf-logreg"}))
    code, _, err = run(capsys, "train", "--config", str(config))
    assert code != 0 and "data" in err and "names no data file" in err


def test_catalogue_examples_train_beside_cve_records(capsys, tmp_path) -> None:
    examples = tmp_path / "cwe-examples.jsonl"
    code, out, err = run(capsys, "data", "cwe-examples", "--min-examples", "8", "--output", str(examples))
    assert code == 0, err
    rows = [json.loads(line) for line in examples.read_text().splitlines()]
    assert rows and all(set(r) == {"cve_id", "description", "cwe", "label_source", "published"} for r in rows)
    assert all(
        r["published"] == f"{r['cve_id'].split('-')[1]}-01-01" and r["label_source"] == "catalogue" for r in rows
    )
    cna = write_jsonl(tmp_path / "cna.jsonl", cve_rows("cna", range(0, 90)))
    code, _, err = run(
        capsys, "train", str(cna), str(examples), "--task", "cwe", "--method", "tfidf-logreg", "-o", str(tmp_path / "m")
    )
    assert code == 0, err
    files = json.loads((tmp_path / "m" / "sectune.json").read_text())["run"]["training"]["data"]["files"]
    assert [f["rows"] for f in files] == [90, len(rows)]
