"""Settings are declared once (method signatures, task Settings models) and everything else follows:
the ``sectune train`` flags and their help, the YAML keys, the routing, and the refusal of a setting
the chosen method or task does not take."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pytest
import yaml

import sectune.api
from sectune.cli import ZERO_SHOT_PARAMS, build_parser
from sectune.config import TrainConfig, load_config, make_config
from sectune.errors import SectuneError
from sectune.methods.base import REGISTRY, method_class
from sectune.methods.causal_llm import CausalLLMClassifier
from sectune.methods.encoder import EncoderClassifier
from sectune.methods.finetune import FineTuneArgs
from sectune.settings import task_settings, user_params
from sectune.tasks import TASKS, task_class
from tests.test_cli import assert_one_line_error, run


def _subparser(name: str) -> argparse.ArgumentParser:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def _flags(name: str) -> dict[str, argparse.Action]:
    return {flag: action for action in _subparser(name)._actions for flag in action.option_strings}


@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_every_method_parameter_has_a_flag_with_help(method) -> None:
    flags = _flags("train")
    for param in user_params(method_class(method)):
        action = flags["--" + param.replace("_", "-")]
        described = action.help.split("(default")[0].strip()
        assert described, f"{method}.{param} has no description in its signature"
        if param not in TrainConfig.model_fields:  # a run-level flag (seed) is every method's
            assert method in action.help, f"the help of --{param} does not name {method}"


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_task_setting_has_a_flag_with_help(task) -> None:
    flags = _flags("train")
    for key in task_class(task).Settings.model_fields:
        action = flags["--" + key.replace("_", "-")]
        assert action.help.split("(default")[0].strip() and task in action.help


def test_flags_follow_the_declared_types() -> None:
    flags = _flags("train")
    assert flags["--class-weight"].choices == ["balanced", "none", "sqrt"]  # the union of the methods' choices
    assert flags["--lora-r"].type is int and flags["--lr"].type is float
    assert isinstance(flags["--zero-shot"], argparse._StoreTrueAction)
    assert "--no-sublinear-tf" in flags  # a switch that is on by default can be turned off
    assert "default encoder 16, charcnn 64" in flags["--batch-size"].help.replace("embed-logreg 32, ", "")
    for runtime in ("--verbose", "--checkpoint-dir", "--runs-dir"):
        assert runtime not in flags


def test_zero_shot_flags_come_from_the_causal_llm_signature() -> None:
    flags = _flags("evaluate")
    for param in ZERO_SHOT_PARAMS:
        assert "causal-llm" in flags["--" + param.replace("_", "-")].help
    assert "default 256" in flags["--max-length"].help  # causal-llm's default, not the encoder's 128
    assert "--lr" not in flags


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (
            ["--method", "charcnn", "--resume"],
            "method 'charcnn' does not take --resume (need method: encoder or causal-llm)",
        ),
        (
            ["--method", "tfidf-logreg", "--lora-r", "4"],
            "method 'tfidf-logreg' does not take --lora-r (need method: encoder or causal-llm)",
        ),
        (["--method", "rules", "--param", "max_steps=3"], "method 'rules' does not take --max-steps"),
        (["--method", "tfidf-logreg", "--allow-pickle"], "method 'tfidf-logreg' does not take --allow-pickle"),
        (["--method", "tfidf-logreg", "--rollup", "1003"], "task 'generic' does not take --rollup (need task: cwe)"),
    ],
)
def test_a_flag_the_method_or_task_does_not_take_is_refused(capsys, tmp_path, argv, needle) -> None:
    code, _, err = run(capsys, "train", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "m"), *argv)
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "m").exists()


def test_a_yaml_key_the_method_does_not_take_is_refused(tmp_path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(f"data: {tmp_path / 'x.csv'}\noutput: {tmp_path / 'm'}\nmethod: tfidf-logreg\nlora_r: 4\n")
    with pytest.raises(
        SectuneError, match=r"^method 'tfidf-logreg' does not take --lora-r \(need method: encoder or causal-llm\)$"
    ):
        load_config(config, {})


def test_compare_set_refuses_a_setting_the_method_does_not_take(capsys, tmp_path) -> None:
    code, _, err = run(
        capsys,
        "compare",
        str(tmp_path / "missing.csv"),
        "--methods",
        "tfidf-logreg,charcnn",
        "--set",
        "tfidf-logreg.max_steps=5",
        "-o",
        str(tmp_path / "cmp"),
    )
    assert_one_line_error(code, err, "method 'tfidf-logreg' does not take --max-steps")
    assert not (tmp_path / "cmp").exists()


class _Stop(Exception):
    """Raised by the stand-in for train_config: the test wants the config, not a run."""


def _config_from_cli(monkeypatch, *argv: str) -> TrainConfig:
    seen: list[TrainConfig] = []

    def capture(cfg: TrainConfig, **_: object) -> None:
        seen.append(cfg)
        raise _Stop

    monkeypatch.setattr(sectune.api, "train_config", capture)
    from sectune.cli import main

    with pytest.raises(_Stop):
        main(["--quiet", "train", *argv])
    return seen[0]


def test_flags_param_yaml_keys_and_params_mapping_route_the_same(monkeypatch, tmp_path) -> None:
    base = ["x.csv", "-o", str(tmp_path / "m"), "--method", "tfidf-logreg"]
    flat = tmp_path / "flat.yaml"
    flat.write_text(
        f"data: x.csv\noutput: {tmp_path / 'm'}\nmethod: tfidf-logreg\nC: 3\nseed: 7\nsublinear_tf: false\n"
    )
    nested = tmp_path / "nested.yaml"
    nested.write_text(
        f"data: x.csv\noutput: {tmp_path / 'm'}\nmethod: tfidf-logreg\nparams: {{C: 3, seed: 7, sublinear_tf: false}}\n"
    )
    configs = [
        _config_from_cli(monkeypatch, *base, "--C", "3", "--seed", "7", "--no-sublinear-tf"),
        _config_from_cli(monkeypatch, *base, "--param", "C=3", "--param", "seed=7", "--param", "sublinear_tf=false"),
        _config_from_cli(monkeypatch, "--config", str(flat)),
        _config_from_cli(monkeypatch, "--config", str(nested)),
        load_config(
            None,
            {
                "data": "x.csv",
                "output": str(tmp_path / "m"),
                "method": "tfidf-logreg",
                "C": 3,
                "seed": 7,
                "sublinear_tf": False,
            },
        ),
    ]
    assert configs[0].params == {"C": 3.0, "sublinear_tf": False} and configs[0].seed == 7
    assert (
        configs[0].method_params(method_class("tfidf-logreg").param_names())["seed"] == 7
    )  # a run-level key the method also takes
    for cfg in configs[1:]:
        assert cfg == configs[0]


def test_a_flag_overrides_the_same_key_in_the_file(monkeypatch, tmp_path) -> None:
    nested = tmp_path / "nested.yaml"
    nested.write_text(f"data: x.csv\noutput: {tmp_path / 'm'}\nmethod: tfidf-logreg\nparams: {{C: 3}}\n")
    assert _config_from_cli(monkeypatch, "--config", str(nested), "--C", "0.5").params == {"C": 0.5}


def test_config_yaml_round_trips_and_reproduces_the_run(capsys, tmp_path, labelled_csv) -> None:
    code, _, err = run(
        capsys,
        "train",
        str(labelled_csv),
        "--method",
        "tfidf-logreg",
        "-o",
        str(tmp_path / "a"),
        "--C",
        "3",
        "--ngram-max",
        "1",
        "--param",
        "min_df=1",
        "--seed",
        "7",
    )
    assert code == 0, err
    text = (tmp_path / "a" / "config.yaml").read_text()
    saved = yaml.safe_load(text)
    assert saved["C"] == 3 and saved["ngram_max"] == 1 and saved["seed"] == 7 and "params" not in saved  # flat keys
    assert make_config(saved).to_yaml() == text
    code, _, err = run(
        capsys, "train", "--config", str(tmp_path / "a" / "config.yaml"), "--output", str(tmp_path / "b")
    )
    assert code == 0, err
    a, b = (json.loads((tmp_path / d / "sectune.json").read_text()) for d in ("a", "b"))
    assert a["params"] == b["params"] and a["run"]["metrics"] == b["run"]["metrics"]
    assert (tmp_path / "b" / "config.yaml").read_text() == text.replace(str(tmp_path / "a"), str(tmp_path / "b"))


def test_security_switches_stay_out_of_config_yaml(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        {
            "data": "x.csv",
            "output": str(tmp_path / "m"),
            "method": "encoder",
            "trust_remote_code": True,
            "max_steps": 2,
        },
    )
    assert cfg.method_params(method_class("encoder").param_names())["trust_remote_code"] is True
    assert "trust_remote_code" not in cfg.to_yaml() and "max_steps: 2" in cfg.to_yaml()


def test_fine_tuned_methods_share_one_declaration_and_override_only_defaults() -> None:
    shared = [f.name for f in dataclasses.fields(FineTuneArgs)]
    for cls in (EncoderClassifier, CausalLLMClassifier):
        assert cls.param_names()[: len(shared)] == shared
    assert (EncoderClassifier().lr, CausalLLMClassifier().lr) == (5e-5, 2e-4)
    with pytest.raises(SectuneError, match=r"^causal-llm: parameter 'lr': Input should be greater than 0$"):
        CausalLLMClassifier.validate_params({"lr": 0})  # the overridden default keeps the declared bound
    assert repr(CausalLLMClassifier(lora_r=4)).startswith(
        "CausalLLMClassifier(model=None, max_length=256, batch_size=8,"
    )


def test_task_settings_are_validated_by_the_tasks_model(tmp_path) -> None:
    task = next(name for name in TASKS if task_class(name).Settings.model_fields)
    key = next(iter(task_class(task).Settings.model_fields))
    assert key in task_settings()
    cfg = load_config(None, {"data": "x.csv", "output": str(tmp_path / "m"), "method": "tfidf-logreg", "task": task})
    assert cfg.task_settings == {}


def test_config_yaml_paths_are_absolute_so_the_card_recipe_works_from_anywhere(tmp_path, monkeypatch, capsys) -> None:
    import csv

    import yaml

    from sectune.cli import main
    from sectune.testing import make_texts

    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    texts, labels = make_texts(8)
    with (work / "d.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *zip(texts, labels)])
    monkeypatch.chdir(work)
    assert main(["--quiet", "train", "d.csv", "--method", "tfidf-logreg", "--output", "m"]) == 0
    saved = yaml.safe_load((work / "m" / "config.yaml").read_text())
    assert saved["data"] == str(work / "d.csv") and saved["output"] == str(work / "m")
    monkeypatch.chdir(elsewhere)
    assert main(["--quiet", "train", "--config", str(work / "m" / "config.yaml"), "--output", "again"]) == 0
    assert (elsewhere / "again" / "sectune.json").is_file()
    assert "--output NEW_DIR" in (work / "m" / "README.md").read_text()
