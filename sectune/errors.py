"""The one exception type users see: a short sentence, printed as one line, exit code 2."""

from __future__ import annotations


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
