"""Reading user data files and writing outputs safely.

This is the only module that opens user data, so every mistake in a user's file becomes one
SectuneError naming the file and the line or row, never a traceback from a parser deep inside.
Physical line numbers (JSONL, plain text, UTF-8 errors) render as ``file:N: problem`` like a
compiler; data rows (CSV/TSV/Parquet, header excluded) render as ``file: row N: problem``.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import io
import logging
import math
import os
import re
import secrets
import sys
import warnings
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from .errors import SectuneError

log = logging.getLogger("sectune")

_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".txt": "text",
    ".log": "text",
}
_EXPECTED = "expected .csv, .tsv, .jsonl, .parquet, optionally .gz"
BAR_DELAY = 2.0  # seconds of reading before a progress bar shows
_CHUNK = 10_000  # records per progress-bar step
_MISSING: Any = object()  # a JSONL record that lacks a field (distinct from an explicit null)


@dataclass
class Table:
    """Records read from one source (or several read as one), with enough provenance to point users back at the file."""

    path: str
    texts: list[str]
    labels: list[str] | None
    label_lists: list[list[str]] | None
    rows: list[int]
    columns: dict[str, list]
    sha256: str | None
    unit: str = "row"  # "line" when rows are physical line numbers (JSONL, text), else "row"
    files: list[str] | None = None  # several files read as one: their paths, and each record's index into them
    file_of_row: list[int] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> Table:
        """A new Table with just those records, e.g. one side of a split."""
        idx = [int(i) for i in indices]
        return Table(
            path=self.path,
            texts=[self.texts[i] for i in idx],
            labels=None if self.labels is None else [self.labels[i] for i in idx],
            label_lists=None if self.label_lists is None else [self.label_lists[i] for i in idx],
            rows=[self.rows[i] for i in idx],
            columns={k: [v[i] for i in idx] for k, v in self.columns.items()},
            sha256=self.sha256,
            unit=self.unit,
            files=self.files,
            file_of_row=None if self.file_of_row is None else [self.file_of_row[i] for i in idx],
        )

    def _file(self, location_index: int) -> str:
        return self.path if self.files is None else self.files[self.file_of_row[location_index]]

    def where(self, location_index: int) -> str:
        """Where record ``location_index`` came from, e.g. "data.csv row 12", for messages."""
        return f"{display_name(self._file(location_index))} {self.unit} {self.rows[location_index]}"

    def error(self, location_index: int, message: str) -> SectuneError:
        """A SectuneError about one record, worded like the errors raised while reading."""
        return _err(self._file(location_index), self.unit, self.rows[location_index], message)


def concat_tables(tables: Sequence[Table]) -> Table:
    """Several files' records as one table, in file order; each record still says which file and line it came from.

    Its ``sha256`` is that of the files' digests joined, so a run on the same files in the same order records
    the same one."""
    if len(tables) == 1:
        return tables[0]
    labelled = all(t.labels is not None for t in tables)
    lists = all(t.label_lists is not None for t in tables)
    return Table(
        path=", ".join(t.path for t in tables),
        texts=[x for t in tables for x in t.texts],
        labels=[x for t in tables for x in t.labels] if labelled else None,
        label_lists=[x for t in tables for x in t.label_lists] if lists else None,
        rows=[x for t in tables for x in t.rows],
        columns={c: [x for t in tables for x in t.columns.get(c, [None] * len(t))] for c in tables[0].columns},
        sha256=hashlib.sha256(" ".join(str(t.sha256) for t in tables).encode()).hexdigest(),
        unit=tables[0].unit if len({t.unit for t in tables}) == 1 else "row",
        files=[t.path for t in tables],
        file_of_row=[i for i, t in enumerate(tables) for _ in range(len(t))],
    )


def display_name(path: str) -> str:
    """How messages name a path: ``-`` is stdin."""
    return "<stdin>" if path == "-" else path


def one_line(e: BaseException) -> str:
    """Library messages can span lines; ours must not."""
    return " ".join(str(e).split())


def _err(path: str, unit: str, n: int, message: str) -> SectuneError:
    if unit == "line":
        return SectuneError(message, path=display_name(path), line=n)
    return SectuneError(f"row {n}: {message}", path=display_name(path))


def detect_format(path: str | Path) -> str:
    """Format from the file name, so a wrong file fails before anything is parsed."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if not suffixes:
        return "text"
    last = suffixes[-1]
    if last == ".parquet":
        return "parquet"
    if last in _SUFFIXES:
        return _SUFFIXES[last]
    bad = last
    if last == ".gz":
        inner = suffixes[-2] if len(suffixes) > 1 else ""
        if inner in _SUFFIXES:
            return _SUFFIXES[inner]
        bad = inner + last
    raise SectuneError(f"unknown format '{bad}' ({_EXPECTED})", path=path)


