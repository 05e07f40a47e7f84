"""The in-the-wild styles added after Invoke-Obfuscation and Bashfuscator: bash runs, PowerShell decodes,
and light variants of every technique stay short on the project's own benign lines."""

from __future__ import annotations

import base64
import re
import shutil

import pytest
from test_obfuscate_bash import SEEDS as BASH_SEEDS
from test_obfuscate_bash import check_syntax, run_lines

from sectune.errors import SectuneError
from sectune.tasks.cmdline.benign import generate_benign
from sectune.tasks.cmdline.obfuscate import INTENSITIES, REGISTRY, obfuscate

PS_SEEDS = [
    "Write-Host hello",
    "Get-ChildItem C:\\Users | Where-Object { $_.Name -like 'a*' }",
    "Invoke-WebRequest -Uri 'http://example.com/a.ps1' -OutFile \"$env:TEMP\\a.ps1\"",
    "Write-Output 'it''s done'",
    "Write-Output 'caf\u00e9'",
]


def _cases(shell: str, name: str, seeds: list[str], rng_seeds=(1, 2, 3)):
    for seed in seeds:
        for intensity in INTENSITIES:
            for r in rng_seeds:
                try:
                    yield seed, intensity, obfuscate(seed, shell, [name], intensity, rng=r).text
                except SectuneError:
                    pass


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("base32") is None, reason="needs bash, base32")
@pytest.mark.parametrize("name", ["bash/base32", "bash/slice"])
def test_bash_styles_parse_and_run_like_the_seed(name, tmp_path):
    for file in ("alpha.txt", "beta.log", "notes.txt"):
        (tmp_path / file).write_text("alpha\nbeta\ngamma\n")
    cases = list(_cases("bash", name, BASH_SEEDS))
    assert {i for _, i, _ in cases} == set(INTENSITIES)
    assert check_syntax([t for *_, t in cases], tmp_path) == []
    expected = dict(zip(BASH_SEEDS, run_lines(BASH_SEEDS, tmp_path)))
    got = run_lines([t for *_, t in cases], tmp_path)
    wrong = [(s, i, t, g) for (s, i, t), g in zip(cases, got) if g != expected[s]]
    assert not wrong, wrong[:5]


def test_slice_light_cuts_the_command_name_out_of_a_padded_variable():
    text = obfuscate("cat /etc/passwd", "bash", ["slice"], "light", rng=3).text
    name, value, offset, length = re.fullmatch(r"(\w+)=(\w+);\$\{\1:(\d+):(\d+)\} /etc/passwd", text).groups()
    assert value[int(offset) : int(offset) + int(length)] == "cat"


def _decode_bxor(expr: str) -> str:
    codes, key = re.search(r"\(\(([\d,]+)\)\|.*-bxor (0x[0-9a-f]+|\d+)\)", expr).groups()
    return "".join(chr(int(c) ^ int(key, 0)) for c in codes.split(","))


def _decode_b64(expr: str) -> str:
    encoding, literal = re.search(
        r"\[Text\.Encoding\]::(\w+)\.GetString\(\[Convert\]::FromBase64String\((.+?)\)\)\)", expr
    ).groups()
    data = base64.b64decode("".join(re.findall(r"'([^']*)'", literal)))
    return data.decode({"UTF8": "utf-8", "ASCII": "ascii", "Unicode": "utf-16-le"}[encoding])


@pytest.mark.parametrize("name, decode", [("powershell/bxor", _decode_bxor), ("powershell/base64-inline", _decode_b64)])
def test_powershell_styles_decode_to_the_seed(name, decode):
    cases = list(_cases("powershell", name, PS_SEEDS))
    assert {i for _, i, _ in cases} == set(INTENSITIES)
    for seed, intensity, text in cases:
        decoded = decode(text)
        if intensity != "light" or re.search(r"iex|Invoke-Expression", text, re.I):  # the whole line, run as code
            assert decoded == seed, text
        else:  # light: only the command name, called with & or .
            assert intensity == "light" and text.startswith(("&(", ".(")), text
            assert seed.startswith(decoded) and text.endswith(seed[len(decoded) :]), text


def test_bxor_refuses_text_beyond_latin_1():
    with pytest.raises(SectuneError, match="Latin-1"):
        obfuscate("Write-Host \u2713", "powershell", ["bxor"], "heavy", rng=1)


# Light variants whose stub is long by itself (~120-140 characters; see test_obfuscate_registry.LONG_LIGHT): they
# only stay under 200 characters on the 40-character seed that test uses, so they are left out here.
# encoded-command carries the whole line as base64 of UTF-16LE: 2.7 times the line, long for any line over ~70.
LONG_STUB = {"powershell/deflate", "powershell/securestring", "cmd/for-loop", "powershell/encoded-command"}


@pytest.mark.parametrize("shell", ["bash", "cmd", "powershell"])
def test_light_variants_keep_most_real_lines_short(shell):
    """Every technique, light, on benign lines under 120 characters: most outputs stay under 200 characters."""
    lines = [b.text for b in generate_benign(400, [shell], rng=11) if len(b.text) < 120][:120]
    for name in sorted(n for n, t in REGISTRY.items() if t.shell == shell and n not in LONG_STUB):
        lengths = []
        for r, line in enumerate(lines):
            try:
                lengths.append(len(obfuscate(line, shell, [name], "light", rng=r).text))
            except SectuneError:
                pass
        if len(lengths) < 5:
            continue  # applies to too few lines to measure (option-chars needs one of its programs, say)
        share = sum(n < 200 for n in lengths) / len(lengths)
        assert share >= 0.9, f"{name}: {share:.0%} of {len(lengths)} light outputs under 200"
