"""CVE description -> CWE on the real CVE set: every method, with and without --rollup 1003.

Train on records published before 2024-08-01, test on 2024-08-01..2024-10-31 (the split of
../shared/notes/cwe-baselines.md). Each cell runs in a fresh subprocess (clean peak memory) and
the table is rewritten after every cell, so a long run that is cut keeps what it finished.

    python bench/cwe.py --markdown BENCHMARKS.md
    python bench/cwe.py --methods tfidf-logreg --rollups none --max-train 5000   # quick look
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, machine_line, peak_rss_mib, source_digest, subprocess_cell, update_markdown, versions  # noqa: E402

CVE = SHARED / "data" / "cve" / "cve_cwe.jsonl.gz"
RAW_ZIP = SHARED / "data" / "cve" / "raw_json5_10k.zip"
TRAIN_END, TEST_END = "2024-08-01", "2024-10-31"
SECTION = "## CVE -> CWE (bench/cwe.py)"
METHODS = ("tfidf-logreg", "encoder", "embed-logreg")
ENCODER = {
    "batch_size": 16,
    "group_by_length": True,
    "max_length": 128,
    "lr": 1e-4,
    "class_weight": "sqrt",
    "eval_steps": 500,
    "early_stopping_patience": 3,
}


def split_files(work: Path, max_train: int | None) -> tuple[Path, Path, dict]:
    """The time split as two JSONL files that every cell reads (made once per work dir)."""
    train, test = work / "train.jsonl", work / "test.jsonl"
    info_path = work / "split.json"
    if not info_path.exists():
        rows = [json.loads(line) for line in gzip.open(CVE, "rt", encoding="utf-8")]
        train_rows = [r for r in rows if r["published"] < TRAIN_END]
        test_rows = [r for r in rows if TRAIN_END <= r["published"] <= TEST_END]
        if max_train and len(train_rows) > max_train:
            train_rows = train_rows[-max_train:]  # the most recent ones: closest to the test period
        for path, part in ((train, train_rows), (test, test_rows)):
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part), encoding="utf-8")
        info_path.write_text(json.dumps({"train": len(train_rows), "test": len(test_rows), "max_train": max_train}))
    return train, test, json.loads(info_path.read_text())


def run_cell(method: str, rollup: str, work: Path, steps: int) -> dict:
    """Train one method (in this process) and return its figures."""
    import sectune

    train, test, _ = split_files(work, None)
    settings = dict(ENCODER, max_steps=steps) if method == "encoder" else {}
    started = time.perf_counter()
    result = sectune.train(
        train,
        eval_data=str(test),
        output=work / f"model-{method}-{rollup}",
        task="cwe",
        method=method,
        rollup=None if rollup == "none" else rollup,
        min_examples=5,
        verbose=False,
        **settings,
    )
    wall = time.perf_counter() - started
    m = result.metrics
    steps_done = max((h.get("step", 0) for h in result.model.training_history()), default=None)
    return {
        "method": method,
        "rollup": rollup,
        "classes": len(result.model.labels_),
        "test_rows": m["n"],
        "top1": m["top1"],
        "top3": m["top3"],
        "top1_any": m.get("top1_any"),
        "top3_any": m.get("top3_any"),
        "macro_f1": m["macro_f1"],
        "near_miss_share": m["hierarchy"]["near_miss_share"],
        "recall_top20": m["recall_frequent"]["top20_macro_recall"],
        "recall_rest": m["recall_frequent"]["rest_macro_recall"],
        "rest_classes": m["recall_frequent"]["rest_classes"],
        "unseen_test_rows": m.get("n_unseen", 0),
        "train_seconds": m["train_seconds"],
        "texts_per_second": m["predict_texts_per_second"],
        "wall_seconds": round(wall, 1),
        "steps": steps_done if method == "encoder" else None,
        "peak_rss_mib": round(peak_rss_mib()),
    }


def ingest_cell(work: Path) -> dict:
    """Ingestion speed of the 10k raw CVE JSON 5 zip, pinned to one core."""
    from sectune.tasks.cwe.ingest import ingest, write_records

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    best = None
    for _ in range(3):
        started = time.perf_counter()
        records, stats = ingest([RAW_ZIP], progress=False)
        written = write_records(records, work / "ingest.jsonl")
        seconds = time.perf_counter() - started
        best = min(best or seconds, seconds)
    return {
        "records": stats.records_read,
        "written": written,
        "seconds": round(best, 3),
        "records_per_second": round(stats.records_read / best),
    }


def fmt(value, spec: str = ".3f") -> str:
    return "" if value is None else format(value, spec)


def render(results: list[dict], ingest: dict | None, split: dict, command: str, steps: int, started: str) -> str:
    lines = [
        f"- command: `{command}`",
        f"- date: {started}; machine: {machine_line()}",
        f"- versions: {versions()}; sectune source sha256 {source_digest()}",
        f"- data: `../shared/data/cve/cve_cwe.jsonl.gz`; train: published < {TRAIN_END} ({split['train']:,} records"
        f"{', the most recent ' + format(split['max_train'], ',') if split.get('max_train') else ''}), test: {TRAIN_END}..{TEST_END} "
        f"({split['test']:,} records; test descriptions that also stand in training are dropped); primary CWE is the class; "
        "classes with < 5 training rows dropped from training (their test rows stay and count as errors)",
        *(
            []
            if not any(r["method"] == "encoder" for r in results)
            else [
                f"- encoder: all-MiniLM-L6-v2 (mean pooling), CPU budget {steps} optimiser steps (batch {ENCODER['batch_size']} grouped by length, "
                f"max length {ENCODER['max_length']}, lr {ENCODER['lr']}, head lr x10, sqrt class weights, 10% of train held out for "
                f"early stopping, evaluated every {ENCODER['eval_steps']} steps), fp32, 2 threads"
            ]
        ),
        "- near miss: share of wrong top-1 predictions that are the true CWE's parent, child or sibling in view 1000; "
        "recall top-20 / rest: macro recall over the 20 most frequent training classes / over the other classes with test rows",
        "",
        "| method | rollup | classes | top-1 | top-3 | top-1 any | macro-F1 | near miss | recall top-20 | recall rest | train s | steps | texts/s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['method']} | {r['rollup']} | {r['error']} |" + " |" * 11)
            continue
        lines.append(
            f"| {r['method']} | {r['rollup']} | {r['classes']} | {fmt(r['top1'])} | {fmt(r['top3'])} | {fmt(r['top1_any'])} | "
            f"{fmt(r['macro_f1'])} | {fmt(r['near_miss_share'])} | {fmt(r['recall_top20'])} | {fmt(r['recall_rest'])} | "
            f"{fmt(r['train_seconds'], ',.0f')} | {fmt(r['steps'], 'd')} | {fmt(r['texts_per_second'], ',.0f')} | {fmt(r['peak_rss_mib'], ',.0f')} |"
        )
    if ingest:
        lines += [
            "",
            f"Ingestion of `raw_json5_10k.zip` (10,000 CVE JSON 5 records) to JSONL on one core: best of 3 "
            f"{ingest.get('seconds')} s = {ingest.get('records_per_second', 0):,} records/s ({ingest.get('written', 0):,} labelled records written)."
            if "error" not in ingest
            else f"Ingestion: {ingest['error']}",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--rollups", default="none,1003")
    parser.add_argument(
        "--encoder-steps", type=int, default=2000, help="CPU budget of each encoder run, in optimiser steps"
    )
    parser.add_argument("--max-train", type=int, help="use only the most recent N training records (quick runs)")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "sectune-bench-cwe"))
    parser.add_argument("--timeout", type=int, default=5400, help="seconds per cell")
    parser.add_argument("--markdown", help="update this file's section (e.g. BENCHMARKS.md)")
    parser.add_argument("--no-ingest", action="store_true")
    parser.add_argument("--cell", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(args.work)

    if args.cell:
        result = (
            ingest_cell(work)
            if args.cell[0] == "ingest"
            else run_cell(args.cell[0], args.cell[1], work, args.encoder_steps)
        )
        Path(args.json_out).write_text(json.dumps(result))
        return 0

    if not CVE.exists():
        print(f"skipped: {CVE} is not here (../shared is absent)")
        return 0
    work.mkdir(parents=True, exist_ok=True)
    _, _, split = split_files(work, args.max_train)
    command = "python bench/cwe.py " + " ".join(argv if argv is not None else sys.argv[1:])
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results: list[dict] = []
    ingest = None
    if not args.no_ingest and RAW_ZIP.exists():
        ingest = subprocess_cell(__file__, ["ingest"], args.timeout)
    for method in args.methods.split(","):
        for rollup in args.rollups.split(","):
            print(f"[{time.strftime('%H:%M:%S')}] {method}, rollup {rollup} ...", file=sys.stderr, flush=True)
            cell = subprocess_cell(
                __file__,
                [method, rollup, "--encoder-steps", str(args.encoder_steps), "--work", str(work)],
                args.timeout,
            )
            results.append({"method": method, "rollup": rollup, **cell})
            table = render(results, ingest, split, command, args.encoder_steps, started)
            if args.markdown:
                update_markdown(Path(args.markdown), SECTION, f"bench/cwe.py rollup={args.rollups}", table)
    print(render(results, ingest, split, command, args.encoder_steps, started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
