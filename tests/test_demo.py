"""make demo's job, shortened: the real packaged MiniLM and CWE catalogue, a few steps."""

from __future__ import annotations

import json

from sectune.demo import DESCRIPTIONS, run_demo


def test_demo_runs_end_to_end_with_named_predictions(tmp_path, capsys) -> None:
    metrics = run_demo(tmp_path, max_steps=4, verbose=False)
    out = capsys.readouterr().out
    assert set(metrics) == {"tfidf-logreg", "encoder"}
    assert all(0.0 <= m["top1"] <= m["top3"] <= 1.0 for m in metrics.values())
    assert out.count("CWE-") >= 3 * len(DESCRIPTIONS) and "Improper" in out
    info = json.loads((tmp_path / "encoder" / "sectune.json").read_text())
    assert info["task"] == "cwe" and len(info["labels"]) > 100 and info["pooling"] == "mean"
