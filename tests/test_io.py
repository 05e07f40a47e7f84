from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import re
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sectune.errors import SectuneError
from sectune.io import Table, atomic_write, detect_format, file_sha256, read_table, read_texts


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


# --- formats -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("a.CSV", "csv"),
        ("a.tsv", "tsv"),
        ("a.jsonl", "jsonl"),
        ("a.json", "jsonl"),
        ("a.jsonl.gz", "jsonl"),
        ("a.json.gz", "jsonl"),
        ("a.csv.gz", "csv"),
        ("a.tsv.gz", "tsv"),
        ("a.parquet", "parquet"),
        ("a.txt", "text"),
        ("a.txt.gz", "text"),
        ("a.log", "text"),
        ("README", "text"),
        ("dir.v2/data.csv", "csv"),
    ],
)
def test_detect_format(name, fmt):
    assert detect_format(name) == fmt


@pytest.mark.parametrize(("name", "suffix"), [("x.xlsx", ".xlsx"), ("x.parquet.gz", ".parquet.gz"), ("x.gz", ".gz")])
def test_detect_format_unknown(name, suffix):
    with pytest.raises(SectuneError, match=re.escape(f"{name}: unknown format '{suffix}' (expected .csv, .tsv")):
        detect_format(name)


def test_read_csv(tmp_path):
    p = write(tmp_path / "d.csv", 'text,label,src\nhello,spam,a\n"multi\nline, quoted",ham,NA\nNA,1,c\n')
    t = read_table(p, extra_columns=["src"])
    assert t.texts == ["hello", "multi\nline, quoted", "NA"]  # "NA" stays text
    assert t.labels == ["spam", "ham", "1"]
    assert t.label_lists is None
    assert t.rows == [1, 2, 3]
    assert t.columns == {"src": ["a", "NA", "c"]}
    assert t.sha256 == hashlib.sha256(p.read_bytes()).hexdigest()
    assert t.where(1) == f"{p} row 2"
    assert len(t) == 3


def test_read_tsv_and_custom_columns(tmp_path):
    p = write(tmp_path / "d.tsv", "body\tcwe\nuse of eval, bad\tCWE-95\nstrcpy(dst, src)\tCWE-120\n")
    t = read_table(p, text_column="body", label_column="cwe")
    assert t.texts == ["use of eval, bad", "strcpy(dst, src)"]
    assert t.labels == ["CWE-95", "CWE-120"]


def test_read_jsonl_skips_blank_lines_and_converts(tmp_path):
    p = write(
        tmp_path / "d.jsonl",
        '{"text": "a", "label": 1, "t": "2024-01-01"}\n\n   \n{"text": 42, "label": true, "t": null}\r\n'
        '{"text": "c", "label": 2.0, "t": 5}\n',
    )
    t = read_table(p, extra_columns=["t"])
    assert t.texts == ["a", "42", "c"]
    assert t.labels == ["1", "true", "2"]
    assert t.rows == [1, 4, 5]  # source line numbers, blank lines counted
    assert t.columns["t"] == ["2024-01-01", None, 5]  # raw values
    assert t.where(1) == f"{p} line 4"


def test_read_without_label_column(tmp_path):
    p = write(tmp_path / "d.jsonl", '{"text": "a"}\n')
    t = read_table(p, label_column=None)
    assert t.labels is None and t.label_lists is None and t.texts == ["a"]


def test_read_gz(tmp_path):
    jl = tmp_path / "d.jsonl.gz"
    jl.write_bytes(gzip.compress(b'{"text": "x", "label": "a"}\n{"text": "y", "label": "b"}\n'))
    t = read_table(jl)
    assert t.texts == ["x", "y"] and t.labels == ["a", "b"]
    assert t.sha256 == hashlib.sha256(jl.read_bytes()).hexdigest()  # of the compressed file

    cs = tmp_path / "d.csv.gz"
    cs.write_bytes(gzip.compress(b"text,label\nx,a\n"))
    assert read_table(cs).labels == ["a"]


def test_read_parquet(tmp_path):
    p = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "label": [0, 1], "n": [1.5, None]}), p)
    t = read_table(p, extra_columns=["n"])
    assert t.texts == ["a", "b"]
    assert t.labels == ["0", "1"]
    assert t.columns == {"n": [1.5, None]}
    assert t.rows == [1, 2]
    assert t.sha256 == file_sha256(p) == hashlib.sha256(p.read_bytes()).hexdigest()


