"""``tfidf-logreg``: word 1-2-gram TF-IDF + logistic regression, the classical baseline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from sectune.methods.base import Classifier
from sectune.methods.linear import fit_logreg, load_logreg, save_logreg

VOCAB_FILE = "vocabulary.json"
IDF_FILE = "idf.npy"


class TfidfLogreg(Classifier):
    name = "tfidf-logreg"

    def __init__(
        self,
        ngram_max: int = 2,
        min_df: int = 2,
        max_features: int | None = 200_000,
        sublinear_tf: bool = True,
        C: float = 10.0,
        max_iter: int = 1000,
        class_weight: str | None = None,
        seed: int = 42,
        verbose: bool = True,
    ) -> None:
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.C = C
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.seed = seed
        self.verbose = verbose

    def _vectorizer(self, vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
        return TfidfVectorizer(
            ngram_range=(1, self.ngram_max),
            min_df=1 if vocabulary is not None else self.min_df,
            max_features=None if vocabulary is not None else self.max_features,
            sublinear_tf=self.sublinear_tf,
            vocabulary=vocabulary,
            dtype=np.float32,
        )

    def _fit(self, texts, labels, eval_texts, eval_labels) -> None:
        self.vectorizer_ = self._vectorizer()
        try:
            features = self.vectorizer_.fit_transform(texts)
        except ValueError:  # every term pruned by min_df on a tiny set: fall back to all terms
            self.vectorizer_ = TfidfVectorizer(ngram_range=(1, self.ngram_max), sublinear_tf=self.sublinear_tf, dtype=np.float32)
            features = self.vectorizer_.fit_transform(texts)
        self.head_ = fit_logreg(features, labels, C=self.C, max_iter=self.max_iter, class_weight=self.class_weight, seed=self.seed)

    def predict_proba(self, texts) -> np.ndarray:
        return self.head_.predict_proba(self.vectorizer_.transform(list(texts))).astype(np.float64)

    def _save_state(self, directory: Path) -> None:
        vocabulary = {term: int(index) for term, index in self.vectorizer_.vocabulary_.items()}
        (directory / VOCAB_FILE).write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
        np.save(directory / IDF_FILE, self.vectorizer_.idf_, allow_pickle=False)
        save_logreg(self.head_, directory)

    def _load_state(self, directory: Path) -> None:
        vocabulary = json.loads((directory / VOCAB_FILE).read_text(encoding="utf-8"))
        self.vectorizer_ = self._vectorizer(vocabulary)
        self.vectorizer_.idf_ = np.load(directory / IDF_FILE, allow_pickle=False)
        self.head_ = load_logreg(directory, self.labels_)
