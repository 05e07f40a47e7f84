"""What every benchmark script shares: the machine it ran on, versions, and its BENCHMARKS.md block."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import resource
import threading
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def command_line(script: str, argv: list[str] | None) -> str:
    """How this run was started, quoted so it can be pasted back into a shell (``--markdown-key ' neural'``)."""
    import shlex
    import sys

    return shlex.join(["python", script, *(sys.argv[1:] if argv is None else argv)])


def machine() -> dict:
    cpu = "unknown"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    ram = "unknown"
    try:
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        ram = f"{kib / 2**20:.1f} GiB"
    except (OSError, AttributeError):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": os.cpu_count(), "usable": usable, "ram": ram, "load": os.getloadavg()[0]}


def machine_line() -> str:
    m = machine()
    return f"{m['cpu']}, {m['cores']} cores ({m['usable']} usable), {m['ram']} RAM; 1-minute load average {m['load']:.2f} at the start"


def versions() -> str:
    found = [f"python {platform.python_version()}"]
    for package in ("torch", "transformers", "scikit-learn", "peft", "numpy", "sectune"):
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            pass
    return ", ".join(found)


def source_digest() -> str:
    """sha256 over sectune/**/*.py, so a table can be tied to the code it measured (no git needed)."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "sectune").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


_tree_peak = [0.0]  # MiB: this process and its children together, sampled (see _sample_tree)


def _sample_tree(interval: float = 0.25) -> None:
    """Keep the peak of the summed resident memory of this process and its descendants: worker processes (joblib,
    data loaders) hold their own copies, which this process's own high-water mark does not count."""
    try:
        import psutil
    except ImportError:  # the kernel's figure for this process alone then stands
        return
    me = psutil.Process()
    while True:
        try:
            total = me.memory_info().rss + sum(
                child.memory_info().rss for child in me.children(recursive=True) if child.is_running()
            )
        except psutil.Error:
            total = 0
        _tree_peak[0] = max(_tree_peak[0], total / 2**20)
        time.sleep(interval)


threading.Thread(target=_sample_tree, daemon=True, name="rss-sampler").start()


def peak_rss_mib() -> float:
    """The resident-memory high-water mark of this process with its worker processes (Linux reports KiB)."""
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, _tree_peak[0])


def update_markdown(path: Path, section: str, key: str, block: str) -> None:
    """Replace the block marked ``<!-- key -->`` under ``section`` (added if missing), atomically."""
    start, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    wrapped = f"{start}\n{block.rstrip()}\n{end}\n"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        text = before + wrapped + ("\n" + after if after else "")
    elif section in text:
        head, tail = text.split(section, 1)
        nxt = re.search(r"^## ", tail, flags=re.M)
        body, others = (tail[: nxt.start()], tail[nxt.start() :]) if nxt else (tail, "")
        text = head + section + body.rstrip("\n") + "\n\n" + wrapped + ("\n" + others if others else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n\n" + wrapped
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def subprocess_cell(script: str, args: list[str], timeout: int) -> dict:
    """Run ``script --cell ARGS --json-out F`` in a fresh process (clean peak memory, no state
    shared between cells) and return the JSON it wrote, or ``{"error": last stderr line}``."""
    import json
    import subprocess
    import sys
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    try:
        proc = subprocess.run(
            [sys.executable, script, "--cell", *args, "--json-out", str(out)],
            timeout=timeout,
            capture_output=True,
            text=True,
        )
        if proc.returncode < 0:
            return {"error": f"stopped by signal {-proc.returncode}"}
        if proc.returncode != 0:  # the last line that is not a progress bar: the error
            lines = [line for line in proc.stderr.strip().splitlines() if "%|" not in line]
            return {"error": (lines or ["failed"])[-1][:200]}
        return json.loads(out.read_text())
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout} s"}
    finally:
        out.unlink(missing_ok=True)


CMDLINE = SHARED / "data" / "cmdline" / "cmdlines.jsonl.gz"


def cmdline_shared_split(seed: int = 42) -> tuple[list[dict], list[int], list[int]]:
    """The shared command-line set and its group split by ``orig`` (test 20%): the split every
    command-line benchmark tests on, so their figures line up."""
    import gzip
    import json

    from sectune.io import read_table
    from sectune.splits import split_indices

    rows = [json.loads(line) for line in gzip.open(CMDLINE, "rt", encoding="utf-8")]
    table = read_table(str(CMDLINE), "text", "label", ["orig"], progress=False)
    train_idx, test_idx = split_indices(table, "group:orig", 0.2, seed=seed)
    return rows, train_idx.tolist(), test_idx.tolist()
