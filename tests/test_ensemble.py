"""``--method ensemble``: the contract, weights chosen on validation, persistence, bad settings, the command line."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from sectune.cli import main
from sectune.errors import SectuneError
from sectune.methods.base import INFO_FILE, load
from sectune.methods.ensemble import Ensemble, choose_weights
from sectune.testing import check_method, make_texts

FAST = dict(Ensemble.tags.fast_test_params)
NAMES = ["tfidf-logreg", "features-logreg"]


def _log_loss(proba: np.ndarray, labels: list[str], order: list[str]) -> float:
    y = [order.index(label) for label in labels]
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0))))


@pytest.fixture(scope="module")
def data() -> dict[str, tuple[list[str], list[str]]]:
    return {"train": make_texts(12, seed=0), "validation": make_texts(6, seed=3), "test": make_texts(5, seed=4)}


@pytest.fixture(scope="module")
def fitted(data) -> Ensemble:
    return Ensemble(**FAST).fit(*data["train"], *data["validation"])


def test_passes_the_method_contract() -> None:
    check_method(Ensemble)


def test_weights_chosen_on_validation_beat_every_member(fitted, data) -> None:
    weights = np.array(fitted.weights_)
    assert len(weights) == 2 and np.all(weights >= 0) and weights.sum() == pytest.approx(1.0)
    texts, labels = data["validation"]
    ensemble = _log_loss(fitted.predict_proba(texts), labels, fitted.labels_)
    members = fitted.member_probas(texts)
    assert list(members) == NAMES
    for name, proba in members.items():
        assert ensemble <= _log_loss(proba, labels, fitted.labels_) + 1e-9, name
        assert fitted.member_validation_[name]["log_loss"] == pytest.approx(
            _log_loss(proba, labels, fitted.labels_), abs=1e-6
        )


def test_choose_weights_favours_the_good_member() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=60)
    good = np.full((60, 3), 0.05)
    good[np.arange(60), y] = 0.9
    useless = rng.dirichlet(np.ones(3), size=60)
    weights = choose_weights([useless, good], y)
    assert weights.sum() == pytest.approx(1.0) and np.all(weights >= 0)
    assert weights[1] > 0.9
    assert np.array_equal(weights, choose_weights([useless, good], y)), "deterministic"


def test_fixed_weights_and_no_validation(data, caplog) -> None:
    fixed = Ensemble(**{**FAST, "weights": "1,3"}).fit(*data["train"], *data["validation"])
    assert fixed.weights_ == pytest.approx([0.25, 0.75])
    texts = data["test"][0]
    members = fixed.member_probas(texts)
    expected = 0.25 * members["tfidf-logreg"] + 0.75 * members["features-logreg"]
    np.testing.assert_allclose(fixed.predict_proba(texts), expected, atol=1e-12)
    with caplog.at_level(logging.WARNING, logger="sectune"):
        equal = Ensemble(**FAST).fit(*data["train"])
    assert equal.weights_ == [0.5, 0.5]
    assert "no validation rows" in caplog.text


def test_extra_metrics_report_each_member(fitted, data) -> None:
    texts, labels = data["test"]
    fitted.predict_proba(texts)  # as the pipeline does first: extra_metrics reuses these member scores
    found = fitted.extra_metrics(texts, [*labels[:-1], None])  # an unseen label counts as wrong
    assert set(found["members_accuracy"]) == set(NAMES)
    for name, proba in fitted.member_probas(texts).items():
        right = [fitted.labels_[k] == y for k, y in zip(proba.argmax(axis=1), [*labels[:-1], None])]
        assert found["members_accuracy"][name] == pytest.approx(np.mean(right), abs=1e-6)
    assert found["ensemble_weights"] == dict(zip(NAMES, fitted.weights_))


def test_save_and_load_give_the_same_probabilities(fitted, data, tmp_path) -> None:
    fitted.save_pretrained(tmp_path / "m")
    state = json.loads((tmp_path / "m" / INFO_FILE).read_text())["state"]
    assert state["members"] == ["members/0-tfidf-logreg", "members/1-features-logreg"]
    assert state["weights"] == fitted.weights_ and set(state["member_validation"]) == set(NAMES)
    again = load(tmp_path / "m", verbose=False)
    texts = data["test"][0]
    np.testing.assert_allclose(again.predict_proba(texts), fitted.predict_proba(texts), atol=1e-12)


def _damage(state: dict, what: str, folder: Path) -> None:
    if what == "negative weight":
        state["weights"] = [-0.5, 1.5]
    elif what == "wrong count":
        state["weights"] = [1.0]
    elif what == "not a number":
        state["weights"] = ["x", 1.0]
    elif what == "member dir missing":
        shutil.rmtree(folder / "members" / "1-features-logreg")
    elif what == "member outside":
        state["members"] = ["members/0-tfidf-logreg", "../elsewhere"]
    elif what == "member swapped":
        state["members"] = list(reversed(state["members"]))
    elif what == "members not a list":
        state["members"] = "members"


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("negative weight", "state.weights"),
        ("wrong count", "state.weights"),
        ("not a number", "state.weights"),
        ("member dir missing", "no such model directory"),
        ("member outside", "not inside the model directory"),
        ("member swapped", "holds a 'features-logreg' model, not 'tfidf-logreg'"),
        ("members not a list", "state.members"),
    ],
)
def test_a_damaged_state_is_one_line(fitted, tmp_path, what, message) -> None:
    folder = tmp_path / "m"
    fitted.save_pretrained(folder)
    info = json.loads((folder / INFO_FILE).read_text())
    _damage(info["state"], what, folder)
    (folder / INFO_FILE).write_text(json.dumps(info))
    with pytest.raises(SectuneError) as caught:
        load(folder, verbose=False)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_member_labels_must_be_the_ensembles(fitted, tmp_path) -> None:
    folder = tmp_path / "m"
    fitted.save_pretrained(folder)
    info = json.loads((folder / INFO_FILE).read_text())
    info["labels"] = ["a", "b", "c"]
    (folder / INFO_FILE).write_text(json.dumps(info))
    with pytest.raises(SectuneError, match="differ from the ensemble's"):
        load(folder, verbose=False)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"members": "tfidf-logreg"}, "'members': needs 2 or more comma-separated methods, got 1"),
        ({"members": "tfidf-logreg,no-such"}, "'members': unknown method 'no-such'"),
        ({"members": "tfidf-logreg,ensemble"}, "an ensemble cannot be a member"),
        ({"members": "tfidf-logreg,tfidf-logreg"}, "names a method twice"),
        ({"member_params": {"encoder": {"epochs": -1}}}, "encoder: member_params parameter 'epochs'"),
        ({"member_params": {"charcnn": {"epochs": 1}}}, "'member_params' names 'charcnn', which is not a member"),
        ({"member_params": {"encoder": {"trust_remote_code": True}}}, "sets trust_remote_code"),
        ({"member_params": {"encoder": {"no_such": 1}}}, "unknown parameter(s) no_such"),
        ({"weights": "1,x"}, "'weights': expected 'auto' or 2 non-negative numbers"),
        ({"weights": "1,2,3"}, "'weights': expected 'auto' or 2"),
        ({"weights": "0,0"}, "not all zero"),
        ({"weights": "-1,2"}, "'weights'"),
    ],
)
def test_bad_params_fail_in_one_line_before_training(params, message) -> None:
    with pytest.raises(SectuneError) as caught:
        Ensemble.validate_params(params)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    model = Ensemble(**{"verbose": False, **params})
    with pytest.raises(SectuneError, match="ensemble"):
        model.fit(*make_texts(4))
    assert not hasattr(model, "members_"), "refused before any member trained"


def test_members_get_the_seed_and_their_own_params(data) -> None:
    model = Ensemble(**{**FAST, "seed": 7, "member_params": {"tfidf-logreg": {"min_df": 1, "C": 2.0}}})
    model.fit(*data["train"])
    tfidf, features = model.members_
    assert (tfidf.seed, tfidf.C, tfidf.min_df, tfidf.verbose) == (7, 2.0, 1, False)
    assert (features.seed, features.C) == (7, 1.0)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["--quiet", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def data_file(tmp_path: Path, n: int) -> Path:
    texts, labels = make_texts(n)
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(texts, labels)))
    return data


def test_train_predict_and_export_through_the_cli(capsys, tmp_path) -> None:
    data = data_file(tmp_path, 15)
    out_dir = tmp_path / "m"
    code, out, err = run(
        capsys,
        "train",
        str(data),
        "--method",
        "ensemble",
        "--param",
        "members=tfidf-logreg,features-logreg",
        "--param",
        "member_params={tfidf-logreg: {min_df: 1}}",
        "--output",
        str(out_dir),
    )
    assert code == 0, err
    info = json.loads((out_dir / INFO_FILE).read_text())
    assert info["method"] == "ensemble" and len(info["state"]["weights"]) == 2
    assert info["run"]["training"]["validation_rows"] > 0, "the pipeline split off validation rows for the weights"
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert set(metrics["members_accuracy"]) == set(NAMES)
    for member in info["state"]["members"]:
        assert (out_dir / member / INFO_FILE).is_file()

    lines = tmp_path / "texts.txt"
    lines.write_text("sql injection in login query\nscript in html comment\nheap buffer overflow\n")
    code, out, err = run(capsys, "predict", str(out_dir), str(lines), "--top-k", "1")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["predictions"][0]["label"] for r in rows] == ["sqli", "xss", "overflow"]

    code, _, err = run(capsys, "export", str(out_dir), "--format", "onnx", "--output", str(tmp_path / "x"))
    assert code == 2 and err.strip().count("\n") == 0
    assert "'ensemble' model cannot be exported" in err
    assert not (tmp_path / "x").exists()


def test_a_bad_member_param_on_the_cli_is_one_line(capsys, tmp_path) -> None:
    data = data_file(tmp_path, 10)
    code, _, err = run(
        capsys,
        "train",
        str(data),
        "--method",
        "ensemble",
        "--param",
        "member_params={encoder: {epochs: -1}}",
        "--output",
        str(tmp_path / "m"),
    )
    assert code == 2 and err.strip().count("\n") == 0 and "epochs" in err
    assert not (tmp_path / "m").exists()


def test_an_early_stopping_member_gets_the_validation_rows(data, tiny_bert_dir, tmp_path, monkeypatch) -> None:
    """The default pairing (tfidf-logreg + encoder): only the encoder sees the validation rows, to stop early."""
    from sectune.methods.encoder import EncoderClassifier

    seen: dict[str, object] = {}
    original = EncoderClassifier._fit

    def spy(self, texts, labels, eval_texts, eval_labels):
        seen["eval_texts"] = eval_texts
        return original(self, texts, labels, eval_texts, eval_labels)

    monkeypatch.setattr(EncoderClassifier, "_fit", spy)
    fast = {k: v for k, v in EncoderClassifier.tags.fast_test_params.items() if k != "verbose"}
    model = Ensemble(
        members="tfidf-logreg,encoder",
        member_params={"tfidf-logreg": {"min_df": 1}, "encoder": {**fast, "model": tiny_bert_dir}},
        verbose=False,
    ).fit(*data["train"], *data["validation"])
    assert seen["eval_texts"] == data["validation"][0]
    assert model.base_model() == tiny_bert_dir
    model.save_pretrained(tmp_path / "m")
    texts = data["test"][0]
    np.testing.assert_allclose(
        load(tmp_path / "m", verbose=False).predict_proba(texts), model.predict_proba(texts), atol=1e-6
    )
