"""sectune compare on a small generated command-line set: one split, one table, the honest columns."""

from __future__ import annotations

import json

import pytest

from sectune.cli import main
from sectune.tasks.cmdline.dataset import build_cmdline_dataset, write_records
from sectune.tasks.cmdline.families import technique_families, technique_names


@pytest.fixture(scope="module")
def cmd_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("cmp") / "cmd.jsonl"
    write_records(build_cmdline_dataset(["bash", "cmd", "powershell"], 1200, seed=3, progress=False).records, path)
    return path


def test_technique_families_of_our_and_public_tools() -> None:
    assert technique_names("benign") == []
    assert technique_families("bash/base64>bash/quotes") == {"encoding", "quoting"}
    assert technique_families("bashfuscator:encode/base64>compress/gzip") == {
        "bashfuscator:encode",
        "bashfuscator:compress",
    }
    assert technique_families("dosfuscation:concat") == {"dosfuscation:concat"}


def test_compare_writes_table_report_and_plots(capsys, tmp_path, cmd_data) -> None:
    out = tmp_path / "cmp"
    code = main(
        [
            "--quiet",
            "compare",
            str(cmd_data),
            "--methods",
            "tfidf-logreg",
            "--leave-one-out",
            "all",
            "--output",
            str(out),
        ]
    )
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert "recall <200 chars" in stdout and "leave-one-out recall" in stdout and "| tfidf-logreg |" in stdout
    for name in ("report.md", "roc.png", "techniques.png", "comparison.json"):
        assert (out / name).is_file(), name
    data = json.loads((out / "comparison.json").read_text())
    row = data["rows"][0]
    assert 0.5 < row["roc_auc"] <= 1.0 and set(row["recall_by_shell"]) == {"bash", "cmd", "powershell"}
    assert row["short_positives"] > 0 and 0.0 <= row["recall_short"] <= 1.0
    assert data["leave_one_out"]["tfidf-logreg"] and all(
        0.0 <= v <= 1.0 for v in data["leave_one_out"]["tfidf-logreg"].values() if v is not None
    )
    assert "encoding" in data["leave_one_out"]["tfidf-logreg"]
    info = json.loads((out / "models" / "tfidf-logreg" / "sectune.json").read_text())
    assert info["run"]["training"]["split"] == "group:orig" and info["threshold"] is not None


def test_compare_refuses_multiclass_and_unknown_methods(capsys, tmp_path, labelled_csv) -> None:
    code = main(["--quiet", "compare", str(labelled_csv), "--methods", "nope", "--output", str(tmp_path / "x")])
    assert code == 2 and "unknown method 'nope'" in capsys.readouterr().err
    code = main(
        [
            "--quiet",
            "compare",
            str(labelled_csv),
            "--methods",
            "tfidf-logreg",
            "--split",
            "stratified",
            "--output",
            str(tmp_path / "x"),
        ]
    )
    assert code == 2 and "task cmdline needs labels 0/1" in capsys.readouterr().err  # compare's default task
    code = main(
        [
            "--quiet",
            "compare",
            str(labelled_csv),
            "--task",
            "generic",
            "--methods",
            "tfidf-logreg",
            "--split",
            "stratified",
            "--output",
            str(tmp_path / "x"),
        ]
    )
    assert code == 2 and "binary detection" in capsys.readouterr().err


def test_compare_settings_for_one_method_only(capsys, tmp_path, cmd_data) -> None:
    """--set gives one method its own setting (a config key or a method parameter); the others keep theirs."""
    out = tmp_path / "cmp"
    code = main(
        [
            "--quiet",
            "compare",
            str(cmd_data),
            "--methods",
            "tfidf-logreg,features-logreg",
            "--leave-one-out",
            "none",
            "--set",
            "tfidf-logreg.C=0.5",
            "--set",
            "features-logreg.target_fpr=0.01",
            "--output",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    tfidf = json.loads((out / "models" / "tfidf-logreg" / "sectune.json").read_text())
    features = json.loads((out / "models" / "features-logreg" / "sectune.json").read_text())
    assert tfidf["params"]["C"] == 0.5 and features["params"]["C"] != 0.5
    assert (
        features["run"]["threshold_selection"]["target_fpr"] == 0.01
        and tfidf["run"]["threshold_selection"]["target_fpr"] == 0.001
    )

    for bad, message in (
        (["--set", "encoder.max_steps=5"], "not among the compared methods"),
        (["--set", "tfidf-logreg.max_steps"], "expected METHOD.KEY=VALUE"),
        (["--set", "tfidf-logreg.nope=1"], "has no parameter(s) nope"),
    ):
        code = main(
            [
                "--quiet",
                "compare",
                str(cmd_data),
                "--methods",
                "tfidf-logreg",
                "--leave-one-out",
                "none",
                *bad,
                "--output",
                str(tmp_path / "bad"),
            ]
        )
        assert code == 2 and message in capsys.readouterr().err, bad
