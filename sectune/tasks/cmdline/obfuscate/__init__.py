"""Obfuscate command lines with named, tested techniques, so a detector sees light, short obfuscation too.

Public corpora only hold heavy, very long obfuscation (Bashfuscator, Invoke-DOSfuscation) and no obfuscated
PowerShell; a model trained on them learns "long = obfuscated". Each technique here has a light variant that
changes one word or wraps the line in one short decoder, plus medium and heavy variants.

    >>> obfuscate("cat /etc/passwd", "bash", ["quotes"], intensity="light", rng=2).text
    "c''at /etc/passwd"
    >>> obfuscate("net user", "cmd", ["caret"], intensity="light", rng=4).text
    'n^et user'

The shell modules hold the techniques (``bash``, ``cmd``, ``powershell``); this module is the registry and the
entry point. Techniques are applied left to right; a technique that has nothing to rewrite in a line raises
SectuneError, and a random pick skips it for another one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

from sectune.errors import SectuneError

INTENSITIES = ("light", "medium", "heavy")
SHELLS = ("bash", "cmd", "powershell")
Intensity = Literal["light", "medium", "heavy"]
_LAYER_WEIGHTS = ((1, 0.6), (2, 0.3), (3, 0.1))


@dataclass(frozen=True)
class Technique:
    """One named rewrite of a command line; ``apply(line, intensity, rng)`` returns a line that runs the same."""

    name: str  # "bash/base64"
    shell: str
    family: str  # encoding, quoting, whitespace, globbing, variables, case, compression, reversal, escaping, ...
    description: str  # one line
    apply: Callable[[str, Intensity, random.Random], str]
    layerable: bool = True  # its output may be fed to another technique


@dataclass(frozen=True)
class Obfuscation:
    text: str
    shell: str
    techniques: tuple[str, ...]  # full names, in the order applied
    intensity: str


def _build_registry() -> dict[str, Technique]:
    from sectune.tasks.cmdline.obfuscate import bash, cmd, powershell

    registry = {}
    for shell, module in (("bash", bash), ("cmd", cmd), ("powershell", powershell)):
        for name, family, fn, layerable in module.TECHNIQUES:
            description = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
            registry[f"{shell}/{name}"] = Technique(f"{shell}/{name}", shell, family, description, fn, layerable)
    return registry


REGISTRY: dict[str, Technique] = _build_registry()


def techniques(shell: str | None = None) -> list[Technique]:
    """The registered techniques, of one shell or all."""
    if shell is not None:
        _check_shell(shell)
    return [t for t in REGISTRY.values() if shell is None or t.shell == shell]


def _check_shell(shell: str) -> None:
    if shell not in SHELLS:
        raise SectuneError(f"unknown shell {shell!r}; valid shells: {', '.join(SHELLS)}")


def _resolve(name: str, shell: str) -> Technique:
    full = name if "/" in name else f"{shell}/{name}"
    technique = REGISTRY.get(full)
    if technique is None or technique.shell != shell:
        valid = ", ".join(t.name.split("/", 1)[1] for t in techniques(shell))
        raise SectuneError(f"unknown {shell} technique {name!r}; valid: {valid}")
    return technique


def obfuscate(
    line: str,
    shell: str,
    techniques: Sequence[str] | None = None,
    intensity: str = "medium",
    rng: random.Random | int | None = None,
    layers: int | None = None,
) -> Obfuscation:
    """Apply ``techniques`` (or ``layers`` random ones of ``shell``) to ``line``, left to right.

    Random picks draw 1 layer with p=0.6, 2 with p=0.3, 3 with p=0.1 unless ``layers`` is given, never put
    a technique after one whose output is not layerable, and skip techniques that do not fit the line.
    The same ``rng`` seed gives the same result.
    """
    _check_shell(shell)
    if intensity not in INTENSITIES:
        raise SectuneError(f"unknown intensity {intensity!r}; valid: {', '.join(INTENSITIES)}")
    rng = rng if isinstance(rng, random.Random) else random.Random(rng)
    text, applied = line, []
    if techniques is not None:
        chosen = [_resolve(name, shell) for name in techniques]
        for i, technique in enumerate(chosen[:-1]):
            if not technique.layerable:
                raise SectuneError(f"{technique.name} output cannot be fed to {chosen[i + 1].name}; put it last")
        for technique in chosen:
            text = technique.apply(text, intensity, rng)
            applied.append(technique.name)
        return Obfuscation(text, shell, tuple(applied), intensity)
    if layers is None:
        layers = rng.choices([n for n, _ in _LAYER_WEIGHTS], [w for _, w in _LAYER_WEIGHTS])[0]
    if layers < 1:
        raise SectuneError(f"layers must be at least 1, got {layers}")
    pool = [t for t in REGISTRY.values() if t.shell == shell]
    for layer in range(layers):
        last = layer == layers - 1
        candidates = [t for t in pool if last or t.layerable]
        rng.shuffle(candidates)
        for technique in candidates:
            try:
                text = technique.apply(text, intensity, rng)
            except SectuneError:
                continue
            applied.append(technique.name)
            break
        else:
            raise SectuneError(f"no {shell} technique applies to {text[:60]!r}")
    return Obfuscation(text, shell, tuple(applied), intensity)
