"""The CWE task end to end from the CLI: ingest, train with rollup and the time split, named
predictions, and the triage queue over raw CVE records."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from sectune.cli import main
from sectune.io import read_table
from sectune.tasks.cwe.catalog import load_catalog
from sectune.tasks.cwe.task import prepare

FIXTURES = Path(__file__).parent / "fixtures" / "cve"

PHRASES = {
    "CWE-79": ["cross-site scripting", "stored XSS in the comment field", "reflected script injection in search"],
    "CWE-89": ["SQL injection", "unsanitised query parameter in login", "blind SQL injection via id"],
    "CWE-121": [
        "stack-based buffer overflow",
        "stack overflow in the parser",
        "overflow of a stack buffer when copying",
    ],
    "CWE-787": ["out-of-bounds write", "heap buffer overflow write", "writes past the end of the buffer"],
}


@pytest.fixture
def cve_jsonl(tmp_path) -> Path:
    """CVE-like records over two years; CWE-121 rolls up to CWE-787 in view 1003."""
    rng = random.Random(0)
    rows = []
    for i in range(120):
        cwe = list(PHRASES)[i % 4]
        text = f"{rng.choice(PHRASES[cwe])} in product {rng.randint(1, 500)} version {rng.randint(1, 9)}.{rng.randint(0, 9)}"
        rows.append(
            {
                "cve_id": f"CVE-2024-{i:04d}",
                "description": text,
                "cwe": [cwe] + (["CWE-20"] if i % 10 == 0 else []),
                "published": f"2024-{1 + i % 12:02d}-{1 + i % 27:02d}",
            }
        )
    rows.append(
        {"cve_id": "CVE-2024-9999", "description": rows[0]["description"], "cwe": ["CWE-79"], "published": "2024-12-30"}
    )
    path = tmp_path / "cve.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["--quiet", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_prepare_rolls_up_and_filters_labels(cve_jsonl) -> None:
    catalog = load_catalog()
    table = read_table(cve_jsonl, "description", "cwe")
    rolled, report = prepare(table, catalog, rollup="1003")
    assert "CWE-121" not in set(rolled.labels) and "CWE-787" in set(rolled.labels)
    assert report["classes_in"] == 4 and report["classes_out"] == 3
    allowed, report = prepare(table, catalog, allowed_only=True)
    assert all(catalog.allowed(c) for cwes in allowed.label_lists for c in cwes)
    assert "CWE-20" not in {c for cwes in allowed.label_lists for c in cwes}, "MITRE discourages CWE-20 for mapping"
    assert report["catalog"]["counts"]["discouraged"] == 0  # primaries here are all fine; CWE-20 is secondary


def test_drop_prohibited_drops_categories_and_keeps_discouraged_cwes(tmp_path) -> None:
    """Old NVD labels are often categories (CWE-264); CNAs often use CWE-20, which MITRE only discourages."""
    rows = [
        {"description": "permissions issue", "cwe": ["CWE-264"]},
        {"description": "input validation", "cwe": ["CWE-20"]},
        {"description": "category then a weakness", "cwe": ["CWE-264", "CWE-284"]},
        {"description": "xss", "cwe": ["CWE-79"]},
    ]
    path = tmp_path / "old.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    table = read_table(path, "description", "cwe")
    kept, report = prepare(table, load_catalog(), drop_prohibited=True)
    assert kept.labels == ["CWE-20", "CWE-284", "CWE-79"] and report["dropped_prohibited"] == 1
    allowed, _ = prepare(table, load_catalog(), allowed_only=True)
    assert "CWE-20" not in allowed.labels


def test_shared_descriptions_never_cross_the_split(cve_jsonl) -> None:
    from sectune.tasks import task_class

    table = read_table(cve_jsonl, "description", "cwe")
    train, test = table.subset(range(100)), table.subset(range(100, len(table)))
    report: dict = {}
    kept = task_class("cwe")().drop_seen(train, test, report)
    assert report["test_rows_dropped_as_duplicate_descriptions"] == 1
    assert len(kept) == len(test) - 1 and not set(kept.texts) & set(train.texts)
    assert task_class("generic")().drop_seen(train, test, {}) is test


def test_encoder_head_starts_from_mitres_descriptions(capsys, tmp_path, cve_jsonl, tiny_bert_dir) -> None:
    """--head-init label-text: the run hands the task's CWE descriptions to the encoder and records the start."""
    args = [
        "train",
        str(cve_jsonl),
        "--task",
        "cwe",
        "--method",
        "encoder",
        "--model",
        tiny_bert_dir,
        "--max-steps",
        "1",
    ]
    code, _, err = run(capsys, *args, "--pooling", "mean", "--head-init", "label-text", "--output", str(tmp_path / "m"))
    assert code == 0, err
    head = json.loads((tmp_path / "m" / "sectune.json").read_text())["run"]["training"]["head_init"]
    assert head["described_labels"] == 4 and head["temperature"] > 0 and 0 <= head["zero_shot_top1"] <= 1
    code, _, err = run(capsys, *args, "--pooling", "cls", "--head-init", "label-text", "--output", str(tmp_path / "c"))
    assert code != 0 and err.count("\n") == 1 and "needs mean pooling" in err, err
    assert not (tmp_path / "c").exists()


