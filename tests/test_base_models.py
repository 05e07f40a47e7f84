"""A base model the user brings (``--model`` a local dir or hub id): a RoBERTa with its own [CLS] head, a
sentence-transformers layout read by mean pooling; the same commands, and GPU-only modes refused on CPU."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sectune.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["--quiet", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def train(capsys, data: Path, model: str, output: Path, *extra: str) -> tuple[int, str]:
    code, _, err = run(
        capsys, "train", str(data), "--method", "encoder", "--model", model, "--max-steps", "2", "--max-length", "48",
        "--output", str(output), *extra,
    )  # fmt: skip
    return code, err


def test_roberta_trains_and_predicts_with_its_own_head(capsys, tmp_path, labelled_csv, tiny_roberta_dir) -> None:
    code, err = train(capsys, labelled_csv, tiny_roberta_dir, tmp_path / "m")
    assert code == 0, err
    info = json.loads((tmp_path / "m" / "sectune.json").read_text())
    assert info["state"]["pooling"] == "cls" and info["run"]["base_model"] == tiny_roberta_dir
    assert json.loads((tmp_path / "m" / "config.json").read_text())["architectures"] == [
        "RobertaForSequenceClassification"
    ]
    texts = tmp_path / "in.txt"
    texts.write_text("a line to score\n", encoding="utf-8")
    code, out, err = run(capsys, "predict", str(tmp_path / "m"), str(texts), "--format", "jsonl")
    assert code == 0 and json.loads(out)["predictions"][0]["label"] in info["labels"], err


def test_sentence_transformers_layout_is_mean_pooled(capsys, tmp_path, labelled_csv, tiny_bert_dir) -> None:
    """A 1_Pooling/config.json asking for mean tokens: the model is fine-tuned the way it was trained."""
    base = tmp_path / "st-model"
    shutil.copytree(tiny_bert_dir, base)
    (base / "1_Pooling").mkdir()
    (base / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}), encoding="utf-8")
    code, err = train(capsys, labelled_csv, str(base), tmp_path / "m")
    assert code == 0, err
    assert json.loads((tmp_path / "m" / "sectune.json").read_text())["state"]["pooling"] == "mean"
    assert (tmp_path / "m" / "body" / "config.json").is_file()


def test_a_half_precision_checkpoint_trains_in_fp32(capsys, tmp_path, labelled_csv, tiny_bert_dir) -> None:
    """Hub models often ship fp16 weights; training keeps fp32 master weights and saves them, so the model also
    scores on a CPU."""
    import torch
    from transformers import AutoModel

    import sectune

    base = tmp_path / "half"
    AutoModel.from_pretrained(tiny_bert_dir).half().save_pretrained(base)
    shutil.copy(Path(tiny_bert_dir) / "tokenizer.json", base)
    shutil.copy(Path(tiny_bert_dir) / "tokenizer_config.json", base)
    code, err = train(capsys, labelled_csv, str(base), tmp_path / "m", "--pooling", "mean")
    assert code == 0, err
    model = sectune.load(tmp_path / "m", verbose=False)
    assert {p.dtype for p in model.net_.parameters()} == {torch.float32}


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_gpu_precision_is_refused_on_cpu_in_one_line(capsys, tmp_path, labelled_csv, tiny_bert_dir, precision) -> None:
    code, err = train(capsys, labelled_csv, tiny_bert_dir, tmp_path / "m", "--precision", precision)
    assert code == 2 and err.startswith(f"sectune: error: --precision {precision} needs a CUDA GPU"), err
    assert err.count("\n") == 1 and not (tmp_path / "m").exists()


def test_inference_on_cpu_runs_the_weights_as_saved() -> None:
    import torch

    from sectune.methods.hf import inference

    with inference(torch.device("cpu")):
        assert torch.is_inference_mode_enabled() and not torch.is_autocast_enabled("cuda")
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32
