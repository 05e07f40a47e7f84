"""``features-logreg``: engineered character statistics + a standardised logistic regression.

Fast and explainable: every line becomes the fixed vector below (computed on its UTF-8 bytes,
vectorised over a whole batch with numpy), the vector is standardised with the training rows'
mean and standard deviation, and a logistic regression scores it. ``explain(text)`` lists the
features that pushed a line's score most (standardised value x coefficient).

Features (:data:`FEATURES` holds ``(name, description)`` in column order; "share" = count / bytes):

* size and shape: ``log_length`` (log1p bytes), ``log_tokens`` (log1p whitespace-separated tokens),
  ``log_longest_token``, ``mean_token_length``, ``log_lines`` (log1p newlines);
* character classes (shares): ``upper_share``, ``lower_share``, ``digit_share``, ``whitespace_share``
  (whitespace density), ``punct_share`` (printable ASCII punctuation), ``control_share`` (control bytes
  other than whitespace), ``non_ascii_share`` (bytes >= 0x80), ``hex_share`` ([0-9A-Fa-f]), ``special_share``
  (the ``rules`` method's special characters); ``upper_of_letters``, ``vowel_of_letters``, ``digit_letter_ratio``;
* randomness: ``entropy`` (Shannon entropy of the byte distribution, bits), ``log_distinct_bytes``;
* runs: ``log_longest_base64_run`` ([A-Za-z0-9+/=]), ``log_longest_hex_run``, ``log_longest_punct_run``,
  ``log_longest_letter_run``;
* case: ``case_switches`` (adjacent letter pairs that change case, per byte);
* nesting: ``max_nesting`` (deepest ()[]{} nesting), ``bracket_imbalance`` (|opened - closed|);
* counts (log1p): ``log_double_quotes``, ``log_single_quotes``, ``log_carets``, ``log_backticks``,
  ``log_caret_in_word`` (alnum^alnum), ``log_backtick_in_word`` (letter`letter), ``log_quote_in_word``
  (a quote after a letter and before a letter or quote: ``wh""oami``), ``log_escapes`` (``\\x``, ``\\u``,
  ``\\NNN``), ``log_dollar_brace`` (``${``), ``log_percent_vars`` (``%`` followed by a letter or ``~``);
* one share per character of :data:`EACH_CHAR`: ``share[^]``, ``share[`]``, ``share[$]`` ...

``shell_features=True`` (``--shell-features``) appends the shell-aware group of the ``shell-features`` method
(:mod:`sectune.methods.shell_features`: what normalisation removed, decoded and exposed, and the normal form's
statistics); ``explain`` then words those features ("caret inside w^inword removed -> winword").
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any, Mapping, Sequence

import numpy as np
from pydantic import Field
from safetensors.numpy import load_file, save_file
from scipy.special import expit, softmax

from sectune.errors import SectuneError
from sectune.methods.base import (
    Classifier,
    LogregC,
    LogregClassWeight,
    LogregMaxIter,
    Seed,
)
from sectune.methods.hf import check_texts
from sectune.methods.linear import fit_logreg, load_logreg, save_logreg
from sectune.methods.rules import SPECIAL_CHARS
from sectune.methods.tags import MethodTags

SCALER_FILE = "scaler.safetensors"
FEATURES_FILE = "features.json"

EACH_CHAR = "^`$%{}[]()+;|&'\"\\,*~!?<>=@#:/.-_"

_BASE = [
    ("log_length", "log(1 + length in UTF-8 bytes)"),
    ("log_tokens", "log(1 + number of whitespace-separated tokens)"),
    ("log_longest_token", "log(1 + length of the longest token)"),
    ("mean_token_length", "non-whitespace bytes per token"),
    ("log_lines", "log(1 + number of newlines)"),
    ("upper_share", "share of upper-case ASCII letters"),
    ("lower_share", "share of lower-case ASCII letters"),
    ("digit_share", "share of digits"),
    ("whitespace_share", "share of whitespace bytes (whitespace density)"),
    ("punct_share", "share of printable ASCII punctuation"),
    ("control_share", "share of control bytes other than whitespace"),
    ("non_ascii_share", "share of non-ASCII bytes (>= 0x80)"),
    ("hex_share", "share of hexadecimal digits [0-9A-Fa-f]"),
    ("special_share", "share of the rules method's special characters " + SPECIAL_CHARS),
    ("upper_of_letters", "upper-case letters / letters"),
    ("vowel_of_letters", "vowels (aeiou) / letters"),
    ("digit_letter_ratio", "digits / (letters + 1)"),
    ("entropy", "Shannon entropy of the byte distribution, bits per byte"),
    ("log_distinct_bytes", "log(1 + number of distinct byte values)"),
    ("log_longest_base64_run", "log(1 + longest run of base64-alphabet bytes [A-Za-z0-9+/=])"),
    ("log_longest_hex_run", "log(1 + longest run of hexadecimal digits)"),
    ("log_longest_punct_run", "log(1 + longest run of punctuation)"),
    ("log_longest_letter_run", "log(1 + longest run of letters)"),
    ("case_switches", "adjacent letter pairs that switch case, per byte"),
    ("max_nesting", "deepest nesting of ( [ {"),
    ("bracket_imbalance", "|brackets opened - brackets closed|"),
    ("log_double_quotes", 'log(1 + number of ")'),
    ("log_single_quotes", "log(1 + number of ')"),
    ("log_carets", "log(1 + number of ^)"),
    ("log_backticks", "log(1 + number of `)"),
    ("log_caret_in_word", "log(1 + carets between two alphanumerics, e.g. w^h^o)"),
    ("log_backtick_in_word", "log(1 + backticks between two letters, e.g. i`ex)"),
    ("log_quote_in_word", 'log(1 + quotes after a letter and before a letter or quote, e.g. wh""oami)'),
    ("log_escapes", "log(1 + escapes \\x, \\u or \\ + digit)"),
    ("log_dollar_brace", "log(1 + occurrences of ${)"),
    ("log_percent_vars", "log(1 + % followed by a letter, _ or ~)"),
]
FEATURES: list[tuple[str, str]] = _BASE + [(f"share[{c}]", f"share of '{c}'") for c in EACH_CHAR]
FEATURE_NAMES = [name for name, _ in FEATURES]
_CHUNK = 4096  # rows per vectorised pass: bounds memory (a 256-bin histogram per row)


def _lut(chars: str | bytes | range) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    codes = list(chars.encode("latin-1")) if isinstance(chars, str) else list(chars)
    table[codes] = True
    return table


_UPPER = _lut(range(65, 91))
_LOWER = _lut(range(97, 123))
_LETTER = _UPPER | _LOWER
_DIGIT = _lut(range(48, 58))
_ALNUM = _LETTER | _DIGIT
_WS = _lut(" \t\n\r\x0b\x0c")
_PUNCT = _lut(range(33, 127)) & ~_ALNUM
_CONTROL = (_lut(range(0, 32)) | _lut([127])) & ~_WS
_NON_ASCII = _lut(range(128, 256))
_HEX = _DIGIT | _lut("abcdefABCDEF")
_SPECIAL = _lut(SPECIAL_CHARS)
_VOWEL = _lut("aeiouAEIOU")
_B64 = _ALNUM | _lut("+/=")
_QUOTE = _lut("\"'")
_ESC_NEXT = _lut("xu") | _DIGIT
_PCT_NEXT = _LETTER | _lut("_~")
_DEPTH = np.zeros(256, dtype=np.int32)
_DEPTH[list(b"([{")] = 1
_DEPTH[list(b")]}")] = -1
# columns of the byte histogram summed into class counts, one matrix product per chunk
_CLASSES = np.stack([_UPPER, _LOWER, _DIGIT, _WS, _PUNCT, _CONTROL, _NON_ASCII, _HEX, _SPECIAL, _VOWEL]).T.astype(
    np.int64
)
_EACH = np.frombuffer(EACH_CHAR.encode("ascii"), dtype=np.uint8).astype(np.intp)


def _longest_run(mask: np.ndarray, row_start: np.ndarray, row: np.ndarray, n: int) -> np.ndarray:
    """Per row, the longest run of consecutive True in ``mask`` (runs never cross rows)."""
    out = np.zeros(n, dtype=np.float64)
    begins = mask.copy()
    begins[1:] &= ~mask[:-1] | row_start[1:]
    finishes = mask.copy()
    finishes[:-1] &= ~mask[1:] | row_start[1:]
    first, last = np.flatnonzero(begins), np.flatnonzero(finishes)
    if first.size:
        runs, run_row = last - first + 1, row[first]
        new_row = np.flatnonzero(np.r_[True, run_row[1:] != run_row[:-1]])  # runs are in row order
        out[run_row[new_row]] = np.maximum.reduceat(runs, new_row)
    return out


def _count(flags: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(rows[flags], minlength=n).astype(np.float64)


def _chunk_features(texts: Sequence[str]) -> np.ndarray:
    n = len(texts)
    encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    row = np.repeat(np.arange(n, dtype=np.int64), lengths)
    row_start = np.zeros(data.size, dtype=bool)
    row_start[starts[lengths > 0]] = True
    length = np.maximum(lengths, 1).astype(np.float64)
    out = np.zeros((n, len(FEATURES)), dtype=np.float64)
    col = {name: i for i, name in enumerate(FEATURE_NAMES)}

    hist = np.bincount(row * 256 + data, minlength=n * 256).reshape(n, 256)  # byte histogram of each row
    classes = np.einsum("ij,jk->ik", hist, _CLASSES)  # einsum, not BLAS: BLAS threads slow a busy machine down
    upper, lower, digit, ws, punct, control, non_ascii, hexd, special, vowel = classes.T
    letters = upper + lower

    # pairs of neighbouring bytes inside one row
    inner = ~row_start[1:]
    prev, nxt, pair_row = data[:-1], data[1:], row[1:]
    triple = inner[:-1] & inner[1:]  # positions 1..N-2 with both neighbours in the same row
    mid, before, after, mid_row = data[1:-1], data[:-2], data[2:], row[1:-1]

    is_ws = _WS[data]
    token_start = ~is_ws
    token_start[1:] &= is_ws[:-1] | row_start[1:]
    tokens = _count(token_start, row, n)

    switches = _count(inner & ((_UPPER[prev] & _LOWER[nxt]) | (_LOWER[prev] & _UPPER[nxt])), pair_row, n)
    caret_in = _count(triple & (mid == 94) & _ALNUM[before] & _ALNUM[after], mid_row, n)
    tick_in = _count(triple & (mid == 96) & _LETTER[before] & _LETTER[after], mid_row, n)
    quote_in = _count(triple & _QUOTE[mid] & _LETTER[before] & (_LETTER[after] | _QUOTE[after]), mid_row, n)
    escapes = _count(inner & (prev == 92) & _ESC_NEXT[nxt], pair_row, n)
    dollar_brace = _count(inner & (prev == 36) & (nxt == 123), pair_row, n)
    percent_vars = _count(inner & (prev == 37) & _PCT_NEXT[nxt], pair_row, n)

    nonempty = lengths > 0
    max_depth, final = np.zeros(n), np.zeros(n)
    if data.size:  # bracket depth: a running sum of +1/-1, restarted at each row
        depth = np.cumsum(_DEPTH[data], dtype=np.int64)
        before_row = np.where(starts > 0, depth[np.maximum(starts - 1, 0)], 0)
        max_depth[nonempty] = np.maximum.reduceat(depth - before_row[row], starts[nonempty])
        final = np.where(nonempty, depth[np.maximum(ends - 1, 0)] - before_row, 0)

    nonzero = np.flatnonzero(hist)
    nz_rows, counts = nonzero >> 8, hist.ravel()[nonzero].astype(np.float64)
    entropy = np.log2(length) - np.bincount(nz_rows, weights=counts * np.log2(counts), minlength=n) / length
    distinct = np.bincount(nz_rows, minlength=n)

    def put(name: str, values) -> None:
        out[:, col[name]] = values

    put("log_length", np.log1p(lengths))
    put("log_tokens", np.log1p(tokens))
    put("log_longest_token", np.log1p(_longest_run(~is_ws, row_start, row, n)))
    put("mean_token_length", (lengths - ws) / np.maximum(tokens, 1))
    put("log_lines", np.log1p(hist[:, 10]))
    for name, values in (
        ("upper_share", upper),
        ("lower_share", lower),
        ("digit_share", digit),
        ("whitespace_share", ws),
        ("punct_share", punct),
        ("control_share", control),
        ("non_ascii_share", non_ascii),
        ("hex_share", hexd),
        ("special_share", special),
        ("case_switches", switches),
    ):
        put(name, values / length)
    put("upper_of_letters", upper / np.maximum(letters, 1))
    put("vowel_of_letters", vowel / np.maximum(letters, 1))
    put("digit_letter_ratio", digit / (letters + 1))
    put("entropy", np.where(lengths > 0, entropy, 0.0))
    put("log_distinct_bytes", np.log1p(distinct))
    put("log_longest_base64_run", np.log1p(_longest_run(_B64[data], row_start, row, n)))
    put("log_longest_hex_run", np.log1p(_longest_run(_HEX[data], row_start, row, n)))
    put("log_longest_punct_run", np.log1p(_longest_run(_PUNCT[data], row_start, row, n)))
    put("log_longest_letter_run", np.log1p(_longest_run(_LETTER[data], row_start, row, n)))
    put("max_nesting", np.maximum(max_depth, 0))
    put("bracket_imbalance", np.abs(final))
    put("log_double_quotes", np.log1p(hist[:, 34]))
    put("log_single_quotes", np.log1p(hist[:, 39]))
    put("log_carets", np.log1p(hist[:, 94]))
    put("log_backticks", np.log1p(hist[:, 96]))
    put("log_caret_in_word", np.log1p(caret_in))
    put("log_backtick_in_word", np.log1p(tick_in))
    put("log_quote_in_word", np.log1p(quote_in))
    put("log_escapes", np.log1p(escapes))
    put("log_dollar_brace", np.log1p(dollar_brace))
    put("log_percent_vars", np.log1p(percent_vars))
    out[:, len(_BASE) :] = hist[:, _EACH] / length[:, None]
    return out


def extract_features(texts: Sequence[str]) -> np.ndarray:
    """The (n, len(FEATURES)) feature matrix of ``texts`` (columns in :data:`FEATURES` order)."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, len(FEATURES)), dtype=np.float64)
    return np.vstack([_chunk_features(texts[i : i + _CHUNK]) for i in range(0, len(texts), _CHUNK)])


