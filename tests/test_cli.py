"""The command line: each method end to end, and every bad input as one line + exit code 2."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sectune.cli import main
from tests.conftest import make_texts


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["--quiet", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith("sectune: error: ")
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


@pytest.mark.parametrize("method", ["tfidf-logreg", "embed-logreg", "encoder"])
def test_train_evaluate_predict_each_method_on_csv(capsys, tmp_path, labelled_csv, tiny_bert_dir, method) -> None:
    out_dir = tmp_path / "model"
    extra = [] if method == "tfidf-logreg" else ["--model", tiny_bert_dir]
    if method == "encoder":
        extra += ["--max-steps", "4", "--batch-size", "4", "--eval-steps", "2"]
    code, out, err = run(
        capsys, "train", str(labelled_csv), "--method", method, "--output", str(out_dir), *extra, "--param", "seed=7"
    )
    assert code == 0, err
    assert "macro F1" in out and f"model written to {out_dir}" in out
    for name in ("sectune.json", "metrics.json", "README.md", "config.yaml", "confusion.png", "per_class.csv"):
        assert (out_dir / name).is_file(), name
    info = json.loads((out_dir / "sectune.json").read_text())
    assert info["method"] == method and info["labels"] == ["overflow", "sqli", "xss"]
    assert len(info["run"]["training"]["data"]["sha256"]) == 64
    assert info["params"]["seed"] == 7
    assert "torch" in info["run"]["versions"]
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["macro_f1"] <= 1.0 and metrics["n"] == 6
    assert not (tmp_path / ".model.partial").exists(), "the staging directory is gone once the run is complete"
    if method == "encoder":
        assert (out_dir / "training_curve.png").is_file()
        assert any((out_dir / "runs").rglob("events.out.tfevents.*")), "TensorBoard logs under OUTPUT/runs"
        assert not (out_dir / "checkpoints").exists()
        assert (out_dir / "model.safetensors").is_file()

    code, out, err = run(
        capsys, "evaluate", str(out_dir), str(labelled_csv), "--json", "--output", str(tmp_path / "ev")
    )
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["n"] == 30 and {"top1", "top3", "top5", "macro_f1", "weighted_f1", "per_class"} <= set(metrics)
    assert (tmp_path / "ev" / "per_class.csv").is_file() and (tmp_path / "ev" / "confusion.png").is_file()

    texts = tmp_path / "in.txt"
    texts.write_text("sql injection in login query\nscript in html comment\nheap buffer overflow\n", encoding="utf-8")
    code, out, err = run(
        capsys, "predict", str(out_dir), str(texts), "--top-k", "3", "--output", str(tmp_path / "p.jsonl")
    )
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [1, 2, 3]
    for row in rows:
        scores = [p["score"] for p in row["predictions"]]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True)
        assert sum(scores) == pytest.approx(1.0, abs=1e-4)
    if method == "tfidf-logreg":
        assert [r["predictions"][0]["label"] for r in rows] == ["sqli", "xss", "overflow"]


def test_config_file_reproduces_a_run(capsys, tmp_path, labelled_csv) -> None:
    code, _, err = run(
        capsys,
        "train",
        str(labelled_csv),
        "--method",
        "tfidf-logreg",
        "--output",
        str(tmp_path / "a"),
        "--param",
        "C=3",
    )
    assert code == 0, err
    saved = (tmp_path / "a" / "config.yaml").read_text()
    config = tmp_path / "run.yaml"
    config.write_text(saved.replace(str(tmp_path / "a"), str(tmp_path / "b")), encoding="utf-8")
    code, _, err = run(capsys, "train", "--config", str(config))
    assert code == 0, err
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert a["per_class"] == b["per_class"] and a["macro_f1"] == b["macro_f1"]
    assert json.loads((tmp_path / "b" / "sectune.json").read_text())["params"]["C"] == 3
    # a flag overrides the file
    code, _, err = run(
        capsys,
        "train",
        "--config",
        str(config),
        "--method",
        "tfidf-logreg",
        "--param",
        "C=0.5",
        "--output",
        str(tmp_path / "c"),
    )
    assert code == 0, err
    assert json.loads((tmp_path / "c" / "sectune.json").read_text())["params"]["C"] == 0.5


def test_python_train_takes_config_keys_and_method_parameters_alike(tmp_path, labelled_csv) -> None:
    import sectune
    from sectune.errors import SectuneError

    result = sectune.train(labelled_csv, output=tmp_path / "m", method="tfidf-logreg", seed=7, C=3, verbose=False)
    info = json.loads((tmp_path / "m" / "sectune.json").read_text())
    assert info["params"]["C"] == 3 and result.model.C == 3
    assert "seed: 7" in (tmp_path / "m" / "config.yaml").read_text()
    with pytest.raises(SectuneError, match=r"method 'tfidf-logreg' has no parameter\(s\) max_step \(it takes: .*C"):
        sectune.train(labelled_csv, output=tmp_path / "n", method="tfidf-logreg", max_step=3, verbose=False)
    assert not (tmp_path / "n").exists()


def test_predict_from_stdin_and_data_file_with_ids(capsys, tmp_path, labelled_csv, monkeypatch) -> None:
    import io

    run(capsys, "train", str(labelled_csv), "--method", "tfidf-logreg", "--output", str(tmp_path / "m"))
    monkeypatch.setattr(sys, "stdin", io.StringIO("sql union select\nhtml script\n"))
    code, out, err = run(capsys, "predict", str(tmp_path / "m"), "-", "--top-k", "1")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["predictions"][0]["label"] for r in rows] == ["sqli", "xss"]
    data = tmp_path / "ids.jsonl"
    data.write_text(
        '{"id": "a1", "text": "buffer overflow heap"}\n{"id": "b2", "text": "sql login"}\n', encoding="utf-8"
    )
    code, out, err = run(capsys, "predict", str(tmp_path / "m"), str(data), "--id-column", "id", "--top-k", "2")
    assert code == 0, err
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["a1", "b2"]


def test_min_examples_and_list_labels(capsys, tmp_path, caplog) -> None:
    texts, labels = make_texts(10)
    rows = [{"text": t, "cwe": [y, "extra"]} for t, y in zip(texts, labels)] + [
        {"text": "rare thing here", "cwe": ["rare"]}
    ]
    path = tmp_path / "d.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    code, _, err = run(
        capsys,
        "train",
        str(path),
        "--label-column",
        "cwe",
        "--min-examples",
        "2",
        "--method",
        "tfidf-logreg",
        "--output",
        str(tmp_path / "m"),
    )
    assert code == 0, err
    info = json.loads((tmp_path / "m" / "sectune.json").read_text())
    assert info["labels"] == ["overflow", "sqli", "xss"]
    assert info["run"]["training"]["dropped"] == {"rows": 1, "classes": 1}
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["top1_any"] >= 0


def write(path: Path, content: bytes | str) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


BAD_INPUTS = {
    "missing file": (lambda d: d / "nope.csv", ["nope.csv", "no such file"]),
    "unknown format": (lambda d: write(d / "data.xlsx", "x"), ["data.xlsx", "unknown format"]),
    "missing column": (lambda d: write(d / "c.csv", "body,label\nhello,a\n"), ["c.csv", "no column 'text'"]),
    "empty text": (lambda d: write(d / "e.csv", "text,label\nhello,a\n   ,b\n"), ["e.csv", "row 2", "empty text"]),
    "non-utf8": (lambda d: write(d / "u.csv", b"text,label\nhello,a\ncaf\xe9,b\n"), ["u.csv:3", "UTF-8"]),
    "malformed json": (
        lambda d: write(d / "m.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": \n'),
        ["m.jsonl:2", "malformed JSON"],
    ),
    "one class": (
        lambda d: write(d / "o.csv", "text,label\n" + "".join(f"text {i},same\n" for i in range(10))),
        ["at least 2 classes"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_training_input_is_one_line_exit_2(capsys, tmp_path, case) -> None:
    make_path, needles = BAD_INPUTS[case]
    path = make_path(tmp_path)
    code, out, err = run(capsys, "train", str(path), "--method", "tfidf-logreg", "--output", str(tmp_path / "out"))
    assert_one_line_error(code, err, *needles)
    assert out == ""
    assert not (tmp_path / "out").exists(), "nothing that looks like a model is left behind"


def test_failed_retrain_keeps_the_previous_model(capsys, tmp_path, labelled_csv) -> None:
    run(capsys, "train", str(labelled_csv), "--method", "tfidf-logreg", "--output", str(tmp_path / "m"))
    before = (tmp_path / "m" / "sectune.json").read_text()
    bad = write(tmp_path / "bad.csv", "text,label\nonly,one\nclass,one\n")
    code, _, err = run(capsys, "train", str(bad), "--method", "tfidf-logreg", "--output", str(tmp_path / "m"))
    assert code == 2
    assert (tmp_path / "m" / "sectune.json").read_text() == before


def test_unseen_label_at_evaluation_is_reported_not_fatal(capsys, tmp_path, labelled_csv) -> None:
    run(capsys, "train", str(labelled_csv), "--method", "tfidf-logreg", "--output", str(tmp_path / "m"))
    data = write(tmp_path / "new.csv", "text,label\nsql injection,sqli\nsome new kind of bug,race\n")
    code, out, err = run(capsys, "evaluate", str(tmp_path / "m"), str(data), "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["unseen_labels"] == {"race": 1} and metrics["n"] == 2


def test_model_dir_that_is_not_one(capsys, tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "predict", str(tmp_path / "empty"), "-")
    assert_one_line_error(code, err, "empty", "not a sectune model directory")
    code, _, err = run(capsys, "evaluate", str(tmp_path / "missing"), str(tmp_path / "x.csv"))
    assert_one_line_error(code, err, "no such model directory")


def test_bad_settings_are_one_line(capsys, tmp_path, labelled_csv) -> None:
    code, _, err = run(capsys, "train", str(labelled_csv), "--method", "nope", "--output", str(tmp_path / "m"))
    assert_one_line_error(code, err, "unknown method 'nope'")
    code, _, err = run(
        capsys,
        "train",
        str(labelled_csv),
        "--method",
        "tfidf-logreg",
        "--param",
        "bogus=1",
        "--output",
        str(tmp_path / "m"),
    )
    assert_one_line_error(code, err, "no parameter(s) bogus")
    code, _, err = run(capsys, "train", str(labelled_csv), "--split", "weird", "--output", str(tmp_path / "m"))
    assert_one_line_error(code, err, "unknown split 'weird'")
    config = write(tmp_path / "run.yaml", "data: x.csv\noutput: m\nlearning_rate: 3\n")
    code, _, err = run(capsys, "train", "--config", str(config))
    assert_one_line_error(code, err, "learning_rate")


def test_console_script_exit_code_and_single_line(tmp_path) -> None:
    exe = Path(sys.executable).with_name("sectune")
    result = subprocess.run(
        [str(exe), "train", str(tmp_path / "missing.csv"), "--output", str(tmp_path / "m")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip().count("\n") == 0 and "missing.csv" in result.stderr and "Traceback" not in result.stderr
    )


def test_binary_model_stores_threshold_chosen_for_target_fpr(capsys, tmp_path) -> None:
    texts, labels = make_texts(40, classes=("sqli", "xss"))
    path = tmp_path / "bin.csv"
    path.write_text(
        "text,label\n" + "".join(f"{t},{int(y == 'xss')}\n" for t, y in zip(texts, labels)), encoding="utf-8"
    )
    code, out, err = run(
        capsys, "train", str(path), "--method", "tfidf-logreg", "--target-fpr", "0.05", "--output", str(tmp_path / "m")
    )
    assert code == 0, err
    info = json.loads((tmp_path / "m" / "sectune.json").read_text())
    chosen = info["run"]["threshold_selection"]
    assert info["threshold"] == chosen["threshold"] and chosen["target_fpr"] == 0.05
    # a target below what the validation negatives resolve (3/n, the rule of three) is chosen for 3/n instead
    assert (
        chosen["effective_fpr"] == max(0.05, chosen["fpr_floor"])
        and chosen["validation_fpr"] <= chosen["effective_fpr"]
    )
    assert chosen["validation_rows"] == info["run"]["training"]["validation_rows"] > 0
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["threshold"] == info["threshold"] and {"roc_auc", "pr_auc", "fpr_at_tpr95", "fpr_at_tpr99"} <= set(
        metrics
    )
    assert "FPR at TPR 95%" in out


def test_global_options_work_after_the_command(capsys, tmp_path, labelled_csv) -> None:
    """`sectune train DATA --quiet` as users type it, not only `sectune --quiet train DATA`."""
    code = main(["train", str(labelled_csv), "--method", "tfidf-logreg", "--output", str(tmp_path / "m"), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "model written to" in out and "training" not in err  # quiet: no log lines
    code = main(["data", "cmdline", "--n", "20", "--output", str(tmp_path / "c.jsonl"), "-q"])
    assert code == 0 and capsys.readouterr().err == ""


def test_predict_gives_a_binary_models_decision_at_its_threshold(capsys, tmp_path) -> None:
    """The top label by probability is not the decision when the threshold is not 0.5: predict says both."""
    import csv

    from sectune.methods.base import load

    path = tmp_path / "d.csv"
    texts, labels = make_texts(12, ("sqli", "xss"))
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *zip(texts, labels)])
    assert main(["--quiet", "train", str(path), "--method", "tfidf-logreg", "--output", str(tmp_path / "m")]) == 0
    info_path = tmp_path / "m" / "sectune.json"
    info = json.loads(info_path.read_text())
    info["threshold"] = 0.99  # a strict operating point: most lines that lean xss are still not decided xss
    info_path.write_text(json.dumps(info))
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    capsys.readouterr()
    assert main(["--quiet", "predict", str(tmp_path / "m"), str(tmp_path / "in.txt"), "--top-k", "1"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    clf = load(tmp_path / "m")
    assert [r["decision"] for r in rows] == clf.predict(texts)
    assert any(r["predictions"][0]["label"] != r["decision"] for r in rows)


def test_predict_reads_the_text_column_the_model_was_trained_on(capsys, tmp_path) -> None:
    import csv

    path = tmp_path / "d.csv"
    texts, labels = make_texts(8)
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([("message", "verdict"), *zip(texts, labels)])
    argv = ["--quiet", "train", str(path), "--method", "tfidf-logreg", "--text-column", "message"]
    assert main([*argv, "--label-column", "verdict", "--output", str(tmp_path / "m")]) == 0
    capsys.readouterr()
    assert main(["--quiet", "predict", str(tmp_path / "m"), str(path)]) == 0  # no --text-column: message, as trained
    assert len(capsys.readouterr().out.splitlines()) == len(texts)


def test_a_log_file_gets_no_progress_bar_debris(tmp_path, tiny_bert_dir) -> None:
    """stderr redirected to a file: no redrawn bars (their cursor-up escapes), the log lines still there."""
    import csv

    path = tmp_path / "d.csv"
    texts, labels = make_texts(10)
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *zip(texts, labels)])
    argv = [
        "train",
        str(path),
        "--method",
        "encoder",
        "--model",
        tiny_bert_dir,
        "--max-steps",
        "4",
        "--eval-steps",
        "2",
    ]
    env = {k: v for k, v in __import__("os").environ.items() if k != "TQDM_DISABLE"}
    done = subprocess.run(
        [sys.executable, "-m", "sectune", *argv, "--batch-size", "4", "--output", str(tmp_path / "m")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-1000:]
    assert "\x1b[A" not in done.stderr and "\r" not in done.stderr
    assert "'loss'" in done.stderr and "'loss'" not in done.stdout
