"""``make demo``: the main jobs end to end on embedded data and the packaged default model.

1. CWE triage: builds a CWE data set from MITRE's Observed_Example descriptions (shipped in the
   cwe2 package), fine-tunes the default encoder for a bounded number of steps, sets it beside the
   TF-IDF baseline on the same split, and suggests CWEs for five descriptions written here.
2. Obfuscated command lines: generates bash/cmd/PowerShell lines with the obfuscation engine and
   runs a short ladder of detectors (rules, features-logreg, charcnn, encoder) through
   ``sectune compare`` on a group split, printing its table.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from sectune.api import predict, train
from sectune.io import atomic_write
from sectune.outputs import check_output_dir
from sectune.tasks.cwe.catalog import load_catalog, observed_examples

DESCRIPTIONS = [
    "A stored cross-site scripting vulnerability in the comment form of the blog plugin allows remote attackers "
    "to inject arbitrary JavaScript via the author name field.",
    "SQL injection in the login page of the admin portal allows unauthenticated attackers to execute arbitrary SQL "
    "commands via the username parameter.",
    "A heap-based buffer overflow in the PNG decoder allows remote attackers to execute arbitrary code via an image "
    "with a crafted chunk length.",
    "Path traversal in the file download endpoint allows attackers to read arbitrary files via ../ sequences in the "
    "filename parameter.",
    "The web application does not require authentication for the backup export function, allowing remote attackers "
    "to download the full database.",
]

# about 3 minutes on 2 CPU cores; 300 steps fell to TF-IDF's macro-F1 once validation rows are held out
DEMO_STEPS = 350
LADDER = ["rules", "features-logreg", "charcnn", "encoder"]
LADDER_RECORDS = 3000
LADDER_STEPS = {"charcnn": 300, "encoder": 90}  # CPU budgets of the short ladder, in optimiser steps


def run_demo(output: Path, *, max_steps: int | None = None, verbose: bool = True) -> dict:
    """Both parts; ``max_steps`` caps every neural training (tests use a handful)."""
    check_output_dir(output, markers=("cwe_examples.jsonl",), what="demo output")
    metrics = run_cwe_demo(output, max_steps=max_steps, verbose=verbose)
    metrics["cmdline"] = run_cmdline_ladder(output / "cmdline", max_steps=max_steps, verbose=verbose)
    return metrics


def run_cwe_demo(output: Path, *, max_steps: int | None = None, verbose: bool = True) -> dict:
    output.mkdir(parents=True, exist_ok=True)
    catalog = load_catalog()
    data = output / "cwe_examples.jsonl"
    rows = observed_examples(catalog, min_examples=5)
    with atomic_write(data) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    n_classes = len({cwe for r in rows for cwe in r["label"]})
    print(
        f"data: {len(rows)} distinct Observed_Example descriptions citing {n_classes} CWEs (CWE catalogue {catalog.version}, "
        f"cwe2 package; a text cited under several CWEs keeps them all, the most specific first) -> {data}"
    )

    common = dict(
        task="cwe",
        text_column="text",
        label_column="label",
        split="stratified",
        test_size=0.2,
        seed=42,
        verbose=verbose,
    )
    results = {}
    started = time.perf_counter()
    results["tfidf-logreg"] = train(data, output=output / "tfidf-logreg", method="tfidf-logreg", **common)
    results["encoder"] = train(
        data,
        output=output / "encoder",
        method="encoder",
        max_steps=max_steps or DEMO_STEPS,
        eval_steps=min(100, max_steps or DEMO_STEPS),
        batch_size=16,
        lr=2e-4,
        max_length=128,
        warmup_ratio=0.06,
        early_stopping_patience=3,
        **common,
    )
    print(
        f"\ntrained both in {time.perf_counter() - started:.0f} s; test split: {results['encoder'].metrics['n']} descriptions\n"
    )
    print(f"{'method':<14} {'top-1':>6} {'top-1 any':>10} {'top-3':>6} {'macro-F1':>9} {'train s':>8} {'texts/s':>8}")
    for name, result in results.items():
        m = result.metrics
        print(
            f"{name:<14} {m['top1']:>6.3f} {m['top1_any']:>10.3f} {m['top3']:>6.3f} {m['macro_f1']:>9.3f} {m['train_seconds']:>8.1f} "
            f"{m['predict_texts_per_second']:>8.0f}"
        )
    print("(top-1 any: the best suggestion is any of the CWEs that cite the text)")

    print("\ntop-3 CWE suggestions of the fine-tuned encoder:")
    for text, suggestions in zip(DESCRIPTIONS, predict(results["encoder"].model, DESCRIPTIONS, top_k=3)):
        print(f"\n  {text[:110]}{'...' if len(text) > 110 else ''}")
        for s in suggestions:
            print(f"    {s['label']:<8} {s['name']}  {s['score']:.2f}")
    print(f"\nmodel directories: {output / 'encoder'} and {output / 'tfidf-logreg'} (see README.md inside each)")
    return {name: r.metrics for name, r in results.items()}


def run_cmdline_ladder(output: Path, *, max_steps: int | None = None, verbose: bool = True) -> list[dict]:
    """Generated command lines, the ladder of detectors on one group split, the comparison table."""
    from sectune.compare import compare
    from sectune.tasks.cmdline.dataset import build_cmdline_dataset, write_records

    output.mkdir(parents=True, exist_ok=True)
    data = output / "cmdlines.jsonl"
    built = build_cmdline_dataset(n=LADDER_RECORDS, seed=0, progress=False)
    write_records(built.records, data)
    print(
        f"\n\nobfuscated command lines: {len(built.records):,} generated bash/cmd/PowerShell lines, half obfuscated "
        f"({len({r['technique'] for r in built.records if r['label'] == 1})} technique chains) -> {data}"
    )
    steps = {name: min(budget, max_steps or budget) for name, budget in LADDER_STEPS.items()}
    print(
        f"training {', '.join(LADDER)} on one split grouped by seed line (charcnn {steps['charcnn']} steps, "
        f"encoder {steps['encoder']} steps); leave-one-family-out for rules and features-logreg ...",
        flush=True,
    )
    result = compare(
        str(data),
        LADDER,
        output=output / "compare",
        task="cmdline",
        split="group:orig",
        leave_one_out=["rules", "features-logreg"],
        verbose=verbose,
        method_settings={
            "charcnn": {"max_steps": steps["charcnn"]},
            "encoder": {"max_steps": steps["encoder"], "batch_size": 16, "max_length": 128, "lr": 1e-4},
        },
    )
    print("\n" + result.table())
    print(
        f"\n(at each model's threshold for FPR <= 0.001 on validation lines; report with ROC curves and per-technique recall: {result.report})"
    )
    return result.rows
