"""``sectune scan MODEL LOGFILE``: score the command lines of a process-creation log, write alerts.

The log is streamed (``sectune.tasks.cmdline.logs``) and scored ``batch_size`` lines at a time, so memory
stays flat whatever the log's size. Each line scoring at or above the threshold becomes one JSON line::

    {"line": 812, "command_line": "...", "score": 0.973, "technique": null, "host": "...", "user": "..."}

``score`` is P(labels_[1]) of a binary model; ``technique`` is the model's ``guess_technique(text)`` when it
has one, else null; ``normalized`` (only for a cmdline model or one using the shell features) is what the shell
will actually run (:func:`sectune.tasks.cmdline.normalize.normalize`: static, bounded, computed for alerts only);
the log's extra fields (host, user, process, time, ...) follow. The threshold is
``--threshold``, else the model's own ``threshold_``, else 0.5.

With ``progress`` (the CLI's default, off with ``--quiet``) a bar on stderr counts the lines read, per batch; its
total and ETA come from a fast count of the file's lines first (none for stdin or ``--follow``).

``--output`` is written atomically (temp file renamed at the end); with ``--follow`` it is written directly,
line-buffered and flushed after every batch, since a followed scan never ends on its own. A followed scan
scores what it has whenever the file goes idle (every 0.2 s), so alerts appear within a poll of the line.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterator

import orjson

from sectune.engines import add_engine_flags, engine_options
from sectune.errors import SectuneError
from sectune.outputs import check_output_file
from sectune.security import add_switch_flags, switches
from sectune.tasks.cmdline.logs import (
    FORMATS,
    MAX_LINE_CHARS,
    LogLine,
    ScanCounts,
    iter_command_lines,
)


@dataclass
class ScanSummary:
    path: str
    format: str | None
    threshold: float
    label: str = ""  # the class alerts are raised for
    lines_read: int = 0
    command_lines: int = 0  # scored
    alerts: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    unparseable: int = 0
    examples: list[tuple[int, str]] = field(default_factory=list)  # first unparseable (line, reason)
    skipped_examples: list[tuple[int, str]] = field(default_factory=list)
    batches: int = 0
    seconds: float = 0.0
    output: str | None = None
    interrupted: bool = False

    @property
    def lines_per_second(self) -> float:
        return self.lines_read / self.seconds if self.seconds > 0 else 0.0

    def text(self) -> str:
        """The human summary printed on stderr (one to three lines)."""
        where = f" to {self.output}" if self.output else ""
        out = [
            f"sectune: scanned {self.lines_read:,} lines of {self.path} ({self.format or 'unknown'} format): "
            f"{self.command_lines:,} command lines, {self.alerts:,} alerts{where} ({self.label and f'label {self.label}, '}threshold {self.threshold:.4g}); "
            f"{self.seconds:.2f} s, {self.lines_per_second:,.0f} lines/s"
            + (" (interrupted)" if self.interrupted else "")
        ]
        skipped = [f"{n:,} {reason}" for reason, n in self.skipped.items() if n]
        if skipped:
            first = "; ".join(f"line {ln}: {why}" for why, ln in _first_per_reason(self.skipped_examples)[:3])
            out.append(f"sectune: skipped {', '.join(skipped)}" + (f" (e.g. {first})" if first else ""))
        if self.unparseable:
            first = "; ".join(f"line {ln}: {why}" for ln, why in self.examples[:3])
            out.append(f"sectune: {self.unparseable:,} unparseable (first: {first})")
        return "\n".join(out)


def _first_per_reason(examples: list[tuple[int, str]]) -> list[tuple[str, int]]:
    first: dict[str, int] = {}
    for ln, why in examples:
        first.setdefault(why, ln)
    return list(first.items())


def _load_model(model: Any, switches: dict[str, bool], verbose: bool = False):
    """``verbose``: the model's own progress bars, within a batch (an LLM scores a batch of 1024 for minutes)."""
    from sectune.methods.base import load

    if isinstance(model, (str, Path)):
        clf = load(model, verbose=verbose, **switches)
        name = str(model)
    else:
        clf = model
        name = model.name or type(model).__name__
    labels = clf.labels_ if clf.fitted_ else []
    if len(labels) != 2:
        raise SectuneError(f"scan needs a binary model (obfuscated or not); {name} has {len(labels)} labels")
    from sectune.tasks import Task

    alert = Task.for_model(clf).alert_label(clf.labels_)
    if alert != labels[1]:  # the stored threshold is P(labels_[1]); a task alerting on the other class is a bug
        raise SectuneError(f"{name}: its task alerts on label {alert!r}, but the threshold is for {labels[1]!r}")
    return clf