def test_subset_slices_every_field(tmp_path):
    lines = [f'{{"text": "t{i}", "label": ["c{i}", "x"], "k": {i}}}\n' for i in range(4)]
    p = write(tmp_path / "d.jsonl", "".join(lines))
    t = read_table(p, extra_columns=["k"]).subset([3, 1])
    assert isinstance(t, Table)
    assert t.texts == ["t3", "t1"]
    assert t.labels == ["c3", "c1"]
    assert t.label_lists == [["c3", "x"], ["c1", "x"]]
    assert t.rows == [4, 2]
    assert t.columns == {"k": [3, 1]}
    assert t.path == str(p)


def test_progress_bar_goes_to_stderr(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sectune.io.BAR_DELAY", 0)  # a slow read, as far as the bar knows
    p = write(tmp_path / "d.jsonl", '{"text": "a", "label": "b"}\n' * 20_001)
    assert len(read_table(p, progress=True)) == 20_001
    out, err = capsys.readouterr()
    assert out == "" and "d.jsonl" in err


# --- read_texts ------------------------------------------------------------------------------


def test_read_texts_plain_text(tmp_path):
    p = write(tmp_path / "in.txt", "first\n\n  \nsecond line\r\n")
    t = read_texts(p)
    assert t.texts == ["first", "second line"]
    assert t.rows == [1, 4]
    assert t.labels is None and t.columns == {}
    assert t.where(1) == f"{p} line 4"


def test_read_texts_data_file_with_ids(tmp_path):
    p = write(tmp_path / "in.csv", "id,body,label\nA1,alpha,x\nA2,beta,y\n")
    t = read_texts(p, text_column="body", id_column="id")
    assert t.texts == ["alpha", "beta"]
    assert t.columns == {"id": ["A1", "A2"]}
    assert t.labels is None
    with pytest.raises(SectuneError, match=r"no column 'nope' \(columns: id, body, label\)"):
        read_texts(p, text_column="body", id_column="nope")


def test_read_texts_jsonl_partial_ids(tmp_path):
    p = write(tmp_path / "in.jsonl", '{"text": "a", "id": 7}\n{"text": "b"}\n')
    assert read_texts(p, id_column="id").columns == {"id": [7, None]}


def test_read_texts_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("one\n\ntwo\n"))
    t = read_texts("-")
    assert t.texts == ["one", "two"]
    assert t.rows == [1, 3]
    assert t.path == "-" and t.sha256 is None
    assert t.where(0) == "<stdin> line 1"


def test_read_texts_stdin_bad_utf8(monkeypatch):
    class Stdin:
        buffer = io.BytesIO(b"ok\nbad \xff here\n")

    monkeypatch.setattr(sys, "stdin", Stdin())
    with pytest.raises(SectuneError, match=r"^<stdin>:2: not valid UTF-8 \(byte 0xff at column 5\)$"):
        read_texts("-")


# --- list labels -----------------------------------------------------------------------------


def test_jsonl_list_labels(tmp_path, caplog):
    p = write(tmp_path / "d.jsonl", '{"text": "a", "cwe": ["CWE-79", "CWE-20"]}\n{"text": "b", "cwe": "CWE-89"}\n')
    with caplog.at_level(logging.INFO, logger="sectune"):
        t = read_table(p, label_column="cwe")
    assert t.labels == ["CWE-79", "CWE-89"]
    assert t.label_lists == [["CWE-79", "CWE-20"], ["CWE-89"]]
    msgs = [r.getMessage() for r in caplog.records if r.name == "sectune"]
    assert sum("column 'cwe' holds lists; using the first item of each as the class" in m for m in msgs) == 1


def test_csv_json_array_labels(tmp_path, caplog):
    p = write(tmp_path / "d.csv", 'text,cwe\na,"[""CWE-79"", ""CWE-20""]"\nb,"[\'CWE-89\']"\nc,[1]\n')
    with caplog.at_level(logging.INFO, logger="sectune"):
        t = read_table(p, label_column="cwe")
    assert t.labels == ["CWE-79", "CWE-89", "1"]
    assert t.label_lists == [["CWE-79", "CWE-20"], ["CWE-89"], ["1"]]
    assert "holds lists" in caplog.text


def test_csv_brackets_not_parsed_unless_every_label_is_a_list(tmp_path):
    p = write(tmp_path / "d.csv", "text,label\na,[x]\nb,plain\n")
    t = read_table(p)
    assert t.labels == ["[x]", "plain"] and t.label_lists is None
    # Bracketed class names that are not lists at all stay plain strings.
    q = write(tmp_path / "levels.csv", "text,label\na,[INFO]\nb,[WARN]\n")
    t = read_table(q)
    assert t.labels == ["[INFO]", "[WARN]"] and t.label_lists is None


def test_parquet_list_labels(tmp_path, caplog):
    p = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "label": [["x", "y"], ["z"]]}), p)
    with caplog.at_level(logging.INFO, logger="sectune"):
        t = read_table(p)
    assert t.labels == ["x", "z"] and t.label_lists == [["x", "y"], ["z"]]
    assert "column 'label' holds lists" in caplog.text


