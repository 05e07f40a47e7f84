"""What a hostile or careless user can do: a model directory never runs code, an output never
destroys data, and every such case is one line on stderr with exit code 2.

Each test reproduces a case of issue 14 with real files: a payload module that would write a
marker, a malicious pickle, the user's own files at the output path.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import stat
from pathlib import Path

import pytest

from sectune.cli import main
from sectune.outputs import staged_dir
from tests.conftest import make_texts

PAYLOAD = """
from pathlib import Path
Path({marker!r}).write_text("the model directory ran code")
from transformers import BertConfig, BertModel
class EvilConfig(BertConfig):
    model_type = "bert"
class EvilModel(BertModel):
    config_class = EvilConfig
"""


def run(capsys, *argv: str, quiet: bool = True) -> tuple[int, str, str]:
    code = main([*(["--quiet"] if quiet else []), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, *needles: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("sectune: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def write_csv(path: Path, classes: tuple[str, ...] = ("sqli", "xss"), n: int = 12) -> Path:
    texts, labels = make_texts(n, classes)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels))
    return path


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes: what must survive a refused command unchanged."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def binary_model(tmp_path_factory) -> tuple[Path, Path]:
    """A binary tfidf-logreg model directory and the CSV it was trained on."""
    root = tmp_path_factory.mktemp("safety")
    data = write_csv(root / "data.csv")
    assert main(["--quiet", "train", str(data), "--method", "tfidf-logreg", "--output", str(root / "model")]) == 0
    return root / "model", data


# --- a model directory never runs code --------------------------------------------------------


def plant_payload(model_dir: Path, marker: Path, *, ask_in_params: bool) -> None:
    """What an attacker ships: a Python file the config's auto_map points at, and (optionally) the
    security switch set in sectune.json, as if the directory could turn it on."""
    (model_dir / "payload.py").write_text(PAYLOAD.format(marker=str(marker)), encoding="utf-8")
    config = json.loads((model_dir / "config.json").read_text())
    config["auto_map"] = {
        "AutoConfig": "payload.EvilConfig",
        "AutoModel": "payload.EvilModel",
        "AutoModelForSequenceClassification": "payload.EvilModel",
    }
    (model_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    if ask_in_params:
        info_path = model_dir.parent / "sectune.json" if model_dir.name == "encoder" else model_dir / "sectune.json"
        info = json.loads(info_path.read_text())
        info["params"]["trust_remote_code"] = True
        info_path.write_text(json.dumps(info), encoding="utf-8")


@pytest.fixture(scope="module")
def hf_models(tmp_path_factory, tiny_bert_dir) -> dict[str, Path]:
    """Binary encoder and embed-logreg models on the tiny BERT, trained once and copied per test."""
    root = tmp_path_factory.mktemp("hf-models")
    data = write_csv(root / "data.csv")
    out = {}
    for method, extra in (("encoder", ["--max-steps", "2", "--batch-size", "4"]), ("embed-logreg", [])):
        out[method] = root / method
        assert (
            main(
                [
                    "--quiet",
                    "train",
                    str(data),
                    "--method",
                    method,
                    "--model",
                    tiny_bert_dir,
                    "--output",
                    str(out[method]),
                    "--trust-remote-code",
                    *extra,
                ]
            )
            == 0
        )
    return out


@pytest.mark.parametrize("method", ["encoder", "embed-logreg"])
@pytest.mark.parametrize("ask_in_params", [True, False], ids=["sectune.json-asks", "auto_map-only"])
def test_a_model_directory_cannot_run_its_code(capsys, tmp_path, hf_models, method, ask_in_params):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(hf_models[method], model)
    marker = tmp_path / "PWNED"
    plant_payload(model / "encoder" if method == "embed-logreg" else model, marker, ask_in_params=ask_in_params)
    texts = tmp_path / "in.txt"
    texts.write_text("sql injection in login\n", encoding="utf-8")
    log = tmp_path / "log.txt"
    log.write_text("ls -la\nsql union select\n", encoding="utf-8")
    data = write_csv(tmp_path / "data.csv", n=3)
    for argv in (
        ["predict", str(model), str(texts)],
        ["evaluate", str(model), str(data), "--output", str(tmp_path / "ev")],
        ["scan", str(model), str(log)],
        ["explain", str(model), "sql injection"],
    ):
        code, _, err = run(capsys, *argv)
        if ask_in_params:  # refused, naming the switch
            one_line_error(code, err, "asks for --trust-remote-code")
        else:  # transformers ignores auto_map for a known architecture unless trusted: it loads, or fails in one line
            assert code in (0, 2) and "Traceback" not in err
        assert not marker.exists(), f"{argv[0]} ran the model directory's code"


def test_the_payload_is_real_when_the_user_trusts_it(tmp_path, hf_models):
    """The control for the test above: with the user's own flag, transformers does import the file."""
    import shutil

    from sectune.errors import SectuneError
    from sectune.methods.base import load

    model = tmp_path / "model"
    shutil.copytree(hf_models["encoder"], model)
    marker = tmp_path / "PWNED"
    plant_payload(model, marker, ask_in_params=True)
    try:
        load(model, trust_remote_code=True)
    except SectuneError:
        pass  # the fake architecture need not load; importing it is the point
    assert marker.exists()


