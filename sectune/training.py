"""What every fine-tuned transformers method shares: precision choice, the NaN guard, the Trainer.

We use transformers' Trainer (AdamW, linear warmup/decay, clipping, accumulation, evaluation,
checkpoints, resume, TensorBoard) and add only what it lacks: a guard that skips a step whose
gradients are not finite and lowers the learning rate, class-weighted loss, and our metrics.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from sectune.errors import SectuneError, TrainingDiverged

if TYPE_CHECKING:
    from sectune.methods.finetune import FineTuneArgs

log = logging.getLogger("sectune")


def resolve_precision(precision: str) -> dict[str, bool]:
    """Map ``auto|fp32|bf16|fp16`` to Trainer flags; refuse a mode this hardware cannot run."""
    cuda = torch.cuda.is_available()
    bf16_ok = cuda and torch.cuda.is_bf16_supported()
    if precision == "auto":
        return {"bf16": bf16_ok, "fp16": cuda and not bf16_ok}
    if precision == "fp32":
        return {"bf16": False, "fp16": False}
    if precision == "bf16":
        if not bf16_ok:
            raise SectuneError("--precision bf16 needs a CUDA GPU with bfloat16 support; none found (use fp32 or auto)")
        return {"bf16": True, "fp16": False}
    if precision == "fp16":
        if not cuda:
            raise SectuneError("--precision fp16 needs a CUDA GPU; none found (use fp32 or auto)")
        return {"bf16": False, "fp16": True}
    raise SectuneError(f"unknown precision '{precision}' (expected auto, fp32, bf16, fp16)")


class GuardedAdamW(torch.optim.AdamW):
    """AdamW that refuses to step on non-finite gradients.

    A NaN/inf gradient (common in small-batch fine-tuning) would poison the weights. Instead we
    skip that step, halve the learning rate for the rest of the run, and give up with a clear
    error after ``max_bad_steps`` consecutive bad steps.
    """

    def __init__(self, params, *args: Any, max_bad_steps: int = 5, lr_decay_on_nan: float = 0.5, **kwargs: Any) -> None:
        super().__init__(params, *args, **kwargs)
        self.max_bad_steps = max_bad_steps
        self.lr_decay_on_nan = lr_decay_on_nan
        self.lr_scale = 1.0
        self.bad_steps = 0
        self.consecutive_bad = 0

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        if grads and not torch.isfinite(torch.nn.utils.get_total_norm(grads)):
            self.bad_steps += 1
            self.consecutive_bad += 1
            self.lr_scale *= self.lr_decay_on_nan
            for g in grads:
                g.zero_()
            if self.consecutive_bad >= self.max_bad_steps:
                raise TrainingDiverged(
                    f"training diverged: non-finite loss or gradients in {self.consecutive_bad} consecutive steps "
                    f"even after lowering the learning rate {1 / self.lr_scale:.0f}x"
                )
            log.warning("non-finite gradients: step skipped, learning rate scaled to %.3gx", self.lr_scale)
            return None
        self.consecutive_bad = 0
        if self.lr_scale == 1.0:
            return super().step(closure)
        saved = [group["lr"] for group in self.param_groups]
        for group in self.param_groups:
            group["lr"] = group["lr"] * self.lr_scale
        try:
            return super().step(closure)
        finally:
            for group, lr in zip(self.param_groups, saved):
                group["lr"] = lr


def class_weights(label_ids: Sequence[int], n_labels: int, mode: str | None) -> torch.Tensor | None:
    """``balanced``: n / (k * count); ``sqrt``: its square root (gentler on very rare classes)."""
    if mode in (None, "", "none"):
        return None
    counts = np.bincount(np.asarray(label_ids), minlength=n_labels).astype(np.float64)
    weights = len(label_ids) / (n_labels * np.maximum(counts, 1.0))
    if mode == "sqrt":
        weights = np.sqrt(weights)
    elif mode != "balanced":
        raise SectuneError(f"unknown class weight '{mode}' (expected balanced, sqrt or none)")
    return torch.tensor(weights / weights.mean(), dtype=torch.float32)


class TokenizedDataset(torch.utils.data.Dataset):
    """Pre-tokenized texts (unpadded; the collator pads each batch to its own longest text)."""

    def __init__(self, tokenizer, texts: Sequence[str], label_ids: Sequence[int] | None, max_length: int) -> None:
        self.encodings = tokenizer(list(texts), truncation=True, max_length=max_length)
        self.label_ids = None if label_ids is None else list(label_ids)

    def __len__(self) -> int:
        return len(self.encodings["input_ids"])

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = {key: values[i] for key, values in self.encodings.items()}
        if self.label_ids is not None:
            item["labels"] = self.label_ids[i]
        return item


HEAD_NAMES = ("classifier", "score")  # freshly initialised heads of *ForSequenceClassification models


def param_groups(model, *, lr: float, weight_decay: float, head_lr_scale: float) -> list[dict[str, Any]]:
    """AdamW groups: no decay on biases and norms; the new head learns ``head_lr_scale`` x faster.

    A randomly initialised head on a pretrained body is the slow part of a short fine-tune (the
    demo's 215-class head barely moves at the body's learning rate), so it gets its own rate.
    """
    groups: dict[tuple[bool, bool], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        head = any(part in name.split(".") for part in HEAD_NAMES)
        decay = not (name.endswith("bias") or "norm" in name.lower())
        groups.setdefault((head, decay), []).append(param)
    return [
        {"params": params, "lr": lr * (head_lr_scale if head else 1.0), "weight_decay": weight_decay if decay else 0.0}
        for (head, decay), params in groups.items()
    ]


def classification_metrics(eval_pred) -> dict[str, float]:
    """Trainer's compute_metrics: the figures early stopping and the training curve use."""
    from sklearn.metrics import f1_score

    logits, labels = eval_pred
    logits = logits[0] if isinstance(logits, tuple) else logits
    pred = np.asarray(logits).argmax(axis=-1)
    return {
        "accuracy": float((pred == labels).mean()),
        "macro_f1": float(f1_score(labels, pred, average="macro", zero_division=0)),
    }


