"""The one exception type users see: a short sentence, printed as one line, exit code 2."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class SectuneError(Exception):
    """A problem with the user's input or environment, not a bug.

    The CLI prints ``sectune: error: <message>`` on stderr and exits with code 2.
    Messages name the file (and line or row) and say what is wrong, so they stand alone.
    """

    exit_code = 2

    def __init__(self, message: str, *, path: object | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        super().__init__(where + message)
        self.path = path
        self.line = line


class TrainingDiverged(SectuneError):
    """Raised when the loss or gradients stay non-finite after repeated recoveries."""


def shorten(value: object, limit: int = 40) -> str:
    """``value`` on one line of at most ``limit`` characters: messages quote user input, which can be huge."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_problem(exc: ValidationError, *, nested: bool = False) -> tuple[str, str]:
    """(field, message) of a pydantic error's first problem, the field spelled ``a.b[0]``: messages name
    the field and what is wrong with it, never the (maybe huge) value; the message counts the other problems.

    ``nested``: the schema nests models (and has no unions but ``X | None``), so every name on the way is one
    a user wrote (``run.training.data.rows``); otherwise only the first is, the rest being union members' tags."""
    errors = exc.errors(include_input=False, include_url=False)
    loc = errors[0]["loc"]  # (field, index or union member, ...): the members' tags are not names a user wrote
    rest = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc[1:] if nested or isinstance(part, int)
    )
    field = str(loc[0]) + rest if loc else ""
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return shorten(field) or "value", errors[0]["msg"] + more
