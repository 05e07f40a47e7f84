"""``encoder``: fine-tune a transformers encoder for sequence classification, fully or with LoRA.

The saved directory is an ordinary transformers model (safetensors + config + tokenizer) plus
``sectune.json``; a LoRA run is merged into the base weights before saving, so loading needs no
peft and inference costs the same as a fully fine-tuned model.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

import numpy as np
from pydantic import Field

from sectune.errors import SectuneError
from sectune.methods.base import Classifier, TorchClassWeight
from sectune.methods.finetune import FineTuneArgs
from sectune.methods.hf import add_lora, device, inference, length_sorted_batches, load_pretrained, load_tokenizer
from sectune.methods.info import check_outputs
from sectune.methods.tags import MethodTags
from sectune.models import DEFAULT_ENCODER_LABEL, check_model_dir, resolve_base_model

log = logging.getLogger("sectune")


BODY_DIR = "body"  # a mean-pooling model's transformer body (config.json + weights)


@dataclasses.dataclass(kw_only=True, repr=False, eq=False)
class EncoderClassifier(FineTuneArgs, Classifier):
    """Fine-tuned encoder (BERT/RoBERTa family) with a classification head: full or LoRA.

    ``group_by_length=True`` batches texts of similar length (less padding: a 1.6x cheaper step on CVE
    descriptions). It is off by default because where length goes with the label, as on command lines
    (long DOSfuscation output, short benign commands), its batches are nearly one class each and
    training swings between them: on the shared command-line set it collapsed to "all benign".
    """

    name = "encoder"
    # held-out rows drive early stopping and the checkpoint kept
    tags = MethodTags(
        uses_validation=True,
        supports_resume=True,
        default_base_model=DEFAULT_ENCODER_LABEL,
        fast_test_params={"max_steps": 4, "batch_size": 4, "predict_batch_size": 4, "lr": 1e-3, "verbose": False},
    )
    class_weight: TorchClassWeight = None
    head_init_ = None  # the last fit's start with head_init='label-text' (unannotated: state, not a dataclass field)
    group_by_length: Annotated[
        bool, Field(description="batch texts of similar length: faster, unsafe where length tells the class")
    ] = False
    head_init: Annotated[
        Literal["random", "label-text"],
        Field(
            description="label-text: start the head from the embeddings of the labels' descriptions (CWE: MITRE's "
            "name and description; needs mean pooling)"
        ),
    ] = "random"
    pooling: Annotated[
        Literal["auto", "mean", "cls"],
        Field(
            description="auto: mean pooling for sentence-embedding models trained with it, else the model's own [CLS] head"
        ),
    ] = "auto"

    # --- training -------------------------------------------------------------------------
    def _fit(self, texts, labels, eval_texts, eval_labels) -> None:
        from transformers import set_seed

        from sectune import training
        from sectune.methods.pooled import (
            MeanPoolingClassifier,
            trained_pooling,
        )  # torch: imported when training, not by `sectune --help`

        training.resolve_precision(self.precision)  # fail before loading anything
        self.head_init_ = None
        set_seed(self.seed)
        base = resolve_base_model(self.model, allow_pickle=self.allow_pickle)
        index = {label: i for i, label in enumerate(self.labels_)}
        self.tokenizer_ = load_tokenizer(base, trust_remote_code=self.trust_remote_code)
        self.pooling_ = trained_pooling(base) if self.pooling == "auto" else self.pooling
        if self.head_init == "label-text" and self.pooling_ != "mean":
            raise SectuneError(
                f"{self.name}: head_init 'label-text' needs mean pooling ({base} pools with its [CLS] head): "
                "add --pooling mean"
            )
        train_ids = [index[label] for label in labels]
        net = self._build(base, index, texts, train_ids)
        train_set = training.TokenizedDataset(self.tokenizer_, texts, train_ids, self.max_length)
        eval_set = None
        if eval_texts:
            eval_set = training.TokenizedDataset(
                self.tokenizer_, eval_texts, [index[label] for label in eval_labels], self.max_length
            )

        scratch = None
        checkpoint_dir = (
            Path(self.checkpoint_dir)
            if self.checkpoint_dir
            else Path(scratch := tempfile.mkdtemp(prefix="sectune-ckpt-"))
        )
        try:
            trainer = training.make_trainer(
                net,
                self.tokenizer_,
                train_set,
                eval_set,
                self,
                checkpoint_dir=checkpoint_dir,
                group_by_length=self.group_by_length,
                weights=training.class_weights(train_ids, len(self.labels_), self.class_weight),
                callbacks=self.extra_callbacks,
            )
            self.log_history_ = training.run_training(trainer, checkpoint_dir, resume=self.resume)
            self.optimizer_stats_ = {"skipped_steps": training.skipped_steps(trainer)}
            net = trainer.model
        finally:
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)
        if self.lora_r:  # merge the adapters: the saved model is an ordinary one, as fast as a full fine-tune
            if isinstance(net, MeanPoolingClassifier):
                net.body = net.body.merge_and_unload()
            else:
                net = net.merge_and_unload()
        self.net_ = net.eval()

    def _build(self, base: str, index: dict[str, int], texts: list[str], train_ids: list[int]):
        """The network to fine-tune: the model's own classification head, or mean pooling + a linear head (started
        from the label texts with ``head_init='label-text'``), LoRA adapters on the body when asked."""
        import torch
        from transformers import AutoModel, AutoModelForSequenceClassification

        from sectune.methods.pooled import MeanPoolingClassifier

        labels = {"id2label": dict(enumerate(self.labels_)), "label2id": index}
        # fp32 master weights whatever the checkpoint holds (hub models often ship fp16/bf16): the Trainer's
        # autocast gives the GPU its half precision, and the saved model scores on any CPU
        common = {
            "allow_pickle": self.allow_pickle,
            "trust_remote_code": self.trust_remote_code,
            "dtype": torch.float32,
        }
        if self.pooling_ == "mean":
            net = MeanPoolingClassifier(load_pretrained(AutoModel, base, **labels, **common), len(self.labels_))
            if self.head_init == "label-text":
                self._init_head(net, texts, train_ids)
            if self.lora_r:
                net.body = self._with_lora(net.body, task="FEATURE_EXTRACTION")
            return net
        net = load_pretrained(
            AutoModelForSequenceClassification,
            base,
            num_labels=len(self.labels_),
            ignore_mismatched_sizes=True,
            **labels,
            **common,
        )
        if net.config.pad_token_id is None and self.tokenizer_.pad_token_id is not None:
            net.config.pad_token_id = self.tokenizer_.pad_token_id
        return self._with_lora(net, task="SEQ_CLS") if self.lora_r else net

    def _init_head(self, net, texts: list[str], label_ids: list[int]) -> None:
        """The head from the label texts (see ``MeanPoolingClassifier.init_head_from_label_texts``), its temperature
        fitted on up to 512 training rows; the labels themselves stand for a label no text describes."""
        rng = np.random.default_rng(self.seed)
        sample = rng.choice(len(texts), size=min(512, len(texts)), replace=False)
        found = net.init_head_from_label_texts(
            self.tokenizer_,
            [self.label_texts.get(label) or label for label in self.labels_],
            [texts[i] for i in sample],
            [label_ids[i] for i in sample],
            self.max_length,
        )
        self.head_init_ = {
            **{key: round(value, 4) for key, value in found.items()},
            "described_labels": sum(1 for label in self.labels_ if self.label_texts.get(label)),
        }
        if self.verbose:
            log.info(
                "head from the label texts (%d of %d labels described): zero-shot top-1 %.3f on %d training rows, "
                "temperature %.4f",
                self.head_init_["described_labels"],
                len(self.labels_),
                found["zero_shot_top1"],
                len(sample),
                found["temperature"],
            )

    def _with_lora(self, net, task: str):
        return add_lora(
            net, task=task, r=self.lora_r, alpha=self.lora_alpha, dropout=self.lora_dropout, verbose=self.verbose
        )

    def training_stats(self) -> dict[str, Any]:
        return {**super().training_stats(), **({"head_init": self.head_init_} if self.head_init_ else {})}

    # --- inference ------------------------------------------------------------------------
    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        import torch

        out = np.zeros((len(texts), len(self.labels_)), dtype=np.float64)
        target = device()
        net = self.net_.to(target)
        with inference(target):
            for idx, batch in length_sorted_batches(self.tokenizer_, texts, self.predict_batch_size, self.max_length):
                logits = net(**{k: v.to(target) for k, v in batch.items()}).logits.float()
                out[idx] = torch.softmax(logits, dim=-1).cpu().numpy()
        return out

    # --- persistence ----------------------------------------------------------------------
    def _save_state(self, directory: Path) -> dict[str, Any]:
        from sectune.methods.pooled import MeanPoolingClassifier

        if isinstance(self.net_, MeanPoolingClassifier):
            # the body in its own folder: plain transformers pointed at the directory then fails loudly (no
            # config.json) instead of completing AutoModelForSequenceClassification with an untrained head
            self.net_.body.save_pretrained(directory / BODY_DIR, safe_serialization=True)
            self.net_.save_head(directory)
        else:
            self.net_.save_pretrained(directory, safe_serialization=True)
        self.tokenizer_.save_pretrained(directory)
        return {
            "pooling": self.pooling_
        }  # which network the weights are: the model's own head or mean pooling + a head

    def _load_state(self, directory: Path, state: Mapping[str, Any]) -> None:
        """The saved network, exactly: weights that do not fit the declared pooling are refused, never
        completed with a freshly initialised head (see ``must_match`` in :func:`load_pretrained`)."""
        from transformers import AutoModel, AutoModelForSequenceClassification

        from sectune.methods.pooled import MeanPoolingClassifier

        self.pooling_ = state.get("pooling", "cls")
        if self.pooling_ not in ("mean", "cls"):
            raise SectuneError("sectune.json field 'state.pooling' must be 'mean' or 'cls'", path=directory)
        # a mean-pooling body sits in body/ (directories written before it sit at the top)
        weights = directory / BODY_DIR if self.pooling_ == "mean" and (directory / BODY_DIR).is_dir() else directory
        if self.pooling_ == "cls" and (directory / BODY_DIR).is_dir():
            raise SectuneError(
                f"the weights do not match pooling 'cls': the directory holds a mean-pooling body ({BODY_DIR}/)",
                path=directory,
            )
        check_model_dir(weights)
        self.tokenizer_ = load_tokenizer(str(directory), trust_remote_code=self.trust_remote_code)
        must_match = f"pooling '{self.pooling_}'"
        if self.pooling_ == "mean":
            body = load_pretrained(
                AutoModel, str(weights), trust_remote_code=self.trust_remote_code, must_match=must_match
            )
            self.net_ = MeanPoolingClassifier(body, len(self.labels_))
            self.net_.load_head(directory)
            self.net_.eval()
            return
        self.net_ = load_pretrained(
            AutoModelForSequenceClassification,
            str(directory),
            trust_remote_code=self.trust_remote_code,
            must_match=must_match,
        ).eval()
        check_outputs(self.net_.config.num_labels, len(self.labels_), directory)
