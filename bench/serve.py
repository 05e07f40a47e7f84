"""``sectune serve`` under load: latency and throughput of a real server at fixed client concurrency.

Trains a features-logreg command-line detector on a small generated set (``sectune data cmdline``), starts
``sectune serve`` in its own process on 127.0.0.1 (the server's default limits, access log off), and drives
``POST /v2/models/NAME/infer`` with an async client at each concurrency level for a bounded number of requests.
Per level: p50/p90/p99 latency, throughput, failed requests (by status: 429 past ``--max-concurrency``), and
the texts per forward pass the micro-batcher reached (from the server's own /metrics). ``--model DIR`` adds an
existing model directory (e.g. an exported encoder), served beside it.

    python bench/serve.py                              # 1, 8, 32, 128 concurrent clients, 2,000 requests each
    python bench/serve.py --requests 200               # a quick look
    python bench/serve.py --model cwe-model/ --texts-per-request 4
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line, source_digest, versions  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def train_detector(folder: Path, n: int) -> tuple[Path, list[str]]:
    """A features-logreg detector and a pool of its data's command lines to send."""
    import json

    from sectune.api import train
    from sectune.tasks.cmdline.dataset import build_cmdline_dataset

    data = folder / "cmdlines.jsonl"
    build_cmdline_dataset(n=n, output=data, progress=False)
    train(data, output=folder / "features-logreg", task="cmdline", method="features-logreg", verbose=False)
    lines = [json.loads(line)["text"] for line in data.read_text(encoding="utf-8").splitlines()]
    return folder / "features-logreg", lines


def start_server(models: list[str], extra: list[str]) -> tuple[subprocess.Popen, str]:
    """``sectune serve`` in its own process (its own GIL: the client's work does not slow it), on a free port."""
    cmd = [sys.executable, "-m", "sectune", "serve", *models, "--port", "0", "--no-access-log", "--quiet", *extra]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    found = re.search(r"on (http://[^ ]+?)/", line)
    if not found:
        proc.kill()
        raise SystemExit(f"the server did not start: {line}{proc.stderr.read()}")
    return proc, found.group(1)


def batch_stats(text: str, model: str) -> tuple[float, float]:
    """(sum, count) of the server's sectune_batch_texts histogram for ``model``."""

    def value(name: str) -> float:
        found = re.search(rf'^{name}{{model="{re.escape(model)}"}} ([0-9.e+]+)$', text, re.M)
        return float(found.group(1)) if found else 0.0

    return value("sectune_batch_texts_sum"), value("sectune_batch_texts_count")


async def drive(base: str, model: str, lines: list[str], concurrency: int, requests: int, per_request: int) -> dict:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    sent = 0
    rng = np.random.default_rng(concurrency)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        before = batch_stats((await client.get("/metrics")).text, model)

        async def worker() -> None:
            nonlocal sent
            while sent < requests:
                sent += 1
                texts = [lines[i] for i in rng.integers(0, len(lines), per_request)]
                body = {"inputs": [{"name": "text", "shape": [per_request], "datatype": "BYTES", "data": texts}]}
                started = time.perf_counter()
                try:
                    reply = await client.post(f"/v2/models/{model}/infer", json=body)
                    status = reply.status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                if status == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    failures[str(status)] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        after = batch_stats((await client.get("/metrics")).text, model)
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    passes = after[1] - before[1]
    return {
        "concurrency": concurrency,
        "requests": requests,
        "ok": len(latencies),
        "failed": sum(failures.values()),
        "failures": dict(failures),
        "p50": float(np.percentile(ms, 50)),
        "p90": float(np.percentile(ms, 90)),
        "p99": float(np.percentile(ms, 99)),
        "rps": len(latencies) / seconds,
        "texts_per_pass": (after[0] - before[0]) / passes if passes else float("nan"),
    }


def table(rows: list[dict]) -> str:
    out = [
        "| model | clients | requests | failed | p50 ms | p90 ms | p99 ms | requests/s | texts per forward pass |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        failed = str(r["failed"]) + (
            f" ({', '.join(f'{k}: {v}' for k, v in r['failures'].items())})" if r["failed"] else ""
        )
        out.append(
            f"| {r['model']} | {r['concurrency']} | {r['requests']:,} | {failed} | {r['p50']:.1f} | {r['p90']:.1f} | "
            f"{r['p99']:.1f} | {r['rps']:,.0f} | {r['texts_per_pass']:.1f} |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per concurrency level")
    parser.add_argument("--concurrency", default="1,8,32,128", help="client concurrency levels")
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--model", help="also serve and drive this model directory (e.g. an exported encoder)")
    parser.add_argument("--train-rows", type=int, default=2000, help="rows of the generated set the detector learns")
    parser.add_argument("--server-args", default="", help="extra sectune serve flags, e.g. '--max-concurrency 256'")
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        detector, lines = train_detector(Path(tmp), args.train_rows)
        models = [f"features-logreg={detector}"] + ([f"given={args.model}"] if args.model else [])
        proc, base = start_server(models, args.server_args.split())
        rows = []
        try:
            for name in ["features-logreg"] + (["given"] if args.model else []):
                asyncio.run(drive(base, name, lines, 4, 40, args.texts_per_request))  # warm-up, not reported
                for level in levels:
                    row = asyncio.run(drive(base, name, lines, level, args.requests, args.texts_per_request))
                    rows.append({"model": name if name != "given" else Path(args.model).name, **row})
                    print(f"  {rows[-1]['model']} x{level}: {row['rps']:,.0f} requests/s", file=sys.stderr)
        finally:
            proc.terminate()
            proc.wait(20)
    print(
        f"`python bench/serve.py --requests {args.requests}`: {machine_line()}; {versions()}; sectune source {source_digest()}"
    )
    print(
        f"{args.texts_per_request} text(s) per POST /v2/models/NAME/infer, the server's default limits"
        + (f" and {args.server_args}" if args.server_args else "")
        + "; server and client on one machine.\n"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
