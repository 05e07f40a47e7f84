"""Command-line data: generation speed and the length of benign vs obfuscated lines, beside the shared real set.

Generates ``--n`` records with ``build_cmdline_dataset`` (all shells and intensities, 50% obfuscated) and prints
records per second and, per shell and intensity, the median and 90th-percentile length and the share of lines
under 200 characters; the same figures for ../shared/data/cmdline/cmdlines.jsonl.gz when it is there.

    python bench/cmdline_data.py
    python bench/cmdline_data.py --markdown BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, command_line, machine_line, source_digest, update_markdown, versions  # noqa: E402

REAL = SHARED / "data" / "cmdline" / "cmdlines.jsonl.gz"
SECTION = "## Command-line data (bench/cmdline_data.py)"
SHELLS = ("bash", "cmd", "powershell")
INTENSITIES = ("light", "medium", "heavy")
SHORT = 200


def figures(lengths: list[int]) -> dict:
    if not lengths:
        return {"n": 0}
    ordered = sorted(lengths)
    return {
        "n": len(ordered),
        "median": statistics.median(ordered),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "short": sum(x < SHORT for x in ordered) / len(ordered),
        "max": ordered[-1],
    }


def generated(n: int, seed: int) -> tuple[list[dict], dict]:
    from sectune.tasks.cmdline.benign import generate_benign
    from sectune.tasks.cmdline.dataset import build_cmdline_dataset

    started = time.perf_counter()
    generate_benign(n, rng=seed)
    benign_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = build_cmdline_dataset(n=n, seed=seed, progress=False)
    seconds = time.perf_counter() - started
    speed = {
        "n": len(result.records),
        "seconds": seconds,
        "records_per_second": len(result.records) / seconds,
        "benign_lines_per_second": n / benign_seconds,
    }
    return result.records, speed


def real() -> list[dict] | None:
    if not REAL.exists():
        return None
    with gzip.open(REAL, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def rows_for(source: str, records: list[dict], by_intensity: bool) -> list[tuple]:
    rows = []
    for shell in SHELLS:
        mine = [r for r in records if r["shell"] == shell]
        rows.append((source, shell, "benign", "", figures([len(r["text"]) for r in mine if int(r["label"]) == 0])))
        obfuscated = [r for r in mine if int(r["label"]) == 1]
        if by_intensity:
            for intensity in INTENSITIES:
                rows.append(
                    (
                        source,
                        shell,
                        "obfuscated",
                        intensity,
                        figures([len(r["text"]) for r in obfuscated if r["intensity"] == intensity]),
                    )
                )
        rows.append((source, shell, "obfuscated", "all", figures([len(r["text"]) for r in obfuscated])))
    everything = [r for r in records if int(r["label"]) == 1]
    rows.append((source, "all", "benign", "", figures([len(r["text"]) for r in records if int(r["label"]) == 0])))
    rows.append((source, "all", "obfuscated", "all", figures([len(r["text"]) for r in everything])))
    return rows


def render(rows: list[tuple], speed: dict, command: str, started: str, real_note: str) -> str:
    lines = [
        f"- command: `{command}`",
        f"- date: {started}; machine: {machine_line()}",
        f"- versions: {versions()}; sectune source sha256 {source_digest()}",
        f"- speed: `build_cmdline_dataset(n={speed['n']:,})` (all shells, 50% obfuscated, intensities light/medium/heavy, "
        f"random techniques): {speed['seconds']:.1f} s = **{speed['records_per_second']:,.0f} records/s**; "
        f"`generate_benign` alone: {speed['benign_lines_per_second']:,.0f} lines/s (one process, other jobs running)",
        f"- {real_note}",
        f"- lengths in characters; `< {SHORT}`: share of the lines shorter than {SHORT} characters",
        "",
        f"| data | shell | label | intensity | n | median | p90 | max | < {SHORT} |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for source, shell, label, intensity, f in rows:
        if not f["n"]:
            lines.append(f"| {source} | {shell} | {label} | {intensity} | 0 | | | | |")
            continue
        lines.append(
            f"| {source} | {shell} | {label} | {intensity} | {f['n']:,} | {f['median']:,.0f} | {f['p90']:,} | {f['max']:,} | {f['short']:.0%} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="records to generate (default 20000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", help="update this file's section (e.g. BENCHMARKS.md)")
    args = parser.parse_args(argv)
    command = command_line("bench/cmdline_data.py", argv)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    records, speed = generated(args.n, args.seed)
    rows = rows_for("generated", records, by_intensity=True)
    shared = real()
    if shared is None:
        note = f"shared data: skipped, {REAL} is not here"
    else:
        note = (
            f"shared data: `../shared/data/cmdline/cmdlines.jsonl.gz` ({len(shared):,} lines: tldr/nl2bash/atomic-red-team/"
            "LOLBAS/PowerShell-Docs benign lines, Bashfuscator/bashsmash/Invoke-DOSfuscation obfuscated lines; no obfuscated PowerShell)"
        )
        rows += rows_for("shared", shared, by_intensity=False)
    table = render(rows, speed, command.strip(), started, note)
    if args.markdown:
        update_markdown(Path(args.markdown), SECTION, "bench/cmdline_data.py", table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
