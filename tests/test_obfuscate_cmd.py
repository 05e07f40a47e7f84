"""cmd.exe techniques, checked against a small Python model of how cmd.exe parses a line (no Windows here).

The model lives in sectune.tasks.cmdline.normalize.cmd (the shell-aware normaliser uses it too). It (``trace_of``) follows the documented/observed phases: percent expansion of the whole line first
(undefined variables stay as typed at the prompt), then carets and quotes, splitting at & && | ||, leading
``,;`` delimiters, delayed ``!x!`` expansion per command when /v:on, ``set``, ``call`` (a second expansion),
``if a==b``, ``for [/l] %x in (...) do`` (which owns the rest of the line), ``cmd [/v:on] /c "..."`` (first and last
quote stripped) and pipes (each side in a child cmd without delayed expansion). It returns the commands that
would run, with arguments as the program sees them, so an obfuscated line must give the seed's trace.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

import pytest

from sectune.errors import SectuneError
from sectune.tasks.cmdline.normalize.cmd import ENV, expand, trace_of
from sectune.tasks.cmdline.obfuscate import INTENSITIES, cmd, obfuscate

SEEDS = [
    "net user",
    "whoami /all",
    "net user admin P@ss1 /add",
    "certutil -urlcache -split -f http://example.com/a.txt a.txt",
    "ping -n 1 127.0.0.1",
    "netstat -ano | findstr LISTENING",
    "echo hello world",
    "dir C:\\Windows\\System32",
    "tasklist /v && ipconfig /all",
    'reg query "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run"',
    "schtasks /query /fo LIST",
    "type C:\\Users\\Public\\notes.txt",
    "dir C:\\Users > out.txt",
    "ipconfig /all 2>nul | findstr IPv4",
    'net user "T1136.002_Admin" >nul 2>&1 /del /domain',
]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmdline" / "cmdlines.jsonl.gz"
MODELLED = [
    "cmd/caret",
    "cmd/quotes",
    "cmd/arg-insertion",
    "cmd/separators",
    "cmd/env-substring",
    "cmd/set-concat",
    "cmd/delayed",
    "cmd/for-loop",
    "cmd/reverse",
    "cmd/substitution",
]


def outputs(name: str, rng_seeds=(1, 2, 3)):
    for seed in SEEDS:
        for intensity in INTENSITIES:
            for r in rng_seeds:
                try:
                    yield seed, intensity, obfuscate(seed, "cmd", [name], intensity, rng=r).text
                except SectuneError:
                    pass


def test_model_on_known_dosfuscation_shapes():
    assert trace_of("net user") == ["net user"]
    assert trace_of("n^e^t us^er") == trace_of('n"e"t user') == trace_of(",;net user") == ["net user"]
    assert trace_of("%COMSPEC:~-7,1%md /c whoami") == ["whoami"]
    assert trace_of('cmd /c "set a=ne&& set b=t&& call %a%%b% user"') == ["net user"]
    assert trace_of('cmd /c "set a=ne&& set b=t&& %a%%b% user"') == ["%a%%b% user"]  # no call: expanded too early
    assert trace_of('cmd /v:on /c "set x=net&&!x! user"') == ["net user"]
    assert trace_of(
        'cmd /V:ON/C"set s=tne&&for %i in (1,2,0,9) do set f=!f!!s:~%i,1!&&if %i==9 call %f:~-3% user"'
    ) == ["net user"]
    assert trace_of('cmd /V:ON /C"set r=resu ten&&for /L %i in (7,-1,0) do set o=!o!!r:~%i,1!&&if %i==0 call %o%"') == [
        "net user"
    ]
    assert trace_of('cmd /V:ON /C "set a=n6t us6r&&set b=!a:6=E!&&call %b%"') == [
        "net usEr"
    ]  # case ignored in the match; names compare lower-cased
    assert trace_of('"echo" hi')[0].startswith("ERROR")
    assert trace_of("dir > out.txt") == trace_of("dir >out.txt") == ["dir", "> out.txt"]
    assert trace_of('cmd /c "set a=o&& call dir > %a%ut.txt"') == ["dir", "> %a%ut.txt"]  # targets are not re-expanded
    assert trace_of("set p=a^>b") == []
    assert expand("%ProgramFiles:~3,-6%", ENV) == "Program" and expand("%OS:~-2%", ENV) == "NT"


@pytest.mark.parametrize(
    "name",
    [
        "cmd/caret",
        "cmd/quotes",
        "cmd/arg-insertion",
        "cmd/separators",
        "cmd/env-substring",
        "cmd/set-concat",
        "cmd/delayed",
        "cmd/for-loop",
        "cmd/reverse",
        "cmd/substitution",
    ],
)
def test_output_runs_like_the_seed_under_the_cmd_model(name):
    cases = list(outputs(name))
    assert {i for _, i, _ in cases} == set(INTENSITIES), f"{name} applied to no seed at some intensity"
    wrong = [(seed, i, text, trace_of(text)) for seed, i, text in cases if trace_of(text) != trace_of(seed)]
    assert not wrong, "\n".join(f"{i}: {s!r} -> {t!r} runs {tr}" for s, i, t, tr in wrong[:8])
    assert all(text != seed for seed, _, text in cases)


def test_option_swap_only_swaps_option_characters():
    cases = list(outputs("cmd/option-swap"))
    assert len(cases) > 10
    for seed, intensity, text in cases:
        assert text != seed and len(text) == len(seed)
        diffs = [i for i, (a, b) in enumerate(zip(seed, text)) if a != b]
        assert all({seed[i], text[i]} == {"-", "/"} and seed[i - 1] == " " for i in diffs)
        tool = seed.split()[0]
        assert tool in cmd.DUAL_OPTION_TOOLS or " && " in seed
        if intensity == "heavy":
            assert text.count("-") + text.count("/") == seed.count("-") + seed.count("/")


def test_random_case_is_case_insensitively_the_seed():
    for seed, intensity, text in outputs("cmd/random-case"):
        assert text != seed and text.lower() == seed.lower()
        if intensity == "light":  # only command names change
            words, seed_words = text.split(), seed.split()
            assert all(
                a == b or k == 0 or seed_words[k - 1] in ("|", "&&") for k, (a, b) in enumerate(zip(words, seed_words))
            )
    assert obfuscate('echo "Keep Me"', "cmd", ["random-case"], "heavy", rng=1).text.endswith('"Keep Me"')


def test_quotes_leave_builtins_alone():
    with pytest.raises(SectuneError, match="cmd/quotes"):
        obfuscate("echo hello", "cmd", ["quotes"])
    assert obfuscate("net user", "cmd", ["quotes"], "light", rng=1).text.replace('"', "") == "net user"


def test_env_substring_uses_only_stable_parts_of_the_reference_environment():
    text = obfuscate("cmd /c whoami /all", "cmd", ["env-substring"], "heavy", rng=4).text
    for var, start in re.findall(r"%(\w+):~(-?\d+)", text):
        if var == "COMSPEC":
            assert int(start) >= -16  # C:\WINDOWS\ varies in case and place
        if var in ("SystemRoot", "windir"):
            assert 0 <= int(start) < 3


def test_wrappers_refuse_lines_they_would_break():
    with pytest.raises(SectuneError, match="for-loop"):
        obfuscate('echo "a&b"', "cmd", ["for-loop"])
    with pytest.raises(SectuneError, match="delayed"):
        obfuscate("echo hi!", "cmd", ["delayed"])


def test_two_layer_chains_run_like_the_seed():
    modelled = [
        "cmd/caret",
        "cmd/quotes",
        "cmd/arg-insertion",
        "cmd/separators",
        "cmd/env-substring",
        "cmd/set-concat",
        "cmd/delayed",
        "cmd/for-loop",
        "cmd/reverse",
        "cmd/substitution",
    ]
    rng = random.Random(5)
    done = 0
    for first in modelled:
        for second in modelled:
            intensity, start = rng.choice(INTENSITIES), rng.randrange(len(SEEDS))
            for seed in SEEDS[start:] + SEEDS[:start]:  # the first seed the pair applies to
                try:
                    text = obfuscate(seed, "cmd", [first, second], intensity, rng=rng.randrange(999)).text
                except SectuneError:
                    continue
                done += 1
                assert trace_of(text) == trace_of(seed), f"{first}>{second} {intensity}: {seed!r} -> {text!r}"
                break
    assert done >= 0.55 * len(modelled) ** 2  # for-loop, reverse and substitution refuse to wrap a line holding % ! ^ "


def test_random_chains_of_modelled_techniques_run_like_the_seed():
    modelled = {
        "cmd/caret",
        "cmd/quotes",
        "cmd/arg-insertion",
        "cmd/separators",
        "cmd/env-substring",
        "cmd/set-concat",
        "cmd/delayed",
        "cmd/for-loop",
        "cmd/reverse",
        "cmd/substitution",
    }
    checked = 0
    for r in range(400):
        seed = SEEDS[r % len(SEEDS)]
        result = obfuscate(seed, "cmd", intensity=INTENSITIES[r % 3], rng=r)
        if set(result.techniques) <= modelled:
            checked += 1
            assert trace_of(result.text) == trace_of(seed), result
    assert checked > 200


@pytest.mark.skipif(not SHARED.exists(), reason="needs shared/data/cmdline")
def test_real_benign_lines_run_like_themselves():
    """Atomic-red-team and LOLBAS lines the model can parse keep their trace under every modelled technique."""
    with gzip.open(SHARED, "rt") as f:
        lines = [row["text"] for row in map(json.loads, f) if row["shell"] == "cmd" and row["label"] == 0]
    rng, checked = random.Random(2), 0
    for line in rng.sample(lines, 150):
        try:
            expected = trace_of(line)
        except Exception:  # syntax the model does not cover (for /f, parentheses...)
            continue
        for name in MODELLED:
            try:
                text = obfuscate(line, "cmd", [name], rng.choice(INTENSITIES), rng=rng.randrange(99)).text
            except SectuneError:
                continue
            checked += 1
            assert trace_of(text) == expected, f"{name}: {line!r} -> {text!r}"
    assert checked > 500
