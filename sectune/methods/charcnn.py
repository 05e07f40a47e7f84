"""``charcnn``: a small byte-level convolutional network, trained from scratch (no pretrained model).

Each line is read as its UTF-8 bytes (ids 1..256; 0 is padding), truncated to ``max_length`` bytes.
Network: byte embedding (``embed_dim``) -> one 1-D convolution per kernel width (``kernel_sizes``,
``filters`` each) -> ReLU + global max pool over the line -> dropout -> linear layer over the classes.

Only windows that start inside the line are pooled (a line shorter than the widest kernel keeps its
first window), so a line's probabilities do not depend on the padding of the batch it is in: batches
are padded to their own longest line, never to ``max_length``. Training is a plain loop: AdamW (the
NaN-guarded one of :mod:`sectune.training`) with linear decay, gradient clipping, optional class
weights, shuffled length-bucketed batches, and -- when eval rows are given -- evaluation after each
epoch with early stopping on macro-F1 (the best weights are kept in memory). Weights are saved as
``model.safetensors``; the architecture is the parameters in ``sectune.json``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import math
from pathlib import Path
from typing import Annotated, Any, Mapping, Sequence

import numpy as np
from pydantic import Field

from sectune.errors import SectuneError
from sectune.methods.base import (
    Classifier,
    Fraction,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Seed,
    TorchClassWeight,
)
from sectune.methods.hf import device, longest_first
from sectune.methods.info import check_outputs
from sectune.methods.tags import MethodTags

log = logging.getLogger("sectune")

WEIGHTS_FILE = "model.safetensors"
_BUCKET = 50  # training batches are drawn from pools of 50 batches sorted by length: little padding, still shuffled


def encode(texts: Sequence[str], max_length: int) -> list[np.ndarray]:
    """Byte ids (1..256) of each text, truncated to ``max_length`` bytes."""
    return [
        np.frombuffer(t.encode("utf-8", "surrogatepass")[:max_length], dtype=np.uint8).astype(np.int64) + 1
        for t in texts
    ]


def _build_net(n_labels: int, embed_dim: int, filters: int, kernel_sizes: Sequence[int], dropout: float):
    import torch
    from torch import nn

    class ByteCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kernel_sizes = [int(k) for k in kernel_sizes]
            self.embed = nn.Embedding(257, embed_dim, padding_idx=0)
            self.convs = nn.ModuleList(nn.Conv1d(embed_dim, filters, k) for k in self.kernel_sizes)
            self.dropout = nn.Dropout(dropout)
            self.out = nn.Linear(filters * len(self.kernel_sizes), n_labels)

        def forward(self, ids: "torch.Tensor", lengths: "torch.Tensor") -> "torch.Tensor":
            x = self.embed(ids).transpose(1, 2)  # (batch, dim, time)
            pooled = []
            for k, conv in zip(self.kernel_sizes, self.convs):
                h = conv(x)  # (batch, filters, time - k + 1)
                valid = torch.clamp(lengths - k + 1, min=1)  # windows starting inside the line
                mask = torch.arange(h.shape[-1], device=h.device)[None, :] < valid[:, None]
                pooled.append(torch.relu(h.masked_fill(~mask[:, None, :], float("-inf")).amax(dim=-1)))
            return self.out(self.dropout(torch.cat(pooled, dim=1)))

    return ByteCNN()


@dataclasses.dataclass(kw_only=True, repr=False, eq=False)
class CharCNN(Classifier):
    name = "charcnn"
    tags = MethodTags(
        uses_validation=True,  # early stopping on held-out macro-F1
        fast_test_params={
            "embed_dim": 8,
            "filters": 8,
            "kernel_sizes": [3, 5],
            "max_length": 256,
            "max_steps": 4,
            "batch_size": 4,
            "predict_batch_size": 4,
            "verbose": False,
        },
    )
    runtime_params = frozenset({"verbose", "num_threads"})

    max_length: PositiveInt = 4096
    embed_dim: Annotated[PositiveInt, Field(description="size of each byte's embedding")] = 32
    filters: Annotated[PositiveInt, Field(description="convolution filters per kernel width")] = 64
    kernel_sizes: Annotated[
        Sequence[PositiveInt], Field(min_length=1, description="convolution widths in bytes, e.g. [3, 5, 7]")
    ] = (3, 5, 7)
    dropout: Annotated[Fraction, Field(description="dropout before the output layer")] = 0.3
    batch_size: PositiveInt = 64
    epochs: PositiveFloat = 5.0
    max_steps: PositiveInt | None = None
    lr: PositiveFloat = 2e-3
    weight_decay: NonNegativeFloat = 0.01
    max_grad_norm: NonNegativeFloat = 1.0  # 0: no clipping
    class_weight: TorchClassWeight = None
    early_stopping_patience: NonNegativeInt | None = 2
    predict_batch_size: PositiveInt = 128
    seed: Seed = 42
    verbose: bool = True
    num_threads: PositiveInt | None = None

    def __post_init__(self) -> None:
        self.kernel_sizes = list(self.kernel_sizes)  # the default is a tuple; saved and shown as a list, as before

    # --- helpers --------------------------------------------------------------------------
    def _new_net(self):
        return _build_net(
            len(self.labels_), int(self.embed_dim), int(self.filters), self.kernel_sizes, float(self.dropout)
        )

    @contextlib.contextmanager
    def _threads(self):
        """Run with ``num_threads`` CPU threads (when set), then restore torch's setting. One thread is often
        faster for this small network on a busy machine, where torch's worker threads wait for each other."""
        import torch

        before = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(int(self.num_threads))
        try:
            yield
        finally:
            torch.set_num_threads(before)

    @staticmethod
    def _pad(seqs: list[np.ndarray], min_width: int):
        """(ids, lengths) tensors, padded with 0 to the batch's longest line (at least ``min_width``)."""
        import torch

        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        ids = np.zeros((len(seqs), max(int(lengths.max(initial=0)), min_width)), dtype=np.int64)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = s
        return torch.from_numpy(ids), torch.from_numpy(lengths)

    def _batches(self, lengths: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """One epoch of shuffled batches, each cut from a pool sorted by length (less padding)."""
        order = rng.permutation(len(lengths))
        pool = self.batch_size * _BUCKET
        batches = []
        for start in range(0, len(order), pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    # --- training -------------------------------------------------------------------------
    def _fit(self, texts, labels, eval_texts, eval_labels) -> None:
        with self._threads():
            self._train(texts, labels, eval_texts, eval_labels)

    def _train(self, texts, labels, eval_texts, eval_labels) -> None:
        import torch
        from sklearn.metrics import f1_score

        from sectune import training
        from sectune.io import progress_bar

        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        index = {label: i for i, label in enumerate(self.labels_)}
        seqs = encode(texts, int(self.max_length))
        y = np.array([index[label] for label in labels], dtype=np.int64)
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        target = device()
        net = self._new_net().to(target)
        weights = training.class_weights(y.tolist(), len(self.labels_), self.class_weight)
        weights = weights.to(target) if weights is not None else None
        decay = [p for n, p in net.named_parameters() if p.dim() > 1 and not n.startswith("embed")]
        rest = [p for n, p in net.named_parameters() if not (p.dim() > 1 and not n.startswith("embed"))]
        optimizer = training.GuardedAdamW(
            [{"params": decay, "weight_decay": self.weight_decay}, {"params": rest, "weight_decay": 0.0}], lr=self.lr
        )

        steps_per_epoch = math.ceil(len(seqs) / self.batch_size)
        total = int(self.max_steps) if self.max_steps else max(1, math.ceil(float(self.epochs) * steps_per_epoch))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total))
        min_width = max(int(k) for k in self.kernel_sizes)
        has_eval = bool(eval_texts)
        best_f1, best_state, bad_epochs, step, epoch = -1.0, None, 0, 0, 0
        self.log_history_: list[dict] = []
        bar = progress_bar(self.verbose, total=total, desc="charcnn", unit="step")
        try:
            while step < total:
                epoch += 1
                net.train()
                for batch in self._batches(lengths, rng):
                    ids, lens = self._pad([seqs[i] for i in batch], min_width)
                    logits = net(ids.to(target), lens.to(target))
                    loss = torch.nn.functional.cross_entropy(
                        logits, torch.from_numpy(y[batch]).to(target), weight=weights
                    )
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if self.max_grad_norm:
                        torch.nn.utils.clip_grad_norm_(net.parameters(), self.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    step += 1
                    bar.update(1)
                    if step % 10 == 0 or step == 1:
                        self.log_history_.append(
                            {"step": step, "epoch": round(step / steps_per_epoch, 4), "loss": float(loss.detach())}
                        )
                        bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
                    if step >= total:
                        break
                if not has_eval:
                    continue
                self.net_ = net
                pred = self._predict(list(eval_texts)).argmax(axis=1)
                truth = [index[label] for label in eval_labels]
                f1 = float(f1_score(truth, pred, average="macro", zero_division=0))
                self.log_history_.append({"step": step, "epoch": epoch, "eval_macro_f1": f1})
                log.info("charcnn epoch %d (step %d): eval macro-F1 %.4f", epoch, step, f1)
                if f1 > best_f1:
                    best_f1, bad_epochs = f1, 0
                    best_state = copy.deepcopy(net.state_dict())
                else:
                    bad_epochs += 1
                    if self.early_stopping_patience and bad_epochs >= self.early_stopping_patience:
                        log.info("charcnn: no better eval macro-F1 for %d epochs, stopping", bad_epochs)
                        break
        finally:
            bar.close()
        if best_state is not None:
            net.load_state_dict(best_state)
        self.best_eval_macro_f1_ = best_f1 if has_eval else None
        self.optimizer_stats_ = {"skipped_steps": optimizer.bad_steps}
        self.net_ = net.eval()

    # --- inference ------------------------------------------------------------------------
    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        with self._threads():
            return self._predict(texts)

    def _predict(self, texts: list[str]) -> np.ndarray:
        import torch

        out = np.zeros((len(texts), len(self.labels_)), dtype=np.float64)
        if not texts:
            return out
        seqs = encode(texts, int(self.max_length))
        target = device()
        net = self.net_.to(target).eval()
        min_width = max(int(k) for k in self.kernel_sizes)
        with torch.inference_mode():
            for idx in longest_first([len(s) for s in seqs], int(self.predict_batch_size)):
                ids, lens = self._pad([seqs[i] for i in idx], min_width)
                logits = net(ids.to(target), lens.to(target)).float()
                out[idx] = torch.softmax(logits, dim=-1).cpu().numpy()
        return out

    # --- persistence ----------------------------------------------------------------------
    def _save_state(self, directory: Path) -> dict[str, Any]:
        from safetensors.torch import save_file

        tensors = {k: v.detach().cpu().contiguous() for k, v in self.net_.state_dict().items()}
        save_file(tensors, str(directory / WEIGHTS_FILE), metadata={"format": "pt"})
        return {}

    def _load_state(self, directory: Path, state: Mapping[str, Any]) -> None:
        from safetensors.torch import load_file

        path = directory / WEIGHTS_FILE
        if not path.is_file():
            raise SectuneError(f"no {WEIGHTS_FILE} in the model directory", path=directory)
        tensors = load_file(str(path))
        if "out.weight" in tensors:  # a missing layer is reported by load_state_dict below
            check_outputs(tensors["out.weight"].shape[0], len(self.labels_), path)
        net = self._new_net()
        try:
            net.load_state_dict(tensors)
        except RuntimeError as exc:
            raise SectuneError(
                f"does not fit the architecture in sectune.json: {str(exc).splitlines()[0]}", path=path
            ) from exc
        self.net_ = net.eval()
