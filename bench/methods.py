"""Benchmark every sectune method on the CWE demo data and on real CVE descriptions.

    python bench/methods.py                          # both data sets, all methods, table on stdout
    python bench/methods.py --datasets demo          # the demo data only (under 15 minutes on 2 cores)
    python bench/methods.py --datasets cve --max-train 15000 --markdown BENCHMARKS.md

Every (data set, method) cell runs in a fresh subprocess of this script
(``python bench/methods.py --cell DATASET METHOD --json``), so its peak memory is the RSS
high-water mark of a process that did only that: load the data, train, score the test set,
measure prediction speed, save the model. The parent collects one JSON line per cell and
prints a markdown table per data set; ``--markdown FILE`` also writes each table into FILE,
replacing that data set's previous block (between ``<!-- bench/methods.py:NAME -->`` markers)
under the heading ``## Methods (bench/methods.py)``.

Data sets:
  demo  MITRE's Observed_Example descriptions of the CWE catalogue, CWEs with >= 5 examples
        (what ``sectune demo`` trains on); stratified split, test 0.2, seed 42.
  cve   ../shared/data/cve/cve_cwe.jsonl.gz (from the project root): primary CWE of each record;
        train on published < 2024-08-01, test on 2024-08-01..2024-10-31; CWEs with fewer than 5
        training rows become one class "other" (as in ../shared/notes/cwe-baselines.md).

Methods: tfidf-logreg, embed-logreg (method defaults), encoder (full fine-tune, lr 2e-4) and
encoder-lora (lora_r=8, lr 1e-3); both encoders batch 16, max_length 128, a bounded number of
steps (--encoder-steps; 300 on demo, 200 on cve by default) and no evaluation data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, command_line, machine, source_digest, update_markdown, versions  # noqa: E402

DEFAULT_CVE = ROOT.parent / "shared" / "data" / "cve" / "cve_cwe.jsonl.gz"
DATASETS = ("demo", "cve")
METHODS = ("tfidf-logreg", "embed-logreg", "encoder", "encoder-lora")
ENCODER_STEPS = {"demo": 300, "cve": 200}
CVE_TRAIN_END = "2024-08-01"  # train: published < this
CVE_TEST_END = "2024-10-31"  # test: CVE_TRAIN_END <= published <= this
MIN_TRAIN_ROWS = 5  # rarer CVE classes -> "other"
SEED = 42
TRAIN_THREADS = 2
THROUGHPUT_SAMPLE = 2000  # texts timed per thread setting (the whole test set when smaller)
MIN_TIMING_SECONDS = 2.0  # fast methods repeat the timed call until this much time has passed
SECTION = "## Methods (bench/methods.py)"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- data -------------------------------------------------------------------------------------
def load_dataset(name: str, cve_path: Path, max_train: int | None) -> dict:
    """Train and test texts and labels, plus one line describing where they came from."""
    import numpy as np

    if name == "demo":
        from sectune.io import Table
        from sectune.splits import split_indices
        from sectune.tasks.cwe.catalog import load_catalog, observed_examples

        catalog = load_catalog()
        rows = observed_examples(catalog, min_examples=5)
        table = Table(
            path="observed_examples",
            texts=[r["text"] for r in rows],
            labels=[r["label"][0] for r in rows],
            label_lists=[r["label"] for r in rows],
            rows=list(range(1, len(rows) + 1)),
            columns={},
            sha256=None,
        )
        train_idx, test_idx = split_indices(table, "stratified", 0.2, SEED)
        train_idx = _subsample(train_idx, max_train)
        train_texts, train_labels = [table.texts[i] for i in train_idx], [table.labels[i] for i in train_idx]
        test_texts, test_labels = [table.texts[i] for i in test_idx], [table.labels[i] for i in test_idx]
        about = (
            f"{len(rows):,} distinct Observed_Example descriptions, {len(set(table.labels))} primary CWEs (CWE catalogue "
            f"{catalog.version}, CWEs with >= 5 examples; the primary is the most specific citing CWE), stratified split, test 0.2, seed {SEED}"
        )
    elif name == "cve":
        from sectune.io import read_table

        table = read_table(cve_path, "description", "cwe", ["published"])  # list labels: the first item is the class
        published = [str(p) for p in table.columns["published"]]
        train_idx = np.array([i for i, p in enumerate(published) if p < CVE_TRAIN_END])
        test_idx = np.array([i for i, p in enumerate(published) if CVE_TRAIN_END <= p <= CVE_TEST_END])
        train_idx = _subsample(train_idx, max_train)
        from collections import Counter

        counts = Counter(table.labels[i] for i in train_idx)
        kept = {label for label, n in counts.items() if n >= MIN_TRAIN_ROWS}
        as_class = lambda label: label if label in kept else "other"  # noqa: E731
        train_texts, train_labels = [table.texts[i] for i in train_idx], [as_class(table.labels[i]) for i in train_idx]
        test_texts, test_labels = [table.texts[i] for i in test_idx], [as_class(table.labels[i]) for i in test_idx]
        about = (
            f"{_display(cve_path)}: {len(table):,} CVE records, primary CWE; train published < {CVE_TRAIN_END}, "
            f"test {CVE_TRAIN_END}..{CVE_TEST_END}; the {len(kept)} CWEs with >= {MIN_TRAIN_ROWS} training rows, "
            f"the rest mapped to `other`"
        )
    else:
        raise SystemExit(f"unknown data set {name!r} (choose from {', '.join(DATASETS)})")
    return {
        "train_texts": train_texts,
        "train_labels": train_labels,
        "test_texts": test_texts,
        "test_labels": test_labels,
        "about": about,
    }


def _subsample(indices, max_train: int | None):
    import numpy as np

    if not max_train or len(indices) <= max_train:
        return indices
    return np.sort(np.random.default_rng(SEED).choice(indices, size=max_train, replace=False))


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path, ROOT)
    except ValueError:
        return str(path)


# --- one cell (runs in its own process) ---------------------------------------------------------
def make_model(method: str, steps: int):
    from sectune.methods.base import method_class

    if method == "tfidf-logreg":
        return method_class("tfidf-logreg")(verbose=False)
    if method == "embed-logreg":
        return method_class("embed-logreg")(verbose=False)
    if method == "encoder":
        return method_class("encoder")(max_steps=steps, batch_size=16, max_length=128, lr=2e-4, verbose=False)
    if method == "encoder-lora":
        return method_class("encoder")(max_steps=steps, batch_size=16, max_length=128, lr=1e-3, lora_r=8, verbose=False)
    raise SystemExit(f"unknown method {method!r} (choose from {', '.join(METHODS)})")


def set_torch_threads(threads: int) -> None:
    """torch's intra-op pool, only where torch is in use: importing it for tfidf-logreg would add
    its ~180 MiB to that method's peak memory."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def texts_per_second(model, texts: list[str], threads: int) -> dict:
    """Prediction speed with ``threads`` threads (torch and BLAS/OpenMP pools), after one warm-up call."""
    from threadpoolctl import threadpool_limits

    set_torch_threads(threads)
    with threadpool_limits(limits=threads):
        model.predict_proba(texts[:64])  # warm-up: first-call allocations, lazy imports
        calls, started = 0, time.perf_counter()
        while True:
            model.predict_proba(texts)
            calls += 1
            elapsed = time.perf_counter() - started
            if elapsed >= MIN_TIMING_SECONDS:
                break
    return {"texts_per_s": len(texts) * calls / elapsed, "calls": calls, "seconds": elapsed}