def make_trainer(
    model,
    tokenizer,
    train_dataset,
    eval_dataset,
    args: "FineTuneArgs",
    *,
    checkpoint_dir: Path,
    weights: torch.Tensor | None = None,
    max_bad_steps: int = 5,
    callbacks: Sequence[Any] = (),
    data_collator: Any = None,
    compute_metrics: Any = classification_metrics,
    label_names: list[str] | None = None,
    group_by_length: bool = False,
):
    """A transformers Trainer configured the sectune way (see module docstring).

    ``group_by_length`` batches texts of similar length together (shuffled in blocks of 50 batches,
    transformers' LengthGroupedSampler): with dynamic padding a random batch of CVE descriptions
    pads to 1.75x its real tokens, so grouping makes each CPU step much cheaper.

    ``data_collator`` (default: dynamic padding), ``compute_metrics`` and ``label_names`` let a
    method whose batches are not plain (text, class) pairs, such as a prompted causal LM, reuse
    everything else; ``compute_metrics`` must still report ``macro_f1`` for early stopping.

    ``args``: the run's settings, usually the method itself (encoder and causal-llm are FineTuneArgs);
    ``checkpoint_dir`` is where this run checkpoints (``args.checkpoint_dir`` or a scratch folder).
    """
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, TrainingArguments
    from transformers.integrations import TensorBoardCallback

    eval_steps, verbose = args.eval_steps, args.verbose
    strategy = "steps" if eval_steps else "epoch"
    has_eval = eval_dataset is not None and len(eval_dataset) > 0
    trainer_args = TrainingArguments(
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=max(args.batch_size, 32),
        gradient_accumulation_steps=args.grad_accum,
        num_train_epochs=args.epochs,
        max_steps=args.max_steps if args.max_steps else -1,
        learning_rate=args.lr,
        lr_scheduler_type="linear",
        warmup_steps=args.warmup_ratio,
        weight_decay=args.weight_decay,
        max_grad_norm=args.max_grad_norm,
        eval_strategy=strategy if has_eval else "no",
        eval_steps=eval_steps,
        save_strategy=strategy,
        save_steps=eval_steps,
        save_total_limit=2,
        load_best_model_at_end=has_eval,
        metric_for_best_model="macro_f1" if has_eval else None,
        greater_is_better=True,
        logging_steps=max(1, min(50, eval_steps or 50)),
        logging_first_step=True,
        report_to="none",
        disable_tqdm=not verbose,
        seed=args.seed,
        data_seed=args.seed,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        label_names=label_names,
        train_sampling_strategy="group_by_length" if group_by_length else "random",
        **resolve_precision(args.precision),
    )
    all_callbacks = list(callbacks)
    if args.runs_dir:
        from torch.utils.tensorboard import SummaryWriter

        all_callbacks.append(TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(args.runs_dir))))
    if has_eval and args.early_stopping_patience:
        all_callbacks.append(EarlyStoppingCallback(early_stopping_patience=args.early_stopping_patience))

    class SectuneTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if weights is None:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            loss = torch.nn.functional.cross_entropy(
                outputs.logits.float(), labels, weight=weights.to(outputs.logits.device)
            )
            return (loss, outputs) if return_outputs else loss

    trainer = SectuneTrainer(
        model=model,
        args=trainer_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset if has_eval else None,
        data_collator=data_collator or DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
        callbacks=all_callbacks,
        optimizer_cls_and_kwargs=(
            GuardedAdamW,
            {
                "params": param_groups(
                    model, lr=args.lr, weight_decay=args.weight_decay, head_lr_scale=args.head_lr_scale
                ),
                "lr": args.lr,
                "max_bad_steps": max_bad_steps,
            },
        ),
    )
    if not verbose:  # without a progress bar, Trainer prints every log dict instead: quiet means quiet
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    else:
        from transformers.trainer_callback import ProgressCallback

        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(_progress_on_stderr())
    return trainer


