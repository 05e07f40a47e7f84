"""``rules``: a transparent obfuscation detector of the kind SOC analysts write, tuned on the training rows.

Binary only (obfuscated or not). The positive class is the later of the two sorted labels
(``labels_[1]``, e.g. ``"1"``), as for every binary sectune model.

The score of a line is a logistic function of two kinds of evidence::

    logit = (ratio - ratio_threshold) / ratio_scale  +  sum(weight[p] for every pattern p that fires)
    P(positive) = sigmoid(logit)

* ``ratio`` is the **special-character ratio**: the share of the line's characters that are in
  :data:`SPECIAL_CHARS` (by default ``^ ` $ % { } [ ] ( ) + ; | & ' " \\ , * ~ ! ? < > = @``; the
  ``special_chars`` parameter replaces the set). Dense shell syntax is the classic sign of obfuscation.
* **Named patterns** (:data:`PATTERNS`): long base64 runs, carets or backticks inside words,
  ``-EncodedCommand`` flags, ``FromBase64String``, ``$IFS``, ``eval``/``iex`` of built text,
  ``%VAR:~a,b%`` substrings, ``[char]`` codes, ``-join``/``-f`` reassembly, escape sequences ... each
  fires at most once per line.

What is learned from the training rows (and stored in ``rules.json``, readable by a person):

* ``ratio_threshold``: the ratio that maximises F1 of ``ratio >= threshold`` on the training rows;
* ``weight[p]`` of each pattern: its smoothed log-odds of being positive when it fires,
  ``log((tp + 1) / (fp + 1))``, kept only when the pattern fired on at least ``min_support`` training
  rows with precision at least ``min_precision``; an imprecise pattern gets weight 0 (it is still
  reported by :meth:`RulesClassifier.explain`, with no influence on the score);
* ``ratio_scale``: the softness of the ratio term, picked from a fixed grid to minimise the training
  log-loss of the whole score (it changes the probabilities, not the ranking by ratio).

The score is monotone: it never decreases when the ratio grows or when one more pattern fires.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Callable, Mapping, Sequence

import numpy as np
from pydantic import Field

from sectune.errors import SectuneError
from sectune.methods.base import Classifier, NonNegativeFloat, NonNegativeInt
from sectune.methods.info import check_outputs
from sectune.methods.tags import MethodTags

RULES_FILE = "rules.json"

SPECIAL_CHARS = "^`$%{}[]()+;|&'\"\\,*~!?<>=@"

_B64_RUN = re.compile(r"[A-Za-z0-9+/=]{40,}")
_WORD = re.compile(r"[A-Za-z]{4,}")


def _base64_run(text: str) -> str | None:
    """A run of >= 40 base64-alphabet characters that mixes upper case, lower case and digits
    (so a long lower-case path such as ``/usr/share/doc/...`` does not count)."""
    for match in _B64_RUN.finditer(text):
        run = match.group()
        if re.search(r"[A-Z]", run) and re.search(r"[a-z]", run) and re.search(r"[0-9]", run):
            return run
    return None


def _random_case(text: str) -> str | None:
    """A word of >= 4 letters whose case flips like random casing (``ScHTAsKs``, ``wHoAmI``) rather than like
    CamelCase (``ConvertTo``, ``SecureString``): >= 3 case switches, at least one per two letters."""
    for match in _WORD.finditer(text):
        word = match.group()
        upper = [c.isupper() for c in word]
        switches = sum(a != b for a, b in zip(upper, upper[1:]))
        if switches >= 3 and 2 * switches >= len(word):
            return word
    return None


def _regex(pattern: str, flags: int = 0) -> Callable[[str], str | None]:
    compiled = re.compile(pattern, flags)

    def find(text: str) -> str | None:
        match = compiled.search(text)
        return match.group() if match else None

    return find


# name -> (description, finder returning the matched text or None)
PATTERNS: dict[str, tuple[str, Callable[[str], str | None]]] = {
    "base64_run": ("a run of >= 40 base64 characters [A-Za-z0-9+/=] mixing upper, lower case and digits", _base64_run),
    "encoded_flag": (
        "a PowerShell -e/-enc/-EncodedCommand flag followed by a base64 argument",
        _regex(r"(?:^|\s)[-/]e(?:c|n|nc|nco|ncod|ncode|ncoded|ncodedc\w*)?\s+['\"]?[A-Za-z0-9+/]{16,}", re.I),
    ),
    "from_base64": ("a .NET base64 decode: FromBase64String", _regex(r"FromBase64String", re.I)),
    "decode_pipe": (
        "a shell decoder in a pipe or command: base64 -d, xxd -r, openssl enc -d, certutil -decode",
        _regex(
            r"\bbase64\s+(?:-\w*d\w*|--decode)\b|\bxxd\s+-r|\bopenssl\s+(?:enc\s+)?-?(?:base64|enc)\b.*-d\b|certutil\S*\s+-decode",
            re.I,
        ),
    ),
    "compression": (
        "in-line decompression: gunzip/gzip -d/bzip2 -d/zcat in a pipe, or a .NET Deflate/GZip stream",
        _regex(
            r"\|\s*(?:gunzip|zcat|bzcat|xzcat|(?:gzip|bzip2|xz)\s+-\w*d)|DeflateStream|GZipStream|IO\.Compression", re.I
        ),
    ),
    "exec_built": (
        "execution of built or decoded text: eval/iex/Invoke-Expression of an expression, or a pipe into sh/bash/iex",
        _regex(
            r"\b(?:eval|iex|invoke-expression)\s*[\"'(\$`{]|\|\s*(?:/bin/)?(?:ba|da|z)?sh\b(?!\s*-c)|\|\s*(?:iex|invoke-expression)\b",
            re.I,
        ),
    ),
    "ifs": ("the $IFS (or ${IFS}) field separator used as whitespace", _regex(r"\$\{?IFS\b")),
    "caret_in_word": ("a cmd.exe caret escape inside a word (w^h^o^a^m^i)", _regex(r"[A-Za-z0-9]\^[A-Za-z0-9]")),
    "backtick_in_word": (
        "a PowerShell backtick escape inside a word (i`ex, N`ew-Obj`ect)",
        _regex(r"[A-Za-z]`[A-Za-mo-qsu-z]|[A-Za-z]`[ntr][A-Za-z]"),
    ),
    "quotes_in_word": (
        "empty or one-character quotes splitting a word (wh\"\"oami, w'h'oami)",
        _regex(r"[A-Za-z](?:\"\"|'')[A-Za-z]|[A-Za-z]([\"'])[A-Za-z]{1,2}\1[A-Za-z]"),
    ),
    "cmd_substring": (
        "a cmd.exe variable substring or substitution: %VAR:~a,b% or %VAR:x=y%",
        _regex(r"%[A-Za-z_][\w()]*:(?:~-?\d+(?:,-?\d+)?|[^%=\s]+=[^%]*)%|![A-Za-z_]\w*:~-?\d+"),
    ),
    "var_concat": (
        "three or more variables pasted together: %a%%b%%c%, !a!!b!!c! or $a$b$c",
        _regex(r"(?:%[A-Za-z_]\w*%){3,}|(?:![A-Za-z_]\w*!){3,}|(?:\$\{?[A-Za-z_]\w*\}?){3,}"),
    ),
    "bash_substring": (
        "a bash substring expansion ${var:a:b} or an indirect ${!var}",
        _regex(r"\$\{\w+:-?\d+(?::-?\d+)?\}|\$\{![A-Za-z_]"),
    ),
    "char_codes": (
        "PowerShell character codes: [char]65, [char[]](...), [char]0x41",
        _regex(r"\[char(?:\[\])?\]\s*\(?\s*(?:0x)?[0-9a-f]+", re.I),
    ),
    "join_format": (
        "string reassembly: -join, or the -f format operator over {0}{1} placeholders",
        _regex(r"-join\b|\{\d+\}\s*\{\d+\}[^\n]*?['\"]\s*-f\b|['\"]\s*-f\s*['\"(]", re.I),
    ),
    "reverse": (
        "string reversal: a pipe into rev, [Array]::Reverse, or [-1..-n] indexing",
        _regex(r"\|\s*rev\b|::Reverse\(|\[\s*-1\s*\.\.\s*-", re.I),
    ),
    "escape_run": (
        "four or more \\xNN, \\NNN (octal) or \\uNNNN escapes in a row",
        _regex(r"(?:\\x[0-9a-fA-F]{2}|\\[0-7]{3}|\\u[0-9a-fA-F]{4}){4,}"),
    ),
    "char_replace": (
        "chained .replace()/-replace over string pieces (two or more)",
        _regex(r"(?:(?:\.replace\(|-replace\s)[^\n]*?){2,}", re.I),
    ),
    "cmd_separators": (
        "a cmd.exe command prefixed by , ; or = separators (,;,whoami)",
        _regex(r"(?:^|[&|(]\s*)[,;=]{1,}\s*[A-Za-z]"),
    ),
    "random_case": ("a word whose letter case flips like random casing (ScHTAsKs), not CamelCase", _random_case),
    "noop_expansion": (
        "a bash no-op expansion inside or between words: ${*}, ${@}, $@/$* glued to a word, ${!#}",
        _regex(r"\$\{[*@#!]{1,2}[^}]{0,20}\}|[A-Za-z]\$[*@]|\$[*@][A-Za-z]"),
    ),
}


def special_ratio(texts: Sequence[str], chars: str) -> np.ndarray:
    """Share of each text's characters that are in ``chars`` (0 for an empty text)."""
    table = dict.fromkeys(map(ord, chars), None)
    out = np.zeros(len(texts), dtype=np.float64)
    for i, text in enumerate(texts):
        if text:
            out[i] = (len(text) - len(text.translate(table))) / len(text)
    return out


