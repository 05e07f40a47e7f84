"""``sectune data cmdline``: records, shares, grouping by orig, --from files, output formats, bad input."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from types import SimpleNamespace

import pytest

from sectune.errors import SectuneError
from sectune.io import read_table
from sectune.tasks.cmdline.dataset import (
    FIELDS,
    add_cmdline_parser,
    build_cmdline_dataset,
    guess_shell,
    list_techniques,
    run_cmdline_command,
)


def upper(line, shell, intensity="medium", rng=None):
    """A stand-in obfuscator: fast, engine-independent, and it refuses lines that contain 'skip'."""
    if "skip" in line:
        raise SectuneError("nothing to rewrite")
    return SimpleNamespace(
        text=f"{line.upper()} #{rng.randrange(10**6)}", techniques=(f"{shell}/upper",), intensity=intensity
    )


def cli(tmp_path, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="sectune")
    parser.add_argument("--quiet", action="store_true")
    data = parser.add_subparsers(dest="command").add_parser("data").add_subparsers(dest="data_command")
    add_cmdline_parser(data)
    return run_cmdline_command(parser.parse_args(["--quiet", "data", "cmdline", *argv]))


def check_grouping(records: list[dict]) -> None:
    benign = {r["text"]: r for r in records if r["label"] == 0}
    for r in records:
        assert set(r) == set(FIELDS)
        assert r["orig"] in benign, "every record's orig is the text of a benign record"
        if r["label"] == 0:
            assert r["technique"] == "benign" and r["intensity"] is None and r["orig"] == r["text"]
        else:
            assert r["text"] != r["orig"] and r["shell"] == benign[r["orig"]]["shell"]
            assert r["seed_id"] == benign[r["orig"]]["seed_id"]
    assert len({r["text"] for r in records}) == len(records), "no text twice"


def test_records_have_all_fields_share_and_orig_with_the_stand_in() -> None:
    result = build_cmdline_dataset(
        n=400, obfuscated_share=0.75, seed=3, progress=False, obfuscator=upper, intensities=["light", "heavy"]
    )
    records = result.records
    assert len(records) == 400 and sum(r["label"] for r in records) == 300
    check_grouping(records)
    assert {r["intensity"] for r in records if r["label"]} == {"light", "heavy"}
    assert Counter(r["shell"] for r in records if not r["label"]) == {"bash": 34, "cmd": 33, "powershell": 33}
    assert (
        "400 records: 100 benign, 300 obfuscated (75.0%)" in result.text
        and "| bash | bash/upper | 102 | 0 |" in result.text
    )
    again = build_cmdline_dataset(
        n=400, obfuscated_share=0.75, seed=3, progress=False, obfuscator=upper, intensities=["light", "heavy"]
    )
    assert again.records == records
    other = build_cmdline_dataset(
        n=400, obfuscated_share=0.75, seed=4, progress=False, obfuscator=upper, intensities=["light", "heavy"]
    )
    assert other.records != records


def test_real_engine_labels_about_the_share_and_technique_names() -> None:
    engine = pytest.importorskip("sectune.tasks.cmdline.obfuscate")
    result = build_cmdline_dataset(n=300, obfuscated_share=0.5, seed=1, progress=False)
    records = result.records
    share = sum(r["label"] for r in records) / len(records)
    assert 0.45 <= share <= 0.5 and len(records) >= 285
    check_grouping(records)
    for r in records:
        if r["label"]:
            names = r["technique"].split(">")
            assert all(name in engine.REGISTRY and name.startswith(r["shell"] + "/") for name in names), r["technique"]
            assert r["intensity"] in ("light", "medium", "heavy")
    assert {r["shell"] for r in records if r["label"]} == {"bash", "cmd", "powershell"}
    lines = list_techniques().splitlines()
    assert len(lines) == len(engine.REGISTRY) and lines[0].split()[0] in engine.REGISTRY


def test_from_plain_text_beside_and_instead_of_templates(tmp_path) -> None:
    source = tmp_path / "mine.txt"
    source.write_text(
        "ls -la /srv\n\nGet-Process | Sort-Object CPU\nipconfig /all\nls -la /srv\nskip me\n", encoding="utf-8"
    )
    only = build_cmdline_dataset(n=40, from_file=source, from_only=True, progress=False, obfuscator=upper)
    benign = {r["text"]: r for r in only.records if r["label"] == 0}
    assert set(benign) == {"ls -la /srv", "Get-Process | Sort-Object CPU", "ipconfig /all", "skip me"}
    assert {t: r["shell"] for t, r in benign.items()} == {
        "ls -la /srv": "bash",
        "Get-Process | Sort-Object CPU": "powershell",
        "ipconfig /all": "cmd",
        "skip me": "bash",
    }
    assert benign["ipconfig /all"]["seed_id"] == "mine.txt:4"
    assert sum(r["label"] for r in only.records) == 4, "the line no technique fits gives its variant to another line"
    assert "only 4 usable lines" in only.text
    check_grouping(only.records)
    beside = build_cmdline_dataset(n=100, from_file=source, progress=False, obfuscator=upper)
    assert beside.seeds_from_file == 4 and beside.seeds_from_templates == 46 and len(beside.records) == 100
    forced = build_cmdline_dataset(
        n=10, from_file=source, from_only=True, from_shell="bash", shells=["bash"], progress=False, obfuscator=upper
    )
    assert {r["shell"] for r in forced.records} == {"bash"}
    picky = build_cmdline_dataset(
        n=10, from_file=source, from_only=True, shells=["cmd"], progress=False, obfuscator=upper
    )
    assert {r["text"] for r in picky.records if not r["label"]} == {"ipconfig /all"} and "3 lines of" in picky.text


def test_from_jsonl_and_csv_with_field(tmp_path) -> None:
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text(
        "".join(json.dumps({"host": "a", "cmd": c}) + "\n" for c in ["whoami /all", "uname -a", "Get-Service"])
    )
    csv = tmp_path / "events.csv"
    csv.write_text('host,cmd\na,"echo ""hi, there"""\nb,net user\n', encoding="utf-8")
    for path, expected in (
        (jsonl, {"whoami /all", "uname -a", "Get-Service"}),
        (csv, {'echo "hi, there"', "net user"}),
    ):
        result = build_cmdline_dataset(
            n=20, from_file=path, field="cmd", from_only=True, progress=False, obfuscator=upper
        )
        assert {r["text"] for r in result.records if not r["label"]} == expected
    with pytest.raises(SectuneError, match="no field 'command'"):
        build_cmdline_dataset(n=20, from_file=jsonl, field="command", progress=False, obfuscator=upper)