@dataclasses.dataclass(kw_only=True, repr=False, eq=False)
class FeatureLogregBase(Classifier):
    """A fixed feature vector per line, standardised, + a logistic regression; subclasses choose the features
    (``_extract``, ``_feature_list``) and may word an explanation's values (``_readable``)."""

    C: LogregC = 1.0
    max_iter: LogregMaxIter = 2000
    class_weight: LogregClassWeight = None
    seed: Seed = 42
    verbose: bool = True

    def _extract(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - abstract

    def _feature_list(self) -> list[tuple[str, str]]:
        raise NotImplementedError  # pragma: no cover - abstract

    def _readable(self, text: str, feature: str, value: float) -> object:
        """What explain() shows as a feature's value (the number, unless a subclass can say more)."""
        return value

    def _penalty_weights(self) -> np.ndarray | None:
        """A weight per feature column, or None (all 1). A standardised column multiplied by w is penalised as if
        its own C were C * w**2: how a subclass trusts one group of features more than another."""
        return None

    def _standardise(self, features: np.ndarray) -> np.ndarray:
        return (features - self.mean_) / self.scale_

    def _fit(self, texts, labels, eval_texts, eval_labels) -> None:
        features = self._extract(texts)
        self.mean_ = features.mean(axis=0)
        scale = features.std(axis=0)
        self.scale_ = np.where(scale > 1e-12, scale, 1.0)
        weights = self._penalty_weights()
        if weights is not None:  # stored in the scale, so loading, scoring, explaining and export need nothing new
            self.scale_ = self.scale_ / weights
        self.head_ = fit_logreg(
            self._standardise(features),
            labels,
            C=self.C,
            max_iter=self.max_iter,
            class_weight=self.class_weight,
            seed=self.seed,
        )

    def decision_function(self, texts) -> np.ndarray:
        """Logits: (n,) for a binary model (of ``labels_[1]``), (n, classes) otherwise -- as scikit-learn's."""
        z = self._standardise(self._extract(check_texts(texts)))
        # the logistic regression's own formula, with einsum instead of BLAS (whose idle threads spin on a busy CPU)
        scores = np.einsum("nd,kd->nk", z, self.head_.coef_) + self.head_.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        scores = self.decision_function(texts)
        if scores.ndim == 1:
            positive = expit(scores)
            return np.column_stack([1.0 - positive, positive])
        return softmax(scores, axis=1)

    def explain(self, text: str, top: int = 8, *, label: str | None = None) -> list[tuple[str, object, float]]:
        """The ``top`` features that moved this line's score most: ``(feature, value, contribution)``.

        ``contribution`` = standardised value x coefficient, on the logit of ``label`` (default: the positive
        class ``labels_[1]`` of a binary model, the predicted class of a multi-class one); sorted by |contribution|.
        """
        self.check_fitted("explaining")
        raw = self._extract([text])[0]
        z = self._standardise(raw)
        coef = self.head_.coef_
        if coef.shape[0] == 1:
            weights = coef[0] if label in (None, self.labels_[1]) else -coef[0]
        else:
            if label is None:
                label = self.labels_[int(np.argmax(coef @ z + self.head_.intercept_))]
            if label not in self.labels_:
                raise SectuneError(f"unknown label '{label}' (labels: {', '.join(self.labels_)})")
            weights = coef[self.labels_.index(label)]
        contrib = z * weights
        order = np.argsort(-np.abs(contrib), kind="stable")[: max(int(top), 0)]
        names = [name for name, _ in self._feature_list()]
        return [(names[i], self._readable(text, names[i], float(raw[i])), float(contrib[i])) for i in order]

    def _save_state(self, directory: Path) -> dict[str, Any]:
        save_file(
            {"mean": np.ascontiguousarray(self.mean_), "scale": np.ascontiguousarray(self.scale_)},
            str(directory / SCALER_FILE),
        )
        (directory / FEATURES_FILE).write_text(
            json.dumps(self._feature_list(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        save_logreg(self.head_, directory)
        return {}

    def _load_state(self, directory: Path, state: Mapping[str, Any]) -> None:
        path = directory / FEATURES_FILE
        try:
            saved = [name for name, _ in json.loads(path.read_text(encoding="utf-8"))]
        except (OSError, ValueError) as exc:
            raise SectuneError(f"cannot read the feature list: {exc}", path=path) from exc
        if saved != [name for name, _ in self._feature_list()]:
            raise SectuneError(
                "was trained on another feature list than this sectune computes; retrain the model", path=path
            )
        arrays = load_file(str(directory / SCALER_FILE))
        self.mean_, self.scale_ = arrays["mean"], arrays["scale"]
        self.head_ = load_logreg(directory, self.labels_)


@dataclasses.dataclass(kw_only=True, repr=False, eq=False)
class FeaturesLogreg(FeatureLogregBase):
    name = "features-logreg"
    tags = MethodTags(explains=True, fast_test_params={"verbose": False})

    shell_features: Annotated[
        bool,
        Field(
            description="add the shell-aware features of the shell-features method (what normalisation removed, "
            "decoded, exposed; the normal form's statistics) to the character statistics"
        ),
    ] = False

    def _extract(self, texts: Sequence[str]) -> np.ndarray:
        features = extract_features(texts)
        if not self.shell_features:
            return features
        from sectune.methods.shell_features import shell_features

        return np.hstack([features, shell_features(texts)])

    def _feature_list(self) -> list[tuple[str, str]]:
        if not self.shell_features:
            return FEATURES
        from sectune.methods.shell_features import ALL_SHELL_FEATURES

        return FEATURES + ALL_SHELL_FEATURES

    def _readable(self, text: str, feature: str, value: float) -> object:
        if not self.shell_features or not value:
            return value
        from sectune.methods.shell_features import reasons

        return reasons(text, feature) or value
