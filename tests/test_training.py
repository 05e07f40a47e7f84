"""The encoder's training features: NaN guard, resume, LoRA, precision choice, safe loading."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import TrainerCallback

from sectune.errors import SectuneError, TrainingDiverged
from sectune.methods.encoder import EncoderClassifier
from sectune.methods.finetune import FineTuneArgs
from sectune.models import check_model_dir, resolve_base_model
from sectune.training import GuardedAdamW, class_weights, resolve_precision
from tests.conftest import make_texts


def encoder(tiny: str, **kw) -> EncoderClassifier:
    params = dict(model=tiny, batch_size=4, predict_batch_size=8, lr=1e-3, verbose=False)
    params.update(kw)
    return EncoderClassifier(**params)


class InjectNaN(TrainerCallback):
    """Poison the gradients right before the optimizer step on the chosen steps."""

    def __init__(self, steps) -> None:
        self.steps = set(steps)
        self.calls = 0

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.calls += 1
        if self.calls in self.steps or "all" in self.steps:
            next(p for p in model.parameters() if p.grad is not None).grad.fill_(float("nan"))


def test_guarded_adamw_skips_non_finite_step_and_lowers_lr() -> None:
    weight = torch.nn.Parameter(torch.ones(3))
    opt = GuardedAdamW([weight], lr=0.1, max_bad_steps=3)
    weight.grad = torch.tensor([float("nan"), 1.0, 1.0])
    opt.step()
    assert torch.equal(weight.detach(), torch.ones(3)), "a NaN step must not touch the weights"
    assert opt.bad_steps == 1 and opt.lr_scale == 0.5
    weight.grad = torch.ones(3)
    opt.step()
    assert not torch.equal(weight.detach(), torch.ones(3))
    assert opt.param_groups[0]["lr"] == 0.1, "the scheduler's lr is restored after a scaled step"
    assert opt.consecutive_bad == 0
    for _ in range(2):
        weight.grad = torch.full((3,), float("inf"))
        opt.step()
    weight.grad = torch.full((3,), float("inf"))
    with pytest.raises(TrainingDiverged, match="3 consecutive steps"):
        opt.step()


def test_injected_nan_is_skipped_and_training_finishes(tiny_bert_dir) -> None:
    texts, labels = make_texts(8)
    model = encoder(tiny_bert_dir, max_steps=6)
    model.extra_callbacks = [InjectNaN({2})]
    model.fit(texts, labels)
    assert model.optimizer_stats_["skipped_steps"] == 1
    proba = model.predict_proba(texts)
    assert np.isfinite(proba).all()
    assert all(np.isfinite(p.detach().numpy()).all() for p in model.net_.parameters())


def test_repeated_nan_stops_with_clear_message_and_keeps_checkpoint(tiny_bert_dir, tmp_path) -> None:
    texts, labels = make_texts(8)
    model = encoder(
        tiny_bert_dir, max_steps=12, eval_steps=2, early_stopping_patience=0, checkpoint_dir=str(tmp_path / "ckpt")
    )
    model.extra_callbacks = [InjectNaN(set(range(5, 100)))]
    with pytest.raises(TrainingDiverged, match=r"diverged.*last good checkpoint is .*checkpoint-\d+") as caught:
        model.fit(texts[::2], labels[::2], texts[1::2], labels[1::2])
    kept = Path(re.search(r"(/\S+checkpoint-\d+)", str(caught.value)).group(1))
    from safetensors.numpy import load_file

    weights = load_file(str(kept / "model.safetensors"))
    assert all(np.isfinite(w).all() for w in weights.values()), "skipped steps never poisoned a checkpoint"


class StopAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt("simulated kill")


class FirstStep(TrainerCallback):
    def __init__(self) -> None:
        self.first = None

    def on_step_end(self, args, state, control, **kwargs):
        if self.first is None:
            self.first = state.global_step


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_resume_continues_from_last_checkpoint(tiny_bert_dir, tmp_path, pooling) -> None:
    texts, labels = make_texts(8)
    ckpt = tmp_path / "ckpt"
    killed = encoder(
        tiny_bert_dir, max_steps=8, eval_steps=2, early_stopping_patience=0, checkpoint_dir=str(ckpt), pooling=pooling
    )
    killed.extra_callbacks = [StopAt(5)]
    with pytest.raises(KeyboardInterrupt):
        killed.fit(texts[::2], labels[::2], texts[1::2], labels[1::2])
    assert (ckpt / "checkpoint-4").is_dir()
    resumed = encoder(
        tiny_bert_dir,
        max_steps=8,
        eval_steps=2,
        early_stopping_patience=0,
        checkpoint_dir=str(ckpt),
        resume=True,
        pooling=pooling,
    )
    first = FirstStep()
    resumed.extra_callbacks = [first]
    resumed.fit(texts[::2], labels[::2], texts[1::2], labels[1::2])
    assert first.first == 5, "training picked up after checkpoint-4, not from step 1"
    assert resumed.log_history_[-1]["step"] == 8


def test_early_stopping_keeps_best_and_logs_macro_f1(tiny_bert_dir) -> None:
    texts, labels = make_texts(10)
    model = encoder(tiny_bert_dir, max_steps=10, eval_steps=2, early_stopping_patience=1)
    model.fit(texts[::2], labels[::2], texts[1::2], labels[1::2])
    evals = [h for h in model.log_history_ if "eval_macro_f1" in h]
    assert evals, "evaluation ran every eval_steps"
    assert all(0.0 <= h["eval_macro_f1"] <= 1.0 for h in evals)


def test_lora_trains_and_saves_merged_plain_model(tiny_bert_dir, tmp_path) -> None:
    texts, labels = make_texts(8)
    model = encoder(tiny_bert_dir, max_steps=3, lora_r=4)
    model.fit(texts, labels)
    model.save_pretrained(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "sectune.json").read_text())
    assert saved["params"]["lora_r"] == 4
    assert not list((tmp_path / "m").glob("adapter_*")), "LoRA is merged into ordinary weights"
    assert "lora" not in " ".join(n for n, _ in model.net_.named_parameters())


def test_class_weights_balanced_and_sqrt() -> None:
    w = class_weights([0, 0, 0, 1], 2, "balanced")
    assert w[1] / w[0] == pytest.approx(3.0)
    w = class_weights([0, 0, 0, 1], 2, "sqrt")
    assert w[1] / w[0] == pytest.approx(math.sqrt(3.0))
    assert class_weights([0, 1], 2, None) is None


def test_precision_modes_on_this_hardware() -> None:
    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only behaviour")
    assert resolve_precision("auto") == {"bf16": False, "fp16": False}
    with pytest.raises(SectuneError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16")
    with pytest.raises(SectuneError, match="bf16 needs a CUDA GPU"):
        resolve_precision("bf16")


def test_fp16_refused_before_any_work(tiny_bert_dir) -> None:
    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only behaviour")
    texts, labels = make_texts(4)
    with pytest.raises(SectuneError, match="fp16 needs a CUDA GPU"):
        encoder(tiny_bert_dir, max_steps=1, precision="fp16").fit(texts, labels)


def test_pickle_only_model_dir_is_refused(tiny_bert_dir, tmp_path) -> None:
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_bert_dir, pickled)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(SectuneError, match="only pickle weights.*--allow-pickle"):
        resolve_base_model(str(pickled))
    assert resolve_base_model(str(pickled), allow_pickle=True) == str(pickled)


def test_not_a_model_dir(tmp_path) -> None:
    with pytest.raises(SectuneError, match="no config.json"):
        check_model_dir(tmp_path)
    with pytest.raises(SectuneError, match="does not exist"):
        resolve_base_model("./no/such/dir")


def test_hub_id_fails_loudly_offline() -> None:
    texts, labels = make_texts(4)
    with pytest.raises(SectuneError, match=r"cannot load model 'sectune-test/no-such-model'.*local model directory"):
        EncoderClassifier(model="sectune-test/no-such-model", max_steps=1, verbose=False).fit(texts, labels)


def test_real_default_minilm_fine_tunes(tmp_path) -> None:
    """The packaged all-MiniLM-L6-v2, a few steps, saved and reloaded: the real default path."""
    texts, labels = make_texts(8)
    model = EncoderClassifier(max_steps=8, batch_size=8, lr=2e-4, verbose=False).fit(texts, labels)
    assert model.net_.config.hidden_size == 384 and model.net_.config.num_hidden_layers == 6
    assert model.pooling_ == "mean"
    model.save_pretrained(tmp_path / "minilm")
    from sectune import load

    again = load(tmp_path / "minilm")
    np.testing.assert_allclose(again.predict_proba(texts), model.predict_proba(texts), atol=1e-5)
    assert (again.predict_proba(texts).argmax(1) == [again.labels_.index(y) for y in labels]).mean() > 0.5


@pytest.mark.parametrize("lora_r", [0, 4])
def test_mean_pooling_head_trains_saves_and_reloads(tiny_bert_dir, tmp_path, lora_r) -> None:
    from sectune import load
    from sectune.methods.pooled import MeanPoolingClassifier

    texts, labels = make_texts(8)
    model = encoder(tiny_bert_dir, max_steps=3, pooling="mean", lora_r=lora_r).fit(texts, labels)
    assert isinstance(model.net_, MeanPoolingClassifier)
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "pooled_head.safetensors").is_file()
    again = load(tmp_path / "m")
    assert isinstance(again.net_, MeanPoolingClassifier)
    assert "lora" not in " ".join(n for n, _ in again.net_.named_parameters())
    np.testing.assert_allclose(again.predict_proba(texts), model.predict_proba(texts), atol=1e-6)


def test_auto_pooling_follows_how_the_checkpoint_was_trained(tiny_bert_dir) -> None:
    from sectune.methods.pooled import trained_pooling
    from sectune.models import default_encoder_path

    assert trained_pooling(default_encoder_path()) == "mean"  # all-MiniLM-L6-v2 is a sentence-transformers model
    assert trained_pooling(tiny_bert_dir) == "cls"


@pytest.mark.parametrize("grouped", [True, False])
def test_group_by_length_batches_similar_lengths(tiny_bert_dir, tmp_path, grouped) -> None:
    """Grouped batches (the encoder's default) pad far less than random ones: the CPU step is cheaper."""
    from sectune import training

    rng = np.random.default_rng(0)
    texts = [" ".join(["word"] * int(n)) for n in rng.integers(2, 60, size=256)]
    model = encoder(tiny_bert_dir, group_by_length=grouped, max_steps=1)
    model.fit(texts[:8], ["a", "b"] * 4)
    dataset = training.TokenizedDataset(model.tokenizer_, texts, [0] * len(texts), 64)
    args = FineTuneArgs(
        batch_size=8,
        epochs=1,
        lr=1e-3,
        warmup_ratio=0.0,
        weight_decay=0.0,
        early_stopping_patience=None,
        precision="fp32",
        seed=0,
        verbose=False,
    )
    trainer = training.make_trainer(
        model.net_, model.tokenizer_, dataset, None, args, checkpoint_dir=tmp_path / "ckpt", group_by_length=grouped
    )
    lengths = [len(item["input_ids"]) for item in dataset]
    order = list(trainer._get_train_sampler())
    assert sorted(order) == list(range(len(texts)))  # every text once per epoch, whatever the grouping
    batches = [order[i : i + 8] for i in range(0, len(order), 8)]
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches) / sum(lengths)
    assert (padded < 1.1) if grouped else (padded > 1.3), padded


def test_training_logs_stay_off_stdout(capfd, tmp_path, tiny_bert_dir) -> None:
    """Loss and evaluation lines are progress, not results: stdout holds only what the command prints as its result."""
    from sectune.methods.encoder import EncoderClassifier
    from sectune.testing import make_texts

    texts, labels = make_texts(8)
    EncoderClassifier(model=tiny_bert_dir, max_steps=4, eval_steps=2, batch_size=4, verbose=True).fit(
        texts, labels, texts[:6], labels[:6]
    )
    out, err = capfd.readouterr()
    assert "'loss'" not in out and "eval_macro_f1" not in out
    assert "'loss'" in err  # the log lines exist, on stderr