def _threshold(clf, threshold: float | None) -> float:
    value = threshold if threshold is not None else clf.threshold_
    value = 0.5 if value is None else float(value)
    if not 0.0 <= value <= 1.0:
        raise SectuneError(f"--threshold must be between 0 and 1, got {value}")
    return value


def _normaliser(clf):
    """``normalize`` when alerts carry the normalised line (a cmdline model, or one using the shell features)."""
    from sectune.tasks import Task

    uses_shell = clf.name == "shell-features" or getattr(clf, "shell_features", False) is True
    try:
        cmdline = Task.for_model(clf).name == "cmdline"
    except SectuneError:
        cmdline = False
    if not (uses_shell or cmdline):
        return None
    from sectune.tasks.cmdline.normalize import normalize

    return normalize


@contextmanager
def _alert_sink(output: str | Path | None, follow: bool) -> Iterator[IO[str]]:
    if output is None:
        yield sys.stdout
    elif follow:
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", buffering=1) as fh:
            yield fh
    else:
        from sectune.io import atomic_write

        with atomic_write(output) as fh:
            yield fh


def scan(
    model: Any,
    path: str | Path,
    fmt: str = "auto",
    field: str | None = None,
    threshold: float | None = None,
    output: str | Path | None = None,
    follow: bool = False,
    batch_size: int = 1024,
    stop: threading.Event | None = None,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    max_line_chars: int = MAX_LINE_CHARS,  # a longer log line is skipped (counted), never held in memory
    progress: bool = False,
    engine: str = "local",
    address: str | None = None,
    concurrency: int | None = None,
) -> ScanSummary:
    """Score every command line of a log; write an alert (JSONL) per line at or above the threshold.

    ``model``: a model directory or a loaded binary Classifier. ``output``: alerts file (default stdout).
    ``follow``: keep tailing ``path`` until ``stop`` is set or Ctrl-C (then the summary is returned as
    ``interrupted``). ``stop`` also ends a plain scan early, between batches. ``progress``: a bar with an ETA
    on stderr, updated per batch (tqdm's ``TQDM_DISABLE`` still turns it off); the alerts never share its stream.

    ``path`` may be a glob (``logs/*.jsonl.gz``): its files are scanned in sorted order, and each alert then names
    its ``file``. ``engine="ray"`` scores on a Ray cluster (``address``; None starts a local one) with
    ``concurrency`` model-holding actors; it also reads fsspec URLs (``s3://bucket/logs/*.gz``). Alerts, their
    order and the summary are the same as with ``engine="local"`` (:mod:`sectune.engines.ray_engine`).
    """
    from sectune.io import progress_bar

    if batch_size < 1:
        raise SectuneError("--batch-size must be at least 1")
    files = input_files(path, engine)
    if engine == "ray" and follow:
        raise SectuneError("--follow scans one growing file in this process; it cannot run with --engine ray")
    if output is not None:  # before any work: alerts must never replace the log they come from
        local = [f for f in files if not is_url(f)]
        check_output_file(output, inputs=[*local, model if isinstance(model, (str, Path)) else None])
    clf = _load_model(
        model,
        {"trust_remote_code": trust_remote_code, "allow_pickle": allow_pickle},
        verbose=progress and engine == "local",
    )
    cut = _threshold(clf, threshold)
    guess = clf.guess_technique if clf.tags.guesses_technique else None
    normal = _normaliser(clf)
    counts = ScanCounts()
    summary = ScanSummary(
        path="<stdin>" if str(path) == "-" else str(path),
        format=fmt if fmt != "auto" else None,
        threshold=cut,
        label=clf.labels_[1],
        output=None if output is None else str(output),
    )
    started = time.perf_counter()

    def score(batch: list[tuple[str | None, LogLine]], sink: IO[str]) -> None:
        proba = clf.predict_proba([item.command_line for _, item in batch])
        lines = alert_lines(batch, proba[:, 1].tolist(), cut, guess, normal)
        if lines:
            sink.write("".join(lines))
            summary.alerts += len(lines)
        sink.flush()
        summary.command_lines += len(batch)
        summary.batches += 1
        bar.set_postfix(alerts=summary.alerts, refresh=False)
        bar.update(counts.lines_read - bar.n)

    bar = progress_bar(progress and engine == "local", desc="scanning", unit="line", leave=False)
    if not bar.disable and not follow:  # counted only for a bar that shows: the total makes the ETA
        bar.total = sum(_count_lines(f) or 0 for f in files) or None
        bar.refresh()

    with _alert_sink(output, follow) as sink:
        if engine == "ray":  # the one branch: the same parsing and alerts, scored by Ray Data actors
            from sectune.engines.ray_engine import ray_scan

            ray_scan(
                model,
                files,
                sink,
                summary,
                counts,
                fmt=fmt,
                field=field,
                cut=cut,
                batch_size=batch_size,
                max_line_chars=max_line_chars,
                switches={"trust_remote_code": trust_remote_code, "allow_pickle": allow_pickle},
                address=address,
                concurrency=concurrency,
                progress=progress,
            )
            files = []  # nothing left for the local loop below
        batch: list[tuple[str | None, LogLine]] = []
        events = _events(files, fmt, field, counts, follow, stop, max_line_chars)
        try:
            for item in events:
                if item is None:  # a followed file is idle: score what we have now
                    if batch:
                        score(batch, sink)
                        batch = []
                    continue
                batch.append(item)
                if len(batch) >= batch_size:
                    score(batch, sink)
                    batch = []
                    if stop is not None and stop.is_set() and not follow:
                        break
            if batch:
                score(batch, sink)
                batch = []
        except KeyboardInterrupt:
            if not follow:
                raise
            summary.interrupted = True  # Ctrl-C is how a followed scan ends: keep what was scored
            if batch:
                score(batch, sink)
        finally:
            events.close()
            bar.close()
    summary.seconds = time.perf_counter() - started
    summary.format = counts.format
    summary.lines_read = counts.lines_read
    summary.skipped = counts.skipped
    summary.unparseable = counts.unparseable
    summary.examples = list(counts.examples)
    summary.skipped_examples = list(counts.skipped_examples)
    return summary


