"""``tfidf-logreg``: word 1-2-gram TF-IDF (optionally plus character 3-5-grams) + a linear head, the classical
baseline.

The head is a logistic regression, or on many classes one-vs-rest linear SVMs with a softmax temperature, scored
the same way (``solver``, :mod:`sectune.methods.linear`): the exact lbfgs fit needs 7-14 GB on CVE -> CWE.
``analyzer="word+char"`` appends character 3-5-grams within words (``char_wb``): product names, versions and
misspellings share pieces that whole words do not.

Tokens are scikit-learn's words of two or more characters. Texts with none of them (``!!!``, ``+``, ``a``)
would leave an empty vocabulary, so training then falls back to single characters and punctuation runs; the
pattern actually used is saved with the model (``tokens.json``) so a reloaded model tokenises the same way.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

import numpy as np
from pydantic import Field
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from sectune.errors import SectuneError
from sectune.methods.base import (
    Classifier,
    LogregClassWeight,
    LogregMaxIter,
    PositiveFloat,
    PositiveInt,
    Seed,
)
from sectune.methods.linear import DEFAULT_C, SOLVERS, fit_linear, load_logreg, save_logreg
from sectune.methods.tags import MethodTags

log = logging.getLogger("sectune")

VOCAB_FILE = "vocabulary.json"
IDF_FILE = "idf.npy"
CHAR_VOCAB_FILE = "char_vocabulary.json"
CHAR_IDF_FILE = "char_idf.npy"
CHAR_NGRAMS = (3, 5)
TOKENS_FILE = "tokens.json"
WORD_PATTERN = r"(?u)\b\w\w+\b"  # scikit-learn's default: words of two or more characters
FALLBACK_PATTERN = r"(?u)\w+|[^\w\s]+"  # any word, even one character, and runs of punctuation


@dataclasses.dataclass(kw_only=True, repr=False, eq=False)
class TfidfLogreg(Classifier):
    name = "tfidf-logreg"
    tags = MethodTags(fast_test_params={"min_df": 1, "verbose": False})

    ngram_max: Annotated[PositiveInt, Field(description="longest word n-gram counted")] = 2
    min_df: Annotated[PositiveInt, Field(description="drop terms found in fewer texts than this")] = 2
    max_features: Annotated[PositiveInt | None, Field(description="keep this many most frequent terms (none: all)")] = (
        200_000
    )
    sublinear_tf: Annotated[bool, Field(description="count terms as 1 + log(tf): a repeated word weighs less")] = True
    analyzer: Annotated[
        Literal["word", "word+char"],
        Field(description="word n-grams, or word n-grams plus character 3-5-grams within words (slower, larger)"),
    ] = "word"
    solver: Annotated[
        Literal[SOLVERS],
        Field(
            description="the head: lbfgs (exact logistic regression, memory grows with classes x terms), saga, "
            "linear-svm (one-vs-rest SVMs + softmax temperature), auto (lbfgs on small heads, else linear-svm)"
        ),
    ] = "auto"
    C: Annotated[
        PositiveFloat | None,
        Field(
            description="inverse regularisation strength of the head (larger: fits closer; none: "
            + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_C.items())
            + ")"
        ),
    ] = None
    max_iter: LogregMaxIter = 1000
    class_weight: LogregClassWeight = None
    seed: Seed = 42
    verbose: bool = True

    def _vectorizer(self, token_pattern: str, min_df: int, vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
        return TfidfVectorizer(
            ngram_range=(1, self.ngram_max),
            min_df=min_df,
            max_features=None if vocabulary is not None else self.max_features,
            sublinear_tf=self.sublinear_tf,
            token_pattern=token_pattern,
            vocabulary=vocabulary,
            dtype=np.float32,
        )

    def _char_vectorizer(self, vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
        return TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=CHAR_NGRAMS,
            min_df=1 if vocabulary is not None else self.min_df,
            max_features=None if vocabulary is not None else self.max_features,
            sublinear_tf=self.sublinear_tf,
            vocabulary=vocabulary,
            dtype=np.float32,
        )

    def _features(self, texts: list[str]):
        """The texts as TF-IDF rows: word n-grams, then character n-grams when the analyzer takes them."""
        words = self.vectorizer_.transform(texts)
        if self.char_vectorizer_ is None:
            return words
        return sparse.hstack([words, self.char_vectorizer_.transform(texts)], format="csr")

    def _fit(self, texts, labels, eval_texts, eval_labels) -> None:
        # Each try keeps more terms: min_df can prune every term of a tiny set, and texts without a word of two
        # or more characters leave nothing to prune; scikit-learn raises ValueError for both.
        if self.verbose:  # both fits are single scikit-learn calls: say what runs and how long it took
            log.info(
                "%s: building the word 1-%d-gram vocabulary of %s texts (min_df %d, at most %s terms) ...",
                self.name,
                self.ngram_max,
                f"{len(texts):,}",
                self.min_df,
                "all" if self.max_features is None else f"{self.max_features:,}",
            )
        started = time.perf_counter()
        for pattern, min_df in ((WORD_PATTERN, self.min_df), (WORD_PATTERN, 1), (FALLBACK_PATTERN, 1)):
            self.vectorizer_ = self._vectorizer(pattern, min_df)
            try:
                features = self.vectorizer_.fit_transform(texts)
                break
            except ValueError:
                continue
        else:
            raise SectuneError(
                f"{self.name}: the training texts hold no token at all (no word, character or "
                f"punctuation); nothing to learn from"
            )
        if pattern != WORD_PATTERN:
            log.warning(
                "%s: the training texts have no word of two or more characters; tokenising on single "
                "characters and punctuation runs instead",
                self.name,
            )
        self.token_pattern_ = pattern
        self.char_vectorizer_ = None
        if self.analyzer == "word+char":
            self.char_vectorizer_ = self._char_vectorizer()
            try:
                features = sparse.hstack([features, self.char_vectorizer_.fit_transform(texts)], format="csr")
            except ValueError:  # min_df pruned every character n-gram of a tiny set: the words alone
                self.char_vectorizer_ = None
        if self.verbose:
            log.info(
                "%s: vocabulary of %s terms in %.1f s",
                self.name,
                f"{features.shape[1]:,}",
                time.perf_counter() - started,
            )
        self.head_ = fit_linear(
            features,
            labels,
            solver=self.solver,
            C=self.C,
            max_iter=self.max_iter,
            class_weight=self.class_weight,
            seed=self.seed,
            log_as=self.name if self.verbose else None,
        )

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.head_.predict_proba(self._features(texts)).astype(np.float64)

    def _save_state(self, directory: Path) -> dict[str, Any]:
        vocabulary = {term: int(index) for term, index in self.vectorizer_.vocabulary_.items()}
        (directory / VOCAB_FILE).write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
        (directory / TOKENS_FILE).write_text(json.dumps({"token_pattern": self.token_pattern_}), encoding="utf-8")
        np.save(directory / IDF_FILE, self.vectorizer_.idf_, allow_pickle=False)
        if self.char_vectorizer_ is not None:
            chars = {term: int(index) for term, index in self.char_vectorizer_.vocabulary_.items()}
            (directory / CHAR_VOCAB_FILE).write_text(json.dumps(chars, ensure_ascii=False), encoding="utf-8")
            np.save(directory / CHAR_IDF_FILE, self.char_vectorizer_.idf_, allow_pickle=False)
        save_logreg(self.head_, directory)
        return {"char_ngrams": True} if self.char_vectorizer_ is not None else {}

    def _load_state(self, directory: Path, state: Mapping[str, Any]) -> None:
        vocabulary = json.loads((directory / VOCAB_FILE).read_text(encoding="utf-8"))
        self.token_pattern_ = _read_token_pattern(directory / TOKENS_FILE)
        self.vectorizer_ = self._vectorizer(self.token_pattern_, 1, vocabulary)
        self.vectorizer_.idf_ = np.load(directory / IDF_FILE, allow_pickle=False)
        self.char_vectorizer_ = None
        if state.get("char_ngrams"):
            chars = json.loads((directory / CHAR_VOCAB_FILE).read_text(encoding="utf-8"))
            self.char_vectorizer_ = self._char_vectorizer(chars)
            self.char_vectorizer_.idf_ = np.load(directory / CHAR_IDF_FILE, allow_pickle=False)
        self.head_ = load_logreg(directory, self.labels_)
        terms = len(self.vectorizer_.idf_) + (len(self.char_vectorizer_.idf_) if self.char_vectorizer_ else 0)
        if self.head_.coef_.shape[1] != terms:  # an edited or mixed-up file: refuse, not a shape error per text
            raise SectuneError(
                f"its head takes {self.head_.coef_.shape[1]:,} features but its vocabularies hold {terms:,} terms",
                path=directory,
            )


def _read_token_pattern(path: Path) -> str:
    """The saved token pattern: only one of the two this method writes, since a regular expression taken from a
    model directory as is could be made to backtrack for ever on a crafted command line. A model saved before
    the file existed used the word pattern."""
    if not path.exists():
        return WORD_PATTERN
    try:
        pattern = json.loads(path.read_text(encoding="utf-8")).get("token_pattern")
    except (ValueError, UnicodeDecodeError, AttributeError):
        pattern = None
    if pattern not in (WORD_PATTERN, FALLBACK_PATTERN):
        raise SectuneError("is not a token pattern this sectune writes; retrain the model", path=path)
    return pattern
