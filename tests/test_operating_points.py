"""Operating points a team can trust: the rule-of-three floor, the FPR interval, no threshold that no positive
reaches, calibration, ``sectune calibrate`` on a benign baseline, and validation-chosen recall beside the oracle."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from sectune.api import evaluate, train
from sectune.cli import main
from sectune.methods.base import load
from sectune.metrics import format_metrics_table, threshold_for_fpr
from sectune.operating import (
    apply_calibration,
    clopper_pearson,
    false_positive_budget,
    fit_calibration,
    fpr_floor,
    fpr_upper_bound,
    select_threshold,
)
from sectune.tasks.cmdline.benign import generate_benign
from sectune.tasks.cmdline.dataset import build_cmdline_dataset, write_records


@pytest.fixture(scope="module")
def cmd_data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("op") / "cmd.jsonl"
    write_records(build_cmdline_dataset(["bash", "cmd", "powershell"], 800, seed=5, progress=False).records, path)
    return path


@pytest.fixture(scope="module")
def trained(cmd_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("op-model") / "model"
    return train(cmd_data, output=out, method="features-logreg", task="cmdline", target_fpr=0.001, verbose=False)


def test_rule_of_three_floor_and_message(caplog) -> None:
    assert fpr_floor(1000) == pytest.approx(0.003) and fpr_floor(2) == 1.0 and fpr_floor(0) == 1.0
    rng = np.random.default_rng(0)
    y = np.array([False] * 200 + [True] * 50)
    scores = np.concatenate([rng.uniform(0, 0.6, 200), rng.uniform(0.4, 1.0, 50)])
    with caplog.at_level(logging.WARNING, logger="sectune"):
        chosen = select_threshold(y, scores, 0.001)
    assert chosen["fpr_floor"] == pytest.approx(0.015) and chosen["effective_fpr"] == pytest.approx(0.015)
    assert chosen["resolvable"] is False and chosen["false_positives"] == 0 and chosen["fallback"] is None
    assert chosen["threshold"] == threshold_for_fpr(y, scores, 0.0)  # none of 200 lets a bound of 3/200 hold
    assert "rule of three" in caplog.text and "3/200" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sectune"):
        assert select_threshold(y, scores, 0.05)["resolvable"] is True
    assert "rule of three" not in caplog.text


def test_the_threshold_keeps_its_fpr_on_new_rows_with_95_percent_confidence() -> None:
    """The FP budget is the most validation false positives whose one-sided 95% upper bound stays within the
    target: a threshold that lets exactly target * n through exceeds the target on new rows about half the time.
    Benign scores uniform on [0, 1] make a threshold's true FPR exactly 1 - threshold."""
    assert false_positive_budget(1300, 0.005) == 2 and fpr_upper_bound(2, 1300) <= 0.005 < fpr_upper_bound(3, 1300)
    assert false_positive_budget(200, fpr_floor(200)) == 0 and false_positive_budget(13000, 0.01) == 111
    rng = np.random.default_rng(0)
    y = np.zeros(1300, dtype=bool)
    true_fpr = np.array(
        [1 - select_threshold(y, rng.uniform(size=1300), 0.005, quiet=True)["threshold"] for _ in range(400)]
    )
    point = np.array([1 - threshold_for_fpr(y, rng.uniform(size=1300), 0.005) for _ in range(400)])
    assert (true_fpr > 0.005).mean() <= 0.08 and (point > 0.005).mean() >= 0.3


def test_clopper_pearson_known_cases() -> None:
    low, high = clopper_pearson(0, 1000)
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / 1000), rel=1e-9)  # about 3.69/1000
    low, high = clopper_pearson(5, 100)
    assert low == pytest.approx(0.01643, abs=1e-4) and high == pytest.approx(0.11284, abs=1e-4)
    assert clopper_pearson(10, 10)[1] == 1.0