def check_file(path: Path, display: str, what: str = "a data file") -> None:
    """A missing path or a directory fails here, in one line, before anything tries to open it."""
    if not path.exists():
        raise SectuneError("no such file", path=display)
    if path.is_dir():
        raise SectuneError(f"is a directory, expected {what}", path=display)


def _read_bytes(path: Path, display: str) -> tuple[bytes, bytes]:
    """(file bytes, content bytes): the first for the hash, the second decompressed for parsing."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SectuneError(f"cannot read file ({e.strerror or e})", path=display) from None
    if path.name.lower().endswith(".gz"):
        try:
            return raw, gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise SectuneError(f"not a valid gzip file ({one_line(e)})", path=display) from None
    return raw, raw


def _decode(data: bytes, display: str) -> str:
    """Strict UTF-8, reporting the line and column of the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise SectuneError(
            f"not valid UTF-8 (byte 0x{data[e.start]:02x} at column {column})", path=display, line=line
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def progress_bar(enabled: bool, **kwargs: Any):
    """A tqdm bar on stderr, or a silent one when not ``enabled`` (``--quiet``, ``verbose=False``).

    An enabled bar leaves ``disable`` to tqdm, so ``TQDM_DISABLE`` (which the CLI sets when stderr is not a
    terminal) still holds: an explicit ``disable=False`` would override it and leave bar debris in log files.
    """
    from tqdm.auto import tqdm

    if not enabled:
        kwargs["disable"] = True
    kwargs.setdefault("file", sys.stderr)
    return tqdm(**kwargs)


def _bar(total: int | None, desc: str, enabled: bool, unit: str):
    """A reading bar that shows only when reading takes a while (``delay``): no ``0row`` flash on every small file."""
    return progress_bar(enabled, total=total, desc=desc, unit=unit, leave=False, mininterval=0.5, delay=BAR_DELAY)


@dataclass
class _Loaded:
    """Raw column values of one file before validation."""

    unit: str
    rows: list[int]
    values: dict[str, list]  # requested columns that exist
    available: list[str]
    sha256: str | None


def _load(path: Path, display: str, fmt: str, names: Sequence[str], progress: bool) -> _Loaded:
    if fmt == "parquet":
        return _load_parquet(path, display, names, progress)
    raw, data = _read_bytes(path, display)
    text = _decode(data, display)
    digest = hashlib.sha256(raw).hexdigest()
    if fmt == "jsonl":
        return _load_jsonl(text, display, names, progress, digest)
    return _load_delimited(text, display, "\t" if fmt == "tsv" else ",", names, progress, digest)


def _load_jsonl(text: str, display: str, names: Sequence[str], progress: bool, digest: str) -> _Loaded:
    lines = text.split("\n")
    records: list[dict] = []
    rows: list[int] = []
    with _bar(len(lines), display, progress, "line") as bar:
        for n, line in enumerate(lines, 1):
            if n % _CHUNK == 0:
                bar.update(_CHUNK)
            if not line or line.isspace():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                raise SectuneError(f"malformed JSON ({e.msg} at column {e.colno})", path=display, line=n) from None
            if type(obj) is not dict:
                kind = "an array" if isinstance(obj, list) else f"a {_json_kind(obj)}"
                raise SectuneError(f"expected a JSON object (one record per line), got {kind}", path=display, line=n)
            records.append(obj)
            rows.append(n)
    values = {}
    for name in names:
        col = [r.get(name, _MISSING) for r in records]
        if any(v is not _MISSING for v in col):
            values[name] = col
    available: list[str] = []
    if len(values) < len(set(names)):  # only needed for the error message
        available = list(dict.fromkeys(k for r in records for k in r))
    return _Loaded("line", rows, values, available, digest)


def _json_kind(obj: object) -> str:
    if isinstance(obj, str):
        return "string"
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "boolean"
    return "number"


def _load_delimited(text: str, display: str, sep: str, names: Sequence[str], progress: bool, digest: str) -> _Loaded:
    import pandas as pd

    name = "CSV" if sep == "," else "TSV"
    try:
        with warnings.catch_warnings():
            # pandas only warns (and drops data) when rows have more fields than the header.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            # dtype=str and keep_default_na=False: "NA", "null", "1.0" stay exactly as written.
            reader = pd.read_csv(
                io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, index_col=False, chunksize=50_000
            )
            with _bar(None, display, progress, "row") as bar:
                chunks = []
                for chunk in reader:
                    chunks.append(chunk)
                    bar.update(len(chunk))
    except pd.errors.EmptyDataError:
        raise SectuneError("no records", path=display) from None
    except pd.errors.ParserWarning:
        # pandas decides this from the first data row; later long rows are tokenizer errors.
        raise SectuneError(f"row 1: malformed {name} (more fields than the header)", path=display) from None
    except (pd.errors.ParserError, ValueError) as e:
        msg = one_line(e).removeprefix("Error tokenizing data. C error: ")
        m = re.search(r"\bline (\d+)\b", msg)
        if sep == "\t" and "inside string" in msg:
            msg += "; a field that starts with a double quote must be quoted, as in CSV"
        raise SectuneError(f"malformed {name} ({msg})", path=display, line=int(m.group(1)) if m else None) from None
    if not chunks:  # a header and no rows
        return _Loaded("row", [], {}, [], digest)
    df = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    values = {}
    for col in dict.fromkeys(names):
        if col in df.columns:
            values[col] = df[col].tolist()  # never NaN: short rows read as "" without NA detection
    return _Loaded("row", list(range(1, len(df) + 1)), values, [str(c) for c in df.columns], digest)


def _load_parquet(path: Path, display: str, names: Sequence[str], progress: bool) -> _Loaded:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(path) as pf:
            available = list(pf.schema_arrow.names)
            present = [c for c in dict.fromkeys(names) if c in available]
            n = pf.metadata.num_rows
            values: dict[str, list] = {c: [] for c in present}
            with _bar(n, display, progress, "row") as bar:
                for batch in pf.iter_batches(batch_size=50_000, columns=present):
                    for c in present:
                        values[c].extend(batch.column(c).to_pylist())
                    bar.update(batch.num_rows)
    except (pa.ArrowException, OSError, ValueError) as e:
        raise SectuneError(f"not a valid Parquet file ({one_line(e)})", path=display) from None
    for c, col in values.items():
        values[c] = [None if isinstance(v, float) and math.isnan(v) else v for v in col]
    return _Loaded("row", list(range(1, n + 1)), values, available, file_sha256(path))


def _no_column(loaded: _Loaded, display: str, name: str) -> SectuneError:
    if loaded.unit == "line":
        return SectuneError(f"no field '{name}' in any record (fields: {', '.join(loaded.available)})", path=display)
    return SectuneError(f"no column '{name}' (columns: {', '.join(loaded.available)})", path=display)


def _texts(loaded: _Loaded, display: str, column: str) -> list[str]:
    out = []
    for v, n in zip(loaded.values[column], loaded.rows):
        if type(v) is not str:
            if v is _MISSING:
                raise _err(display, loaded.unit, n, f"no field '{column}'")
            if isinstance(v, (list, tuple, dict)):
                kind = "an object" if isinstance(v, dict) else "a list"
                raise _err(display, loaded.unit, n, f"text in '{column}' is {kind}, expected a string")
            if isinstance(v, bytes):
                try:
                    v = v.decode("utf-8")
                except UnicodeDecodeError:
                    raise _err(display, loaded.unit, n, f"text in '{column}' is not valid UTF-8") from None
            else:
                v = "" if v is None else str(v)
        if not v or v.isspace():
            raise _err(display, loaded.unit, n, "empty text")
        out.append(v)
    return out


def _label_str(v: object) -> str | None:
    """One class name as text: None when absent; TypeError for values that cannot be a class."""
    if isinstance(v, str):
        return v.strip() or None
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return None
        return str(int(v)) if v.is_integer() else str(v)  # 1.0 (e.g. an int column with nulls) is class "1"
    if isinstance(v, (dict, list, tuple)):
        raise TypeError("an object" if isinstance(v, dict) else "a nested list")
    return str(v)


def _parse_list(s: str) -> list:
    """A label cell such as '["CWE-79", "CWE-20"]' (JSON) or "['CWE-79']" (pandas' repr of a list)."""
    try:
        obj = orjson.loads(s)
    except orjson.JSONDecodeError:
        try:
            obj = ast.literal_eval(s)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise ValueError("it starts with '[' but is not a valid list") from None
    if not isinstance(obj, (list, tuple)):
        raise ValueError("it starts with '[' but is not a list")
    return list(obj)


def _list_strings(loaded: _Loaded, display: str, raw: list) -> list | None:
    """Label cells written as lists (a CSV cannot hold real ones), parsed; None if they are not lists.

    Only when every label starts with "[", and only if at least one parses, so classes such as
    "[INFO]" stay plain strings while a typo in one list cell is still reported.
    """
    present = [v for v in raw if v is not None and v is not _MISSING and not (isinstance(v, str) and not v.strip())]
    if not present or not all(isinstance(v, str) and v.lstrip().startswith("[") for v in present):
        return None
    parsed: list = []
    first_bad = None
    for v, n in zip(raw, loaded.rows):
        if isinstance(v, str) and v.strip():
            try:
                v = _parse_list(v.strip())
            except ValueError as e:
                first_bad = first_bad or (n, v.strip(), e)
        parsed.append(v)
    if first_bad is None:
        return parsed
    if all(not isinstance(v, list) for v in parsed):
        return None
    n, v, e = first_bad
    raise _err(display, loaded.unit, n, f"cannot read label {v!r}: {e}")


def _labels(loaded: _Loaded, display: str, column: str) -> tuple[list[str], list[list[str]] | None]:
    raw = loaded.values[column]
    has_lists = any(isinstance(v, (list, tuple)) for v in raw)
    if not has_lists:
        parsed = _list_strings(loaded, display, raw)
        has_lists = parsed is not None
        raw = parsed if parsed is not None else raw
    if has_lists:
        log.info("%s: column '%s' holds lists; using the first item of each as the class", display, column)
    labels: list[str] = []
    lists: list[list[str]] | None = [] if has_lists else None
    for v, n in zip(raw, loaded.rows):
        if v is _MISSING:
            raise _err(display, loaded.unit, n, f"no field '{column}'")
        try:
            if isinstance(v, (list, tuple)):
                if not v:
                    raise _err(display, loaded.unit, n, "empty label list")
                items = [_label_str(x) for x in v]
                if any(x is None for x in items):
                    raise _err(display, loaded.unit, n, "label list holds an empty item")
            else:
                items = [_label_str(v)]
                if items[0] is None:
                    raise _err(display, loaded.unit, n, "no label")
        except TypeError as e:
            raise _err(display, loaded.unit, n, f"label in '{column}' is {e}, expected a string or number") from None
        labels.append(items[0])  # type: ignore[arg-type]
        if lists is not None:
            lists.append(items)  # type: ignore[arg-type]
    return labels, lists


def _raw_column(loaded: _Loaded, display: str, column: str, *, required: bool) -> list:
    col = loaded.values[column]
    if any(v is _MISSING for v in col):
        if required:
            n = loaded.rows[next(i for i, v in enumerate(col) if v is _MISSING)]
            raise _err(display, loaded.unit, n, f"no field '{column}'")
        col = [None if v is _MISSING else v for v in col]
    return col


def _open_data(path: str | Path) -> tuple[Path, str, str]:
    p, display = Path(path), str(path)
    check_file(p, display)
    return p, display, detect_format(p)


def read_table(
    path: str | Path,
    text_column: str = "text",
    label_column: str | None = "label",
    extra_columns: Sequence[str] = (),
    *,
    optional_columns: Sequence[str] = (),
    progress: bool = False,
) -> Table:
    """Training/evaluation data: a text column, usually a label column, and any extra columns asked for.

    ``optional_columns`` are read when the file has them (missing values are None) and left out when it has not."""
    p, display, fmt = _open_data(path)
    if fmt == "text":
        raise SectuneError(
            "a plain text file has no columns; training and evaluation data must be .csv, .tsv, .jsonl or .parquet",
            path=display,
        )
    names = [text_column, *([label_column] if label_column else []), *extra_columns]
    loaded = _load(p, display, fmt, [*names, *optional_columns], progress)
    if not loaded.rows:
        raise SectuneError("no records", path=display)
    for name in names:
        if name not in loaded.values:
            raise _no_column(loaded, display, name)
    texts = _texts(loaded, display, text_column)
    labels, label_lists = _labels(loaded, display, label_column) if label_column else (None, None)
    columns = {c: _raw_column(loaded, display, c, required=True) for c in extra_columns}
    columns.update({c: _raw_column(loaded, display, c, required=False) for c in optional_columns if c in loaded.values})
    return Table(display, texts, labels, label_lists, loaded.rows, columns, loaded.sha256, loaded.unit)


def read_tables(
    paths: Sequence[str | Path],
    text_column: str = "text",
    label_column: str | None = "label",
    extra_columns: Sequence[str] = (),
    *,
    optional_columns: Sequence[str] = (),
    progress: bool = False,
) -> list[Table]:
    """:func:`read_table` of each file, every one checked for the same columns."""
    return [
        read_table(p, text_column, label_column, extra_columns, optional_columns=optional_columns, progress=progress)
        for p in paths
    ]


def read_texts(path: str | Path, text_column: str = "text", id_column: str | None = None) -> Table:
    """Prediction input: a data file, a plain text file (one text per line), or "-" for stdin."""
    if str(path) == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        text = _decode(buffer.read(), "<stdin>") if buffer is not None else sys.stdin.read()
        return _text_lines(text, "-", None)
    p, display, fmt = _open_data(path)
    if fmt == "text":
        raw, data = _read_bytes(p, display)
        return _text_lines(_decode(data, display), display, hashlib.sha256(raw).hexdigest())
    names = [text_column, *([id_column] if id_column else [])]
    loaded = _load(p, display, fmt, names, False)
    if not loaded.rows:
        raise SectuneError("no records", path=display)
    if text_column not in loaded.values:
        raise _no_column(loaded, display, text_column)
    texts = _texts(loaded, display, text_column)
    columns = {}
    if id_column:  # a misspelt --id-column must not fall back to row numbers unseen
        if id_column not in loaded.values:
            raise _no_column(loaded, display, id_column)
        columns["id"] = _raw_column(loaded, display, id_column, required=False)
    return Table(display, texts, None, None, loaded.rows, columns, loaded.sha256, loaded.unit)


def _text_lines(text: str, path: str, digest: str | None) -> Table:
    """One text per line; blank lines are skipped but line numbers stay those of the source."""
    texts, rows = [], []
    for n, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if line and not line.isspace():
            texts.append(line)
            rows.append(n)
    if not texts:
        raise SectuneError("no records", path=display_name(path))
    return Table(path, texts, None, None, rows, {}, digest, "line")


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Write to a temp file beside ``path`` and rename it over ``path`` only on success,
    so readers never see a half-written file and a crash keeps the previous version."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_write needs a write mode ('w' or 'wb'), got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # "x" mode creates the file with the usual umask permissions (mkstemp would force 0600).
    fh = open(tmp, "x" + mode[1:], encoding=None if "b" in mode else encoding)
    try:
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in blocks so large files don't fill memory."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()