def test_empty_label_list(tmp_path):
    p = write(tmp_path / "bad.jsonl", '{"text": "a", "label": ["x"]}\n{"text": "b", "label": []}\n')
    with pytest.raises(SectuneError, match=r"bad.jsonl:2: empty label list$"):
        read_table(p)
    c = write(tmp_path / "bad.csv", 'text,label\na,["x"]\nb,[]\n')
    with pytest.raises(SectuneError, match=r"bad.csv: row 2: empty label list$"):
        read_table(c)


def test_unparseable_list_label(tmp_path):
    p = write(tmp_path / "bad.csv", "text,label\na,[1]\nb,[unclosed\n")
    with pytest.raises(SectuneError, match=r"bad.csv: row 2: cannot read label '\[unclosed'"):
        read_table(p)


# --- bad input -------------------------------------------------------------------------------


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(SectuneError, match=r"nope.csv: no such file$"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(SectuneError, match=r"nope.txt: no such file$"):
        read_texts(tmp_path / "nope.txt")
    d = tmp_path / "data.csv"
    d.mkdir()
    with pytest.raises(SectuneError, match=r"data.csv: is a directory"):
        read_table(d)


def test_unknown_format_and_text_for_training(tmp_path):
    x = write(tmp_path / "d.xlsx", "junk")
    with pytest.raises(SectuneError, match=r"d.xlsx: unknown format '.xlsx'"):
        read_table(x)
    t = write(tmp_path / "d.txt", "hello\n")
    with pytest.raises(SectuneError, match=r"d.txt: a plain text file has no columns"):
        read_table(t)


def test_non_utf8(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_bytes(b"text,label\nok,a\ncaf\xe9,b\n")
    with pytest.raises(SectuneError, match=r"^.*bad.csv:3: not valid UTF-8 \(byte 0xe9 at column 4\)$"):
        read_table(p)


def test_non_utf8_in_gz_counts_decompressed_lines(tmp_path):
    p = tmp_path / "bad.jsonl.gz"
    p.write_bytes(gzip.compress(b'{"text": "a", "label": "x"}\n{"text": "\x80", "label": "x"}\n'))
    with pytest.raises(SectuneError, match=r"bad.jsonl.gz:2: not valid UTF-8 \(byte 0x80 at column 11\)"):
        read_table(p)


def test_corrupt_gzip(tmp_path):
    p = tmp_path / "bad.csv.gz"
    p.write_bytes(b"not gzip at all")
    with pytest.raises(SectuneError, match=r"bad.csv.gz: not a valid gzip file"):
        read_table(p)


def test_malformed_json(tmp_path):
    p = write(tmp_path / "bad.jsonl", '{"text": "a", "label": "x"}\n\n{"text": "b", label: "x"}\n')
    with pytest.raises(SectuneError, match=r"bad.jsonl:3: malformed JSON \(.+ at column \d+\)$"):
        read_table(p)


def test_json_line_not_object(tmp_path):
    p = write(tmp_path / "bad.jsonl", '{"text": "a", "label": "x"}\n["b", "x"]\n')
    with pytest.raises(SectuneError, match=r"bad.jsonl:2: expected a JSON object .*got an array"):
        read_table(p)


def test_missing_column_csv(tmp_path):
    p = write(tmp_path / "bad.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(SectuneError, match=r"bad.csv: no column 'text' \(columns: a, b, c\)$"):
        read_table(p)
    q = write(tmp_path / "ok.csv", "text,label\nx,y\n")
    with pytest.raises(SectuneError, match=r"ok.csv: no column 'date' \(columns: text, label\)$"):
        read_table(q, extra_columns=["date"])


def test_missing_column_parquet(tmp_path):
    p = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"text": ["a"]}), p)
    with pytest.raises(SectuneError, match=r"bad.parquet: no column 'label' \(columns: text\)$"):
        read_table(p)


