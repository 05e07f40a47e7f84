"""What reading a log gives back: a :class:`LogLine` per command line, :class:`ScanCounts` for everything else.

One definition shared by the driver, every format and ``sectune scan``, so a count means the same everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

MAX_EXAMPLES = 5


@dataclass(slots=True)
class LogLine:
    line_no: int  # 1-based line where the event starts
    command_line: str
    extra: dict = dc_field(default_factory=dict)


@dataclass
class ScanCounts:
    """What reading a log found. ``examples`` and ``skipped_examples`` keep the first few (line, reason)."""

    format: str | None = None
    lines_read: int = 0
    events: int = 0  # command lines yielded
    skipped_not_process_creation: int = 0
    skipped_no_command_line: int = 0
    skipped_too_long: int = 0  # physical lines over the cap (lines_read counts them too)
    unparseable: int = 0
    examples: list[tuple[int, str]] = dc_field(default_factory=list)
    skipped_examples: list[tuple[int, str]] = dc_field(default_factory=list)

    @property
    def skipped(self) -> dict[str, int]:
        return {
            "not process creation": self.skipped_not_process_creation,
            "no command line": self.skipped_no_command_line,
            "line too long": self.skipped_too_long,
        }

    def bad(self, line: int, reason: str) -> None:
        self.unparseable += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append((line, reason))

    def not_process(self, line: int, reason: str) -> None:
        self.skipped_not_process_creation += 1
        self._skip_example(line, reason)

    def no_command(self, line: int, reason: str) -> None:
        self.skipped_no_command_line += 1
        self._skip_example(line, reason)

    def too_long(self, line: int, limit: int) -> None:
        """Line ``line`` was over the cap of ``limit`` characters (and dropped unread): it counts as read and as skipped."""
        self.lines_read += 1
        self.skipped_too_long += 1
        self._skip_example(line, f"line longer than {limit:,} characters (--max-line-chars)")

    def _skip_example(self, line: int, reason: str) -> None:
        if len(self.skipped_examples) < MAX_EXAMPLES:
            self.skipped_examples.append((line, reason))


def compact(extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` without its missing or empty fields, so a LogLine only carries what the log said."""
    return {k: v for k, v in extra.items() if v is not None and v != ""}
