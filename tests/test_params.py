"""Method parameters are checked against the methods' own signatures, before any data is read.

Each bad value is one line naming the method and the parameter (never a scikit-learn or YAML traceback),
and no message echoes unbounded user text.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import sectune
from sectune.errors import SectuneError
from sectune.methods.base import REGISTRY, method_class
from sectune.methods.tfidf import TfidfLogreg
from tests.conftest import make_texts
from tests.test_cli import assert_one_line_error, run

HUGE = "x" * 5000


@pytest.mark.parametrize(
    ("method", "param", "needle"),
    [
        ("tfidf-logreg", "C=-1", "tfidf-logreg: parameter 'C': Input should be greater than 0"),
        ("tfidf-logreg", "C=abc", "tfidf-logreg: parameter 'C': Input should be a valid number"),
        (
            "tfidf-logreg",
            "max_iter=0",
            "tfidf-logreg: parameter 'max_iter': Input should be greater than or equal to 1",
        ),
        (
            "tfidf-logreg",
            "class_weight=sqrt",
            "tfidf-logreg: parameter 'class_weight': Input should be 'balanced' or 'none'",
        ),
        ("features-logreg", "seed=-1", "features-logreg: parameter 'seed'"),
        ("rules", "min_precision=2", "rules: parameter 'min_precision': Input should be less than or equal to 1"),
        (
            "charcnn",
            "kernel_sizes=[3, 0]",
            "charcnn: parameter 'kernel_sizes[1]': Input should be greater than or equal to 1",
        ),
        ("charcnn", "dropout=1", "charcnn: parameter 'dropout': Input should be less than 1"),
        ("encoder", "predict_batch_size=0", "encoder: parameter 'predict_batch_size'"),
        ("causal-llm", "head=regression", "causal-llm: parameter 'head': Input should be 'lm' or 'classifier'"),
    ],
)
def test_train_refuses_a_bad_param_before_reading_the_data(capsys, tmp_path, method, param, needle) -> None:
    """The data file does not exist: the parameter must be refused before anything looks for it."""
    code, _, err = run(
        capsys, "train", str(tmp_path / "missing.csv"), "--method", method, "-o", str(tmp_path / "m"), "--param", param
    )
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "m").exists()


def test_bad_values_are_never_echoed(capsys, tmp_path) -> None:
    code, _, err = run(
        capsys,
        "train",
        str(tmp_path / "missing.csv"),
        "--method",
        "tfidf-logreg",
        "-o",
        str(tmp_path / "m"),
        "--param",
        f"C={HUGE}",
    )
    assert_one_line_error(code, err, "tfidf-logreg: parameter 'C': Input should be a valid number")
    assert "xxxxxxxxxx" not in err


def test_config_file_and_python_params_are_validated_alike(tmp_path) -> None:
    """A YAML config's params, flags and Python keywords all reach the method through TrainConfig.method_params."""
    config = tmp_path / "run.yaml"
    config.write_text(
        f"data: {tmp_path / 'missing.csv'}\noutput: {tmp_path / 'm'}\nmethod: tfidf-logreg\nparams: {{C: 0}}\n"
    )
    with pytest.raises(SectuneError, match=r"^tfidf-logreg: parameter 'C': Input should be greater than 0$"):
        sectune.train(config=config, verbose=False)
    with pytest.raises(
        SectuneError, match=r"^charcnn: parameter 'filters': Input should be greater than or equal to 1$"
    ):
        sectune.train(tmp_path / "missing.csv", output=tmp_path / "m", method="charcnn", filters=0, verbose=False)
    with pytest.raises(
        SectuneError, match=r"^encoder: parameter 'lora_r': Input should be greater than or equal to 0$"
    ):
        sectune.train(
            tmp_path / "missing.csv", output=tmp_path / "m", method="encoder", params={"lora_r": -2}, verbose=False
        )


def test_direct_fit_validates_and_coerces_params() -> None:
    texts, labels = make_texts(4)
    with pytest.raises(SectuneError, match=r"^tfidf-logreg: parameter 'C': Input should be greater than 0$"):
        TfidfLogreg(C=-1, verbose=False).fit(texts, labels)
    model = TfidfLogreg(C="5", max_iter=50.0, min_df=1, verbose=False).fit(texts, labels)  # as the signature types them
    assert (model.C, model.max_iter) == (5.0, 50) and isinstance(model.max_iter, int)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_method_default_satisfies_its_own_annotation(name) -> None:
    cls = method_class(name)
    defaults = cls().get_params()
    assert cls.validate_params(defaults) == defaults


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--param", "C=[1"], "--param 'C': the value is not valid YAML"),
        (["--param", "foo" + HUGE], "expected KEY=VALUE"),
        (["--param", HUGE + "=1"], "has no parameter(s) xxxx"),
        (["--method", "nope" + HUGE], "unknown method 'nopex"),
    ],
)
def test_param_syntax_and_names_are_one_short_line(capsys, tmp_path, argv, needle) -> None:
    method = [] if "--method" in argv else ["--method", "tfidf-logreg"]
    code, _, err = run(capsys, "train", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "m"), *method, *argv)
    assert_one_line_error(code, err, needle)
    assert len(err) < 300, err


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (["--set", "features-logreg.C=-1"], "features-logreg: parameter 'C': Input should be greater than 0"),
        (["--set", "tfidf-logreg.nope=1"], "has no parameter(s) nope"),
        (["--set", "tfidf-logreg.C=[1"], "--set 'C': the value is not valid YAML"),
    ],
)
def test_compare_checks_every_method_setting_before_any_work(capsys, tmp_path, sets, needle) -> None:
    code, _, err = run(
        capsys,
        "compare",
        str(tmp_path / "missing.csv"),
        "--methods",
        "tfidf-logreg,features-logreg",
        *sets,
        "-o",
        str(tmp_path / "cmp"),
    )
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "cmp").exists()


def test_compare_without_method_names(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "compare", str(tmp_path / "missing.csv"), "--methods", ",", "-o", str(tmp_path / "cmp"))
    assert_one_line_error(code, err, "no method to compare")
    assert not (tmp_path / "cmp").exists()


def test_predict_refuses_a_missing_id_column(capsys, tmp_path: Path, labelled_csv: Path) -> None:
    code, _, err = run(capsys, "train", str(labelled_csv), "--method", "tfidf-logreg", "-o", str(tmp_path / "m"))
    assert code == 0, err
    code, out, err = run(capsys, "predict", str(tmp_path / "m"), str(labelled_csv), "--id-column", "nope")
    assert_one_line_error(code, err, "no column 'nope' (columns: text, label)")
    assert out == ""
