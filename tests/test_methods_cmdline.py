"""The obfuscation detectors (rules, features-logreg, charcnn) on generated command lines.

Each is trained on a small generated set and must rank held-out lines (split by ``orig``, so no seed
line is on both sides) well above chance; explanations must name the evidence; features-logreg must
be fast. Budgets are short: the whole file runs in well under a minute on one busy core.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupShuffleSplit

from sectune.errors import SectuneError
from sectune.methods.base import load
from sectune.methods.charcnn import CharCNN
from sectune.methods.features import FEATURE_NAMES, FEATURES, FeaturesLogreg, extract_features
from sectune.methods.rules import PATTERNS, RulesClassifier, special_ratio

B64_LINE = "echo ZWNobyBoZWxsbyB3b3JsZCAmJiBjYXQgL2V0Yy9wYXNzd2QgfCBncmVwIHJvb3QK | base64 -d | bash"
ENC_LINE = (
    "powershell -NoP -W Hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA"
)


@pytest.fixture(scope="module")
def split():
    from sectune.tasks.cmdline.dataset import build_cmdline_dataset

    records = build_cmdline_dataset(["bash", "cmd", "powershell"], 1500, seed=1, progress=False).records
    texts = [r["text"] for r in records]
    labels = [str(r["label"]) for r in records]
    groups = [r["orig"] or r["text"] for r in records]
    train, test = next(GroupShuffleSplit(n_splits=1, test_size=0.3, random_state=0).split(texts, labels, groups))
    assert not {groups[i] for i in train} & {groups[i] for i in test}
    pick = lambda idx, seq: [seq[i] for i in idx]  # noqa: E731
    return {
        "train": (pick(train, texts), pick(train, labels), pick(train, groups)),
        "test": (pick(test, texts), pick(test, labels)),
    }


def held_out_auc(model, split) -> float:
    texts, labels = split["test"]
    assert model.labels_ == ["0", "1"]
    return float(roc_auc_score([y == "1" for y in labels], model.predict_proba(texts)[:, 1]))


# --- rules ---------------------------------------------------------------------------------------
def test_rules_detect_obfuscation_and_explain(split, tmp_path) -> None:
    model = RulesClassifier(verbose=False).fit(*split["train"][:2])
    auc = held_out_auc(model, split)
    print(f"rules held-out ROC-AUC {auc:.4f}")
    assert auc > 0.7
    assert 0 < model.ratio_threshold_ < 1 and model.ratio_scale_ > 0
    assert all(w >= 0 for w in model.weights_.values())  # patterns only ever add evidence: the score is monotone

    fired = {name: weight for name, _, weight in model.explain(B64_LINE)}
    assert "base64_run" in fired and "decode_pipe" in fired
    assert model.explain("ls -la /var/log")[0][0] == "special_char_ratio"
    assert [name for name, *_ in model.explain("ls -la /var/log")] == ["special_char_ratio"]
    assert "caret_in_word" in {name for name, *_ in model.explain("w^h^o^a^m^i /all")}
    assert model.predict_proba([ENC_LINE])[0, 1] > 0.9 > model.predict_proba(["ls -la /var/log"])[0, 1]

    model.save_pretrained(tmp_path / "rules")
    tuned = json.loads((tmp_path / "rules" / "rules.json").read_text(encoding="utf-8"))
    assert set(tuned["patterns"]) == set(PATTERNS) and tuned["ratio_threshold"] == model.ratio_threshold_
    again = load(tmp_path / "rules")
    np.testing.assert_array_equal(
        again.predict_proba(split["test"][0][:50]), model.predict_proba(split["test"][0][:50])
    )


def test_rules_pieces() -> None:
    assert special_ratio(["", "ab", "a^b^", "$%"], "^$%").tolist() == [0.0, 0.0, 0.5, 1.0]
    with pytest.raises(SectuneError, match="unknown pattern"):
        RulesClassifier(patterns=["no_such_rule"]).fit(["a", "b"], ["0", "1"])
    with pytest.raises(SectuneError, match="binary"):
        RulesClassifier().fit(["a", "b", "c"], ["x", "y", "z"])
    only = RulesClassifier(patterns=["ifs"], min_support=1).fit(["ls", "cat${IFS}/etc/passwd"], ["0", "1"])
    assert only.pattern_names_ == ["ifs"] and only.weights_["ifs"] > 0


# --- features-logreg ---------------------------------------------------------------------------
def test_feature_values() -> None:
    col = {name: i for i, name in enumerate(FEATURE_NAMES)}
    assert len(FEATURES) == len(set(FEATURE_NAMES)) and all(desc for _, desc in FEATURES)
    rows = extract_features(
        ["", "ls -la", "((a[b]{c}))", "w^h^o x", "é", "aa\nbb", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3"]
    )
    assert rows.shape == (7, len(FEATURES)) and np.isfinite(rows).all()
    assert not rows[0].any()  # the empty line
    assert rows[1, col["log_tokens"]] == pytest.approx(math.log1p(2))
    assert rows[1, col["log_longest_token"]] == pytest.approx(math.log1p(3))
    assert rows[1, col["entropy"]] == pytest.approx(-sum(p * math.log2(p) for p in (1 / 6, 1 / 6, 2 / 6, 1 / 6, 1 / 6)))
    assert rows[2, col["max_nesting"]] == 3 and rows[2, col["bracket_imbalance"]] == 0
    assert rows[3, col["log_caret_in_word"]] == pytest.approx(math.log1p(2))
    assert rows[4, col["non_ascii_share"]] == 1.0
    assert rows[5, col["log_lines"]] == pytest.approx(math.log1p(1))
    assert rows[6, col["log_longest_base64_run"]] == pytest.approx(math.log1p(40))
    # a row's features do not depend on its neighbours in the batch
    np.testing.assert_array_equal(
        np.vstack([extract_features([t]) for t in ["ab cd", "((x", "y"]]), extract_features(["ab cd", "((x", "y"])
    )


def test_features_logreg_detects_explains_and_is_fast(split, tmp_path) -> None:
    model = FeaturesLogreg(verbose=False).fit(*split["train"][:2])
    auc = held_out_auc(model, split)
    print(f"features-logreg held-out ROC-AUC {auc:.4f}")
    assert auc > 0.8

    top = model.explain(B64_LINE, top=5)
    assert len(top) == 5 and all(name in FEATURE_NAMES for name, _, _ in top)
    assert [abs(c) for *_, c in top] == sorted((abs(c) for *_, c in top), reverse=True)
    encoding_signs = {
        "log_longest_base64_run",
        "entropy",
        "case_switches",
        "log_longest_token",
        "upper_share",
        "digit_share",
        "vowel_of_letters",
        "mean_token_length",
        "log_distinct_bytes",
    }
    assert encoding_signs & {name for name, _, c in top if c > 0}, top
    # all contributions + intercept = the logit of the positive class
    every = model.explain(B64_LINE, top=len(FEATURES))
    logit = sum(c for *_, c in every) + float(model.head_.intercept_[0])
    assert logit == pytest.approx(
        math.log(model.predict_proba([B64_LINE])[0, 1] / model.predict_proba([B64_LINE])[0, 0]), abs=1e-6
    )

    model.save_pretrained(tmp_path / "features")
    again = load(tmp_path / "features")
    np.testing.assert_allclose(again.predict_proba(split["test"][0]), model.predict_proba(split["test"][0]), atol=1e-12)

    lines = (split["train"][0] * 20)[:20_000]
    model.predict_proba(lines[:500])  # warm-up
    started = time.perf_counter()
    model.predict_proba(lines)
    rate = len(lines) / (time.perf_counter() - started)
    print(
        f"features-logreg predict_proba: {rate:,.0f} lines/s ({len(lines):,} lines, mean {np.mean([len(t) for t in lines]):.0f} chars)"
    )
    assert rate > 5_000


# --- charcnn -------------------------------------------------------------------------------------
def test_charcnn_learns_with_early_stopping_and_round_trips(split, tmp_path) -> None:
    texts, labels, groups = split["train"]
    fit_idx, eval_idx = next(GroupShuffleSplit(n_splits=1, test_size=0.15, random_state=1).split(texts, labels, groups))
    model = CharCNN(max_length=1024, epochs=4, lr=5e-3, early_stopping_patience=2, num_threads=1, verbose=False)
    model.fit(
        [texts[i] for i in fit_idx],
        [labels[i] for i in fit_idx],
        [texts[i] for i in eval_idx],
        [labels[i] for i in eval_idx],
    )
    auc = held_out_auc(model, split)
    print(f"charcnn held-out ROC-AUC {auc:.4f}, best eval macro-F1 {model.best_eval_macro_f1_:.4f}")
    assert auc > 0.8
    assert (
        any("eval_macro_f1" in entry for entry in model.log_history_) and model.optimizer_stats_["skipped_steps"] == 0
    )

    model.save_pretrained(tmp_path / "cnn")
    assert (tmp_path / "cnn" / "model.safetensors").is_file()
    again = load(tmp_path / "cnn", num_threads=1)
    assert again.saved_params() == model.saved_params() and again.num_threads == 1
    sample = split["test"][0][:64]
    np.testing.assert_allclose(again.predict_proba(sample), model.predict_proba(sample), atol=1e-6)


def test_charcnn_is_seeded_and_refuses_bad_settings() -> None:
    texts = ["ls -la", "w^h^o^a^m^i", "cat /etc/hosts", "e`c`h`o hi", "pwd", "n^e^t user"] * 3
    labels = ["0", "1", "0", "1", "0", "1"] * 3
    fast = dict(embed_dim=8, filters=4, kernel_sizes=[3], max_steps=3, batch_size=4, num_threads=1, verbose=False)
    first = CharCNN(**fast).fit(texts, labels).predict_proba(texts)
    np.testing.assert_array_equal(first, CharCNN(**fast).fit(texts, labels).predict_proba(texts))
    with pytest.raises(SectuneError, match="kernel_sizes"):
        CharCNN(**{**fast, "kernel_sizes": [0]}).fit(texts, labels)


def test_explain_command_prints_score_verdict_and_contributions(tmp_path, capsys) -> None:
    from sectune.cli import main
    from sectune.methods.features import FeaturesLogreg
    from sectune.tasks.cmdline.dataset import build_cmdline_dataset

    records = build_cmdline_dataset(["bash"], 400, seed=7, progress=False).records
    FeaturesLogreg().fit([r["text"] for r in records], [str(r["label"]) for r in records]).save_pretrained(
        tmp_path / "f"
    )
    assert main(["explain", str(tmp_path / "f"), "echo Y2F0IC9ldGMvcGFzc3dk | base64 -d | bash", "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("score ") and ("ALERT" in lines[0] or "no alert" in lines[0])
    assert len(lines) == 2 + 3 and all(line.split()[1][0] in "+-" for line in lines[2:])  # name, contribution, value