def _progress_on_stderr():
    """The Trainer's progress bar with its log lines (loss, eval macro-F1) on stderr: the stock callback
    writes them through ``tqdm.write`` to stdout, where only results belong."""
    import sys

    from transformers.trainer_callback import ProgressCallback

    class StderrProgress(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and self.training_bar is not None and logs:
                shown = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in logs.items() if k != "total_flos"}
                self.training_bar.write(str(shown), file=sys.stderr)

    return StderrProgress()


def skipped_steps(trainer) -> int:
    """How many steps the NaN guard skipped (the optimizer may sit inside accelerate's wrapper)."""
    optimizer = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
    return int(getattr(optimizer, "bad_steps", 0))


def _checkpoints(checkpoint_dir: Path) -> list[Path]:
    """The Trainer's ``checkpoint-N`` directories, newest first."""
    if not checkpoint_dir.is_dir():
        return []
    found = [p for p in checkpoint_dir.iterdir() if p.is_dir() and re.fullmatch(r"checkpoint-\d+", p.name)]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]), reverse=True)


def last_checkpoint(checkpoint_dir: Path) -> Path | None:
    found = _checkpoints(checkpoint_dir)
    return found[0] if found else None


def checkpoint_damage(checkpoint: Path) -> str | None:
    """Why the Trainer could not resume from ``checkpoint`` (None: it can).

    A kill or a full disk mid-save leaves files cut short. Each file type says so without loading
    a tensor: a safetensors header must cover the whole file, a torch file (a zip) keeps its
    directory at the very end, and JSON must parse; so the check costs little even for an LLM.
    """
    from safetensors import SafetensorError, safe_open
    from transformers.utils import (
        ADAPTER_SAFE_WEIGHTS_NAME,
        ADAPTER_WEIGHTS_NAME,
        SAFE_WEIGHTS_INDEX_NAME,
        SAFE_WEIGHTS_NAME,
        WEIGHTS_INDEX_NAME,
        WEIGHTS_NAME,
    )

    weights = (
        SAFE_WEIGHTS_NAME,
        SAFE_WEIGHTS_INDEX_NAME,
        WEIGHTS_NAME,
        WEIGHTS_INDEX_NAME,
        ADAPTER_SAFE_WEIGHTS_NAME,
        ADAPTER_WEIGHTS_NAME,
    )
    if not any((checkpoint / name).is_file() for name in weights):
        return "no model weights"
    if not (checkpoint / "trainer_state.json").is_file():
        return "no trainer_state.json"
    for path in sorted(p for p in checkpoint.rglob("*") if p.is_file()):
        try:
            if path.suffix == ".safetensors":
                with safe_open(str(path), framework="pt"):
                    pass
            elif path.suffix in (".pt", ".pth", ".bin"):
                zipfile.ZipFile(path).close()
            elif path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, zipfile.BadZipFile, SafetensorError) as exc:
            return f"{path.relative_to(checkpoint)}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    return None


def resumable_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest whole checkpoint; damaged newer ones are removed so the resumed run rewrites them cleanly.

    Raises a SectuneError when checkpoints exist but none is whole: starting over silently would
    throw away what the user asked to keep.
    """
    damaged: list[tuple[Path, str]] = []
    for checkpoint in _checkpoints(checkpoint_dir):
        why = checkpoint_damage(checkpoint)
        if why is None:
            for bad, reason in damaged:
                log.warning(
                    "checkpoint %s is damaged (%s): removed, resuming from %s instead", bad, reason, checkpoint.name
                )
                shutil.rmtree(bad)
            return checkpoint
        damaged.append((checkpoint, why))
    if damaged:
        bad, why = damaged[0]
        raise SectuneError(f"checkpoint {bad} is damaged ({why}); no earlier good checkpoint: rerun without --resume")
    return None


def run_training(trainer, checkpoint_dir: Path, *, resume: bool) -> list[dict]:
    """Train (resuming from the last checkpoint when asked) and return the log history."""
    resume_from = None
    if resume:
        resume_from = resumable_checkpoint(checkpoint_dir)
        if resume_from is None:
            log.warning("--resume: no checkpoint in %s, starting from scratch", checkpoint_dir)
        else:
            log.info("resuming from %s", resume_from)
    try:
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except TrainingDiverged as exc:
        kept = last_checkpoint(checkpoint_dir)
        where = f"; the last good checkpoint is {kept} (rerun with --resume and a lower --lr)" if kept else ""
        raise TrainingDiverged(f"{exc}{where}") from None
    return list(trainer.state.log_history)