def test_never_a_threshold_no_validation_positive_reaches(caplog) -> None:
    # saturated benign scores: 10 of 100 negatives at 1.0, every positive at 0.99
    y = np.array([False] * 100 + [True] * 20)
    scores = np.concatenate([np.full(10, 1.0), np.linspace(0.0, 0.5, 90), np.full(20, 0.99)])
    naive = threshold_for_fpr(y, scores, 0.03)
    assert not (scores[y] >= naive).any()  # the FPR-constrained choice flags no positive
    with caplog.at_level(logging.WARNING, logger="sectune"):
        chosen = select_threshold(y, scores, 0.001)
    assert chosen["fallback"] == "top_positive" and chosen["threshold"] == pytest.approx(0.99)
    assert chosen["tpr"] == 1.0 and chosen["fpr"] == pytest.approx(0.10) and "falls back" in caplog.text
    assert (scores[y] >= chosen["threshold"]).any()


def _overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.normal(0, 1.5, n)
    y = rng.uniform(size=n) < 1 / (1 + np.exp(-truth))
    p = 1 / (1 + np.exp(-6 * truth))  # six times too sure
    return np.column_stack([1 - p, p]), y.astype(int)


def test_calibration_is_monotone_and_improves_log_loss() -> None:
    proba, y = _overconfident(400, 1)
    labels = ["0", "1"]
    cal = fit_calibration(proba, labels, [labels[i] for i in y])
    assert cal["method"] in ("temperature", "platt") and cal["cv_log_loss"][cal["method"]] < cal["cv_log_loss"]["none"]
    test, y_test = _overconfident(2000, 2)
    calibrated = apply_calibration(test, cal)
    assert log_loss(y_test, calibrated[:, 1]) < log_loss(y_test, test[:, 1])
    assert roc_auc_score(y_test, calibrated[:, 1]) == pytest.approx(roc_auc_score(y_test, test[:, 1]), abs=1e-12)
    order = np.argsort(test[:, 1], kind="stable")
    assert np.all(np.diff(calibrated[order, 1]) >= 0)  # monotone: the ranking stays
    assert np.allclose(calibrated.sum(axis=1), 1.0)
    # a handful of rows is too few to calibrate
    assert fit_calibration(test[:8], labels, [labels[i] for i in y_test[:8]])["method"] == "none"
    # multi-class: temperature keeps the argmax
    rng = np.random.default_rng(3)
    multi = rng.dirichlet([0.2, 0.2, 0.2], 300)
    scaled = apply_calibration(multi, {"method": "temperature", "temperature": 2.5})
    assert (scaled.argmax(axis=1) == multi.argmax(axis=1)).all() and np.allclose(scaled.sum(axis=1), 1.0)


def test_calibration_is_applied_after_reload_and_old_models_load_unchanged(tmp_path) -> None:
    from sectune.methods.tfidf import TfidfLogreg

    texts = ["ls -la", "git status", "whoami", "df -h", "n^e^t u^s^e^r", "echo aGk= | base64 -d | sh"] * 3
    labels = ["0", "0", "0", "0", "1", "1"] * 3
    clf = TfidfLogreg(min_df=1, verbose=False).fit(texts, labels)
    raw = clf.predict_proba(texts)
    clf.save_pretrained(tmp_path / "old")
    assert "calibration" not in json.loads((tmp_path / "old" / "sectune.json").read_text())
    old = load(tmp_path / "old")
    assert old.calibration_ is None and np.allclose(old.predict_proba(texts), raw)
    clf.calibration_ = {"method": "platt", "a": 0.5, "b": -0.2, "rows": 18}
    clf.save_pretrained(tmp_path / "new")
    new = load(tmp_path / "new")
    assert new.calibration_["method"] == "platt"
    assert np.allclose(new.predict_proba(texts), apply_calibration(raw, clf.calibration_))
    info = json.loads((tmp_path / "new" / "sectune.json").read_text())
    info["calibration"] = {"method": "platt", "a": -1.0, "b": 0.0}  # a decreasing map would flip the ranking
    (tmp_path / "new" / "sectune.json").write_text(json.dumps(info))
    with pytest.raises(Exception, match="calibration.a"):
        load(tmp_path / "new")