def alert_lines(
    batch: list[tuple[str | None, LogLine]],
    scores: list[float],
    cut: float,
    guess: Callable[[str], str | None] | None,
    normal: Callable[[str], Any] | None,
) -> list[str]:
    """The JSON lines of the scored ``(file, line)`` pairs at or above ``cut``: the one alert format, written by
    the local loop and by each Ray actor alike. ``file`` is None for a one-file scan (no ``file`` key then)."""
    lines = []
    for (file, item), p in zip(batch, scores):
        if p >= cut:
            alert: dict[str, Any] = {} if file is None else {"file": file}
            alert.update(
                line=item.line_no,
                command_line=item.command_line,
                score=round(p, 6),
                technique=guess(item.command_line) if guess is not None else None,
            )
            if normal is not None:
                alert["normalized"] = normal(item.command_line).normal
            for k, v in item.extra.items():
                alert.setdefault(k, v)
            lines.append(orjson.dumps(alert, option=orjson.OPT_SERIALIZE_NUMPY).decode() + "\n")
    return lines


def is_url(path: str | Path) -> bool:
    """``s3://...``, ``gs://...``, ``file://...``: a path for fsspec rather than the local file system."""
    return "://" in str(path)


def input_files(path: str | Path, engine: str = "local") -> list[str]:
    """The files a scan reads, in order: ``path`` itself, or the sorted matches of a glob (local or fsspec URL).

    A glob that matches nothing is one error line; URLs need ``--engine ray`` (the local loop reads local files)."""
    from sectune.engines import check_engine

    check_engine(engine)
    text = str(path)
    globbed = any(ch in text for ch in "*?[")
    if is_url(text):
        if engine != "ray":
            raise SectuneError(f"{text}: reading a URL needs --engine ray (the local engine reads local files)")
        _require_url_packages(text)  # here, as one line, rather than as a worker's traceback
        return _url_files(text) if globbed else [text]
    if text == "-":
        if engine == "ray":
            raise SectuneError("--engine ray reads files, not stdin (-)")
        return [text]
    if globbed and not Path(text).exists():
        import glob

        found = sorted(glob.glob(os.path.expanduser(text), recursive=True))
        found = [f for f in found if os.path.isfile(f)]
        if not found:
            raise SectuneError(f"{text}: no file matches this pattern")
        return found
    return [text]