def dir_bytes(directory: Path) -> int:
    """Apparent size of every file under ``directory`` (what ``du -sb`` prints)."""
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def run_cell(dataset: str, method: str, args: argparse.Namespace, partial: Path | None) -> dict:
    import numpy as np
    from threadpoolctl import threadpool_limits

    from sectune.metrics import evaluate_predictions

    if method != "tfidf-logreg":
        import torch  # noqa: F401  (loaded by the method anyway; imported now so its thread count is set before fit)

    result: dict = {"dataset": dataset, "method": method, "pid": os.getpid(), "load_start": os.getloadavg()[0]}
    cell_started = time.perf_counter()

    def phase(name: str) -> None:
        result["phase"] = name
        result["elapsed_s"] = round(time.perf_counter() - cell_started, 1)
        if partial is not None:
            partial.write_text(json.dumps(result), encoding="utf-8")
        log(f"{dataset}/{method}: {name}")

    phase("loading data")
    data = load_dataset(dataset, Path(args.cve_data), args.max_train)
    classes = sorted(set(data["train_labels"]))
    steps = args.encoder_steps or ENCODER_STEPS[dataset]
    result.update(
        train_rows=len(data["train_texts"]),
        test_rows=len(data["test_texts"]),
        classes=len(classes),
        about=data["about"],
        max_train=args.max_train,
    )
    if method.startswith("encoder"):
        result["steps_budget"] = steps

    model = make_model(method, steps)
    result["params"] = {k: v for k, v in model.saved_params().items() if v is not None}
    set_torch_threads(TRAIN_THREADS)
    with threadpool_limits(limits=TRAIN_THREADS):
        phase("training")
        started = time.perf_counter()
        model.fit(data["train_texts"], data["train_labels"])
        result["train_s"] = time.perf_counter() - started
        if method.startswith("encoder"):
            history = model.training_history()
            result["steps"] = max((int(e.get("step", 0)) for e in history), default=steps) or steps
            result["steps_per_s"] = result["steps"] / result["train_s"]

        phase("scoring the test set")
        started = time.perf_counter()
        proba = model.predict_proba(data["test_texts"])
        result["score_s"] = time.perf_counter() - started
    metrics = evaluate_predictions(data["test_labels"], proba, model.labels_, threshold=model.threshold_)
    result.update(
        top1=metrics["top1"],
        top3=metrics["top3"],
        macro_f1=metrics["macro_f1"],
        weighted_f1=metrics["weighted_f1"],
        n_unseen=metrics["n_unseen"],
    )

    test = data["test_texts"]
    if len(test) > THROUGHPUT_SAMPLE:
        pick = np.sort(np.random.default_rng(SEED).choice(len(test), size=THROUGHPUT_SAMPLE, replace=False))
        test = [test[i] for i in pick]
    result["throughput_texts"] = len(test)
    result["timing_load"] = []
    for round_ in range(1, args.timing_rounds + 1):  # interleaved 2, 1, 2, 1, ...; the best round is reported
        for threads in (2, 1):
            phase(f"timing prediction, {threads} thread(s), round {round_}")
            timing = texts_per_second(model, test, threads)
            result.setdefault(f"rounds_texts_per_s_{threads}", []).append(timing["texts_per_s"])
            result[f"texts_per_s_{threads}"] = max(result[f"rounds_texts_per_s_{threads}"])
            result["timing_load"].append(os.getloadavg()[0])

    phase("saving")
    with tempfile.TemporaryDirectory(prefix="sectune-bench-") as tmp:
        model.save_pretrained(Path(tmp) / "model")
        result["size_bytes"] = dir_bytes(Path(tmp) / "model")

    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    result["cell_s"] = time.perf_counter() - cell_started
    result["load_end"] = os.getloadavg()[0]
    result["phase"] = "done"
    return result


