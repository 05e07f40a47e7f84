"""``--engine ray``: batch scoring on a Ray cluster through Ray Data, with the commands' own parsing and output.

Scan: ``from_items`` (one row per input file) -> a task per file runs :func:`iter_command_lines` (the same
reader as the local scan; fsspec URLs are copied to a local temp file first) and yields rows ``file, line,
command_line, extra`` plus one trailer row carrying the file's :class:`ScanCounts` -> ``map_batches`` with
:class:`_ScanScorer`, a callable class that loads the model once per actor (``concurrency`` actors) and turns the
rows at or above the threshold into alert lines with :func:`sectune.scan.alert_lines`, the local scan's code.
The driver writes the alerts in input order (``preserve_order``) and adds up the counts, so the alerts and the
summary are the local run's. Predict: ``from_items`` over the texts -> :class:`_Predictor` actors running
:func:`sectune.api.iter_predictions` -> rows in input order for the command's own writer.

The model directory (and a scan's local files) must be readable at the same path on every node: a shared
file system, or a single machine. ``address=None`` starts a local Ray for the run and stops it afterwards; a
Ray already started in this process (``ray.init``) is used as it is.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson

from sectune.errors import SectuneError
from sectune.tasks.cmdline.logs import LogLine, ScanCounts, iter_command_lines
from sectune.tasks.cmdline.logs.records import MAX_EXAMPLES

INSTALL = "pip install 'sectune[ray]'"


def require_ray():
    """The ``ray`` module with Ray Data, or one line saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - ray without its [data] extra lacks pandas/pyarrow glue
    except ImportError:
        raise SectuneError(f"--engine ray needs Ray Data, which is not installed: {INSTALL}") from None
    return ray


@contextmanager
def ray_session(address: str | None, progress: bool) -> Iterator[Any]:
    """Ray, joined (``address``) or started locally for this run; its Data context set to keep input order.

    A failure inside a worker that is a SectuneError (bad log, bad model) comes out as that one error line."""
    ray = require_ray()
    started = False
    if not ray.is_initialized():
        try:
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,  # workers' library warnings would interleave with the summary
                logging_level=logging.ERROR,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise SectuneError(f"cannot start or reach {where}: {' '.join(str(exc).split())[:300]}") from None
        started = True
    logging.getLogger("ray.data").setLevel(logging.INFO if progress else logging.WARNING)
    ctx = ray.data.DataContext.get_current()
    saved = (ctx.execution_options.preserve_order, ctx.enable_progress_bars)
    ctx.execution_options.preserve_order = True  # alerts and predictions in input order, as the local engine
    ctx.enable_progress_bars = progress
    try:
        yield ray
    except Exception as exc:
        cause = _sectune_cause(exc)
        if cause is not None:
            raise SectuneError(str(cause)) from None
        raise
    finally:
        ctx.execution_options.preserve_order, ctx.enable_progress_bars = saved
        if started:
            ray.shutdown()


def _sectune_cause(exc: BaseException | None) -> BaseException | None:
    """The SectuneError a worker raised, found through Ray's wrappers (cause chain, ``.cause``)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        cause = getattr(exc, "cause", None)
        if isinstance(cause, SectuneError):
            return SectuneError(str(cause))
        if isinstance(exc, SectuneError) and type(exc).__module__.startswith("sectune"):
            return exc
        exc = exc.__cause__ or (cause if isinstance(cause, BaseException) else None)
    return None


def _on_actors(ray: Any, ds: Any, scorer: type, kwargs: dict[str, Any], batch_size: int, concurrency: int | None):
    """``ds`` mapped through ``scorer`` on a pool of one-CPU actors, each building it (loading the model) once."""
    return ds.map_batches(
        scorer,
        fn_constructor_kwargs=kwargs,
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=_actors(ray, concurrency)),
        num_cpus=1,
    )


def _actors(ray, concurrency: int | None) -> int:
    """``concurrency``, else one actor per CPU of the cluster."""
    if concurrency is not None:
        return concurrency
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _model_path(model: Any) -> str:
    if not isinstance(model, (str, Path)):
        raise SectuneError("--engine ray needs a model directory (each actor loads it), not a loaded model")
    return os.path.abspath(os.path.expanduser(str(model)))  # workers may run in another working directory


# --- scan -----------------------------------------------------------------------------------
@contextmanager
def _local_copy(path: str) -> Iterator[str]:
    """A local path for ``path``: itself, or a temp copy of an fsspec URL (same name: format and .gz sniffing)."""
    if "://" not in path:
        yield path
        return
    import fsspec

    folder = tempfile.mkdtemp(prefix="sectune-ray-")
    try:
        local = os.path.join(folder, os.path.basename(path.rstrip("/")) or "log")
        try:
            with fsspec.open(path, "rb") as src, open(local, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (OSError, ValueError, ImportError) as exc:  # ImportError: a node without the protocol's package
            raise SectuneError(f"cannot read ({' '.join(str(exc).split())[:200]})", path=path) from None
        yield local
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _columns(rows: list[tuple[str, int, str, str, str]]) -> dict[str, list]:
    names = ("file", "line", "command_line", "extra", "counts")
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def _parse_file(
    batch: dict[str, Any], fmt: str, field: str | None, max_line_chars: int, rows_per_batch: int, keyed: bool
) -> Iterator[dict[str, list]]:
    """One file's command lines as rows (streamed ``rows_per_batch`` at a time), then its counts as a trailer row."""
    for path in batch["path"]:
        path = str(path)
        key = path if keyed else ""
        counts = ScanCounts()
        rows: list[tuple[str, int, str, str, str]] = []
        with _local_copy(path) as local:
            for item in iter_command_lines(local, fmt, field, counts, max_line_chars=max_line_chars):
                rows.append((key, item.line_no, item.command_line, orjson.dumps(item.extra).decode(), ""))
                if len(rows) >= rows_per_batch:
                    yield _columns(rows)
                    rows = []
        rows.append((key, 0, "", "{}", orjson.dumps(dataclasses.asdict(counts)).decode()))
        yield _columns(rows)


