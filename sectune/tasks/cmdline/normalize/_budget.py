"""The bounds every normaliser runs under: a deadline, a recursion depth and a payload size, per line.

The normalisers run inside ``sectune scan`` on every line of a log, so an adversarial line (deep nesting, a huge
payload, a loop over a billion items) must cost a bounded time: each normaliser calls :func:`tick` in its loops
and :func:`check_size` on what it builds, and gives up with :class:`TooComplex` (the caller keeps what it has).
"""

from __future__ import annotations

import contextvars
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

MAX_DEPTH = 8  # nested decodings / wrappers (cmd /c "cmd /c ...", base64 of base64...)
MAX_PAYLOAD = 100_000  # characters of any decoded or built string
MAX_SECONDS = 0.5  # per line: a safety net only; the step count is the bound that should stop a line
MAX_STEPS = 100_000  # loop iterations per line: deterministic, so features do not depend on the machine's load


class TooComplex(Exception):
    """The line goes beyond the bounds: the normaliser stops and keeps the form it has reached."""


class NotStatic(Exception):
    """The construct cannot be computed statically (an unknown variable, a call, an unmodelled operator)."""


@dataclass
class Budget:
    deadline: float
    steps: int = 0
    depth: int = 0
    notes: list[str] = field(default_factory=list)  # the steps applied, in order (Normalized.steps)
    payloads: list[str] = field(default_factory=list)  # decoded payloads (Normalized.payloads)
    hit: str = ""  # which bound stopped the work, if any


_CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("sectune_normalize_budget", default=None)


@contextmanager
def budget(seconds: float = MAX_SECONDS) -> Iterator[Budget]:
    """A fresh budget for one line (nested calls share the outer one)."""
    outer = _CURRENT.get()
    if outer is not None:
        yield outer
        return
    b = Budget(deadline=time.perf_counter() + seconds)
    token = _CURRENT.set(b)
    try:
        yield b
    finally:
        _CURRENT.reset(token)


def current() -> Budget | None:
    return _CURRENT.get()


def tick(n: int = 1) -> None:
    b = _CURRENT.get()
    if b is None:
        return
    b.steps += n
    if b.steps > MAX_STEPS:
        b.hit = b.hit or "steps"
        raise TooComplex("too many steps")
    if b.steps % 64 == 0 and time.perf_counter() > b.deadline:
        b.hit = b.hit or "time"
        raise TooComplex("out of time")


def check_size(text) -> None:
    if len(text) > MAX_PAYLOAD:
        b = _CURRENT.get()
        if b is not None:
            b.hit = b.hit or "size"
        raise TooComplex("payload too large")


@contextmanager
def deeper() -> Iterator[None]:
    b = _CURRENT.get()
    if b is None:
        yield
        return
    if b.depth >= MAX_DEPTH:
        b.hit = b.hit or "depth"
        raise TooComplex("nested too deep")
    b.depth += 1
    try:
        yield
    finally:
        b.depth -= 1


def note(step: str) -> None:
    b = _CURRENT.get()
    if b is not None and step not in b.notes and len(b.notes) < 64:
        b.notes.append(step)


def unnote(step: str) -> None:
    """Take back a step noted while parsing, once the whole line shows it hid nothing."""
    b = _CURRENT.get()
    if b is not None and step in b.notes:
        b.notes.remove(step)


def payload(text: str) -> None:
    b = _CURRENT.get()
    if b is not None and len(b.payloads) < 16:
        b.payloads.append(text[:MAX_PAYLOAD])
