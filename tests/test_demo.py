"""make demo's job, shortened: the real packaged MiniLM and CWE catalogue, a few steps."""

from __future__ import annotations

import json

from sectune.demo import DESCRIPTIONS, run_demo


def test_demo_runs_end_to_end_with_named_predictions(tmp_path, capsys) -> None:
    metrics = run_demo(tmp_path, max_steps=4, verbose=False)
    out = capsys.readouterr().out
    assert set(metrics) == {"tfidf-logreg", "encoder", "cmdline"}
    assert all(0.0 <= metrics[m]["top1"] <= metrics[m]["top3"] <= 1.0 for m in ("tfidf-logreg", "encoder"))
    assert out.count("CWE-") >= 3 * len(DESCRIPTIONS) and "Improper" in out
    info = json.loads((tmp_path / "encoder" / "sectune.json").read_text())
    assert info["run"]["task"] == "cwe" and len(info["labels"]) > 100 and info["state"]["pooling"] == "mean"

    ladder = {row["method"]: row for row in metrics["cmdline"]}
    assert list(ladder) == ["rules", "features-logreg", "charcnn", "encoder"]
    assert all(0.0 <= row["roc_auc"] <= 1.0 and row["lines_per_second"] > 0 for row in ladder.values())
    assert (
        ladder["features-logreg"]["roc_auc"] > 0.9
    )  # the engineered features separate generated lines even in a short run
    assert "leave_one_out_recall" in ladder["rules"] and "leave_one_out_recall" not in ladder["encoder"]
    assert "| features-logreg |" in out and (tmp_path / "cmdline" / "compare" / "report.md").is_file()