# the fsspec package that reads each cloud store's URLs (fsspec's own message names the others')
URL_PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
    "az": "adlfs",
}


def _require_url_packages(url: str) -> None:
    """Each protocol of ``url`` (``s3://``, ``simplecache::gs://``) has its fsspec file system importable, or one
    line saying what to install."""
    try:
        import fsspec
    except ImportError:  # pragma: no cover - a dependency of the ray extra
        raise SectuneError("reading URLs needs fsspec: pip install 'sectune[ray]'") from None
    for protocol in (part.split("://", 1)[0].lower() for part in url.split("::")):
        try:
            fsspec.get_filesystem_class(protocol)
        except ImportError as exc:
            package = URL_PACKAGES.get(protocol)
            how = f"pip install {package}" if package else " ".join(str(exc).split())
            raise SectuneError(
                f"reading {protocol}:// needs {package or 'its fsspec package'}: {how}", path=url
            ) from None
        except ValueError as exc:  # a protocol fsspec does not know
            raise SectuneError(" ".join(str(exc).split()), path=url) from None


def _url_files(pattern: str) -> list[str]:
    """The sorted files an fsspec URL glob matches (``s3://bucket/logs/*.gz``), spelt as the pattern spells its
    folder: each Ray worker opens its URL anew, so what the URL names (``az://container@account.dfs.core.windows.net/``
    names the account; ``az`` stays ``az``) must reach it."""
    import fsspec

    try:
        fs, stripped = fsspec.core.url_to_fs(pattern)
        found = sorted(fs.glob(stripped))
    except (ImportError, ValueError, OSError) as exc:
        raise SectuneError(f"{pattern}: cannot list ({' '.join(str(exc).split())})") from None
    if not found:
        raise SectuneError(f"{pattern}: no file matches this pattern")
    head, base = _glob_folder(pattern), _glob_folder(stripped)
    return [head + f[len(base) :] if f.startswith(base) else fs.unstrip_protocol(f) for f in found]


def _glob_folder(pattern: str) -> str:
    """``pattern`` up to the last ``/`` before its first wildcard: the literal folder its matches share."""
    first = min((i for i, ch in enumerate(pattern) if ch in "*?["), default=len(pattern))
    return pattern[: pattern.rfind("/", 0, first) + 1]