@pytest.mark.parametrize(
    "line, shell",
    [
        ("ls -la /var/log", "bash"),
        ("echo `date` $HOME", "bash"),
        ("date -u +%Y-%m-%dT%H:%M:%SZ", "bash"),
        ("find . -path './x' -print", "bash"),
        ("Get-ChildItem C:\\Temp -Recurse", "powershell"),
        ("$env:Path += ';C:\\bin'", "powershell"),
        ("$x = 5", "powershell"),
        ("[Convert]::ToBase64String($b)", "powershell"),
        ("iwr -useb https://example.com", "powershell"),
        ('Write-Host `"hi', "powershell"),
        ("dir C:\\Windows", "cmd"),
        ("echo %USERPROFILE%", "cmd"),
        ("notepad.exe a.txt", "cmd"),
        ("cmd /c whoami", "cmd"),
        ("powershell.exe -NoProfile -File C:\\x.ps1", "cmd"),
        ("schtasks /query /fo LIST", "cmd"),
        ("net use Z: \\\\srv\\share", "cmd"),
    ],
)
def test_guess_shell(line, shell) -> None:
    assert guess_shell(line) == shell


@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz", "out.csv", "out.parquet"])
def test_outputs_are_readable_by_read_table(tmp_path, name) -> None:
    pytest.importorskip("pyarrow") if name.endswith(".parquet") else None
    path = tmp_path / name
    result = build_cmdline_dataset(n=60, output=path, seed=2, progress=False, obfuscator=upper)
    table = read_table(path, "text", "label", extra_columns=["orig", "shell"])
    assert table.texts == [r["text"] for r in result.records]
    assert table.labels == [str(r["label"]) for r in result.records]
    assert table.columns["orig"] == [r["orig"] for r in result.records]
    assert not list(tmp_path.glob(".*.tmp")), "written atomically, no temp file left"


