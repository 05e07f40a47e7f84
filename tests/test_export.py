"""``sectune export``: exported models score as the originals do, load without torch, and a bad export is refused.

Every exportable method is trained small here and exported for real (torch.onnx.export, onnxruntime, the numpy
path); probabilities must equal the original's within 1e-4 in fp32 and stay close in int8, since an exported head
that silently differs from the torch model is the failure this check exists for.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sectune.errors import SectuneError
from sectune.methods.base import load
from sectune.testing import BINARY, make_texts

FP32_TOL = 1e-4
INT8_TOL = 0.05  # dynamic int8 moves a probability by a few thousandths on these models


def _csv(path: Path, texts, labels) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("export-data")
    return {
        "multi": _csv(folder / "multi.csv", *make_texts(10)),
        "binary": _csv(folder / "binary.csv", *make_texts(12, classes=BINARY)),
        "multi_eval": _csv(folder / "multi-eval.csv", *make_texts(5, seed=3)),
        "binary_eval": _csv(folder / "binary-eval.csv", *make_texts(6, classes=BINARY, seed=3)),
    }


UNSEEN = make_texts(4, seed=7)[0] + ["", "x", "a much longer line " * 40, "w^h^o^a^m^i && powershell -enc SQBFAFgA"]


def _exported(model_dir: Path, out: Path, **kwargs):
    from sectune.export import export_model

    return export_model(model_dir, out, verbose=False, **kwargs)


def _same(original, exported, tol: float) -> float:
    before, after = original.predict_proba(UNSEEN), exported.predict_proba(UNSEEN)
    assert before.shape == after.shape and exported.labels_ == original.labels_
    diff = float(np.abs(before - after).max())
    assert diff <= tol, f"exported probabilities differ by {diff}"
    return diff


# --- numpy path ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "kind"),
    [("tfidf-logreg", "multi"), ("features-logreg", "multi"), ("shell-features", "binary"), ("rules", "binary")],
)
def test_numpy_methods_export_exactly(method, kind, data, tmp_path) -> None:
    import sectune

    trained = sectune.train(
        data[kind], output=tmp_path / "m", method=method, verbose=False, **({"min_df": 1} if "tfidf" in method else {})
    )
    result = _exported(tmp_path / "m", tmp_path / "x", eval_data=data[f"{kind}_eval"])
    exported = load(tmp_path / "x")
    assert type(exported) is type(trained.model) and exported.name == method
    assert _same(load(tmp_path / "m"), exported, FP32_TOL) == 0.0
    assert exported.threshold_ == trained.model.threshold_
    info = json.loads((tmp_path / "x" / "sectune.json").read_text())
    assert info["export"]["runtime"] == "numpy" and info["export"]["check"]["max_drop"] == 0.0
    assert result.export["check"]["rows"] == {"multi": 15, "binary": 12}[kind]  # every row of --eval-data
    assert not [p for p in (tmp_path / "x").iterdir() if p.suffix in (".pkl", ".pickle", ".bin", ".pt", ".joblib")]


def test_quantizing_a_numpy_model_is_refused(data, tmp_path) -> None:
    import sectune

    sectune.train(data["binary"], output=tmp_path / "m", method="rules", verbose=False)
    with pytest.raises(SectuneError, match="numpy path, which has no network to quantize"):
        _exported(tmp_path / "m", tmp_path / "x", quantize="int8", eval_data=data["binary_eval"])
    assert not (tmp_path / "x").exists()


# --- ONNX: encoder and charcnn -------------------------------------------------------------------------
@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_encoder_exports_within_1e4_and_int8_close(pooling, tiny_bert_dir, data, tmp_path) -> None:
    from sectune.export.onnx_backend import quantize_int8
    from sectune.methods.encoder import EncoderClassifier

    texts, labels = make_texts(6)
    model = EncoderClassifier(
        model=tiny_bert_dir, pooling=pooling, max_steps=2, batch_size=4, predict_batch_size=4, lr=1e-3, verbose=False
    ).fit(texts, labels)
    model.save_pretrained(tmp_path / "m")
    result = _exported(tmp_path / "m", tmp_path / "x", eval_data=data["multi_eval"])
    exported = load(tmp_path / "x")
    assert type(exported).__name__ == "OnnxClassifier" and exported.name == "encoder"
    _same(model, exported, FP32_TOL)
    assert result.export["check"]["max_abs_proba_diff"] <= FP32_TOL
    assert result.export["inputs"][:2] == ["input_ids", "attention_mask"]

    if pooling == "mean":
        return  # int8 once: its step is the same for both graphs
    shutil.copytree(tmp_path / "x", tmp_path / "q")  # the int8 step on the same graph (an export costs seconds)
    quantize_int8(tmp_path / "q")
    assert (tmp_path / "q" / "model.onnx").stat().st_size < (tmp_path / "x" / "model.onnx").stat().st_size
    _same(model, load(tmp_path / "q"), INT8_TOL)


@pytest.fixture(scope="module")
def charcnn_exports(data, tmp_path_factory) -> dict[str, Path]:
    """A binary charcnn trained through the pipeline (so config.yaml names its test rows), exported by the CLI in
    fp32 and int8."""
    import sectune
    from sectune.cli import main

    folder = tmp_path_factory.mktemp("charcnn")
    sectune.train(
        data["binary"],
        output=folder / "m",
        method="charcnn",
        verbose=False,
        embed_dim=8,
        filters=8,
        kernel_sizes=[3, 5],
        max_length=256,
        max_steps=6,
        batch_size=4,
    )
    assert main(["export", str(folder / "m"), "--format", "onnx", "--output", str(folder / "fp32"), "-q"]) == 0
    assert main(["export", str(folder / "m"), "--quantize", "int8", "--output", str(folder / "int8"), "-q"]) == 0
    return {"original": folder / "m", "fp32": folder / "fp32", "int8": folder / "int8"}


def test_charcnn_exports_within_1e4_and_int8_close(charcnn_exports) -> None:
    original = load(charcnn_exports["original"])
    _same(original, load(charcnn_exports["fp32"]), FP32_TOL)
    _same(original, load(charcnn_exports["int8"]), INT8_TOL)
    info = json.loads((charcnn_exports["int8"] / "sectune.json").read_text())
    assert info["export"]["quantize"] == "int8" and info["export"]["runtime"] == "onnxruntime"
    assert info["export"]["check"]["data"].startswith("the test split of")  # the rows config.yaml names
    assert info["threshold"] == original.threshold_


def test_the_card_reports_the_change_and_the_speedup(charcnn_exports) -> None:
    card = (charcnn_exports["int8"] / "README.md").read_text()
    section = card[card.index("## Export") :]
    assert "int8 dynamic quantization" in section and "| accuracy |" in section
    assert "texts/s" in section and "Largest drop allowed: 0.005" in section
    check = json.loads((charcnn_exports["int8"] / "sectune.json").read_text())["export"]["check"]
    assert check["speedup"] > 0 and set(check["texts_per_second"]) == {"original", "exported"}


def test_exported_models_predict_evaluate_and_scan_without_torch(charcnn_exports, data, tmp_path) -> None:
    """predict (CLI), evaluate, scan and sectune.load on an exported directory, in a fresh interpreter: torch is
    never imported."""
    log = tmp_path / "log.txt"
    log.write_text("whoami\npowershell -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA\nls -la /tmp\n", encoding="utf-8")
    texts = tmp_path / "texts.txt"
    texts.write_text("hello world\nselect * from users\n", encoding="utf-8")
    model = charcnn_exports["int8"]
    script = f"""
