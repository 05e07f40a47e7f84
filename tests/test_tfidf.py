"""``tfidf-logreg`` on texts without a word of two or more characters: a fallback tokeniser, saved with the model."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from sectune.cli import main
from sectune.errors import SectuneError
from sectune.methods.base import load
from sectune.methods.tfidf import (
    FALLBACK_PATTERN,
    TOKENS_FILE,
    WORD_PATTERN,
    TfidfLogreg,
)

SYMBOLS = ["!!!", "+", "a", "?"]
SYMBOL_LABELS = ["loud", "calm", "loud", "calm"]


def test_cli_trains_on_symbols_only_and_the_model_predicts(capsys, tmp_path) -> None:
    data = tmp_path / "symbols.csv"
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(SYMBOLS, SYMBOL_LABELS)), encoding="utf-8")
    out = tmp_path / "model"
    code = main(["--quiet", "train", str(data), "--method", "tfidf-logreg", "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Traceback" not in err
    assert json.loads((out / TOKENS_FILE).read_text()) == {"token_pattern": FALLBACK_PATTERN}
    model = load(out, verbose=False)
    assert model.labels_ == ["calm", "loud"]
    proba = model.predict_proba(SYMBOLS)
    assert proba.shape == (4, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert model.predict(SYMBOLS)[0] in ("calm", "loud")


def test_fallback_is_logged_and_a_reloaded_model_tokenises_the_same_way(tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="sectune"):
        clf = TfidfLogreg(verbose=False).fit(SYMBOLS, SYMBOL_LABELS)
    assert "no word of two or more characters" in caplog.text
    assert clf.token_pattern_ == FALLBACK_PATTERN and set(clf.vectorizer_.vocabulary_) == {"!!!", "+", "a", "?"}
    clf.save_pretrained(tmp_path / "m")
    again = TfidfLogreg.from_pretrained(tmp_path / "m")
    texts = [*SYMBOLS, "a + ?", "nothing known"]
    before = clf.predict_proba(texts)
    np.testing.assert_array_equal(again.predict_proba(texts), before)
    # the symbols carry the signal: they do not all score like a text with no known token
    assert not np.allclose(before[:4], before[-1])


def test_ordinary_texts_keep_the_word_pattern_and_old_models_still_load(tmp_path) -> None:
    texts, labels = ["select from users", "union select", "script alert", "img onerror"], ["sqli", "sqli", "xss", "xss"]
    clf = TfidfLogreg(min_df=1, verbose=False).fit(texts, labels)
    assert clf.token_pattern_ == WORD_PATTERN
    clf.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / TOKENS_FILE).unlink()  # a model saved before tokens.json existed
    again = TfidfLogreg.from_pretrained(tmp_path / "m")
    assert again.token_pattern_ == WORD_PATTERN
    np.testing.assert_array_equal(again.predict_proba(texts), clf.predict_proba(texts))


def test_texts_without_any_token_are_one_clear_error() -> None:
    with pytest.raises(SectuneError, match="no token at all"):
        TfidfLogreg(verbose=False).fit(["", " ", "\t"], ["a", "b", "a"])


def test_a_token_pattern_edited_in_the_model_directory_is_refused(tmp_path) -> None:
    TfidfLogreg(verbose=False).fit(SYMBOLS, SYMBOL_LABELS).save_pretrained(tmp_path / "m")
    (tmp_path / "m" / TOKENS_FILE).write_text(json.dumps({"token_pattern": "(a+)+$"}))
    with pytest.raises(SectuneError, match="tokens.json: is not a token pattern this sectune writes"):
        TfidfLogreg.from_pretrained(tmp_path / "m")


def _words_csv(tmp_path) -> str:
    data = tmp_path / "words.csv"
    rows = [(f"open the door number {i}", "calm") for i in range(12)] + [
        (f"rm -rf / now {i}", "loud") for i in range(12)
    ]
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows), encoding="utf-8")
    return str(data)


def test_training_logs_both_fits_and_their_time_to_stderr(tmp_path) -> None:
    """Issue 19: on CVE data the fit is minutes in one scikit-learn call; the user sees what runs and how long it
    took, on stderr (not a terminal here: log lines stay, bars go), and stdout keeps only the results."""
    import os
    import subprocess
    import sys

    argv = ["train", _words_csv(tmp_path), "--method", "tfidf-logreg", "--min-df", "1", "--output", str(tmp_path / "m")]
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    done = subprocess.run(
        [sys.executable, "-m", "sectune", *argv], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-1000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("sectune: tfidf-logreg:")]
    assert len(lines) == 4, done.stderr
    assert "building the word 1-2-gram vocabulary of 19 texts" in lines[0]  # the training side of the split
    assert "terms in" in lines[1] and lines[1].rstrip().endswith(" s")
    assert "fitting LogisticRegression (lbfgs) on 19 x " in lines[2] and "2 classes" in lines[2]
    assert "LogisticRegression (lbfgs) fitted in" in lines[3] and "iterations of at most 1000" in lines[3]
    assert "tfidf-logreg:" not in done.stdout and "\r" not in done.stderr


def test_quiet_training_logs_nothing_about_the_fits(tmp_path, capsys, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="sectune"):
        code = main(
            ["--quiet", "train", _words_csv(tmp_path), "--method", "tfidf-logreg", "--output", str(tmp_path / "m")]
        )
    assert code == 0
    assert not [r for r in caplog.records if "tfidf-logreg:" in r.getMessage()]
    assert capsys.readouterr().err == ""