def test_training_records_operating_points_and_evaluate_reports_them(trained, cmd_data) -> None:
    chosen = trained.model.run.threshold_selection
    assert chosen.source == "validation" and chosen.fpr_floor == pytest.approx(3 / chosen.validation_negatives)
    assert chosen.resolvable is False and chosen.effective_fpr == chosen.fpr_floor  # 0.001 < 3/n at this size
    low, high = chosen.validation_fpr_ci95
    assert low <= chosen.validation_fpr <= high
    assert set(chosen.operating_points) == {"0.001", "0.01"} and (chosen.validation_tpr or 0) > 0
    for point in chosen.operating_points.values():
        assert point.tpr is not None and point.tpr > 0  # never a threshold no validation positive reaches
    for metrics in (trained.metrics, evaluate(trained.output, cmd_data, verbose=False)):
        at = metrics["recall_at_fpr_validation"]
        assert set(at) == {"0.001", "0.01"} and all(0 <= at[k]["recall"] <= 1 for k in at)
        table = format_metrics_table(metrics)
        assert "recall at FPR 0.1% (validation threshold)" in table and "(oracle: threshold chosen on test)" in table
    card = (trained.output / "README.md").read_text()
    assert "Threshold chosen on" in card and "95% CI" in card and "(oracle: threshold chosen on test)" in card


def test_calibrate_on_a_benign_log_then_scan_uses_it(trained, tmp_path, capsys) -> None:
    import shutil

    from sectune.scan import scan

    model = tmp_path / "model"
    shutil.copytree(trained.output, model)
    log_file = tmp_path / "baseline.log"
    log_file.write_text("\n".join(line.text for line in generate_benign(600, rng=11)) + "\n", encoding="utf-8")
    code = main(["--quiet", "calibrate", str(model), str(log_file), "--format", "text", "--target-fpr", "0.001"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "benign lines" in out and "3/n floor" in out
    info = json.loads((model / "sectune.json").read_text())
    chosen = info["run"]["threshold_selection"]
    assert chosen["source"] == "calibrate" and info["threshold"] == chosen["threshold"]
    assert chosen["baseline"]["lines"] == 600 and len(chosen["baseline"]["sha256"]) == 64
    assert chosen["fpr_floor"] == pytest.approx(3 / 600) and chosen["resolvable"] is False
    assert chosen["validation_false_positives"] <= 3 and chosen["validation_fpr_ci95"][1] > chosen["validation_fpr"]
    assert (
        chosen["operating_points"] == trained.model.run.threshold_selection.model_dump(mode="json")["operating_points"]
    )
    assert "benign baseline log" in (model / "README.md").read_text()
    summary = scan(model, log_file, fmt="text", output=tmp_path / "alerts.jsonl")
    assert summary.threshold == chosen["threshold"] and summary.alerts == chosen["validation_false_positives"]


def test_calibrate_refuses_bad_inputs_in_one_line(trained, tmp_path, capsys, labelled_csv) -> None:
    log_file = tmp_path / "b.log"
    log_file.write_text("ls -la\n", encoding="utf-8")
    empty = tmp_path / "empty.log"
    empty.write_text("", encoding="utf-8")
    multi = train(labelled_csv, output=tmp_path / "multi", method="tfidf-logreg", verbose=False).output
    cases = [
        ([str(tmp_path), str(log_file)], "not a sectune model directory"),
        ([str(multi), str(log_file)], "needs a binary model"),
        ([str(trained.output), str(tmp_path / "missing.log")], "no such log file"),
        ([str(trained.output), str(empty), "--format", "text"], "no command line found"),
        ([str(trained.output), str(log_file), "--target-fpr", "0"], "--target-fpr must be between 0 and 1"),
    ]
    before = (trained.output / "sectune.json").read_text()
    for argv, message in cases:
        code = main(["--quiet", "calibrate", *argv])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert (trained.output / "sectune.json").read_text() == before


def test_compare_shows_validation_chosen_recall_next_to_oracle(cmd_data, tmp_path, capsys) -> None:
    out = tmp_path / "cmp"
    code = main(
        ["--quiet", "compare", str(cmd_data), "--methods", "features-logreg", "--leave-one-out", "none", "-o", str(out)]
    )
    stdout, err = capsys.readouterr()
    assert code == 0, err
    for title in ("recall@0.1%FPR (val thr)", "test FPR (val thr 1.0%)", "oracle TPR@0.1%FPR", "oracle TPR@1.0%FPR"):
        assert title in stdout, title
    row = json.loads((out / "comparison.json").read_text())["rows"][0]
    assert 0 <= row["val_recall_0.001"] <= 1 and 0 <= row["oracle_tpr_0.01"] <= 1 and row["val_fpr_0.01"] is not None
    assert "oracle TPR@FPR" in (out / "report.md").read_text()
