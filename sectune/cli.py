"""The ``sectune`` command: a thin layer over the Python API.

Results go to stdout; progress, logs and errors go to stderr. A SectuneError becomes one line
``sectune: error: ...`` and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from sectune import __version__
from sectune.errors import SectuneError, shorten
from sectune.scan import add_scan_parser, run_scan_command
from sectune.security import add_switch_flags, switches
from sectune.tasks.cmdline.dataset import add_cmdline_parser, run_cmdline_command

log = logging.getLogger("sectune")


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a classifier on a data file and write a model directory",
                       description="Train a method on CSV/TSV/JSONL/Parquet data (text + label columns).")
    p.add_argument("data", nargs="?", help="training data (.csv, .tsv, .jsonl, .parquet, optionally .gz)")
    p.add_argument("--config", help="YAML file with the same keys as these flags (flags override it)")
    p.add_argument("--output", "-o", help="model directory to write (written atomically)")
    p.add_argument("--method", help="tfidf-logreg, embed-logreg, encoder (default), rules, features-logreg, charcnn or causal-llm")
    p.add_argument("--task", choices=["generic", "cwe"], help="generic (default) or cwe (labels are CWE ids; predictions carry CWE names)")
    p.add_argument("--text-column", help="column holding the text (default: text)")
    p.add_argument("--label-column", help="column holding the label (default: label); a list takes its first item")
    p.add_argument("--split", help="stratified (default), random, time:COLUMN or group:COLUMN")
    p.add_argument("--test-size", type=float, help="share of rows held out for the test (default 0.2)")
    p.add_argument("--validation-size", type=float, help="share of training rows held out for early stopping (default 0.1)")
    p.add_argument("--seed", type=int, help="random seed for split, initialisation and data order (default 42)")
    p.add_argument("--eval-data", help="a separate test file instead of a split")
    p.add_argument("--min-examples", type=int, help="drop classes with fewer rows than this")
    p.add_argument("--target-fpr", type=float, help="binary tasks: choose the threshold for this false-positive rate on validation rows (default 0.001)")
    p.add_argument("--resume", action="store_true", default=None, help="continue an interrupted run from its last checkpoint")
    c = p.add_argument_group("CWE task (--task cwe: columns description/cwe, split time:published by default)")
    c.add_argument("--rollup", metavar="VIEW", help="map each CWE to its nearest ancestor in this CWE view, e.g. 1003 (NVD's)")
    c.add_argument("--allowed-only", action="store_true", default=None, help="keep only CWEs MITRE allows for vulnerability mapping")
    c.add_argument("--cwe-xml", help="a CWE catalogue XML (default: the one the cwe2 package ships)")
    g = p.add_argument_group("model and optimisation (encoder; some apply to other methods)")
    g.add_argument("--model", help="base model: a Hugging Face id or local directory (default: packaged all-MiniLM-L6-v2)")
    g.add_argument("--max-length", type=int, help="tokens per text (default 128)")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--grad-accum", type=int, help="gradient accumulation steps")
    g.add_argument("--epochs", type=float)
    g.add_argument("--max-steps", type=int, help="stop after this many optimiser steps (overrides --epochs)")
    g.add_argument("--lr", type=float, help="peak learning rate (AdamW, linear warmup and decay)")
    g.add_argument("--head-lr-scale", type=float, help="the new classification head's learning rate as a multiple of --lr (default 10)")
    g.add_argument("--warmup-ratio", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--max-grad-norm", type=float, help="gradient clipping (default 1.0)")
    g.add_argument("--class-weight", choices=["balanced", "sqrt", "none"])
    g.add_argument("--eval-steps", type=int, help="evaluate and checkpoint every N steps (default: every epoch)")
    g.add_argument("--early-stopping-patience", type=int, help="evaluations without macro-F1 gain before stopping (0: off)")
    g.add_argument("--lora-r", type=int, help="LoRA rank (0: full fine-tuning)")
    g.add_argument("--lora-alpha", type=int)
    g.add_argument("--lora-dropout", type=float)
    g.add_argument("--pooling", choices=["auto", "mean", "cls"],
                   help="auto (default): mean pooling for sentence-embedding models that were trained with it, else the model's own [CLS] head")
    g.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], help="auto: bf16/fp16 on a capable GPU, fp32 on CPU")
    add_switch_flags(g)
    g.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="any other method parameter, e.g. C=5 (YAML value)")
    g = p.add_argument_group("causal LLM (--method causal-llm; --model: any causal LM, default the packaged SmolLM2-135M-Instruct)")
    _causal_llm_flags(g)
    g.add_argument("--lora-target", help="causal-llm LoRA modules: attention (default), all-linear, or names separated by commas")
    g.add_argument("--gradient-checkpointing", action="store_true", default=None, help="recompute activations in the backward pass: less memory, slower")
    g.add_argument("--head", choices=["lm", "classifier"], help="causal-llm: lm (default: score the answer words) or classifier (a sequence-classification head)")
    g.add_argument("--zero-shot", action="store_true", default=None, help="causal-llm: no training; the model as it is, with a threshold chosen on validation rows")


def _causal_llm_flags(g) -> None:
    """Flags that shape how a causal LM is prompted and loaded (train and evaluate --zero-shot)."""
    g.add_argument("--prompt-template", metavar="FILE", help="a YAML prompt template (instruction, input, output, verbalizers) or a built-in: cmdline, cwe, binary, multiclass")
    g.add_argument("--chat", action="store_true", default=None, help="wrap the prompt in the tokenizer's chat template")
    g.add_argument("--quantize", choices=["4bit", "8bit", "none"], help="load the base model quantized with bitsandbytes (4bit: NF4, double quantization; QLoRA when training)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sectune", description="Turn pretrained language models into security classifiers.")
    parser.add_argument("--version", action="version", version=f"sectune {__version__}")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars or logs, only results and errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _train_parser(sub)

    p = sub.add_parser("evaluate", help="score a model on a labelled data file (or an untouched LLM: --zero-shot DATA)")
    p.add_argument("model_dir", help="a model directory (with --zero-shot: the data file)")
    p.add_argument("data", nargs="?")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--output", "-o", help="folder for metrics.json, per_class.csv, confusion.png")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    z = p.add_argument_group("zero-shot (sectune evaluate --method causal-llm --zero-shot DATA)")
    z.add_argument("--zero-shot", action="store_true", help="evaluate an untouched model; the labels come from the data")
    z.add_argument("--method", default="causal-llm")
    z.add_argument("--model", help="a causal LM: Hugging Face id, local directory or .gguf file (default: packaged SmolLM2-135M-Instruct)")
    z.add_argument("--task", choices=["generic", "cwe"], default="generic")
    z.add_argument("--max-length", type=int, help="tokens of each text in the prompt (default 256)")
    z.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"])
    _causal_llm_flags(z)
    add_switch_flags(p)

    p = sub.add_parser("merge", help="merge a causal-llm model's LoRA adapter into full weights")
    p.add_argument("model_dir")
    p.add_argument("--output", "-o", required=True, help="the merged model directory (loadable without peft)")
    add_switch_flags(p)

    p = sub.add_parser("predict", help="top-k predictions for texts, as JSONL")
    p.add_argument("model_dir")
    p.add_argument("input", help="a data file, a text file (one text a line) or - for stdin")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--output", "-o", help="JSONL file to write (default: stdout)")
    p.add_argument("--text-column", default="text")
    p.add_argument("--id-column", help="column to use as id (default: the line/row number)")
    p.add_argument("--batch-size", type=int, default=1024, help="texts scored at a time")
    p.add_argument("--format", choices=["jsonl", "text"], default="jsonl", help="text: one readable block per input")
    p.add_argument("--labels", default="cna-then-adp", help="raw CVE input: which container's CWE is the stated one")
    add_switch_flags(p)

    p = sub.add_parser("compare", help="train several methods on one split and compare them (binary detection)")
    p.add_argument("data")
    p.add_argument("--methods", default="rules,features-logreg,charcnn,encoder", help="comma-separated method names")
    p.add_argument("--split", default="group:orig", help="default group:orig (a line and its obfuscated twins stay on one side)")
    p.add_argument("--test-data", help="compare on this separate file (e.g. train on generated, test on real)")
    p.add_argument("--output", "-o", default="compare-output", help="folder for report.md, roc.png, techniques.png, models/")
    p.add_argument("--leave-one-out", default="all", help="methods that also get leave-one-technique-family-out runs: all, none or a list")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--max-steps", type=int, help="budget for the fine-tuned methods")
    p.add_argument("--target-fpr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--set", action="append", default=[], metavar="METHOD.KEY=VALUE",
                   help="a setting for one method only, e.g. --set encoder.max_steps=600 --set features-logreg.C=4 (repeatable)")
    p.add_argument("--config", help="YAML with shared training settings")

    add_scan_parser(sub)

    p = sub.add_parser("explain", help="why a model scores a line as it does (methods that can explain)")
    p.add_argument("model_dir")
    p.add_argument("text", help="the line to explain")
    p.add_argument("--top", type=int, default=8)
    add_switch_flags(p)

    p = sub.add_parser("data", help="build data sets")
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="SOURCE")
    d = data_sub.add_parser("cve", help="CVE JSON 5 records (cvelistV5 dir or zip, single files) or NVD API 2.0 JSON -> labelled CWE data")
    d.add_argument("sources", nargs="*", help="directories, .zip, .json, .json.gz")
    d.add_argument("--output", "-o", required=True, help=".jsonl, .jsonl.gz or .parquet")
    d.add_argument("--labels", default="cna-then-adp", choices=["cna-then-adp", "cna", "adp"], help="which container's problemTypes label a record")
    d.add_argument("--since", metavar="YYYY-MM-DD", help="keep only records published on or after this date")
    d.add_argument("--fetch", nargs="?", const="default", metavar="URL", help="download the CVE List release zip (or URL) first, resuming a partial download")
    d.add_argument("--download-dir", default=".", help="where --fetch keeps the downloaded file (default: here)")
    d.add_argument("--cwe-xml", help="a CWE catalogue XML for the label report (default: the cwe2 package's)")
    add_cmdline_parser(data_sub)
    d = data_sub.add_parser("cwe-examples", help="MITRE's CWE Observed_Example descriptions labelled with their CWE")
    d.add_argument("--output", "-o", required=True)
    d.add_argument("--min-examples", type=int, default=5)
    d.add_argument("--cwe-xml", help="a CWE catalogue XML (default: the one the cwe2 package ships)")

    p = sub.add_parser("demo", help="the CWE demo (fine-tune the default encoder, evaluate, predict) and a short ladder of command-line detectors")
    p.add_argument("--output", "-o", default="demo-output")
    p.add_argument("--max-steps", type=int, default=None)
    return parser


def _parse_params(items: Sequence[str], flag: str = "--param") -> dict[str, Any]:
    """``KEY=VALUE`` items, each value read as YAML (``C=5`` is a number); a bad item is one line, never a traceback."""
    import yaml

    params = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise SectuneError(f"{flag} '{shorten(item)}': expected KEY=VALUE, e.g. C=5")
        try:
            params[key.strip().replace("-", "_")] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or "cannot be parsed"
            raise SectuneError(f"{flag} '{shorten(key.strip())}': the value is not valid YAML ({shorten(problem, 60)})") from None
    return params


def cmd_train(args: argparse.Namespace) -> int:
    from sectune.api import train
    from sectune.metrics import format_metrics_table

    names = ["method", "task", "text_column", "label_column", "split", "test_size", "validation_size", "seed", "eval_data",
             "min_examples", "target_fpr", "resume", "rollup", "allowed_only", "cwe_xml", "model", "max_length", "batch_size", "grad_accum", "epochs", "max_steps", "lr", "head_lr_scale",
             "warmup_ratio", "weight_decay", "max_grad_norm", "class_weight", "eval_steps", "early_stopping_patience",
             "lora_r", "lora_alpha", "lora_dropout", "pooling", "precision", "allow_pickle", "trust_remote_code",
             "head", "zero_shot", "prompt_template", "chat", "lora_target", "gradient_checkpointing", "quantize"]
    settings = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    if args.param:
        settings["params"] = _parse_params(args.param)
    if not args.config and (not args.data or not args.output):
        raise SectuneError("train needs DATA and --output (or a --config that names them)")
    result = train(args.data, output=args.output, config=args.config, verbose=not args.quiet, **settings)
    print(format_metrics_table(result.metrics))
    print(f"model written to {result.output}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from sectune.api import evaluate, zero_shot
    from sectune.metrics import format_metrics_table

    if args.zero_shot:
        if args.data is not None:
            raise SectuneError("evaluate --zero-shot takes one data file, not a model directory and a data file")
        data = args.model_dir
        params = {k: getattr(args, k) for k in ("model", "max_length", "precision", "prompt_template", "chat", "quantize") if getattr(args, k) is not None}
        params.update(switches(args))
        output = args.output or f"zero-shot-{Path(data).name.split('.')[0]}"
        metrics = zero_shot(data, method=args.method, task=args.task, text_column=args.text_column, label_column=args.label_column,
                            output=output, verbose=not args.quiet, **params)
    else:
        if args.data is None:
            raise SectuneError("evaluate needs MODEL_DIR and DATA (or --zero-shot DATA)")
        output = args.output or str(Path(args.model_dir) / "eval" / Path(args.data).name.split(".")[0])
        metrics = evaluate(args.model_dir, args.data, text_column=args.text_column, label_column=args.label_column, output=output, verbose=not args.quiet,
                           **switches(args))
    if args.json:
        print(json.dumps(metrics, ensure_ascii=False))
    else:
        print(format_metrics_table(metrics))
        print(f"report written to {output}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from sectune.api import iter_predictions
    from sectune.io import atomic_write, read_texts
    from sectune.methods.base import load
    from sectune.outputs import check_output_file
    from sectune.tasks import Task
    from sectune.tasks.cwe.records import is_cve_source, read_cve_records

    if args.top_k < 1:
        raise SectuneError("--top-k must be at least 1")
    if args.output:
        check_output_file(args.output, inputs=[args.input, args.model_dir])
    clf = load(args.model_dir, verbose=False, **switches(args))
    task = Task.for_model(clf)
    if is_cve_source(args.input):  # raw CVE records: the triage queue, with the CWE each record states
        records = read_cve_records(args.input, labels=args.labels, progress=not args.quiet)
        ids, texts, stated = [r.cve_id for r in records], [r.description for r in records], [r.cwe for r in records]
    else:
        table = read_texts(args.input, text_column=args.text_column, id_column=args.id_column)
        ids, texts, stated = table.columns.get("id") or table.rows, table.texts, None
    started = time.perf_counter()
    progress = tqdm(total=len(texts), desc="predicting", unit="text", disable=args.quiet or len(texts) < 2 * args.batch_size, file=sys.stderr)

    def write(handle) -> None:
        for i, predictions in enumerate(iter_predictions(clf, texts, top_k=args.top_k, batch_size=args.batch_size)):
            row: dict[str, Any] = {"id": ids[i]}
            if stated is not None:  # disagrees: the record's CWE (as the model's labels map it) is not in the top-k
                top = {p["label"] for p in predictions}
                row["cwe"] = stated[i]
                row["disagrees"] = bool(stated[i]) and not top & set(task.map_labels(stated[i]))
            row["predictions"] = predictions
            handle.write(format_prediction(row, args.format))
            progress.update(1)

    if args.output:
        with atomic_write(args.output) as handle:
            write(handle)
    else:
        write(sys.stdout)
    progress.close()
    seconds = time.perf_counter() - started
    if not args.quiet:
        print(f"sectune: {len(texts)} texts in {seconds:.2f} s ({len(texts) / max(seconds, 1e-9):,.0f} texts/s)", file=sys.stderr)
    return 0


def format_prediction(row: dict[str, Any], fmt: str) -> str:
    """One JSON line, or a readable block: the id, then ``LABEL  name  score`` per suggestion."""
    if fmt == "jsonl":
        return json.dumps(row, ensure_ascii=False) + "\n"
    head = str(row["id"])
    if "cwe" in row:
        head += f"  (stated: {', '.join(row['cwe']) or 'none'}{'; disagrees' if row.get('disagrees') else ''})"
    lines = [head]
    for p in row["predictions"]:
        name = f"  {p['name']}" if p.get("name") else ""
        lines.append(f"  {p['label']:<9}{name}  {p['score']:.2f}")
    return "\n".join(lines) + "\n"


def cmd_data(args: argparse.Namespace) -> int:
    if args.data_command == "cmdline":
        return run_cmdline_command(args)
    if args.data_command == "cve":
        from sectune.tasks.cwe.records import build_cve_dataset

        summary = build_cve_dataset(args.sources, args.output, labels=args.labels, since=args.since, fetch=args.fetch,
                                    download_dir=args.download_dir, cwe_xml=args.cwe_xml, progress=not args.quiet)
        print(summary)
        return 0
    from sectune.io import atomic_write
    from sectune.outputs import check_output_file
    from sectune.tasks.cwe.catalog import load_catalog, observed_examples

    check_output_file(args.output, inputs=[args.cwe_xml])
    catalog = load_catalog(args.cwe_xml)
    rows = observed_examples(catalog, args.min_examples)
    with atomic_write(args.output) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} distinct descriptions citing {len({c for r in rows for c in r['label']})} CWEs (CWE {catalog.version}) written to {args.output}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from sectune.compare import compare

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    loo = None if args.leave_one_out == "all" else [] if args.leave_one_out == "none" else args.leave_one_out.split(",")
    settings = {k: getattr(args, k) for k in ("text_column", "label_column", "max_steps", "target_fpr", "seed") if getattr(args, k) is not None}
    per_method: dict[str, dict[str, Any]] = {}
    for item in args.set:
        method, dot, rest = item.partition(".")
        if not dot or "=" not in rest:
            raise SectuneError(f"--set '{shorten(item)}': expected METHOD.KEY=VALUE, e.g. encoder.max_steps=600")
        per_method.setdefault(method.strip(), {}).update(_parse_params([rest], flag="--set"))
    result = compare(args.data, methods, output=args.output, split=args.split, test_data=args.test_data, leave_one_out=loo,
                     verbose=not args.quiet, config=args.config, method_settings=per_method, **settings)
    print(result.table())
    print(f"report written to {result.report}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from sectune.methods.base import load

    clf = load(args.model_dir, verbose=False, **switches(args))
    if not hasattr(clf, "explain"):
        raise SectuneError(f"a '{clf.name}' model cannot explain its predictions (features-logreg and rules can)")
    score = float(clf.predict_proba([args.text])[0, -1])
    threshold = clf.threshold_ if clf.threshold_ is not None else 0.5
    verdict = "ALERT" if score >= threshold else "no alert"
    print(f"score {score:.4f} = P({clf.labels_[-1]}); threshold {threshold:.4f}: {verdict}")
    items = clf.explain(args.text, top=args.top) if "top" in clf.explain.__code__.co_varnames else clf.explain(args.text)
    print(f"  {'what':<24} {'value':>24} {'contribution':>13}")
    for name, value, contribution in items:
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"  {name:<24} {shown[:24]:>24} {contribution:>+13.3f}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from sectune.methods.causal_llm import merge_model

    print(f"merged model written to {merge_model(args.model_dir, args.output, **switches(args))}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from sectune.demo import run_demo

    run_demo(Path(args.output), max_steps=args.max_steps, verbose=not args.quiet)
    return 0


COMMANDS = {"scan": lambda args: run_scan_command(args), "compare": cmd_compare, "explain": cmd_explain, "train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict, "data": cmd_data, "demo": cmd_demo,
            "merge": cmd_merge}


def configure_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="sectune: %(message)s", stream=sys.stderr)
    for noisy in ("transformers", "huggingface_hub", "peft", "accelerate", "urllib3", "matplotlib", "bitsandbytes"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()  # weight-loading bars; the Trainer's own bar stays
    except ImportError:  # pragma: no cover
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.quiet)
    try:
        return COMMANDS[args.command](args)
    except SectuneError as exc:
        print(f"sectune: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("sectune: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
