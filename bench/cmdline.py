"""Obfuscated command-line detection: the ladder of methods on real tool output, three ways.

(1) generated: train on ``sectune data cmdline`` output only, test on all of
    ../shared/data/cmdline (real obfuscation tools, real benign corpora): the honest test of the
    generator, per technique of the real tools.
(2) shared: train and test on the shared set, group split by ``orig`` (a benign seed and every
    line obfuscated from it stay on one side), with leave-one-technique-family-out recall.
(3) generated + shared: train on both, test on the test side of (2).
(4a) leave one tool out: every real obfuscation tool of the shared set (bashfuscator, bashsmash,
    dosfuscation) and every technique family of the engine held out in turn: train on the rest of
    the shared set plus generated data without that tool's / family's lines (and without any line of
    their seeds: grouped by ``orig``), test on the held-out lines plus held-out benign lines; recall
    and test FPR at the thresholds chosen on validation (never on the test rows), F1, ROC-AUC.
(4b) the light set: the engine's light intensity, one technique per line, lines < 200 characters,
    generated with another seed and never trained on, scored by the models of (4a): the model that
    saw every family and the one that never saw the line's family; recall at the FPR 1% threshold
    chosen on validation, per technique family.

Every setup runs ``sectune.compare.compare`` (the table of ``sectune compare``), plus Adobe's
``obfuscation-detection`` (PyPI, cmd.exe only, an XGBoost model; ``pip install --no-deps
obfuscation-detection xgboost-cpu``) scored on the same test lines as an outside baseline, and
the one-core scan speed of features-logreg.

    python bench/cmdline.py --markdown BENCHMARKS.md
    python bench/cmdline.py --setups 2 --methods rules,features-logreg   # quick look
    python bench/cmdline.py --setups 4 --methods rules,features-logreg,shell-features --markdown BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CMDLINE as REAL  # noqa: E402
from common import cmdline_shared_split, machine_line, source_digest, update_markdown, versions  # noqa: E402

SECTION = "## Command-line detection (bench/cmdline.py)"
METHODS = ("rules", "features-logreg", "shell-features", "charcnn", "encoder")
FIELDS = ("text", "label", "shell", "technique", "orig")
SETUPS = {
    "1": "train on generated data only, test on all of ../shared/data/cmdline",
    "2": "train and test on ../shared/data/cmdline, group split by orig (test 20%, seed 42)",
    "3": "train on generated data + the train side of (2), test on the test side of (2)",
    "4": "leave one obfuscation tool / technique family out (4a), and the light set (4b)",
}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({k: row.get(k) for k in FIELDS}, ensure_ascii=False) + "\n")
    return path


def prepare(work: Path, n_generated: int, generator_seed: int, generated_file: str | None = None) -> dict[str, Path]:
    """The files every setup reads: generated data (or a given file of it), the shared set, its group split."""
    from sectune.tasks.cmdline.dataset import build_cmdline_dataset

    work.mkdir(parents=True, exist_ok=True)
    if generated_file:
        generated = [json.loads(line) for line in Path(generated_file).open(encoding="utf-8")]
    else:
        generated = build_cmdline_dataset(n=n_generated, seed=generator_seed, progress=False).records
    shared, train_idx, test_idx = cmdline_shared_split()
    return {
        "generated": write_jsonl(work / "generated.jsonl", generated),
        "shared": write_jsonl(work / "shared.jsonl", shared),
        "shared_train": write_jsonl(work / "shared_train.jsonl", [shared[i] for i in train_idx]),
        "shared_test": write_jsonl(work / "shared_test.jsonl", [shared[i] for i in test_idx]),
        "mixed_train": write_jsonl(work / "mixed_train.jsonl", generated + [shared[i] for i in train_idx]),
    }


def outside_baseline(test_file: Path) -> dict | None:
    """Adobe's obfuscation-detection on the cmd lines of the test file (it models cmd.exe only)."""
    try:
        from obfuscation_detection import ObfuscationDetectionClassifier
    except ImportError:
        return None
    from sectune.metrics import evaluate_predictions

    rows = [json.loads(line) for line in test_file.open(encoding="utf-8")]
    rows = [r for r in rows if r["shell"] == "cmd"]
    texts, labels = [r["text"] for r in rows], [str(r["label"]) for r in rows]
    clf = ObfuscationDetectionClassifier()
    started = time.perf_counter()
    p = np.asarray(clf.predict_proba(texts), dtype=float)
    seconds = time.perf_counter() - started
    p = p[:, 1] if p.ndim == 2 else p
    m = evaluate_predictions(labels, np.column_stack([1 - p, p]), ["0", "1"], positive_label="1", threshold=0.5)
    y = np.array([lab == "1" for lab in labels])
    short = y & (np.array([len(t) for t in texts]) < 200)
    return {
        "method": "obfuscation-detection (cmd lines only)",
        "precision": m["precision"],
        "recall": m["recall"],
        "f1": m["f1"],
        "roc_auc": m["roc_auc"],
        "fpr_at_tpr95": m["fpr_at_tpr95"],
        "fpr_at_tpr99": m["fpr_at_tpr99"],
        "threshold": 0.5,
        "recall_short": float((p[short] >= 0.5).mean()) if short.any() else None,
        "train_seconds": None,
        "lines_per_second": len(texts) / seconds,
        "size_mib": None,
        "n": len(texts),
    }


