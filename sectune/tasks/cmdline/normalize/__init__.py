"""Shell-aware normalisation: what a command line will actually run, computed statically and safely.

    >>> normalize("n^e^t us^er").normal
    'net user'
    >>> normalize("powershell -ec dwBoAG8AYQBtAGkA").normal
    'whoami'
    >>> normalize("c''at /e\\tc/passwd").normal
    'cat /etc/passwd'

One module per shell (``cmd``, ``powershell``, ``bash``); :func:`normalize` guesses the shell from the line when it
is not given (:mod:`.guess`) and returns a :class:`Normalized`: the normal form, the steps applied ("caret inside
n^e^t removed -> net", "-ec payload decoded"...), the decoded payloads and the shell. Around the shell's own
steps, :mod:`.respell` writes paths and URL hosts one way. Nothing is ever executed: the normalisers only parse,
and decode what is static. Every line runs under a bound (:mod:`._budget`: at most ``MAX_SECONDS`` per line,
``MAX_DEPTH`` nested layers, ``MAX_PAYLOAD`` characters, ``MAX_STEPS`` loop iterations); past it the normaliser
keeps the form it reached and says so in ``steps`` (``truncated``).

The normal forms fold case where the shell ignores it (cmd command names, PowerShell code outside strings) and
collapse whitespace, so compare them with :func:`same`. cmd command sequences are joined by `` & `` whatever the
separator was (``&&`` and ``||`` included).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sectune.tasks.cmdline.normalize import _budget
from sectune.tasks.cmdline.normalize._budget import NotStatic, TooComplex
from sectune.tasks.cmdline.normalize.bash import normalize_bash
from sectune.tasks.cmdline.normalize.cmd import normalize_cmd
from sectune.tasks.cmdline.normalize.guess import guess_shell
from sectune.tasks.cmdline.normalize.powershell import normalize_powershell
from sectune.tasks.cmdline.normalize.respell import respell_characters, respell_hosts, respell_paths

SHELLS = ("bash", "cmd", "powershell")


@dataclass
class Normalized:
    """What :func:`normalize` found out about one line."""

    line: str  # the literal line
    normal: str  # what the shell will run, as one line
    shell: str  # bash, cmd or powershell
    steps: list[str] = field(default_factory=list)  # what was undone, readable ("-ec payload decoded")
    payloads: list[str] = field(default_factory=list)  # decoded payloads (base64, hex, compressed...), in order
    truncated: str = ""  # the bound that stopped the work ("time", "depth", "size", "steps"), "" if none

    @property
    def layers(self) -> int:
        """Decoding layers undone: payloads decoded plus string expressions folded."""
        return len(self.payloads) + sum("folded" in s or "unwrapped" in s for s in self.steps)


def _run(line: str, shell: str) -> str:
    if shell == "bash":
        return respell_hosts(normalize_bash(line), shell)
    line = respell_characters(line)
    if shell == "cmd":
        out = normalize_cmd(line)
        # cmd /c powershell -enc ...: PowerShell reads what follows its name (what came before is cmd's)
        if m := re.search(r"(?i)(?:^|(?<=[\s&|(]))(?:\S*[\\/])?(?:powershell|pwsh)(?:\.exe)?\b", out):
            head, tail = out[: m.start()], normalize_powershell(out[m.start() :])
            return respell_hosts(respell_paths(head, "cmd") + respell_paths(tail, "powershell"), shell)
    else:
        out = normalize_powershell(line)
    # paths after the shell's own steps: C:\Win^dows\.\System32 is a path only then
    return respell_hosts(respell_paths(out, shell), shell)


def normalize(line: str, shell: str | None = None, *, seconds: float = _budget.MAX_SECONDS) -> Normalized:
    """The normal form of ``line`` under ``shell`` (guessed when None); never raises on any input string."""
    if shell is None:
        shell = guess_shell(line)
    elif shell not in SHELLS:
        from sectune.errors import SectuneError

        raise SectuneError(f"unknown shell {shell!r}; valid shells: {', '.join(SHELLS)}")
    if len(line) > _budget.MAX_PAYLOAD:
        return Normalized(line, " ".join(line.split()), shell, ["line too long: not normalised"], [], "size")
    with _budget.budget(seconds) as b:
        try:
            normal = _run(line, shell)
        except TooComplex:
            normal = " ".join(line.split())
            b.hit = b.hit or "size"
            b.notes.append(f"bound reached ({b.hit}): kept as written")
        except (NotStatic, RecursionError, ValueError, IndexError, KeyError, TypeError, AttributeError, OverflowError):
            normal = " ".join(line.split())
            b.notes.append("not parsed: kept as written")
        except re.error:
            normal = " ".join(line.split())
        return Normalized(line, normal, shell, list(b.notes), list(b.payloads), b.hit)


def same(a: str, b: str) -> bool:
    """Two normal forms that run the same, up to case and whitespace."""
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


__all__ = ["Normalized", "normalize", "guess_shell", "same", "SHELLS", "NotStatic", "TooComplex"]
