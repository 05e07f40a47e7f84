"""``sectune scan``: alerts from a real (tiny) model, thresholds, binary-only, constant memory, --follow, CLI."""

from __future__ import annotations

import argparse
import io
import json
import math
import subprocess
import sys
import threading
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sectune.errors import SectuneError
from sectune.methods.base import Classifier
from sectune.scan import add_scan_parser, run_scan_command, scan

LOGS = Path(__file__).parent / "fixtures" / "logs"

BENIGN = [
    "ls -la",
    "git status",
    "cd /var/log",
    "git pull",
    "cat README.md",
    "ps aux",
    "df -h",
    "whoami",
    "net user /domain",
    "ipconfig /all",
]
OBFUSCATED = [
    "echo Y2F0IC9ldGMvcGFzc3dk | base64 -d | bash",
    "n^e^t u^s^e^r",
    "powershell -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=",
    "echo ZWNobyBoaQ== | base64 -d | sh",
    "powershell -enc JABzAD0AJwBoAGkAJwA=",
    "c^m^d /c w^h^o^a^m^i",
    "bash -c 'echo Y2F0IC9ldGMvcGFzc3dk | base64 -d | bash'",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from sectune.methods.tfidf import TfidfLogreg

    clf = TfidfLogreg(min_df=1, verbose=False).fit(BENIGN + OBFUSCATED, ["0"] * len(BENIGN) + ["1"] * len(OBFUSCATED))
    path = tmp_path_factory.mktemp("scan-model") / "model"
    clf.save_pretrained(path)
    return path


def alerts_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_scan_writes_alerts_with_line_numbers_and_a_summary(model_dir, tmp_path):
    out = tmp_path / "alerts.jsonl"
    summary = scan(model_dir, LOGS / "commands.txt", output=out)
    alerts = alerts_of(out)
    assert [a["line"] for a in alerts] == [4, 8]  # the base64 pipe and the -enc line
    assert alerts[0]["command_line"] == "echo Y2F0IC9ldGMvcGFzc3dk | base64 -d | bash"
    assert all(a["score"] >= 0.5 and a["technique"] is None for a in alerts)
    assert list(alerts[0]) == ["line", "command_line", "score", "technique"]
    assert (summary.format, summary.lines_read, summary.command_lines, summary.alerts) == ("text", 9, 6, 2)
    assert summary.unparseable == 1 and summary.examples == [(7, "binary data (NUL byte)")]
    assert summary.threshold == 0.5 and summary.batches == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alerts.jsonl"]  # atomic: no temp file left
    text = summary.text()
    assert "9 lines" in text and "6 command lines" in text and "2 alerts" in text and "lines/s" in text
    assert "1 unparseable (first: line 7: binary data (NUL byte))" in text


def test_threshold_changes_the_alert_count(model_dir, tmp_path):
    from sectune.methods.base import load

    clf = load(model_dir, verbose=False)
    texts = [ln.strip() for ln in (LOGS / "commands.txt").read_text().splitlines()]
    scores = sorted(clf.predict_proba([t for t in texts if t and "\x00" not in t])[:, 1])
    middle = float((scores[-2] + scores[-1]) / 2)  # between the two highest scores
    counts = {}
    for t in (0.0, 0.5, middle, 1.0):
        out = tmp_path / f"a{t}.jsonl"
        counts[t] = scan(clf, LOGS / "commands.txt", threshold=t, output=out).alerts
        assert len(alerts_of(out)) == counts[t]
    assert counts == {0.0: 6, 0.5: 2, middle: 1, 1.0: 0}
    # the model's own threshold applies when --threshold is not given
    clf.threshold_ = 0.0
    assert scan(clf, LOGS / "commands.txt", output=tmp_path / "own.jsonl").alerts == 6
    with pytest.raises(SectuneError, match="between 0 and 1"):
        scan(clf, LOGS / "commands.txt", threshold=1.5)


def test_alerts_carry_extra_fields_and_the_technique_guess(model_dir, tmp_path):
    from sectune.methods.tfidf import TfidfLogreg

    class GuessingTfidf(TfidfLogreg):
        """A subclass changes one tag, and provides the hook it declares."""

        tags = replace(TfidfLogreg.tags, guesses_technique=True)

        def guess_technique(self, text: str) -> str | None:
            return "base64" if "base64" in text else None

    clf = GuessingTfidf.from_pretrained(model_dir, verbose=False)
    out = tmp_path / "audit-alerts.jsonl"
    summary = scan(clf, LOGS / "audit.log", threshold=0.0, output=out)
    alerts = alerts_of(out)
    assert summary.format == "auditd" and [a["line"] for a in alerts] == [1, 7, 14]
    assert alerts[1]["technique"] == "base64" and alerts[0]["technique"] is None
    assert alerts[2]["host"] == "web01" and alerts[0]["cwd"] == "/home/alice"
    assert summary.skipped == {"not process creation": 1, "no command line": 0, "line too long": 0}
    assert "skipped 1 not process creation" in summary.text()


def test_a_multi_class_model_is_refused(tmp_path):
    from sectune.methods.tfidf import TfidfLogreg

    clf = TfidfLogreg(min_df=1, verbose=False).fit(
        ["ls", "git", "echo b64", "n^e^t", "curl x", "wget y"], ["a", "a", "b", "b", "c", "c"]
    )
    clf.save_pretrained(tmp_path / "multi")
    with pytest.raises(SectuneError) as err:
        scan(tmp_path / "multi", LOGS / "commands.txt")
    assert str(err.value) == f"scan needs a binary model (obfuscated or not); {tmp_path / 'multi'} has 3 labels"


class CountingModel(Classifier):
    """A cheap binary model that records batch sizes: scores 1.0 for lines containing 'evil'."""

    name = "counting"
    labels_ = ["0", "1"]
    fitted_ = True

    def __init__(self) -> None:
        self.batches: list[int] = []

    def predict_proba(self, texts):
        self.batches.append(len(texts))
        p = np.fromiter(("evil" in t for t in texts), dtype=np.float64, count=len(texts))
        return np.stack([1 - p, p], axis=1)


def test_constant_memory_on_a_large_log(tmp_path):
    n = 200_000
    path = tmp_path / "big.txt"
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(
                f"/usr/bin/python3 -m http.server {i} --bind 127.0.0.1 --directory /srv/www\n"
                if i % 50_000
                else "evil\n"
            )
    size = path.stat().st_size
    model = CountingModel()
    out = tmp_path / "alerts.jsonl"
    tracemalloc.start()
    try:
        summary = scan(model, path, output=out, batch_size=1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.command_lines == n and summary.alerts == 4
    assert [a["line"] for a in alerts_of(out)] == [1, 50_001, 100_001, 150_001]
    assert len(model.batches) == math.ceil(n / 1024) and max(model.batches) == 1024
    assert size > 14_000_000 and peak < 3_000_000, f"peak {peak:,} bytes for a {size:,}-byte log"


def test_follow_scores_appended_lines_until_stopped(tmp_path):
    log = tmp_path / "live.log"
    log.write_text("ls -la\n")
    out = tmp_path / "alerts.jsonl"
    stop = threading.Event()
    result = {}
    model = CountingModel()
    thread = threading.Thread(
        target=lambda: result.update(summary=scan(model, log, fmt="text", output=out, follow=True, stop=stop))
    )
    thread.start()
    try:
        assert _wait(lambda: out.exists() and model.batches)  # the first line scored while the file is idle
        with open(log, "a") as fh:
            fh.write("git status\nevil one\n")
        assert _wait(lambda: [a["line"] for a in alerts_of(out)] == [2 + 1])
        with open(log, "a") as fh:
            fh.write("evil two\n")
        assert _wait(lambda: [a["command_line"] for a in alerts_of(out)] == ["evil one", "evil two"])
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    summary = result["summary"]
    assert (summary.lines_read, summary.command_lines, summary.alerts, summary.interrupted) == (4, 4, 2, False)


def test_ctrl_c_ends_a_followed_scan_with_its_summary(tmp_path):
    class InterruptOnce(CountingModel):
        def predict_proba(self, texts):
            if not self.batches:
                self.batches.append(0)
                raise KeyboardInterrupt
            return super().predict_proba(texts)

    log = tmp_path / "live.log"
    log.write_text("evil\nls\n")
    out = tmp_path / "alerts.jsonl"
    summary = scan(InterruptOnce(), log, output=out, follow=True)
    assert summary.interrupted and "(interrupted)" in summary.text()
    assert summary.command_lines == 2 and [a["line"] for a in alerts_of(out)] == [1]  # the pending batch was scored
    with pytest.raises(KeyboardInterrupt):  # without --follow, Ctrl-C is an error (and no output file is left)
        scan(InterruptOnce(), log, output=tmp_path / "plain.jsonl")
    assert not (tmp_path / "plain.jsonl").exists()


def _wait(condition, timeout=5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sectune")
    parser.add_argument("--quiet", "-q", action="store_true")
    add_scan_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_stdout_summary_and_quiet(model_dir, capsys):
    args = _cli(["scan", str(model_dir), str(LOGS / "sysmon_lines.xml"), "--threshold", "0"])
    assert (args.log_format, args.batch_size, args.follow) == ("auto", 1024, False)
    assert run_scan_command(args) == 0
    captured = capsys.readouterr()
    alerts = [json.loads(line) for line in captured.out.splitlines()]
    assert [a["line"] for a in alerts] == [1, 2, 6, 6] and alerts[0]["host"] == "WS01.corp.example"
    assert "sectune: scanned 6 lines" in captured.err and "(sysmon-xml format)" in captured.err
    assert "2 unparseable (first: line 3: malformed XML" in captured.err

    assert run_scan_command(_cli(["--quiet", "scan", str(model_dir), str(LOGS / "commands.txt")])) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and len(captured.out.splitlines()) == 2


def test_cli_reads_stdin_with_a_field(model_dir, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO((LOGS / "process.jsonl").read_bytes())))
    args = _cli(["scan", str(model_dir), "-", "--format", "jsonl", "--field", "cmd"])
    assert run_scan_command(args) == 0
    captured = capsys.readouterr()
    alerts = [json.loads(line) for line in captured.out.splitlines()]
    assert [(a["line"], a["user"]) for a in alerts] == [(2, "bob")]
    assert "of <stdin> (jsonl format)" in captured.err


def test_summary_names_each_skip_reason_once(model_dir, tmp_path):
    summary = scan(model_dir, LOGS / "nested.jsonl", output=tmp_path / "none.jsonl")
    assert (summary.command_lines, summary.alerts, summary.skipped["no command line"]) == (0, 0, 4)
    assert summary.text().count("pass --field") == 1
    assert alerts_of(tmp_path / "none.jsonl") == []


def test_rules_model_names_the_technique_in_alerts(tmp_path) -> None:
    """A method that can say why (rules) fills the alert's technique field."""
    from sectune.methods.rules import RulesClassifier
    from sectune.scan import scan
    from sectune.tasks.cmdline.dataset import build_cmdline_dataset

    records = build_cmdline_dataset(["bash", "cmd"], 600, seed=5, progress=False).records
    model = RulesClassifier().fit([r["text"] for r in records], [str(r["label"]) for r in records])
    model.save_pretrained(tmp_path / "rules")
    log = tmp_path / "cmd.log"
    log.write_text("git status\nn^e^t u^s^e^r /add\n", encoding="utf-8")
    out = tmp_path / "alerts.jsonl"
    scan(str(tmp_path / "rules"), log, output=out, threshold=0.5)
    alerts = [__import__("json").loads(line) for line in out.read_text().splitlines()]
    assert [a["line"] for a in alerts] == [2]
    assert "caret_in_word" in alerts[0]["technique"]


def test_an_over_long_line_is_skipped_and_the_others_scored(model_dir, tmp_path, capsys):
    log = tmp_path / "big-line.log"
    log.write_text(
        "git status\necho Y2F0IC9ldGMvcGFzc3dk | base64 -d | bash\npowershell -enc "
        + "A" * 5_000_000
        + "\nls -la\npowershell -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=\n"
    )
    out = tmp_path / "alerts.jsonl"
    args = _cli(["scan", str(model_dir), str(log), "--max-line-chars", "4096", "--output", str(out)])
    assert args.max_line_chars == 4096 and _cli(["scan", "m", "x"]).max_line_chars == 1 << 20
    assert run_scan_command(args) == 0
    assert [a["line"] for a in alerts_of(out)] == [2, 5]
    err = capsys.readouterr().err
    assert "scanned 5 lines" in err and "4 command lines" in err
    assert "skipped 1 line too long (e.g. line 3: line longer than 4,096 characters (--max-line-chars))" in err
    summary = scan(model_dir, log, max_line_chars=4096, threshold=0.0, output=tmp_path / "all.jsonl")
    assert (summary.lines_read, summary.command_lines, summary.alerts) == (5, 4, 4)
    assert summary.skipped["line too long"] == 1 and summary.skipped_examples[0][0] == 3


RSS_PROBE = """
import resource, sys
from sectune.methods.base import load
from sectune.scan import scan

model = load(sys.argv[1], verbose=False)
scan(model, sys.argv[2], output=sys.argv[4])  # warm up: imports and first allocations are not the log's
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
summary = scan(model, sys.argv[3], output=sys.argv[4])
growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(growth * 1024, summary.command_lines, summary.skipped.get("line too long", 0))
"""


def test_a_huge_line_keeps_peak_memory_flat(model_dir, tmp_path):
    """A 64 MiB line (default cap) costs a few MiB of peak RSS, measured in a fresh process, not the line's size."""
    size = 64 << 20
    small, huge = tmp_path / "small.log", tmp_path / "huge.log"
    small.write_text("ls -la\nwhoami\n")
    with open(huge, "wb") as fh:
        fh.write(b"git status\npowershell -enc ")
        fh.writelines(b"QUFB" * (1 << 18) for _ in range(size >> 20))  # 1 MiB at a time
        fh.write(b"\nls -la\n")
    result = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, str(model_dir), str(small), str(huge), str(tmp_path / "alerts.jsonl")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    growth, scored, too_long = map(int, result.stdout.split())
    assert growth < 16 << 20, f"peak RSS grew by {growth:,} bytes scanning a {size:,}-byte line"
    assert (scored, too_long) == (2, 1)


def _scan_with_a_terminal(argv: list[str]) -> tuple[str, str]:
    """``sectune scan`` in a subprocess whose stderr is a terminal (a pty), as a user runs it; (stdout, stderr)."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}  # in-process CLI tests may have set it
    proc = subprocess.Popen(
        [sys.executable, "-m", "sectune", "scan", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        out = proc.stdout.read() if proc.stdout else b""
        assert proc.wait(timeout=60) == 0, b"".join(chunks)[-2000:]
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return out.decode(), b"".join(chunks).decode(errors="replace")


def test_scan_draws_a_progress_bar_on_a_terminal_and_never_on_stdout(model_dir):
    """Issue 19: a slow model's scan shows a bar with its total (the file's lines) on stderr; --quiet has none,
    and the alerts on stdout are the same either way."""
    log = str(LOGS / "commands.txt")
    out, err = _scan_with_a_terminal([str(model_dir), log, "--batch-size", "2"])
    assert "scanning" in err and "/9 " in err  # the bar, its total counted from the file
    assert "sectune: scanned 9 lines" in err
    assert [json.loads(line)["line"] for line in out.splitlines()] == [4, 8]  # results only: no bar debris
    assert "scanning" not in out and "\r" not in out

    quiet_out, quiet_err = _scan_with_a_terminal([str(model_dir), log, "--batch-size", "2", "--quiet"])
    assert quiet_out == out and "scanning" not in quiet_err and "sectune:" not in quiet_err