def _best_f1_threshold(ratio: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The threshold t maximising F1 of ``ratio >= t`` (ties: the largest such t), and that F1."""
    positives = int(y.sum())
    if positives == 0:
        return float(ratio.max(initial=0.0)) + 1e-9, 0.0
    order = np.argsort(-ratio, kind="stable")
    r, yy = ratio[order], y[order]
    tp = np.cumsum(yy)
    flagged = np.arange(1, len(r) + 1)
    # only cut where the ratio changes: everything with ratio >= t is flagged
    last = np.r_[r[1:] != r[:-1], True]
    f1 = 2 * tp / (flagged + positives)
    f1 = np.where(last, f1, -1.0)
    best = int(np.argmax(f1))
    return float(r[best]), float(f1[best])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclasses.dataclass(kw_only=True, repr=False, eq=False)
class RulesClassifier(Classifier):
    name = "rules"
    tags = MethodTags(
        binary_only=True, explains=True, guesses_technique=True, fast_test_params={"min_support": 2, "verbose": False}
    )

    special_chars: Annotated[str, Field(min_length=1, description="characters counted as obfuscation signals")] = (
        SPECIAL_CHARS
    )
    patterns: Annotated[
        list[str] | None, Field(description="regular expressions to use as rules (default: the built-in set)")
    ] = None
    min_precision: Annotated[
        float, Field(ge=0, le=1, description="keep a rule only if this share of its training hits are positive")
    ] = 0.9
    min_support: Annotated[
        NonNegativeInt, Field(description="keep a rule only if it fires on this many training rows")
    ] = 3
    max_weight: Annotated[NonNegativeFloat, Field(description="cap on one rule's weight in the score")] = 6.0
    verbose: bool = True

    # --- evidence -------------------------------------------------------------------------
    def _pattern_names(self) -> list[str]:
        names = list(PATTERNS) if self.patterns is None else list(self.patterns)
        unknown = [n for n in names if n not in PATTERNS]
        if unknown:
            raise SectuneError(f"rules: unknown pattern(s) {', '.join(unknown)} (available: {', '.join(PATTERNS)})")
        return names

    def _hits(self, texts: Sequence[str], names: Sequence[str]) -> np.ndarray:
        hits = np.zeros((len(texts), len(names)), dtype=bool)
        finders = [PATTERNS[name][1] for name in names]
        for i, text in enumerate(texts):
            for j, find in enumerate(finders):
                hits[i, j] = find(text) is not None
        return hits

    def _logit(self, ratio: np.ndarray, hits: np.ndarray) -> np.ndarray:
        weights = np.array([self.weights_[name] for name in self.pattern_names_], dtype=np.float64)
        return (ratio - self.ratio_threshold_) / self.ratio_scale_ + hits.astype(np.float64) @ weights

    # --- training -------------------------------------------------------------------------
    def _fit(self, texts, labels, eval_texts, eval_labels) -> None:
        self.pattern_names_ = self._pattern_names()
        y = np.array([label == self.labels_[1] for label in labels])
        ratio = special_ratio(texts, self.special_chars)
        hits = self._hits(texts, self.pattern_names_)

        self.ratio_threshold_, self.ratio_f1_ = _best_f1_threshold(ratio, y)
        self.weights_, self.pattern_stats_ = {}, {}
        for j, name in enumerate(self.pattern_names_):
            fired = hits[:, j]
            tp, fp = int((fired & y).sum()), int((fired & ~y).sum())
            precision = tp / (tp + fp) if tp + fp else 0.0
            weight = 0.0
            if tp + fp >= self.min_support and precision >= self.min_precision:
                weight = min(self.max_weight, math.log((tp + 1) / (fp + 1)))
            self.weights_[name] = round(max(weight, 0.0), 6)
            self.pattern_stats_[name] = {"fired": tp + fp, "true_positives": tp, "precision": round(precision, 6)}

        # softness of the ratio term: the grid value with the lowest training log-loss
        evidence = hits.astype(np.float64) @ np.array([self.weights_[n] for n in self.pattern_names_])
        best = (math.inf, 0.05)
        for scale in np.geomspace(0.002, 1.0, 28):
            p = np.clip(_sigmoid((ratio - self.ratio_threshold_) / scale + evidence), 1e-9, 1 - 1e-9)
            loss = -float(np.mean(np.where(y, np.log(p), np.log(1 - p))))
            if loss < best[0] - 1e-12:
                best = (loss, float(scale))
        self.ratio_scale_ = best[1]

    # --- inference ------------------------------------------------------------------------
    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        p = _sigmoid(self._logit(special_ratio(texts, self.special_chars), self._hits(texts, self.pattern_names_)))
        return np.column_stack([1.0 - p, p])

    def explain(self, text: str, top: int = 8) -> list[tuple[str, object, float]]:
        """What the score of one line is made of: ``(rule, value, contribution to the logit)``, the first ``top``.

        The first item is always the special-character ratio (value: the ratio); then every pattern that
        fired (value: the matched text, shortened), by weight. A pattern imprecise on the training rows
        fires with contribution 0.
        """
        self.check_fitted("explaining")
        return self._evidence(text)[: max(int(top), 0)]

    def _evidence(self, text: str) -> list[tuple[str, object, float]]:
        ratio = float(special_ratio([text], self.special_chars)[0])
        items: list[tuple[str, object, float]] = [
            ("special_char_ratio", round(ratio, 4), float((ratio - self.ratio_threshold_) / self.ratio_scale_))
        ]
        fired = []
        for name in self.pattern_names_:
            match = PATTERNS[name][1](text)
            if match is not None:
                shown = match if len(match) <= 40 else match[:37] + "..."
                fired.append((name, shown, float(self.weights_[name])))
        return items + sorted(fired, key=lambda item: -item[2])

    def guess_technique(self, text: str) -> str | None:
        """The named patterns that fire with weight, strongest first: what ``sectune scan`` reports."""
        self.check_fitted("guessing a technique")
        fired = [name for name, _, weight in self._evidence(text)[1:] if weight > 0]
        return ">".join(fired) or None

    # --- persistence ----------------------------------------------------------------------
    def _save_state(self, directory: Path) -> dict[str, Any]:
        tuned = {
            "score": "sigmoid((ratio - ratio_threshold) / ratio_scale + sum of the weights of the patterns that fire)",
            "special_chars": self.special_chars,
            "ratio_threshold": self.ratio_threshold_,
            "ratio_train_f1": self.ratio_f1_,
            "ratio_scale": self.ratio_scale_,
            "patterns": {
                name: {
                    "description": PATTERNS[name][0],
                    "weight": self.weights_[name],
                    **self.pattern_stats_.get(name, {}),
                }
                for name in self.pattern_names_
            },
        }
        (directory / RULES_FILE).write_text(json.dumps(tuned, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return {}

    def _load_state(self, directory: Path, state: Mapping[str, Any]) -> None:
        path = directory / RULES_FILE
        check_outputs(2, len(self.labels_), path)  # a binary detector: its two columns are labels_[0] and labels_[1]
        try:
            tuned = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SectuneError(f"cannot read the tuned rules: {exc}", path=path) from exc
        unknown = [name for name in tuned["patterns"] if name not in PATTERNS]
        if unknown:
            raise SectuneError(f"names pattern(s) this sectune does not know: {', '.join(unknown)}", path=path)
        self.ratio_threshold_ = float(tuned["ratio_threshold"])
        self.ratio_f1_ = float(tuned.get("ratio_train_f1", 0.0))
        self.ratio_scale_ = float(tuned["ratio_scale"])
        self.pattern_names_ = list(tuned["patterns"])
        self.weights_ = {name: float(entry["weight"]) for name, entry in tuned["patterns"].items()}
        self.pattern_stats_ = {
            name: {k: v for k, v in entry.items() if k not in ("description", "weight")}
            for name, entry in tuned["patterns"].items()
        }