def cell_main(args: argparse.Namespace) -> int:
    dataset, method = args.cell
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # anything a library prints stays off the JSON channel
    try:
        result = run_cell(dataset, method, args, Path(args.partial) if args.partial else None)
    finally:
        sys.stdout = real_stdout
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        print(json.dumps(result, indent=2))
    return 0


# --- the parent: one subprocess per cell ---------------------------------------------------------
def run_in_subprocess(dataset: str, method: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="sectune-bench-cell-") as tmp:
        partial, errors = Path(tmp) / "partial.json", Path(tmp) / "stderr.txt"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--cell",
            dataset,
            method,
            "--json",
            "--partial",
            str(partial),
            "--cve-data",
            str(args.cve_data),
        ]
        if args.max_train:
            command += ["--max-train", str(args.max_train)]
        if args.encoder_steps:
            command += ["--encoder-steps", str(args.encoder_steps)]
        command += ["--timing-rounds", str(args.timing_rounds)]
        started = time.perf_counter()
        with open(errors, "w", encoding="utf-8") as err:
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True)
            try:
                out, _ = proc.communicate(timeout=args.timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the cell's own process group only
                proc.communicate()
                state = (
                    json.loads(partial.read_text(encoding="utf-8"))
                    if partial.exists()
                    else {"dataset": dataset, "method": method}
                )
                state.update(status="timeout", cell_s=time.perf_counter() - started)
                return state
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            tail = errors.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
            log(f"{dataset}/{method} failed (exit {proc.returncode}):\n    " + "\n    ".join(tail))
            state = (
                json.loads(partial.read_text(encoding="utf-8"))
                if partial.exists()
                else {"dataset": dataset, "method": method}
            )
            last = next((line for line in reversed(tail) if line.strip()), "")
            state.update(status="failed", error=last[:200], cell_s=time.perf_counter() - started)
            return state
        result = json.loads(lines[-1])
        result["status"] = "ok"
        return result


# --- report ---------------------------------------------------------------------------------------
def method_label(result: dict) -> str:
    method = result["method"]
    budget = result.get("steps_budget")
    if method == "encoder":
        return f"encoder, full fine-tune ({budget} steps)"
    if method == "encoder-lora":
        return f"encoder, LoRA r=8 ({budget} steps)"
    return method


def _num(value, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def table_rows(results: list[dict]) -> list[str]:
    head = (
        "| method | train rows | classes | train s | train steps/s | top-1 | top-3 | macro-F1 | "
        "texts/s, 2 threads | texts/s, 1 thread | peak RSS MiB | size on disk MiB |"
    )
    rows = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in results:
        status = r.get("status")
        mib = lambda key, r=r: None if r.get(key) is None else r[key] / 2**20  # noqa: E731
        cells = [
            method_label(r) if r.get("steps_budget") or not r["method"].startswith("encoder") else r["method"],
            _num(r.get("train_rows"), ","),
            _num(r.get("classes"), ","),
            _num(r.get("train_s"), ".1f"),
            _num(r.get("steps_per_s"), ".2f") if r["method"].startswith("encoder") else "",
            _num(r.get("top1"), ".3f"),
            _num(r.get("top3"), ".3f"),
            _num(r.get("macro_f1"), ".3f"),
            _num(r.get("texts_per_s_2"), ",.0f"),
            _num(r.get("texts_per_s_1"), ",.0f"),
            _num(mib("peak_rss_bytes"), ",.0f"),
            _num(mib("size_bytes"), ",.1f"),
        ]
        if status == "timeout":
            cells[0] += f" — **timeout** (> {r['timeout']:.0f} s, during {r.get('phase', '?')})"
        elif status == "failed":
            cells[0] += f" — **failed** during {r.get('phase', '?')}: `{r.get('error', '')}`"
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def block_key(dataset: str, max_train: int | None) -> str:
    """One markdown block per data set and --max-train, so a subsampled run does not replace a full one."""
    return f"{dataset}-max-train-{max_train}" if max_train else dataset


def render_block(dataset: str, results: list[dict], header: dict, max_train: int | None = None) -> str:
    first = next((r for r in results if r.get("about")), {})
    title = f"{dataset}, training rows subsampled to {max_train:,} (--max-train)" if max_train else dataset
    lines = [f"### {title}", ""]
    lines.append(f"- command: `{header['command']}`")
    lines.append(
        f"- date: {header['date']}; run time of this data set's cells: {sum(r.get('cell_s', 0) for r in results):,.0f} s"
    )
    m = header["machine"]
    lines.append(
        f"- machine: {m['cpu']}, {m['cores']} cores ({m['usable']} usable), {m['ram']} RAM; "
        f"1-minute load average {header['load_start']:.2f} at the start (other work shares the machine, "
        f"so timings are under shared load)"
    )
    lines.append(f"- versions: {header['versions']}; sectune source sha256 {header['digest']} (sectune/**/*.py)")
    if first:
        lines.append(
            f"- data: {first['about']}; {first['train_rows']:,} train rows, {first['test_rows']:,} test rows"
            + (
                f" (train subsampled to {first['max_train']:,} rows with --max-train, seed {SEED})"
                if first.get("max_train") and first["train_rows"] >= first["max_train"]
                else ""
            )
        )
        lines.append(
            f"- training with {TRAIN_THREADS} threads; top-1/top-3/macro-F1 from "
            f"sectune.metrics.evaluate_predictions over all {first['test_rows']:,} test rows; texts/s over "
            f"{first.get('throughput_texts', '?'):,} test texts per thread setting (torch.set_num_threads + "
            f"threadpoolctl), after one warm-up call, repeated until >= {MIN_TIMING_SECONDS:.0f} s, best of "
            f"{header['timing_rounds']} interleaved rounds (2, 1, 2, 1 threads); peak RSS = "
            f"ru_maxrss of a fresh process per cell (load, train, score, time, save); size = save_pretrained directory"
        )
    enc = next((r for r in results if r["method"].startswith("encoder") and r.get("params")), None)
    if enc:
        lines.append(
            f"- encoders: batch 16, max_length 128, lr 2e-4 (full) / 1e-3 (LoRA, r=8), no evaluation data, "
            f"other settings the method's defaults (e.g. head_lr_scale {enc['params'].get('head_lr_scale', '–')}, "
            f"warmup_ratio {enc['params'].get('warmup_ratio', '–')}); train steps/s = steps / training seconds "
            "(model loading and tokenisation included)"
        )
    lines.append("")
    lines.extend(table_rows(results))
    walls = ", ".join(f"{r['method']} {r.get('cell_s', 0):,.0f} s" for r in results)
    loads = ", ".join(f"{r['method']} {r['load_start']:.1f}→{r['load_end']:.1f}" for r in results if "load_end" in r)
    timing_loads = ", ".join(
        f"{r['method']} " + "/".join(f"{x:.1f}" for x in r["timing_load"]) for r in results if r.get("timing_load")
    )
    rounds = "; ".join(
        f"{r['method']} 2 threads "
        + "/".join(f"{x:,.0f}" for x in r["rounds_texts_per_s_2"])
        + ", 1 thread "
        + "/".join(f"{x:,.0f}" for x in r["rounds_texts_per_s_1"])
        for r in results
        if r.get("rounds_texts_per_s_1")
    )
    lines.append("")
    lines.append(
        f"Cell wall times (whole subprocess): {walls}."
        + (f" 1-minute load average at cell start→end: {loads}." if loads else "")
    )
    if rounds:
        lines.append("")
        lines.append(f"texts/s of every timing round: {rounds}. Load average after each timing call: {timing_loads}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default="demo,cve", help="comma-separated: demo, cve (default: both)")
    parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma-separated: {', '.join(METHODS)} (default: all)"
    )
    parser.add_argument("--max-train", type=int, help="subsample the training rows to N (seed 42); stated in the table")
    parser.add_argument(
        "--encoder-steps", type=int, help="training steps of both encoders (default: 300 on demo, 200 on cve)"
    )
    parser.add_argument(
        "--timing-rounds",
        type=int,
        default=2,
        help="interleaved timing rounds per thread setting; the best is reported (default 2)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800,
        help="seconds per cell before it is killed and reported as a timeout (default 1800)",
    )
    parser.add_argument(
        "--markdown", metavar="FILE", help="also write each data set's table into FILE (its block is replaced)"
    )
    parser.add_argument(
        "--cve-data",
        default=str(DEFAULT_CVE),
        help="the CVE data file (default: ../shared/data/cve/cve_cwe.jsonl.gz from the project root)",
    )
    parser.add_argument("--cell", nargs=2, metavar=("DATASET", "METHOD"), help="internal: run one cell in this process")
    parser.add_argument("--json", action="store_true", help="with --cell: print the result as one JSON line")
    parser.add_argument("--partial", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.cell:
        return cell_main(args)

    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for bad in [d for d in datasets if d not in DATASETS]:
        parser.error(f"unknown data set {bad!r} (choose from {', '.join(DATASETS)})")
    for bad in [m for m in methods if m not in METHODS]:
        parser.error(f"unknown method {bad!r} (choose from {', '.join(METHODS)})")

    script = os.path.relpath(Path(__file__).resolve(), Path.cwd())
    header = {
        "command": command_line(script, argv),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": versions(),
        "digest": source_digest(),
        "load_start": os.getloadavg()[0],
        "timing_rounds": args.timing_rounds,
    }
    m = header["machine"]
    print(
        f"command: {header['command']}\ndate: {header['date']}\nmachine: {m['cpu']}, {m['cores']} cores "
        f"({m['usable']} usable), {m['ram']} RAM, load average {header['load_start']:.2f}\nversions: {header['versions']}; "
        f"sectune source sha256 {header['digest']}\n",
        flush=True,
    )

    for dataset in datasets:
        if dataset == "cve" and not Path(args.cve_data).is_file():
            print(f"note: {args.cve_data} not found; skipping the cve data set\n", flush=True)
            continue
        results = []
        for method in methods:
            log(f"cell {dataset}/{method}: starting (timeout {args.timeout:.0f} s)")
            result = run_in_subprocess(dataset, method, args)
            result["timeout"] = args.timeout
            results.append(result)
            log(
                f"cell {dataset}/{method}: {result['status']} after {result.get('cell_s', 0):.0f} s"
                + (f"; top-1 {result['top1']:.3f}, macro-F1 {result['macro_f1']:.3f}" if "macro_f1" in result else "")
            )
        block = render_block(dataset, results, header, args.max_train)
        print(block, flush=True)
        if args.markdown:
            update_markdown(
                Path(args.markdown), SECTION, f"bench/methods.py:{block_key(dataset, args.max_train)}", block
            )
            log(f"wrote the {dataset} table into {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