def test_security_switches_are_never_written_to_a_model_directory(hf_models):
    for model in hf_models.values():
        info = json.loads((model / "sectune.json").read_text())
        assert not {"trust_remote_code", "allow_pickle"} & set(info["params"])
        assert not {"trust_remote_code", "allow_pickle"} & set(info["run"]["training"]["arguments"])
        config = (model / "config.yaml").read_text()
        assert "trust_remote_code" not in config and "allow_pickle" not in config


def test_a_stored_allow_pickle_is_refused_even_for_a_method_without_it(capsys, tmp_path, binary_model):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(binary_model[0], model)
    info = json.loads((model / "sectune.json").read_text())
    info["params"]["allow_pickle"] = True
    (model / "sectune.json").write_text(json.dumps(info))
    (tmp_path / "in.txt").write_text("hello\n")
    code, _, err = run(capsys, "predict", str(model), str(tmp_path / "in.txt"))
    one_line_error(code, err, "--allow-pickle", "sectune.json")
    code, out, err = run(capsys, "predict", str(model), str(tmp_path / "in.txt"), "--allow-pickle")
    assert code == 0 and json.loads(out)["predictions"], err  # the user's own flag is what counts


class _Opens:
    """A pickle that creates a file when unpickled (what a malicious checkpoint does, harmlessly)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_malicious_pickle_with_allow_pickle_is_one_line(capsys, tmp_path, tiny_bert_dir):
    base = tmp_path / "evil-base"
    base.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (Path(tiny_bert_dir) / name).exists():
            (base / name).write_bytes((Path(tiny_bert_dir) / name).read_bytes())
    marker = tmp_path / "PWNED"
    (base / "pytorch_model.bin").write_bytes(pickle.dumps({"weights": _Opens(str(marker))}))
    data = write_csv(tmp_path / "data.csv")
    for method in ("encoder", "embed-logreg"):
        code, _, err = run(
            capsys,
            "train",
            str(data),
            "--method",
            method,
            "--model",
            str(base),
            "--output",
            str(tmp_path / method),
            "--allow-pickle",
            *(["--max-steps", "1"] if method == "encoder" else []),
        )  # embed-logreg takes no --max-steps
        one_line_error(code, err, "evil-base")
        assert not marker.exists()


# --- outputs never destroy data ---------------------------------------------------------------


def test_train_refuses_a_folder_of_the_users_files(capsys, tmp_path):
    data = write_csv(tmp_path / "data.csv")
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "notes.txt").write_text("precious")
    (mine / "sub" / "more.txt").write_text("also precious")
    before = tree(mine)
    code, _, err = run(capsys, "train", str(data), "--method", "tfidf-logreg", "--output", str(mine))
    one_line_error(code, err, "not a sectune model", "not empty")
    assert tree(mine) == before
    assert not (tmp_path / ".mine.partial").exists()


@pytest.mark.parametrize("target", ["other.csv", "data.csv", "."])
def test_train_refuses_an_existing_file_its_data_and_a_folder_holding_its_data(capsys, tmp_path, monkeypatch, target):
    monkeypatch.chdir(tmp_path)
    data = write_csv(tmp_path / "data.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    before = tree(tmp_path)
    code, _, err = run(capsys, "train", "data.csv", "--method", "tfidf-logreg", "--output", target)
    one_line_error(code, err)
    assert tree(tmp_path) == before and data.read_bytes()


def test_train_refuses_an_output_that_contains_its_data(capsys, tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    data = write_csv(folder / "data.csv")
    (folder / "sectune.json").write_text("{}")  # even a folder that looks like a model
    code, _, err = run(capsys, "train", str(data), "--method", "tfidf-logreg", "--output", str(folder))
    one_line_error(code, err, "contains the input")
    assert data.is_file()


def test_replacing_a_sectune_model_works_and_says_so(capsys, caplog, tmp_path):
    data = write_csv(tmp_path / "data.csv")
    model = tmp_path / "model"
    assert run(capsys, "train", str(data), "--method", "tfidf-logreg", "--output", str(model))[0] == 0
    with caplog.at_level("INFO", logger="sectune"):
        code, _, err = run(capsys, "train", str(data), "--method", "tfidf-logreg", "--output", str(model))
    assert code == 0, err
    assert "replacing the sectune model" in caplog.text
    assert (model / "sectune.json").is_file()


def test_replaying_a_models_config_refuses_to_write_over_it(capsys, tmp_path):
    data = write_csv(tmp_path / "data.csv")
    model = tmp_path / "model"
    assert run(capsys, "train", str(data), "--method", "tfidf-logreg", "--output", str(model))[0] == 0
    before = tree(model)
    code, _, err = run(capsys, "train", "--config", str(model / "config.yaml"))
    one_line_error(code, err, "contains the input", "config.yaml")
    assert tree(model) == before
    code, _, err = run(capsys, "train", "--config", str(model / "config.yaml"), "--output", str(tmp_path / "again"))
    assert code == 0, err


def _same_file_spellings(path: Path) -> list[str]:
    link = path.parent / "link.log"
    link.symlink_to(path)
    (path.parent / "sub").mkdir(exist_ok=True)
    return [str(path), str(link), str(path.parent / "sub" / ".." / path.name)]


@pytest.mark.parametrize("follow", [False, True])
def test_scan_never_writes_over_its_log(capsys, tmp_path, binary_model, follow):
    log = tmp_path / "proc.log"
    log.write_text("ls -la\nsql union select injection\n" * 5)
    before = log.read_bytes()
    for output in _same_file_spellings(log):
        code, _, err = run(
            capsys, "scan", str(binary_model[0]), str(log), "--output", output, *(["--follow"] if follow else [])
        )
        one_line_error(code, err, "is the input")
        assert log.read_bytes() == before


def test_predict_never_writes_over_its_input(capsys, tmp_path, binary_model):
    texts = tmp_path / "in.txt"
    texts.write_text("sql union select\nscript html\n")
    before = texts.read_bytes()
    for output in _same_file_spellings(texts):
        code, _, err = run(capsys, "predict", str(binary_model[0]), str(texts), "--output", output)
        one_line_error(code, err, "is the input")
        assert texts.read_bytes() == before
    code, _, err = run(
        capsys, "predict", str(binary_model[0]), str(texts), "--output", str(binary_model[0] / "sectune.json")
    )
    one_line_error(code, err, "inside the input")


def test_a_second_run_on_the_same_output_refuses_while_the_first_writes(capsys, tmp_path):
    data = write_csv(tmp_path / "data.csv")
    model = tmp_path / "model"
    with staged_dir(model) as stage:  # the first run, holding the staging folder
        (stage / "checkpoint").write_text("the first run's work")
        code, _, err = run(capsys, "train", str(data), "--method", "tfidf-logreg", "--output", str(model))
        one_line_error(code, err, "another sectune run is writing")
        assert (stage / "checkpoint").read_text() == "the first run's work"
        (stage / "sectune.json").write_text("{}")
    assert (model / "checkpoint").is_file()


UNUSABLE = {
    "proc": "/proc/sectune-test/out",
    "dot": ".",
    "sub-dotdot": "sub/..",
    "under-a-file": "afile.txt/out",
}


def _commands(model: Path, data: Path, log: Path, output: str) -> dict[str, list[str]]:
    return {
        "train": ["train", str(data), "--method", "tfidf-logreg", "--output", output],
        "predict": ["predict", str(model), str(log), "--output", output],
        "evaluate": ["evaluate", str(model), str(data), "--output", output],
        "compare": ["compare", str(data), "--methods", "rules", "--split", "stratified", "--output", output],
        "scan": ["scan", str(model), str(log), "--output", output],
        "data-cve": [
            "data",
            "cve",
            str(Path(__file__).parent / "fixtures" / "cve"),
            "--output",
            output if output.endswith((".", "..")) else output + ".jsonl",
        ],
        "data-cmdline": [
            "data",
            "cmdline",
            "--n",
            "20",
            "--output",
            output if output.endswith((".", "..")) else output + ".jsonl",
        ],
    }


@pytest.mark.parametrize("where", UNUSABLE)
@pytest.mark.parametrize("command", ["train", "predict", "evaluate", "compare", "scan", "data-cve", "data-cmdline"])
def test_an_unusable_output_is_one_line_before_any_work(capsys, tmp_path, monkeypatch, binary_model, command, where):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "afile.txt").write_text("not a folder")
    log = tmp_path / "proc.log"
    log.write_text("ls -la\n")
    data = write_csv(tmp_path / "data.csv")
    before = set(os.listdir(tmp_path))
    code, _, err = run(capsys, *_commands(binary_model[0], data, log, UNUSABLE[where])[command])
    one_line_error(code, err)
    assert set(os.listdir(tmp_path)) == before, "nothing written, no hidden staging folder left behind"


@pytest.mark.parametrize("command", ["predict", "scan", "data-cve", "data-cmdline"])
def test_an_existing_folder_is_not_a_file_output(capsys, tmp_path, binary_model, command):
    folder = tmp_path / "out.jsonl"
    folder.mkdir()
    log = tmp_path / "proc.log"
    log.write_text("ls -la\n")
    argv = _commands(binary_model[0], binary_model[1], log, str(folder))[command]
    argv[-1] = str(folder)
    code, _, err = run(capsys, *argv)
    one_line_error(code, err, "folder")


def test_weight_files_follow_the_umask_like_every_other_file(tmp_path, binary_model, hf_models):
    mask = os.umask(0)
    os.umask(mask)
    for model in (binary_model[0], *hf_models.values()):
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in model.rglob("*") if p.is_file()}
        assert any(name.endswith(".safetensors") for name in modes)
        assert set(modes.values()) == {0o666 & ~mask}, modes


@pytest.mark.parametrize(
    ("method", "field", "value"),
    [
        ("tfidf-logreg", "max_iter", -1),
        ("features-logreg", "C", "abc"),
        ("charcnn", "max_length", -1),
        ("charcnn", "predict_batch_size", 0),
    ],
)
def test_an_edited_parameter_in_sectune_json_is_named_in_one_line(capsys, tmp_path, method, field, value):
    data = write_csv(tmp_path / "data.csv")
    model = tmp_path / "model"
    extra = ["--max-steps", "2"] if method == "charcnn" else []
    assert run(capsys, "train", str(data), "--method", method, "--output", str(model), *extra)[0] == 0
    info = json.loads((model / "sectune.json").read_text())
    assert field in info["params"]
    info["params"][field] = value
    (model / "sectune.json").write_text(json.dumps(info))
    (tmp_path / "in.txt").write_text("sql union select\n")
    code, _, err = run(capsys, "predict", str(model), str(tmp_path / "in.txt"))
    one_line_error(code, err, "sectune.json", f"params '{field}'")


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_missing_or_cut_weight_file_is_one_line(capsys, tmp_path, binary_model, damage):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(binary_model[0], model)
    weights = model / "head.safetensors"
    if damage == "missing":
        weights.unlink()
    else:
        weights.write_bytes(weights.read_bytes()[:40])
    (tmp_path / "in.txt").write_text("sql union select\n")
    code, _, err = run(capsys, "predict", str(model), str(tmp_path / "in.txt"))
    one_line_error(code, err, str(model))


def test_a_custom_architecture_is_refused_without_advising_to_run_its_code(capsys, tmp_path, tiny_bert_dir):
    """transformers' own message says to set trust_remote_code=True; sectune's says what that would mean."""
    import shutil

    base = tmp_path / "custom"
    shutil.copytree(tiny_bert_dir, base)
    marker = tmp_path / "PWNED"
    (base / "payload.py").write_text(PAYLOAD.format(marker=str(marker)), encoding="utf-8")
    config = json.loads((base / "config.json").read_text())
    config.update(
        model_type="evil-unknown", auto_map={"AutoConfig": "payload.EvilConfig", "AutoModel": "payload.EvilModel"}
    )
    (base / "config.json").write_text(json.dumps(config))
    data = write_csv(tmp_path / "data.csv")
    code, _, err = run(
        capsys, "train", str(data), "--method", "embed-logreg", "--model", str(base), "--output", str(tmp_path / "m")
    )
    line = one_line_error(code, err, "--trust-remote-code", "only for a model you trust")
    assert "trust_remote_code=True" not in line
    assert not marker.exists()