class _ScanScorer:
    """A Ray actor's scorer: the model loaded once, then each batch's alert lines (empty for no alert)."""

    def __init__(self, model_dir: str, switches: dict[str, bool], cut: float) -> None:
        from sectune.scan import _load_model, _normaliser

        self.clf = _load_model(model_dir, switches)
        self.cut = cut
        self.guess = self.clf.guess_technique if self.clf.tags.guesses_technique else None
        self.normal = _normaliser(self.clf)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        from sectune.scan import alert_lines

        counts = [str(c) for c in batch["counts"]]
        alerts = [""] * len(counts)
        scored = [i for i, c in enumerate(counts) if not c]
        if scored:
            pairs = [
                (
                    str(batch["file"][i]) or None,
                    LogLine(int(batch["line"][i]), str(batch["command_line"][i]), orjson.loads(batch["extra"][i])),
                )
                for i in scored
            ]
            scores = self.clf.predict_proba([item.command_line for _, item in pairs])[:, 1].tolist()
            for i, pair, p in zip(scored, pairs, scores):
                if p >= self.cut:
                    alerts[i] = alert_lines([pair], [p], self.cut, self.guess, self.normal)[0]
        return {"alert": alerts, "counts": counts}


def add_counts(total: ScanCounts, part: dict[str, Any]) -> None:
    """Add one file's counts to the scan's, as the local scan's one ScanCounts adds them up file after file."""
    for f in dataclasses.fields(ScanCounts):
        value = part.get(f.name)
        if f.name == "format":
            total.format = value or total.format
        elif isinstance(value, list):
            room = MAX_EXAMPLES - len(getattr(total, f.name))
            getattr(total, f.name).extend(tuple(x) for x in value[: max(room, 0)])
        elif isinstance(value, int):
            setattr(total, f.name, getattr(total, f.name) + value)


def ray_scan(
    model: Any,
    files: Sequence[str],
    sink: IO[str],
    summary: Any,
    counts: ScanCounts,
    *,
    fmt: str,
    field: str | None,
    cut: float,
    batch_size: int,
    max_line_chars: int,
    switches: dict[str, bool],
    address: str | None,
    concurrency: int | None,
    progress: bool,
) -> None:
    """Score ``files`` on Ray and write their alerts to ``sink`` in input order; fill ``summary`` and ``counts``."""
    model_dir = _model_path(model)
    files = [f if "://" in f else os.path.abspath(f) for f in files]
    keyed = len(files) > 1
    for f in files:
        if "://" not in f and not os.path.isfile(f):
            raise SectuneError(
                "no such file" if not os.path.exists(f) else "is a directory, expected a log file", path=f
            )
    with ray_session(address, progress) as ray:
        ds = ray.data.from_items([{"path": f} for f in files], override_num_blocks=len(files))
        ds = ds.map_batches(
            _parse_file,
            batch_size=1,
            num_cpus=0,  # reading is light next to scoring: it must never wait for a CPU the actors hold
            fn_kwargs={
                "fmt": fmt,
                "field": field,
                "max_line_chars": max_line_chars,
                "rows_per_batch": batch_size,
                "keyed": keyed,
            },
        )
        ds = _on_actors(
            ray, ds, _ScanScorer, {"model_dir": model_dir, "switches": switches, "cut": cut}, batch_size, concurrency
        )
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            lines = []
            for alert, part in zip(batch["alert"], batch["counts"]):
                if part:
                    add_counts(counts, orjson.loads(part))
                else:
                    summary.command_lines += 1
                if alert:
                    lines.append(str(alert))
            if lines:
                sink.write("".join(lines))
                summary.alerts += len(lines)
            sink.flush()
            summary.batches += 1


# --- predict --------------------------------------------------------------------------------
class _Predictor:
    """A Ray actor's predictor: the model loaded once, then :func:`sectune.api.iter_predictions` per batch."""

    def __init__(self, model_dir: str, switches: dict[str, bool], top_k: int) -> None:
        from sectune.methods.base import load

        self.clf = load(model_dir, verbose=False, **switches)
        self.top_k = top_k

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        from sectune.api import iter_predictions

        texts = [str(t) for t in batch["text"]]
        rows = iter_predictions(self.clf, texts, top_k=self.top_k, batch_size=max(1, len(texts)))
        return {"row": [orjson.dumps(row).decode() for row in rows]}


def ray_predictions(
    model: Any,
    texts: Sequence[str],
    *,
    top_k: int,
    batch_size: int,
    switches: dict[str, bool],
    address: str | None = None,
    concurrency: int | None = None,
    progress: bool = False,
) -> Iterator[dict[str, Any]]:
    """What :func:`sectune.api.iter_predictions` yields for ``texts``, in input order, scored by Ray actors."""
    model_dir = _model_path(model)
    if not texts:
        return
    with ray_session(address, progress) as ray:
        ds = ray.data.from_items([{"text": t} for t in texts])
        ds = _on_actors(
            ray, ds, _Predictor, {"model_dir": model_dir, "switches": switches, "top_k": top_k}, batch_size, concurrency
        )
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for row in batch["row"]:
                yield orjson.loads(row)