def test_the_readme_recipe_runs_and_starts_its_encoder_from_the_descriptions(
    capsys, tmp_path, cve_jsonl, tiny_bert_dir
) -> None:
    """examples/cwe-ensemble.yaml, the README's recipe, as shipped but for the encoder's size and budget."""
    import yaml

    recipe = yaml.safe_load((Path(__file__).parents[1] / "examples" / "cwe-ensemble.yaml").read_text())
    recipe["member_params"]["encoder"].update(model=tiny_bert_dir, pooling="mean", max_steps=1, eval_steps=1)
    config = tmp_path / "recipe.yaml"
    config.write_text(yaml.safe_dump(recipe))
    code, _, err = run(capsys, "train", str(cve_jsonl), "--config", str(config), "--output", str(tmp_path / "m"))
    assert code == 0, err
    saved = json.loads((tmp_path / "m" / "sectune.json").read_text())
    assert saved["method"] == "ensemble"
    head = saved["run"]["training"]["head_init"]
    assert head["described_labels"] == 4 and head["temperature"] > 0


def test_train_cwe_task_with_rollup_time_split_and_named_predictions(capsys, tmp_path, cve_jsonl) -> None:
    code, out, err = run(
        capsys,
        "train",
        str(cve_jsonl),
        "--task",
        "cwe",
        "--method",
        "tfidf-logreg",
        "--rollup",
        "1003",
        "--param",
        "min_df=1",
        "--output",
        str(tmp_path / "m"),
    )
    assert code == 0, err
    assert "near misses" in out and "top-20 classes: macro recall" in out
    info = json.loads((tmp_path / "m" / "sectune.json").read_text())
    assert info["run"]["task"] == "cwe" and info["labels"] == ["CWE-787", "CWE-79", "CWE-89"]
    assert info["run"]["training"]["split"] == "time:published"
    assert (
        info["run"]["cwe"]["rollup"] == "1003"
        and info["run"]["cwe"]["report"]["test_rows_dropped_as_duplicate_descriptions"] == 1
    )
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert {"hierarchy", "recall_frequent", "top1_any", "top3_any"} <= set(metrics)
    assert metrics["top1_any"] >= metrics["top1"]
    # rolled up, the strict scores compare with the CWEs as given: CWE-121 rows predicted CWE-787 count as wrong
    strict, hierarchy = metrics["strict"], metrics["hierarchy"]
    assert set(strict) == {"top1", "top3", "macro_f1", "hierarchy_top1"}
    assert strict["top1"] < metrics["top1"] and strict["top3"] <= metrics["top3"]
    assert strict["hierarchy_top1"] >= strict["top1"] and hierarchy["hierarchy_top1"] >= metrics["top1"]
    assert "strict top1" in out and "hierarchy-aware top-1" in out

    texts = tmp_path / "in.txt"
    texts.write_text("stored XSS in the comment field of a forum\n", encoding="utf-8")
    code, out, err = run(capsys, "predict", str(tmp_path / "m"), str(texts), "--format", "text", "--top-k", "2")
    assert code == 0, err
    assert (
        "CWE-79" in out
        and "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')" in out
    )

    # the triage queue over raw CVE JSON 5 records: stated CWE, suggestions, disagreement flag
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in (
        "CVE-2024-0001.json",
        "CVE-2024-0002.json",
        "CVE-2024-0003.json",
        "CVE-2023-0009.json",
        "CVE-2024-0005.json",
    ):
        shutil.copy(FIXTURES / name, raw / name)
    code, out, err = run(capsys, "predict", str(tmp_path / "m"), str(raw), "--top-k", "1")
    assert code == 0, err
    rows = {r["id"]: r for r in map(json.loads, out.splitlines())}
    assert set(rows) == {"CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0003", "CVE-2023-0009"}, (
        "rejected records are left out"
    )
    assert rows["CVE-2024-0001"]["cwe"] == ["CWE-89"]
    assert rows["CVE-2023-0009"]["cwe"] == [] and rows["CVE-2023-0009"]["disagrees"] is False, (
        "nothing stated, nothing to disagree with"
    )
    for row in rows.values():
        top = {p["label"] for p in row["predictions"]}
        assert row["disagrees"] == (
            bool(row["cwe"]) and not top & set(row["cwe"]) and not ("CWE-787" in top and "CWE-787" in row["cwe"])
        )
        assert all("name" in p for p in row["predictions"])


def test_data_cve_command_writes_data_and_manifest(capsys, tmp_path) -> None:
    code, out, err = run(capsys, "data", "cve", str(FIXTURES), "--output", str(tmp_path / "cve.jsonl.gz"))
    assert code == 0, err
    assert "discouraged" in out and "malformed" in out
    manifest = json.loads((tmp_path / "cve.jsonl.gz.manifest.json").read_text())
    assert manifest["counts"]["malformed"] >= 4 and manifest["counts"]["skipped_rejected"] >= 1
    assert manifest["cwe_labels"]["counts"]["ok"] >= 1
    table = read_table(tmp_path / "cve.jsonl.gz", "description", "cwe")
    assert len(table) == manifest["counts"]["written"]
    code, out, err = run(
        capsys, "data", "cve", str(FIXTURES), "--since", "2024-01-01", "--output", str(tmp_path / "new.jsonl")
    )
    assert code == 0, err
    assert all(
        r["published"] >= "2024-01-01" for r in map(json.loads, (tmp_path / "new.jsonl").read_text().splitlines())
    )


def test_cwe_options_need_the_cwe_task(capsys, tmp_path, cve_jsonl) -> None:
    code, _, err = run(capsys, "train", str(cve_jsonl), "--rollup", "1003", "--output", str(tmp_path / "m"))
    assert code == 2 and "need task: cwe" in err
