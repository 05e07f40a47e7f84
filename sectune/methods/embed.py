"""``embed-logreg``: a frozen encoder's mean-pooled embeddings + a logistic-regression head.

No back-propagation through the encoder, so it trains in minutes on a CPU. The encoder is
copied into ``encoder/`` inside the model directory, so the directory loads on its own.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, Mapping

import numpy as np
from pydantic import Field

from sectune.methods.base import (
    Classifier,
    LogregC,
    LogregClassWeight,
    LogregMaxIter,
    PositiveInt,
    Seed,
)
from sectune.methods.hf import check_texts, device, load_pretrained, load_tokenizer
from sectune.methods.linear import fit_logreg, load_logreg, save_logreg
from sectune.methods.tags import MethodTags
from sectune.models import DEFAULT_ENCODER_LABEL, check_model_dir, resolve_base_model

ENCODER_DIR = "encoder"


@dataclasses.dataclass(kw_only=True, repr=False, eq=False)
class EmbedLogreg(Classifier):
    name = "embed-logreg"
    tags = MethodTags(default_base_model=DEFAULT_ENCODER_LABEL, fast_test_params={"batch_size": 4, "verbose": False})
    runtime_params = frozenset({"verbose", "allow_pickle", "trust_remote_code"})

    model: str | None = None
    max_length: PositiveInt = 256
    batch_size: PositiveInt = 32
    normalize: Annotated[
        bool, Field(description="scale each embedding to unit length before the logistic regression")
    ] = True
    C: LogregC = 1.0
    max_iter: LogregMaxIter = 2000
    class_weight: LogregClassWeight = None
    seed: Seed = 42
    verbose: bool = True
    allow_pickle: bool = False
    trust_remote_code: bool = False

    def _load_encoder(self, name: str, allow_pickle: bool) -> None:
        from transformers import AutoModel

        self.tokenizer_ = load_tokenizer(name, trust_remote_code=self.trust_remote_code)
        self.encoder_ = load_pretrained(
            AutoModel, name, allow_pickle=allow_pickle, trust_remote_code=self.trust_remote_code
        ).eval()

    def embed(self, texts) -> np.ndarray:
        """Mean-pooled (optionally L2-normalised) last hidden states, one row per text."""
        from sectune.methods.pooled import embed_texts  # torch: imported when embedding, not by `sectune --help`

        return embed_texts(
            self.encoder_.to(device()),
            self.tokenizer_,
            check_texts(texts),
            batch_size=self.batch_size,
            max_length=self.max_length,
            normalize=self.normalize,
            progress=self.verbose,
        )

    def _fit(self, texts, labels, eval_texts, eval_labels) -> None:
        self._load_encoder(resolve_base_model(self.model, allow_pickle=self.allow_pickle), self.allow_pickle)
        self.head_ = fit_logreg(
            self.embed(texts), labels, C=self.C, max_iter=self.max_iter, class_weight=self.class_weight, seed=self.seed
        )

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.head_.predict_proba(self.embed(texts)).astype(np.float64)

    def _save_state(self, directory: Path) -> dict[str, Any]:
        self.encoder_.save_pretrained(directory / ENCODER_DIR, safe_serialization=True)
        self.tokenizer_.save_pretrained(directory / ENCODER_DIR)
        save_logreg(self.head_, directory)
        return {}

    def _load_state(self, directory: Path, state: Mapping[str, Any]) -> None:
        check_model_dir(directory / ENCODER_DIR)
        self._load_encoder(str(directory / ENCODER_DIR), allow_pickle=False)
        self.head_ = load_logreg(directory, self.labels_)
