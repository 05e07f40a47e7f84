"""Benign command-line templates: counts, reproducibility, bash syntax, and a realistic length tail."""

from __future__ import annotations

import base64
import re
import shutil
import statistics
import subprocess

import pytest

from sectune.errors import SectuneError
from sectune.tasks.cmdline import benign
from sectune.tasks.cmdline.benign import BenignLine, generate_benign, program_counts

# One bash process parses every line as the body of a function it never calls (so nothing runs); each parse is in
# a subshell because some syntax errors (an unclosed "$(") end the shell that meets them. Same parser as bash -n.
_BASH_CHECK = r"""
while IFS= read -r -d '' line; do
  if ! ( eval "__sectune_check() {
$line
}" ) 2>/dev/null; then printf '%s\n' "$line"; fi
done
"""


def bash_syntax_errors(lines: list[str]) -> list[str]:
    proc = subprocess.run(
        ["bash", "-c", _BASH_CHECK],
        input="".join(line + "\0" for line in lines),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.stdout.splitlines()


def test_program_counts() -> None:
    counts = program_counts()
    assert counts["bash"] >= 150
    assert counts["cmd"] + counts["powershell"] >= 100
    assert counts["cmd"] >= 40 and counts["powershell"] >= 40


def test_same_seed_same_lines_and_different_seed_different_lines() -> None:
    a = generate_benign(300, rng=11)
    assert a == generate_benign(300, rng=11)
    b = generate_benign(300, rng=12)
    assert len({x.text for x in a} & {x.text for x in b}) < 60


def test_lines_are_distinct_and_split_over_the_shells() -> None:
    lines = generate_benign(1001, ["bash", "powershell"], rng=3)
    assert len(lines) == 1001 and len({x.text for x in lines}) == 1001
    assert all(isinstance(x, BenignLine) for x in lines)
    by_shell = {s: sum(x.shell == s for x in lines) for s in ("bash", "cmd", "powershell")}
    assert by_shell == {"bash": 501, "cmd": 0, "powershell": 500}
    for x in lines:
        assert x.seed_id.startswith(f"{x.shell}/{x.program}/")
        assert x.text.strip() == x.text and "\n" not in x.text


def test_every_placeholder_is_filled_and_unknown_braces_are_the_known_literals() -> None:
    literal = set()
    for programs in benign._templates().values():
        for patterns in programs.values():
            for pattern in patterns:
                literal.update(benign.unknown_placeholders(pattern))
    assert literal <= {"{http_code}", "{time_total}", "{hostname}", "{now}", "{current}"}, literal
    for line in generate_benign(1500, rng=5):
        left = [m.group(0) for m in benign._PLACEHOLDER.finditer(line.text) if m.group(1) in benign._VOCAB]
        assert not left, line.text


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_every_bash_line_passes_bash_syntax_check() -> None:
    import random

    rng = random.Random(0)
    lines = [x.text for x in generate_benign(800, ["bash"], rng=1)]  # with chained lines
    for patterns in benign._templates()["bash"].values():  # every pattern, not only the sampled ones
        lines += [benign._fill(pattern, rng) for pattern in patterns]
    assert bash_syntax_errors(["echo 'unclosed", "echo $(", "ls -la"]) == [
        "echo 'unclosed",
        "echo $(",
    ]  # the check works
    bad = bash_syntax_errors(lines)
    assert not bad, bad[:5]


def test_length_distribution_has_a_tail_and_benign_base64() -> None:
    lines = generate_benign(3000, rng=0)
    lengths = sorted(len(x.text) for x in lines)
    p90 = lengths[int(0.9 * len(lengths))]
    assert statistics.median(lengths) < 100 and p90 > 120, (statistics.median(lengths), p90)
    assert sum(n > 300 for n in lengths) >= 15
    long_b64 = [x for x in lines if re.search(r"[A-Za-z0-9+/]{40,}={0,2}", x.text)]
    assert len(long_b64) >= 20 and {x.shell for x in long_b64} >= {"bash", "cmd", "powershell"}
    encoded = re.compile(r"\b(powershell|pwsh)(\.exe)?\b.*\s-(e|ec|en|enc|enco\w*)\s", re.IGNORECASE)
    # -EncodedCommand only as management agents use it (issue 16): a benign script, never the obfuscation engine's
    payloads = [
        m.group(1)
        for x in lines
        if (m := re.search(r"-(?:EncodedCommand|enc) (\S+)", x.text)) and encoded.search(x.text)
    ]
    assert all(base64.b64decode(p).decode("utf-16-le") in benign._MANAGEMENT_SCRIPTS for p in payloads)


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_bad_n_is_one_line_error(bad) -> None:
    with pytest.raises(SectuneError) as info:
        generate_benign(bad)
    assert "\n" not in str(info.value)


def test_bad_shell_is_one_line_error() -> None:
    with pytest.raises(SectuneError, match="unknown shell 'zsh'; valid shells: bash, cmd, powershell"):
        generate_benign(5, ["bash", "zsh"])


def test_placeholders_with_digits_in_their_names_are_filled():
    """{b64} and {sha256} reached the data unfilled: the pattern read them as {b} plus an index."""
    import re

    from sectune.tasks.cmdline.benign import generate_benign

    left = [line.text for line in generate_benign(20000, rng=0) if re.search(r"\{(?:b64|sha256)\}", line.text)]
    assert left == []