import sys
import sectune
from sectune.cli import main
from sectune.scan import scan
model = sectune.load({str(model)!r})
assert model.predict_proba(["a b c", ""]).shape == (2, 2)
assert main(["predict", {str(model)!r}, {str(texts)!r}, "-q", "--output", {str(tmp_path / "p.jsonl")!r}]) == 0
metrics = sectune.evaluate({str(model)!r}, {str(data["binary_eval"])!r}, verbose=False)
assert 0 <= metrics["accuracy"] <= 1
summary = scan({str(model)!r}, {str(log)!r}, threshold=0.0, output={str(tmp_path / "alerts.jsonl")!r})
assert summary.command_lines == 3 and summary.alerts == 3
assert "torch" not in sys.modules
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 2


# --- refusals -------------------------------------------------------------------------------------------
def test_an_export_that_scores_worse_is_refused(data, tmp_path) -> None:
    """The check itself, with a real model that differs from the original (as a broken exported head would)."""
    from sectune.export import _check
    from sectune.io import read_table
    from sectune.methods.tfidf import TfidfLogreg

    texts, labels = make_texts(10)
    original = TfidfLogreg(min_df=1, verbose=False).fit(texts, labels)
    shifted = {"sqli": "xss", "xss": "overflow", "overflow": "sqli"}
    broken = TfidfLogreg(min_df=1, verbose=False).fit(texts, [shifted[y] for y in labels])
    table = read_table(data["multi_eval"], "text", "label")
    with pytest.raises(SectuneError, match=r"export refused: .* drops by .* more than --max-delta 0.005"):
        _check(original, broken, table, "eval.csv", 0.005, force=False)
    kept = _check(original, broken, table, "eval.csv", 0.005, force=True)
    assert kept["forced"] and kept["max_drop"] > 0.5
    assert _check(original, original, table, "eval.csv", 0.0, force=False)["max_drop"] == 0.0