def test_cli_writes_and_prints_summary(tmp_path, capsys) -> None:
    out = tmp_path / "d.jsonl"
    assert (
        cli(
            tmp_path,
            "--shells",
            "bash,cmd",
            "--n",
            "30",
            "--obfuscated",
            "0.5",
            "--intensities",
            "light",
            "--output",
            str(out),
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert (
        "30 records" in printed
        and f"written to {out}" in printed
        and "| shell | technique | alone | in a chain |" in printed
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["shell"] for r in rows} == {"bash", "cmd"} and {r["intensity"] for r in rows if r["label"]} == {"light"}


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--from", "missing.txt"], "missing.txt: no such file"),
        (["--from", "EMPTY"], "no records"),
        (["--shells", "bash,zsh"], "unknown shell 'zsh'"),
        (["--n", "0"], "--n must be a positive number"),
        (["--n", "-3"], "--n must be a positive number"),
        (["--obfuscated", "1.5"], "--obfuscated must be a share in [0, 1)"),
        (["--intensities", "medium,extreme"], "unknown intensity 'extreme'"),
        (["--from-only"], "need --from FILE"),
        (["--from", "TEXT", "--field", "cmd"], "--field cmd is for JSONL/CSV/Parquet files"),
        (["--from", "TEXT", "--from-shell", "cmd", "--shells", "bash"], "--from-shell cmd is not one of --shells bash"),
        (["--output", "out.xlsx"], "unknown output format"),
        ([], "needs --output FILE"),
    ],
)
def test_bad_input_is_one_line_sectune_error(tmp_path, monkeypatch, argv, needle) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "EMPTY").write_text("\n  \n", encoding="utf-8")
    (tmp_path / "TEXT").write_text("ls\n", encoding="utf-8")
    if "--output" not in argv and argv:
        argv = [*argv, "--output", "out.jsonl"]
    with pytest.raises(SectuneError) as info:
        cli(tmp_path, *argv)
    message = str(info.value)
    assert needle in message and "\n" not in message
    assert not (tmp_path / "out.jsonl").exists()


def test_a_quarter_of_powershell_groups_of_both_labels_are_started_as_a_process_log_shows_them():
    """The launcher says nothing about the label, and launching a benign line adds no disguise to its normal form."""
    from sectune.tasks.cmdline.normalize import normalize

    records = [r for r in build_cmdline_dataset(n=2400, seed=3, progress=False).records if r["shell"] == "powershell"]
    launched = {
        label: [
            r for r in records if r["label"] == label and r["orig"].lower().startswith(("powershell", "pwsh", "c:"))
        ]
        for label in (0, 1)
    }
    for label in (0, 1):
        share = len(launched[label]) / sum(r["label"] == label for r in records)
        assert 0.15 < share < 0.35, (label, share)
    assert all(r["text"].endswith('"') or r["text"].lower().startswith(("powershell", "pwsh")) for r in launched[1])
    bare = [r for r in records if r["label"] == 0 and r not in launched[0]]
    reported = [sum(bool(normalize(r["text"]).steps) for r in group) / len(group) for group in (launched[0], bare)]
    assert reported[0] <= reported[1] + 0.05, reported