def _events(
    files: list[str],
    fmt: str,
    field: str | None,
    counts: ScanCounts,
    follow: bool,
    stop: threading.Event | None,
    max_line_chars: int,
) -> Iterator[tuple[str | None, LogLine] | None]:
    """(file, LogLine) for each command line of each file in turn (file None for a one-file scan), and None for
    a followed file's idle ticks; ``counts`` adds up over the files."""
    if follow and len(files) > 1:
        raise SectuneError(f"--follow watches one file; the pattern matches {len(files)}")
    for path in files:
        key = path if len(files) > 1 else None
        events = iter_command_lines(
            path, fmt, field, counts, follow=follow, stop=stop, idle_ticks=follow, max_line_chars=max_line_chars
        )
        try:
            for item in events:
                yield None if item is None else (key, item)
        finally:
            events.close()


def _count_lines(path: str | Path) -> int | None:
    """The physical lines of a log file (a .gz one decompressed), in one binary pass that costs a small share of
    scoring them; None for stdin or a file that cannot be read (the scan itself then says why)."""
    if str(path) == "-":
        return None
    opener = gzip.open if str(path).lower().endswith(".gz") else open
    lines, last = 0, b"\n"
    try:
        with opener(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except (OSError, EOFError, zlib.error):
        return None
    return lines + (last != b"\n")  # a last line without its newline


def add_scan_parser(subparsers) -> argparse.ArgumentParser:
    """``sectune scan``: add the sub-command to the top-level sub-parsers."""
    p = subparsers.add_parser(
        "scan",
        help="score the command lines of a process-creation log with a binary model; JSONL alerts",
        description="Stream a log (JSONL, CSV, Elastic ECS, Sysmon XML/JSON, Windows 4688, auditd EXECVE or one "
        "command line a line; .gz or - for stdin), score each command line, and write one JSON line "
        "per line scoring at or above the threshold: line, command_line, score, technique, and the "
        "log's host/user/process/time fields. A summary goes to stderr.",
    )
    p.add_argument("model_dir", metavar="MODEL", help="a binary model directory (obfuscated or not)")
    p.add_argument(
        "logfile",
        metavar="LOGFILE",
        help="the log to scan (optionally .gz), - for stdin, or a quoted glob ('logs/*.jsonl.gz': alerts name their "
        "file); with --engine ray also an fsspec URL (s3://bucket/logs/*.gz)",
    )
    p.add_argument(
        "--format",
        dest="log_format",
        choices=FORMATS,
        default="auto",
        help="log format (default auto: guessed from the first lines and the file name)",
    )
    p.add_argument(
        "--field",
        help="jsonl/csv/ecs/sysmon-json: the field or column holding the command line; "
        "dotted paths allowed (process.command_line)",
    )
    p.add_argument(
        "--threshold", type=float, help="alert at this score or above (default: the model's threshold, else 0.5)"
    )
    p.add_argument("--output", "-o", help="alerts JSONL file (default: stdout); written atomically unless --follow")
    p.add_argument(
        "--follow", "-f", action="store_true", help="keep watching the file for new lines (like tail -F) until Ctrl-C"
    )
    p.add_argument("--batch-size", type=int, default=1024, help="command lines scored at a time (default 1024)")
    p.add_argument(
        "--max-line-chars",
        type=int,
        default=MAX_LINE_CHARS,
        help=f"skip (and count) log lines longer than this many characters, read past without holding "
        f"them in memory (default {MAX_LINE_CHARS}: 1 MiB of ASCII)",
    )
    add_switch_flags(p)
    add_engine_flags(p)
    return p


def run_scan_command(args: argparse.Namespace) -> int:
    """Run ``sectune scan`` from parsed arguments; the summary goes to stderr unless --quiet.

    Returns 0, or 130 when Ctrl-C ended a --follow scan (after scoring what was read and printing the summary).
    """
    summary = scan(
        args.model_dir,
        args.logfile,
        fmt=args.log_format,
        field=args.field,
        threshold=args.threshold,
        output=args.output,
        follow=args.follow,
        batch_size=args.batch_size,
        **switches(args),
        max_line_chars=args.max_line_chars,
        progress=not getattr(args, "quiet", False),
        **engine_options(args),
    )
    if not getattr(args, "quiet", False):
        print(summary.text(), file=sys.stderr)
    return 130 if summary.interrupted else 0