def test_bad_inputs_are_one_line(data, tmp_path, capsys) -> None:
    from sectune.cli import main

    llm = tmp_path / "llm"
    llm.mkdir()
    (llm / "sectune.json").write_text(json.dumps({"format_version": 2, "method": "causal-llm", "labels": ["0", "1"]}))
    assert main(["export", str(llm), "--output", str(tmp_path / "x")]) == 2
    assert "a causal-llm model cannot be exported to ONNX:" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--output", str(tmp_path / "y")]) == 2
    assert "is not a sectune model directory" in capsys.readouterr().err
    with pytest.raises(SectuneError, match="unknown quantization 'int4'"):
        _exported(llm, tmp_path / "z", quantize="int4")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_an_exported_model_is_not_exported_again(charcnn_exports, tmp_path) -> None:
    with pytest.raises(SectuneError, match="is already an exported model"):
        _exported(charcnn_exports["fp32"], tmp_path / "again")


def test_a_lossy_export_is_refused_and_nothing_is_written(charcnn_exports, tmp_path, capsys) -> None:
    """End to end: rows where the int8 export decides otherwise than the original, labelled as the original
    decides, make it drop; `sectune export` exits 2 with one line and leaves neither the output nor its staging."""
    import random

    from sectune.cli import main

    original, int8 = load(charcnn_exports["original"]), load(charcnn_exports["int8"])
    rng = random.Random(0)
    alphabet = "abcdefghij ^`$%{}()'\"|&;-/\\=+0123456789ABCDEF"
    candidates = ["".join(rng.choice(alphabet) for _ in range(rng.randint(3, 60))) for _ in range(3000)]
    before, after = original.predict(candidates), int8.predict(candidates)
    differ = [i for i in range(len(candidates)) if before[i] != after[i]]
    if not differ:
        pytest.skip("int8 decides every candidate as the original does")
    rows = _csv(tmp_path / "eval.csv", [candidates[i] for i in differ], [before[i] for i in differ])
    out = tmp_path / "out"
    code = main(
        ["export", str(charcnn_exports["original"]), "--quantize", "int8", "--max-delta", "0"]
        + ["--eval-data", str(rows), "--output", str(out), "-q"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert re.search(r"export refused: (accuracy|macro_f1|f1) drops by .*nothing was written", err)
    assert not out.exists() and not list(tmp_path.glob(".out*"))
