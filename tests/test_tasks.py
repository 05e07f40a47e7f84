"""Tasks as plug-ins: the registry, a task added in one module, and what each built-in task declares."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import Field

from sectune.errors import SectuneError
from sectune.io import Table
from sectune.prompts import builtin_templates, default_template_name, load_template
from sectune.tasks import TASKS, Task, task_class
from sectune.testing import make_texts

CVE_FIXTURES = Path(__file__).parent / "fixtures" / "cve"


class ToyTask(Task):
    """A task written the way a new one would be: columns, split, a setting, a label map, a metric, a card section."""

    name = "toy"
    text_column = "body"
    label_column = "kind"
    default_split = "random"

    class Settings(Task.Settings):
        suffix: str = Field("", description="appended to every label")

    def prepare(self, table: Table) -> tuple[Table, dict[str, Any]]:
        table.labels = [label.upper() + self.options.suffix for label in table.labels]
        return table, {"relabelled": len(table)}

    def metrics(self, model, table: Table, proba: np.ndarray, train_labels=None) -> dict[str, Any]:
        return {**super().metrics(model, table, proba, train_labels), "toy_rows": len(table)}

    def card_section(self, info: dict[str, Any], metrics: dict[str, Any]) -> str:
        return f"## Toy task\n\n- suffix: {info['toy']['suffix']!r}, {metrics['toy_rows']} rows scored\n"


@pytest.fixture
def toy_registered(monkeypatch) -> None:
    monkeypatch.setitem(TASKS, "toy", f"{ToyTask.__module__}:ToyTask")


def test_registry_lists_the_built_in_tasks_and_refuses_others() -> None:
    assert {"generic", "cwe", "cmdline"} <= set(TASKS)
    for name in ("generic", "cwe", "cmdline"):
        assert task_class(name).name == name and issubclass(task_class(name), Task)
    with pytest.raises(SectuneError, match="unknown task 'nope'.*generic, cwe, cmdline"):
        task_class("nope")


def test_each_task_declares_its_columns_split_and_prompt() -> None:
    generic, cwe, cmdline = (task_class(n) for n in ("generic", "cwe", "cmdline"))
    assert (generic.text_column, generic.label_column, generic.default_split, generic.prompt_template) == (
        "text",
        "label",
        "stratified",
        None,
    )
    assert (cwe.text_column, cwe.label_column, cwe.default_split, cwe.prompt_template) == (
        "description",
        "cwe",
        "time:published",
        "cwe",
    )
    assert (cmdline.text_column, cmdline.label_column, cmdline.default_split, cmdline.prompt_template) == (
        "text",
        "label",
        "group:orig",
        "cmdline",
    )
    assert set(cwe.Settings.model_fields) == {"rollup", "allowed_only", "drop_prohibited", "cwe_xml"}
    assert not generic.Settings.model_fields
    assert all(
        field.description for field in [*cwe.Settings.model_fields.values(), *cmdline.Settings.model_fields.values()]
    )
    with pytest.raises(SectuneError, match="task 'cwe': setting 'allowed_only'"):
        cwe(allowed_only="perhaps")


def test_generic_binary_data_gets_the_generic_prompt_and_cmdline_its_own() -> None:
    assert (
        default_template_name(["0", "1"]) == "binary"
        and load_template(None, ["0", "1"], task="generic").name == "binary"
    )
    assert default_template_name(["0", "1"], "cmdline") == "cmdline"
    assert load_template(None, ["0", "1"], task="cmdline").instruction.startswith(
        "You are a security analyst. Is the following command line"
    )
    assert default_template_name(["a", "b", "c"]) == "multiclass" and default_template_name(["CWE-79"], "cwe") == "cwe"
    assert {"binary", "multiclass", "cmdline", "cwe"} <= set(builtin_templates()), (
        "tasks add their templates to the built-in ones"
    )
    assert load_template("cwe", ["CWE-79", "CWE-89"]).verbalizers == "names"


def test_a_task_in_one_module_and_one_registry_line_trains_end_to_end(toy_registered, tmp_path) -> None:
    import sectune
    from sectune.api import train

    texts, labels = make_texts(12)
    data = tmp_path / "toy.jsonl"
    data.write_text("".join(json.dumps({"body": t, "kind": y}) + "\n" for t, y in zip(texts, labels)), encoding="utf-8")
    result = train(data, output=tmp_path / "model", task="toy", method="tfidf-logreg", suffix="!", verbose=False)

    info = json.loads((tmp_path / "model" / "sectune.json").read_text(encoding="utf-8"))
    assert info["run"]["task"] == "toy" and all(label.isupper() and label.endswith("!") for label in info["labels"])
    assert info["run"]["training"]["split"] == "random" and info["run"]["training"]["data"]["text_column"] == "body"
    assert info["run"]["toy"] == {"suffix": "!", "report": {"relabelled": len(texts)}}
    assert result.metrics["toy_rows"] == result.metrics["n"] > 0
    assert "## Toy task\n\n- suffix: '!'" in (tmp_path / "model" / "README.md").read_text(encoding="utf-8")
    reloaded = Task.for_model(sectune.load(tmp_path / "model"))
    assert isinstance(reloaded, ToyTask) and reloaded.options.suffix == "!"


def test_a_setting_of_another_task_is_refused(tmp_path) -> None:
    from sectune.api import train

    with pytest.raises(SectuneError, match="rollup"):
        train(tmp_path / "x.csv", output=tmp_path / "m", task="cmdline", rollup="1003")


def test_cmdline_breakdowns_by_shell_technique_and_held_out_family(monkeypatch) -> None:
    monkeypatch.setattr("sectune.compare.MIN_SUPPORT", 1)  # the logic on five lines; the minimum is tested below
    test = Table(
        path="t",
        texts=["a", "b", "c", "d", "e"],
        labels=["1", "1", "1", "0", "1"],
        label_lists=None,
        rows=list(range(5)),
        columns={
            "shell": ["bash", "bash", "cmd", "cmd", "cmd"],
            "technique": ["bash/base64", "bash/base64>bash/quotes", "cmd/caret", "benign", "cmd/caret"],
        },
        sha256=None,
    )
    flags = np.array([True, False, True, False, False])
    positives = np.array([label == "1" for label in test.labels])
    asked: list[tuple[list[int], list[int]]] = []

    def refit(keep, rows):  # stands in for compare's retraining: remembers which rows were kept and scored
        asked.append((keep(test), rows))
        return np.ones(len(rows), dtype=bool)

    found = task_class("cmdline")().breakdowns(test, flags, positives, refit)
    assert found.cells["recall_by_shell"] == {"bash": 0.5, "cmd": 0.5}
    assert found.tables["per_technique"] == {"bash/base64": 0.5, "bash/quotes": 0.0, "cmd/caret": 0.5}
    assert (
        set(found.tables["leave_one_out"]) == {"encoding", "quoting", "escaping"}
        and found.cells["leave_one_out_recall"] == 1.0
    )
    encoding = next(kept for kept, rows in asked if rows == [0, 1])
    assert 0 not in encoding and 1 not in encoding and 3 in encoding, (
        "training without the family keeps every other row"
    )
    assert "leave_one_out" not in task_class("cmdline")().breakdowns(test, flags, positives, None).tables
    generic = Task().breakdowns(test, flags, positives, refit)
    assert not generic.cells and not generic.tables


def test_compare_takes_its_breakdowns_from_the_task(tmp_path) -> None:
    from sectune.cli import main
    from sectune.compare import compare
    from sectune.tasks.cmdline.dataset import build_cmdline_dataset, write_records

    data = tmp_path / "cmd.jsonl"
    write_records(build_cmdline_dataset(["bash", "cmd"], 300, seed=1, progress=False).records, data)
    code = main(
        [
            "--quiet",
            "compare",
            str(data),
            "--methods",
            "tfidf-logreg",
            "--task",
            "generic",
            "--split",
            "group:orig",
            "--output",
            str(tmp_path / "generic"),
        ]
    )
    assert code == 0
    generic = json.loads((tmp_path / "generic" / "comparison.json").read_text())
    assert (
        generic["task"] == "generic" and "recall_by_shell" not in generic["rows"][0] and "per_technique" not in generic
    )
    assert not (tmp_path / "generic" / "techniques.png").exists()
    cmdline = compare(str(data), ["tfidf-logreg"], output=tmp_path / "cmdline", leave_one_out=[], verbose=False)
    assert set(cmdline.rows[0]["recall_by_shell"]) == {"bash", "cmd"} and cmdline.per_technique["tfidf-logreg"]
    assert "| recall bash | recall cmd |" in cmdline.table() and (tmp_path / "cmdline" / "techniques.png").is_file()
    assert json.loads((tmp_path / "cmdline" / "comparison.json").read_text())["task"] == "cmdline"


def test_cwe_task_owns_its_card_section_and_raw_cve_input() -> None:
    from sectune.card import render_model_card

    cwe = task_class("cwe")()
    assert cwe.is_raw_source(CVE_FIXTURES) and not Task().is_raw_source(CVE_FIXTURES)
    raw = cwe.read_raw(CVE_FIXTURES / "CVE-2024-0001.json", progress=False)
    assert raw.ids == ["CVE-2024-0001"] and raw.stated == [["CWE-89"]] and raw.stated_key == "cwe"
    with pytest.raises(SectuneError, match="reads no raw input"):
        Task().read_raw(CVE_FIXTURES)
    card = render_model_card({"run": {"task": "cwe", "cwe": {"rollup": "1003", "catalog_version": "4.14"}}}, {"n": 3})
    assert "## CWE labels" in card and "view 1003" in card
    assert "# sectune retired classifier" in render_model_card(
        {"run": {"task": "retired", "retired": {"x": 1}}}, {"n": 3}
    ), "a task this version does not know still gets a card, without its section"


def test_cmdline_task_needs_0_1_labels_and_scan_alerts_on_1(tmp_path, capsys):
    """The cmdline task's scan default: alerts are about label 1 (obfuscated); other labels are refused at training."""
    import csv

    from sectune.cli import main

    rows = [("ls -la", "0"), ("git status", "0"), ("echo aGk= | base64 -d | sh", "1"), ("n^e^t u^s^e^r", "1")] * 6
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    for path, mapping in ((good, {"0": "0", "1": "1"}), (bad, {"0": "benign", "1": "obfuscated"})):
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows((text, mapping[label]) for text, label in rows)
    assert (
        main(
            [
                "--quiet",
                "train",
                str(bad),
                "--task",
                "cmdline",
                "--method",
                "rules",
                "--split",
                "stratified",
                "--output",
                str(tmp_path / "b"),
            ]
        )
        == 2
    )
    assert "needs labels 0/1" in capsys.readouterr().err
    assert (
        main(
            [
                "--quiet",
                "train",
                str(good),
                "--task",
                "cmdline",
                "--method",
                "rules",
                "--split",
                "stratified",
                "--output",
                str(tmp_path / "m"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    log = tmp_path / "log.txt"
    log.write_text("ls -la\necho aGk= | base64 -d | sh\n")
    assert main(["scan", str(tmp_path / "m"), str(log)]) == 0
    out, err = capsys.readouterr()
    assert "label 1, threshold" in err
    assert [json.loads(line)["line"] for line in out.splitlines()] == [2]


def test_a_recall_over_fewer_than_five_positives_is_not_reported() -> None:
    """'recall 1.000' on one held-out line is an anecdote: below MIN_SUPPORT positives the cell stays blank."""
    from sectune.compare import MIN_SUPPORT, recall_where
    from sectune.tasks.cmdline.task import per_technique

    flags = np.array([True] * 10)
    assert recall_where(flags, np.arange(10) < MIN_SUPPORT - 1) is None
    assert recall_where(flags, np.arange(10) < MIN_SUPPORT) == 1.0
    found = per_technique(flags, np.ones(10, dtype=bool), ["bash/quotes"] * 9 + ["cmd/caret"])
    assert found == {"bash/quotes": 1.0, "cmd/caret": None}
