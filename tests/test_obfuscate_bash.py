"""Bash techniques are run, not eyeballed: every output must parse and print exactly what its seed prints."""

from __future__ import annotations

import gzip
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from sectune.errors import SectuneError
from sectune.tasks.cmdline.obfuscate import INTENSITIES, bash, obfuscate, techniques

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

SEEDS = [
    "echo hello world",
    "printf '%s\\n' a b",
    "expr 2 + 3",
    "true",
    "ls",
    "echo $((1+2))",
    "ls -1 | sort -r",
    "cat notes.txt | grep -c beta",
]
BASH = [t.name for t in techniques("bash")]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmdline" / "cmdlines.jsonl.gz"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A directory with known files, so ``ls`` and ``cat`` print the same thing every run."""
    d = tmp_path_factory.mktemp("seeds")
    for name in ("alpha.txt", "beta.log", "notes.txt"):
        (d / name).write_text("alpha\nbeta\ngamma\n")
    return d


def run_lines(lines: list[str], cwd: Path, timeout: float = 60) -> list[str]:
    """Run each line in its own subshell of one bash process; return what each printed (stdout+stderr) and its status."""
    script = cwd / "lines.sh"
    body = []
    for i, line in enumerate(lines):
        body.append(f"echo '@@@{i}'")
        body.append(f'( {line}\n) 2>&1; echo "rc=$?"')
    script.write_text("\n".join(body) + "\n")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    chunks = proc.stdout.split("@@@")[1:]
    outputs = {}
    for chunk in chunks:
        index, _, text = chunk.partition("\n")
        outputs[int(index)] = text
    return [outputs.get(i, "<no output: script died>" + proc.stderr[-300:]) for i in range(len(lines))]


def check_syntax(lines: list[str], tmp: Path) -> list[str]:
    """Lines that ``bash -n`` rejects: one bash call for all of them; one call per line only to name the culprits."""
    script = tmp / "syntax.sh"
    script.write_text("\n".join(f"{line}\n" for line in lines))
    if subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0:
        return []
    return [line for line in lines if subprocess.run(["bash", "-n", "-c", line], capture_output=True).returncode != 0]


def outputs_for(name: str, seeds: list[str], rng_seeds=(1, 2)) -> list[tuple[str, str, str]]:
    out = []
    for seed in seeds:
        for intensity in INTENSITIES:
            for r in rng_seeds:
                try:
                    out.append((seed, intensity, obfuscate(seed, "bash", [name], intensity, rng=r).text))
                except SectuneError:
                    pass
    return out


@pytest.mark.parametrize("name", BASH)
def test_every_output_parses(name, tmp_path):
    lines = [
        text
        for _, _, text in outputs_for(
            name,
            SEEDS
            + [
                'for f in *.txt; do echo "$f"; done',
                "x=1; echo $x >/dev/null 2>&1",
                "[[ -f notes.txt ]] && echo yes",
                "f() { echo in; }; f",
            ],
        )
    ]
    assert lines, f"{name} applied to no seed"
    assert check_syntax(lines, tmp_path) == []


def test_every_technique_runs_like_its_seed(workdir):
    expected = dict(zip(SEEDS, run_lines(SEEDS, workdir)))
    assert expected["echo hello world"] == "hello world\nrc=0\n"
    cases = [(name, seed, intensity, text) for name in BASH for seed, intensity, text in outputs_for(name, SEEDS)]
    results = run_lines([text for *_, text in cases], workdir)
    wrong = [
        (name, intensity, seed, text, got)
        for (name, seed, intensity, text), got in zip(cases, results)
        if got != expected[seed]
    ]
    assert not wrong, "\n".join(f"{n} {i}: {s!r} -> {t!r} printed {g!r}" for n, i, s, t, g in wrong[:10])
    applied = {(name, intensity) for name, _, intensity, _ in cases}
    assert applied == {(n, i) for n in BASH for i in INTENSITIES}, "some technique/intensity applied to no seed"


def test_two_layer_chains_run_like_their_seed(workdir):
    """Every ordered pair of (layerable) bash techniques, on rotating seeds and intensities."""
    expected = dict(zip(SEEDS, run_lines(SEEDS, workdir)))
    rng = random.Random(7)
    cases = []
    layerable = [t.name for t in techniques("bash") if t.layerable]
    for first in layerable:
        for second in layerable:
            intensity, start = rng.choice(INTENSITIES), rng.randrange(len(SEEDS))
            for seed in SEEDS[start:] + SEEDS[:start]:  # the first seed the pair applies to
                try:
                    text = obfuscate(seed, "bash", [first, second], intensity, rng=rng.randrange(10**6)).text
                except SectuneError:
                    continue
                cases.append((first, second, seed, text))
                break
    assert len(cases) >= 0.95 * len(layerable) ** 2
    results = run_lines([c[-1] for c in cases], workdir, timeout=120)
    wrong = [(c, got) for c, got in zip(cases, results) if got != expected[c[2]]]
    assert not wrong, "\n".join(f"{f}>{s}: {seed!r} -> {t!r} printed {g!r}" for (f, s, seed, t), g in wrong[:10])