def one_core_speed(model_dir: Path, texts: list[str]) -> float:
    """Lines/s of a saved model on one core (torch and BLAS both held to one thread), best of 3."""
    import torch
    from threadpoolctl import threadpool_limits

    import sectune

    clf = sectune.load(model_dir)
    torch.set_num_threads(1)
    best = 0.0
    with threadpool_limits(1):
        clf.predict_proba(texts[:1000])
        for _ in range(3):
            started = time.perf_counter()
            clf.predict_proba(texts)
            best = max(best, len(texts) / (time.perf_counter() - started))
    return best


def run_setup(
    setup: str,
    files: dict[str, Path],
    methods: list[str],
    work: Path,
    encoder_steps: int,
    charcnn_steps: int,
    loo: list[str],
) -> dict:
    from sectune.compare import compare

    data, test = {
        "1": (files["generated"], files["shared"]),
        "2": (files["shared_train"], files["shared_test"]),
        "3": (files["mixed_train"], files["shared_test"]),
    }[setup]
    started = time.perf_counter()
    result = compare(
        str(data),
        methods,
        output=work / f"setup{setup}",
        test_data=str(test),
        task="cmdline",
        verbose=False,
        leave_one_out=[] if setup == "1" else [m for m in loo if m in methods],  # (1) holds out every real tool already
        method_settings={
            name: own
            for name, own in {
                "encoder": {
                    "max_steps": encoder_steps,
                    "batch_size": 16,
                    "max_length": 256,
                    "lr": 1e-4,
                    "eval_steps": max(100, encoder_steps // 4),
                },
                "charcnn": {"max_steps": charcnn_steps},
            }.items()
            if name in methods
        },
    )
    return {
        "result": result,
        "seconds": time.perf_counter() - started,
        "baseline": outside_baseline(test),
        "test_file": test,
    }


def render(
    setup: str,
    out: dict,
    files: dict[str, Path],
    speed: float | None,
    command: str,
    started: str,
    encoder_steps: int,
    charcnn_steps: int,
    generated_from: str,
    title_suffix: str = "",
) -> str:
    from sectune.compare import recall_table, render_table

    result = out["result"]
    ran = {row["method"] for row in result.rows}
    n_train = sum(1 for _ in files[{"1": "generated", "2": "shared_train", "3": "mixed_train"}[setup]].open())
    n_test = sum(1 for _ in out["test_file"].open())
    lines = [
        f"### ({setup}) {SETUPS[setup]}{title_suffix}",
        "",
        f"- command: `{command}`; date: {started}; this setup's run time {out['seconds']:,.0f} s",
        f"- machine: {machine_line()}",
        f"- versions: {versions()}; sectune source sha256 {source_digest()}",
        f"- rows: train file {n_train:,} (10% of it held out for validation: each binary model's threshold for FPR <= 0.001), "
        f"test file {n_test:,} (test lines also present in training are dropped)",
        *([f"- generated data: {generated_from}"] if setup != "2" else []),
        "- "
        + "; ".join(
            [
                *(
                    [
                        f"encoder: all-MiniLM-L6-v2, CPU budget {encoder_steps} optimiser steps, batch 16, max_length 256 tokens, lr 1e-4"
                    ]
                    if "encoder" in ran
                    else []
                ),
                *(
                    [f"charcnn: {charcnn_steps} steps of batch 64 at most (max length 4,096 characters)"]
                    if "charcnn" in ran
                    else []
                ),
                "precision/recall/F1 at each model's threshold; lines/s: scoring the test file with 2 threads",
            ]
        ),
        "",
        result.table(),
    ]
    if out["baseline"]:
        b = out["baseline"]
        lines += [
            "",
            f"Outside baseline, Adobe's `obfuscation-detection` 1.0.0 (XGBoost, cmd.exe only; its own 0.5 threshold) on the "
            f"{b['n']:,} cmd lines of the same test file:",
            "",
            render_table([b], result.columns),
        ]
    if speed is not None:
        lines += [
            "",
            f"features-logreg on one core (torch and BLAS held to one thread), scoring the test file: {speed:,.0f} lines/s (best of 3).",
        ]
    if setup == "1" and result.per_technique:
        lines += [
            "",
            "Recall per technique of the real tools (the generator never produced these):",
            "",
            recall_table(result.per_technique, "technique"),
        ]
    if result.leave_one_out:
        lines += [
            "",
            "Leave one technique family out (recall on the family when training saw none of it):",
            "",
            recall_table(result.leave_one_out, "family held out"),
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setups", default="1,2,3")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--leave-one-out",
        default="rules,features-logreg",
        help="methods that also get the leave-one-family-out runs (default: the two cheap ones, for CPU time)",
    )
    parser.add_argument("--n-generated", type=int, default=20000)
    parser.add_argument("--generator-seed", type=int, default=0)
    parser.add_argument(
        "--encoder-steps", type=int, default=600, help="CPU budget of each encoder run, in optimiser steps"
    )
    parser.add_argument(
        "--charcnn-steps", type=int, default=1500, help="CPU budget of each charcnn run, in optimiser steps (batch 64)"
    )
    parser.add_argument(
        "--generated",
        help="train on this JSONL of generated lines instead of generating them "
        "(e.g. an older generator's output, for a before/after)",
    )
    parser.add_argument("--markdown-key", default="", help="suffix of the BENCHMARKS.md block key (e.g. ' before')")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "sectune-bench-cmdline"))
    parser.add_argument("--markdown", help="update this file's section (e.g. BENCHMARKS.md)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not REAL.exists():
        print(f"skipped: {REAL} is not here (../shared is absent)")
        return 0
    command = "python bench/cmdline.py " + " ".join(argv if argv is not None else sys.argv[1:])
    work = Path(args.work)
    files = prepare(work, args.n_generated, args.generator_seed, args.generated)
    methods = [m for m in args.methods.split(",") if m]
    for setup in args.setups.split(","):
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(f"[{time.strftime('%H:%M:%S')}] setup {setup}: {SETUPS[setup]} ...", file=sys.stderr, flush=True)
        out = run_setup(
            setup, files, methods, work, args.encoder_steps, args.charcnn_steps, args.leave_one_out.split(",")
        )
        speed = None
        if "features-logreg" in methods:
            test_texts = [json.loads(line)["text"] for line in out["test_file"].open(encoding="utf-8")]
            speed = one_core_speed(work / f"setup{setup}" / "models" / "features-logreg", test_texts)
        generated_from = (
            f"`{args.generated}`"
            if args.generated
            else f"`sectune data cmdline --n {args.n_generated} --seed {args.generator_seed}` (this commit's engine)"
        )
        block = render(
            setup,
            out,
            files,
            speed,
            command,
            started,
            args.encoder_steps,
            args.charcnn_steps,
            generated_from,
            args.markdown_key,
        )
        print(block, flush=True)
        if args.markdown:
            update_markdown(Path(args.markdown), SECTION, f"bench/cmdline.py setup={setup}{args.markdown_key}", block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
