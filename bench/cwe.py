"""CVE description -> CWE on real CVE records: the methods, two training sets, two test sets, with and without
--rollup 1003.

Training sets, all published before 2024-08-01 (so both test sets lie in their future):
- ``cna``: the shared CVE List records (CNA labels, else CISA ADP's);
- ``cna+nvd``: those plus the NVD-labelled records (NVD 1.1 feeds, 2002-2018 and part of 2021), one row per CVE
  id, NVD's label first (``sectune train a b``); ``cna+nvd-allowed`` drops the rows whose labels MITRE all
  prohibits for mapping (old NVD categories such as CWE-264, CWE-399: ``--allowed-only``).
Test sets, scored strictly against the gold CWE as given (a rollup maps predictions only):
- (a) the shared records published 2024-08-01..2024-10-31 (CNA labels);
- (b) ``nvd_2025_cwe.jsonl.gz``: NVD's labels on CVEs published Jan-May 2025.
Test descriptions that also stand in the training files are dropped. Each cell runs in a fresh subprocess (clean
peak memory) and the table is rewritten after every cell, so a long run that is cut keeps what it finished. An
ensemble cell also scores each of its members (trained inside it, on the same rows).

    python bench/cwe.py --markdown BENCHMARKS.md
    python bench/cwe.py --methods tfidf-word --train cna --rollups none --max-train 5000   # quick look
    python bench/cwe.py --cells cna:ensemble:none,cna+nvd:tfidf-word:none   # chosen cells

A cell whose model directory the work dir already holds is scored again, not retrained (its training time and peak
memory come from its bench-cell.json).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import inspect
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    SHARED,
    command_line,
    machine_line,
    peak_rss_mib,
    source_digest,
    subprocess_cell,
    update_markdown,
    versions,
)

from sectune.tasks.cwe.commands import run_cwe_examples  # noqa: E402

DATA = SHARED / "data" / "cve"
CVE = DATA / "cve_cwe.jsonl.gz"
NVD = DATA / "nvd_cwe.jsonl.gz"
NVD_2025 = DATA / "nvd_2025_cwe.jsonl.gz"
RAW_ZIP = DATA / "raw_json5_10k.zip"
TRAIN_END, TEST_END = "2024-08-01", "2024-10-31"
SCORES = ("top1", "top1_any", "top3", "macro_f1", "hierarchy_top1", "rare_half_recall")
SECTION = "## CVE -> CWE (bench/cwe.py)"
ENCODER = {
    "batch_size": 16,
    "group_by_length": True,
    "max_length": 128,
    "lr": 1e-4,
    "class_weight": "sqrt",
    "eval_steps": 500,
    "early_stopping_patience": 3,
}
# bench name -> (method, its parameters); the encoder's step budget is added per run
METHODS = {
    "tfidf-word": ("tfidf-logreg", {}),
    "tfidf-word+char": ("tfidf-logreg", {"analyzer": "word+char"}),
    "encoder": ("encoder", ENCODER),
    # the head started from MITRE's name and description of each CWE (head_init='label-text')
    "encoder-label": ("encoder", {**ENCODER, "head_init": "label-text"}),
    "ensemble": ("ensemble", {"members": "tfidf-logreg,encoder", "member_params": {"encoder": ENCODER}}),
    "ensemble-label": (
        "ensemble",
        {"members": "tfidf-logreg,encoder", "member_params": {"encoder": {**ENCODER, "head_init": "label-text"}}},
    ),
    "embed-logreg": ("embed-logreg", {}),
}
TRAIN_SETS = ("cna", "cna+catalogue", "cna+nvd", "cna+nvd-allowed", "cna+nvd-no-prohibited", "cna+nvd+catalogue")


def _read(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def split_files(work: Path, max_train: int | None) -> dict:
    """The training and test files every cell reads (made once per work dir), and their sizes."""
    info_path = work / "split.json"
    if not info_path.exists():
        rows = _read(CVE)
        cna = [r for r in rows if r["published"] < TRAIN_END]
        if max_train and len(cna) > max_train:
            cna = cna[-max_train:]  # the most recent ones: closest to the test period
        nvd = [r for r in _read(NVD) if r["published"] < TRAIN_END] if NVD.exists() else []
        _write(work / "train-cna.jsonl", cna)
        _write(work / "train-nvd.jsonl", nvd)
        _write(work / "test-a.jsonl", [r for r in rows if TRAIN_END <= r["published"] <= TEST_END])
        _write(work / "test-b.jsonl", _read(NVD_2025) if NVD_2025.exists() else [])
        info_path.write_text(json.dumps({"cna": len(cna), "nvd": len(nvd), "max_train": max_train}))
    catalogue = work / "train-catalogue.jsonl"
    if not catalogue.exists():
        run_cwe_examples(argparse.Namespace(output=str(catalogue), min_examples=1, cwe_xml=None))
        rows = [json.loads(line) for line in catalogue.open(encoding="utf-8")]
        _write(catalogue, [r for r in rows if r["published"] < TRAIN_END])
    return json.loads(info_path.read_text())


def train_files(work: Path, train_set: str) -> list[Path]:
    nvd = [work / "train-nvd.jsonl"] if train_set.startswith("cna+nvd") else []
    catalogue = [work / "train-catalogue.jsonl"] if train_set.endswith("+catalogue") else []
    return [work / "train-cna.jsonl", *nvd, *catalogue]


def strict_rows(proba, labels: list[str], kept: list[dict], train_counts: Counter, catalog) -> dict:
    """Strict top-1/top-3/macro-F1 and hierarchy-aware top-1 against the gold as given, and macro recall over the
    rarer half of the gold classes (by training rows; the catalogue's examples are meant for them)."""
    from sectune.tasks.cwe.catalog import normalize_cwe
    from sectune.tasks.cwe.task import strict_scores

    gold = [normalize_cwe(r["cwe"][0]) or r["cwe"][0] for r in kept]
    top1 = [labels[k] for k in proba.argmax(axis=1)]
    classes = sorted(set(gold), key=lambda c: (train_counts[c], c))
    rare = classes[: len(classes) // 2]
    recall = [sum(p == g for p, g in zip(top1, gold) if g == c) / gold.count(c) for c in rare]
    every = [{normalize_cwe(c) or c for c in r["cwe"]} for r in kept]
    return {
        **strict_scores(gold, proba, labels, catalog),
        "top1_any": sum(p in cwes for p, cwes in zip(top1, every)) / len(kept),
        "rare_half_recall": sum(recall) / len(recall) if recall else None,
        "n": len(kept),
    }


def scoring_key(work: Path) -> str:
    """What a cell's scores depend on besides its model: the test files and the code that scores them."""
    from sectune import metrics
    from sectune.tasks.cwe import task

    parts = [(work / f"test-{part}.jsonl").read_bytes() for part in "ab"]
    parts += [inspect.getsource(strict_rows).encode(), Path(task.__file__).read_bytes()]
    return hashlib.sha256(b"".join([*parts, Path(metrics.__file__).read_bytes()])).hexdigest()


def run_cell(name: str, train_set: str, rollup: str, work: Path, steps: int) -> dict:
    """Train one method (in this process) and score it, and an ensemble's members, on both test sets."""
    import sectune
    from sectune.tasks.cwe.catalog import load_catalog, normalize_cwe

    method, params = METHODS[name]
    if method == "encoder":
        params = dict(params, max_steps=steps)
    if method == "ensemble":
        params = dict(params, member_params={"encoder": dict(params["member_params"]["encoder"], max_steps=steps)})
    files = train_files(work, train_set)
    output = work / f"model-{name}-{train_set}-{rollup}"
    cost_file = output / "bench-cell.json"
    scores_file = output / "bench-scores.json"
    scores_key = scoring_key(work)
    trained = (output / "sectune.json").exists()
    if trained and scores_file.exists() and (cached := json.loads(scores_file.read_text())).get("key") == scores_key:
        return cached["result"]  # trained and scored by an earlier run of this bench on the same test files
    if trained:  # trained by an earlier run of this work dir: scored again, not retrained
        model = sectune.load(output, verbose=False)
        cost = json.loads(cost_file.read_text()) if cost_file.exists() else {}
        cost.setdefault("train_seconds", model.run.training.train_seconds)
    else:
        started = time.perf_counter()
        model = sectune.train(
            [str(f) for f in files],
            eval_data=str(work / "test-a.jsonl"),
            output=output,
            task="cwe",
            method=method,
            rollup=None if rollup == "none" else rollup,
            allowed_only=train_set.endswith("-allowed"),
            drop_prohibited=train_set.endswith("-no-prohibited"),
            min_examples=5,
            verbose=False,
            **params,
        ).model
        cost = {
            "train_seconds": model.run.training.train_seconds,
            "wall_seconds": round(time.perf_counter() - started, 1),
            "peak_rss_mib": round(peak_rss_mib()),
        }
        cost_file.write_text(json.dumps(cost))
    catalog = load_catalog()
    training = [json.loads(line) for f in files for line in f.open(encoding="utf-8")]
    seen = {r["description"] for r in training}
    train_counts = Counter(normalize_cwe(r["cwe"][0]) or r["cwe"][0] for r in training)
    tests = {part: [json.loads(line) for line in (work / f"test-{part}.jsonl").open(encoding="utf-8")] for part in "ab"}
    rows = [{"method": name, "classes": len(model.labels_)}]
    members = list(getattr(model, "member_names_", []))
    rows += [{"method": f"{m} (in the ensemble)", "classes": len(model.labels_)} for m in members]
    for part in "ab":
        kept = [r for r in tests[part] if r["description"] not in seen]
        if not kept:
            continue
        texts = [r["description"] for r in kept]
        started = time.perf_counter()
        probas = [model.predict_proba(texts)]
        speed = len(texts) / (time.perf_counter() - started)
        if members:  # each member's scores from the ensemble's own pass (cached), not a second run
            by_member = model.member_probas(texts)
            probas += [by_member[m] for m in members]
        for row, proba in zip(rows, probas):
            row[part] = {**strict_rows(proba, model.labels_, kept, train_counts, catalog), "texts_per_second": speed}
    result = {
        "rows": rows,
        "train_rows": model.run.training.train_rows,
        "weights": getattr(model, "weights_", None),
        "head_init": model.run.training.head_init,
        **cost,
    }
    scores_file.write_text(json.dumps({"key": scores_key, "result": result}))
    return result


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
        f"- training (published < {TRAIN_END}): cna = `cve_cwe.jsonl.gz` ({split['cna']:,} records"
        f"{', the most recent ' + format(split['max_train'], ',') if split.get('max_train') else ''}); cna+nvd = those "
        f"+ `nvd_cwe.jsonl.gz` ({split['nvd']:,} records), one row per CVE id, NVD's label first; -allowed: "
        "only CWEs MITRE allows for mapping (--allowed-only: also drops discouraged ones such as CWE-20); "
        "-no-prohibited: CWEs MITRE prohibits (categories such as CWE-264, deprecated) dropped, discouraged kept "
        "(--drop-prohibited); classes with < 5 training rows dropped from training",
        f"- test (a): `cve_cwe.jsonl.gz` published {TRAIN_END}..{TEST_END} (CNA labels); test (b): "
        "`nvd_2025_cwe.jsonl.gz` (NVD labels, Jan-May 2025); test descriptions that stand in the training files are "
        "dropped; every score is strict against the primary CWE as given (a rollup maps predictions only; a class "
        "the model never saw counts as an error); hier. top-1: the prediction is the gold CWE, its parent or its "
        "child in view 1000; top-1 any: the prediction is any of the record's CWEs (in (b), 978 of 6,968 records "
        "list several CWEs, 923 of them in ascending numeric order as the NVD 1.1 feed writes them, e.g. VulDB's "
        "CWE-74 before CWE-89 for 284 SQL injections, so their first CWE is not a primary one); rare-half recall: macro recall over the half of the test's gold classes with the fewest "
        "training rows; +catalogue: MITRE's Observed_Examples (`sectune data cwe-examples`, 2,014 texts over 548 "
        "CWEs) as extra training rows",
        *(
            []
            if not any(METHODS[r["method"]][0] in ("encoder", "ensemble") for r in results)
            else [
                f"- encoder: all-MiniLM-L6-v2 (mean pooling), CPU budget {steps} optimiser steps (batch {ENCODER['batch_size']} grouped by length, "
                f"max length {ENCODER['max_length']}, lr {ENCODER['lr']}, head lr x10, sqrt class weights, 10% of train held out for "
                f"early stopping and the ensemble's weights, evaluated every {ENCODER['eval_steps']} steps), fp32, 2 threads"
            ]
        ),
        *(
            [
                "- -label: the encoder's head starts from MITRE's name and description of each CWE (`--head-init label-text`)"
            ]
            if any(r["method"].endswith("-label") for r in results)
            else []
        ),
        "",
        "| train | method | rollup | classes | (a) top-1 | (a) top-1 any | (a) top-3 | (a) macro-F1 | (a) hier. top-1 "
        "| (a) rare-half recall | (b) top-1 | (b) top-1 any | (b) top-3 | (b) macro-F1 | (b) hier. top-1 "
        "| (b) rare-half recall | train s | peak RSS MiB | texts/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        head = f"| {r['train']} | {r['method']} | {r['rollup']} |"
        if "error" in r:
            lines.append(f"{head} {r['error']} |" + " |" * 15)
            continue
        for i, row in enumerate(r["rows"]):
            a, b = row.get("a") or {}, row.get("b") or {}
            cost = (
                f"{fmt(r.get('train_seconds'), ',.0f')} | {fmt(r.get('peak_rss_mib'), ',.0f')} | {fmt(b.get('texts_per_second'), ',.0f')}"
                if i == 0
                else f" |  | {fmt(b.get('texts_per_second'), ',.0f')}"
            )
            lines.append(
                f"| {r['train']} | {row['method']} | {r['rollup']} | {row['classes']} | "
                + " | ".join(fmt(s.get(k)) for s in (a, b) for k in SCORES)
                + f" | {cost} |"
            )
    weights = [r for r in results if r.get("weights")]
    if weights:
        lines.append("")
        lines += [
            f"- ensemble weights ({r['train']}, rollup {r['rollup']}), chosen on validation: "
            + ", ".join(f"{row['method'].split(' ')[0]} {w:.2f}" for row, w in zip(r["rows"][1:], r["weights"]))
            for r in weights
        ]
    heads = [
        f"- {r['method']} ({r['train']}, rollup {r['rollup']}): head from the label texts, zero-shot top-1 "
        f"{r['head_init']['zero_shot_top1']:.3f} "
        f"on 512 training rows, temperature {r['head_init']['temperature']:.3f}"
        for r in results
        if r.get("head_init")
    ]
    lines += ["", *heads] if heads else []
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
    parser.add_argument("--methods", default="tfidf-word,tfidf-word+char,ensemble", help=f"of {', '.join(METHODS)}")
    parser.add_argument("--train", default="cna,cna+nvd", help=f"training sets, of {', '.join(TRAIN_SETS)}")
    parser.add_argument("--rollups", default="none,1003")
    parser.add_argument(
        "--cells",
        help="instead of the grid of --train x --methods x --rollups: TRAIN:METHOD:ROLLUP,... (e.g. cna:ensemble:none)",
    )
    parser.add_argument(
        "--encoder-steps", type=int, default=3500, help="CPU budget of each encoder run, in optimiser steps"
    )
    parser.add_argument("--max-train", type=int, help="use only the most recent N CNA training records (quick runs)")
    parser.add_argument(
        "--work",
        default=str(Path(tempfile.gettempdir()) / "sectune-bench-cwe"),
        help="kept between runs: a cell trained (and scored) here before is reused",
    )
    parser.add_argument("--timeout", type=int, default=3 * 3600, help="seconds per cell")
    parser.add_argument("--markdown", help="update this file's section (e.g. BENCHMARKS.md)")
    parser.add_argument("--markdown-key", default="", help="a suffix that keeps this run's block apart from others")
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
            else run_cell(args.cell[0], args.cell[1], args.cell[2], work, args.encoder_steps)
        )
        Path(args.json_out).write_text(json.dumps(result))
        return 0

    if not CVE.exists():
        print(f"skipped: {CVE} is not here (../shared is absent)")
        return 0
    work.mkdir(parents=True, exist_ok=True)
    split = split_files(work, args.max_train)
    command = command_line("bench/cwe.py", argv)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results: list[dict] = []
    ingest = None
    if not args.no_ingest and RAW_ZIP.exists():
        ingest = subprocess_cell(__file__, ["ingest"], args.timeout)
    cells = (
        [tuple(cell.split(":")) for cell in args.cells.split(",")]
        if args.cells
        else [
            (train_set, method, rollup)
            for train_set in args.train.split(",")
            for method in args.methods.split(",")
            for rollup in args.rollups.split(",")
        ]
    )
    for train_set, method, rollup in cells:
        print(f"[{time.strftime('%H:%M:%S')}] {train_set}: {method}, rollup {rollup} ...", file=sys.stderr, flush=True)
        cell = subprocess_cell(
            __file__,
            [method, train_set, rollup, "--encoder-steps", str(args.encoder_steps), "--work", str(work)],
            args.timeout,
        )
        results.append({"train": train_set, "method": method, "rollup": rollup, **cell})
        table = render(results, ingest, split, command, args.encoder_steps, started)
        if args.markdown:
            update_markdown(Path(args.markdown), SECTION, f"bench/cwe.py{args.markdown_key}", table)
    print(render(results, ingest, split, command, args.encoder_steps, started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