def test_missing_field_jsonl(tmp_path):
    p = write(tmp_path / "bad.jsonl", '{"text": "a", "label": "x"}\n{"text": "b"}\n')
    with pytest.raises(SectuneError, match=r"bad.jsonl:2: no field 'label'$"):
        read_table(p)
    q = write(tmp_path / "none.jsonl", '{"body": "a", "label": "x"}\n')
    with pytest.raises(SectuneError, match=r"none.jsonl: no field 'text' in any record \(fields: body, label\)$"):
        read_table(q)
    r = write(tmp_path / "extra.jsonl", '{"text": "a", "label": "x", "d": 1}\n{"text": "a", "label": "x"}\n')
    with pytest.raises(SectuneError, match=r"extra.jsonl:2: no field 'd'$"):
        read_table(r, extra_columns=["d"])


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("bad.csv", "text,label\nok,a\n   ,b\n", r"bad.csv: row 2: empty text$"),
        ("bad.tsv", "text\tlabel\nok\ta\n\tb\n", r"bad.tsv: row 2: empty text$"),
        ("bad.jsonl", '{"text": "ok", "label": "a"}\n{"text": null, "label": "b"}\n', r"bad.jsonl:2: empty text$"),
        ("bad2.jsonl", '{"text": "ok", "label": "a"}\n{"text": " \\n", "label": "b"}\n', r"bad2.jsonl:2: empty text$"),
        ("bad3.jsonl", '{"text": ["x"], "label": "a"}\n', r"bad3.jsonl:1: text in 'text' is a list"),
    ],
)
def test_empty_text(tmp_path, name, content, pattern):
    with pytest.raises(SectuneError, match=pattern):
        read_table(write(tmp_path / name, content))


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("bad.csv", "text,label\na,x\nb,\n", r"bad.csv: row 2: no label$"),
        ("bad.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": null}\n', r"bad.jsonl:2: no label$"),
        ("obj.jsonl", '{"text": "a", "label": {"k": 1}}\n', r"obj.jsonl:1: label in 'label' is an object"),
    ],
)
def test_bad_label(tmp_path, name, content, pattern):
    with pytest.raises(SectuneError, match=pattern):
        read_table(write(tmp_path / name, content))


def test_parquet_null_label(tmp_path):
    p = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"text": ["a", "b", "c"], "label": ["x", None, "y"]}), p)
    with pytest.raises(SectuneError, match=r"bad.parquet: row 2: no label$"):
        read_table(p)


@pytest.mark.parametrize(
    ("name", "content"),
    [("e.csv", ""), ("h.csv", "text,label\n"), ("e.jsonl", "\n\n"), ("e.tsv", "text\tlabel\n")],
)
def test_no_records(tmp_path, name, content):
    with pytest.raises(SectuneError, match=rf"{re.escape(name)}: no records$"):
        read_table(write(tmp_path / name, content))


def test_no_records_text_and_parquet(tmp_path):
    with pytest.raises(SectuneError, match=r"e.txt: no records$"):
        read_texts(write(tmp_path / "e.txt", "\n  \n"))
    p = tmp_path / "e.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string()), "label": pa.array([], pa.string())}), p)
    with pytest.raises(SectuneError, match=r"e.parquet: no records$"):
        read_table(p)


def test_csv_parse_error(tmp_path):
    p = write(tmp_path / "bad.csv", "text,label\na,b\nc,d,e\n")
    with pytest.raises(SectuneError, match=r"^.*bad.csv:3: malformed CSV \(Expected 2 fields in line 3, saw 3\)$"):
        read_table(p)


def test_csv_first_row_longer_than_header(tmp_path):
    # pandas would otherwise take the extra field as an index and silently shift the columns.
    p = write(tmp_path / "bad.csv", "text,label\na,b,c\nd,e\n")
    with pytest.raises(SectuneError, match=r"bad.csv: row 1: malformed CSV \(more fields than the header\)$"):
        read_table(p)


def test_tsv_unclosed_quote(tmp_path):
    p = write(tmp_path / "bad.tsv", 'text\tlabel\nsaid "hi"\tx\n"starts with a quote\ty\n')
    with pytest.raises(SectuneError, match=r"bad.tsv: malformed TSV \(EOF inside string starting at row 2; .*quoted"):
        read_table(p)


def test_corrupt_parquet(tmp_path):
    p = tmp_path / "bad.parquet"
    p.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(SectuneError, match=r"bad.parquet: not a valid Parquet file \(") as info:
        read_table(p)
    assert "\n" not in str(info.value)


# --- atomic_write / staged_dir / hashing ------------------------------------------------------


def test_atomic_write_replaces_on_success(tmp_path):
    target = tmp_path / "sub" / "dir" / "out.json"
    with atomic_write(target) as fh:
        fh.write("new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    with atomic_write(target, "wb") as fh:
        fh.write(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(os.listdir(target.parent)) == ["out.json"]


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("half-written")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]  # temp file removed


def test_file_sha256(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"abc" * 1_000_000)
    assert file_sha256(p) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()


def test_reading_a_small_file_shows_no_progress_bar(tmp_path, capfd):
    """A bar that flashes ``0row`` on every small CSV is noise; reading shows one only when it takes seconds."""
    p = write(tmp_path / "d.csv", "text,label\nhello,a\nworld,b\n")
    read_table(p, progress=True)
    assert capfd.readouterr().err == ""