def test_random_chains_run_like_their_seed(workdir):
    expected = dict(zip(SEEDS, run_lines(SEEDS, workdir)))
    cases = [
        (seed, obfuscate(seed, "bash", intensity=INTENSITIES[r % 3], rng=r)) for r in range(40) for seed in SEEDS[:3]
    ]
    results = run_lines([o.text for _, o in cases], workdir)
    wrong = [(seed, o, got) for (seed, o), got in zip(cases, results) if got != expected[seed]]
    assert not wrong, wrong[:5]


def test_globs_match_exactly_one_file(tmp_path):
    """Each glob the technique can produce expands to exactly its file on this machine."""
    rng = random.Random(3)
    cases = []
    for _name, path in [*bash.GLOB_COMMANDS.items(), *((p, p) for p in bash.GLOB_PATHS)]:
        if not Path(path).exists():
            continue
        for k in (1, 1, 2, 3):
            cases.append((path, bash._glob_path(path, rng, k)))
    script = "\n".join(f'set -- {pattern}; echo "$# $1"' for _, pattern in cases)
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30).stdout.splitlines()
    wrong = [(path, pattern, got) for (path, pattern), got in zip(cases, out) if got != f"1 {path}"]
    assert len(out) == len(cases) and not wrong, wrong[:10]


def test_lexer_keeps_the_line_and_protects_syntax():
    for line in SEEDS + [
        "for i in 1 2; do echo $i; done",
        "a=1 b=2 env | grep -c a",
        "cat <<EOF\nhi\nEOF",
        "echo \"$(ls | wc -l)\" 'x y' $'\\t' `id` ${HOME}",
        "((i++)); [[ $a == b ]] || f() { :; }",
    ]:
        assert "".join(t.text for t in bash._lex(line)) == line
    toks = {t.text: t for t in bash._lex("for x in a b; do echo $x; done")}
    assert not toks["for"].safe and not toks["x"].safe and not toks["in"].safe and toks["a"].safe and toks["echo"].cmd
    assert not any(t.safe for t in bash._lex("[[ $a -eq 1 ]]") if t.kind == "word")


def test_light_touches_little():
    line = "cat /etc/passwd | grep root"
    assert (
        obfuscate(line, "bash", ["quotes"], "light", rng=1).text.count("''")
        + obfuscate(line, "bash", ["quotes"], "light", rng=1).text.count('""')
        <= 2
    )
    assert obfuscate(line, "bash", ["ifs"], "light", rng=1).text.count("IFS") == 1
    assert obfuscate(line, "bash", ["glob"], "light", rng=1).text.endswith("/etc/passwd | grep root")
    # one backslash is inside the name, never only before it (\cat skips an alias: a habit the benign side holds)
    for seed in range(40):
        escaped = obfuscate(line, "bash", ["backslash"], "light", rng=seed).text
        assert escaped.count("\\") == 1 and not escaped.startswith("\\"), escaped


def test_not_applicable_is_a_clear_error():
    with pytest.raises(SectuneError, match="bash/ifs"):
        obfuscate("x=1", "bash", ["ifs"])
    with pytest.raises(SectuneError, match="bash/quotes"):
        obfuscate("$x", "bash", ["quotes"])


@pytest.mark.skipif(not SHARED.exists(), reason="needs shared/data/cmdline")
def test_real_benign_lines_still_parse(tmp_path):
    """Light and heavy outputs of real benign lines (tldr, nl2bash, atomic-red-team) parse whenever the line does."""
    rng = random.Random(11)
    seeds = []
    with gzip.open(SHARED, "rt") as f:
        for row in map(json.loads, f):
            if row["shell"] == "bash" and row["label"] == 0 and len(row["text"]) < 200:
                seeds.append(row["text"])
    seeds = rng.sample(seeds, 120)
    good = [s for s, bad in zip(seeds, _each_bad(seeds, tmp_path)) if not bad]
    lines = []
    for seed in good:
        for name in BASH:
            try:
                lines.append(
                    obfuscate(seed, "bash", [name], rng.choice(["light", "heavy"]), rng=rng.randrange(99)).text
                )
            except SectuneError:
                pass
    assert len(good) > 80 and len(lines) > 10 * len(good)
    assert check_syntax(lines, tmp_path) == []


def _each_bad(lines: list[str], tmp: Path) -> list[bool]:
    for i, line in enumerate(lines):
        (tmp / f"{i}.sh").write_text(line + "\n")
    script = "for i in $(seq 0 %d); do bash -n %s/$i.sh 2>/dev/null && echo ok || echo bad; done" % (
        len(lines) - 1,
        tmp,
    )
    return [r == "bad" for r in subprocess.run(["bash", "-c", script], capture_output=True, text=True).stdout.split()]
