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
from sectune.calibrate import add_calibrate_parser, run_calibrate_command
from sectune.config import TrainConfig
from sectune.distributed import is_main_process
from sectune.engines import add_engine_flags, check_engine, engine_options
from sectune.engines import predictions as scored_rows
from sectune.errors import SectuneError, shorten
from sectune.export import add_export_parser, run_export_command
from sectune.methods.base import REGISTRY
from sectune.scan import add_scan_parser, run_scan_command
from sectune.security import add_switch_flags, switches
from sectune.serving.cli import add_serve_parser, run_serve_command
from sectune.settings import add_flags, method_settings, restricted, task_settings
from sectune.tasks import TASKS, Task, task_class

log = logging.getLogger("sectune")
TASK_HELP = (
    f"the kind of data: {', '.join(TASKS)} (default generic; a task sets the columns, split, prompt and extra metrics)"
)


def _train_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a classifier on a data file and write a model directory",
        description="Train a method on CSV/TSV/JSONL/Parquet data (text + label columns).",
    )
    p.add_argument(
        "data",
        nargs="*",
        help="training data (.csv, .tsv, .jsonl, .parquet, optionally .gz); several files are read as one (--task cwe "
        "keeps one row per CVE id: NVD's label, else the CNA's, else ADP's; the file named first among equals)",
    )
    p.add_argument("--config", help="YAML file with the same keys as these flags (flags override it)")
    p.add_argument("--output", "-o", help="model directory to write (written atomically)")
    p.add_argument("--method", help=f"{', '.join(REGISTRY)} (default encoder)")
    p.add_argument("--task", choices=list(TASKS), help=TASK_HELP)
    p.add_argument("--text-column", help="column holding the text (default: text)")
    p.add_argument("--label-column", help="column holding the label (default: label); a list takes its first item")
    p.add_argument("--split", help="stratified (default), random, time:COLUMN or group:COLUMN")
    p.add_argument("--test-size", type=float, help="share of rows held out for the test (default 0.2)")
    p.add_argument(
        "--validation-size", type=float, help="share of training rows held out for early stopping (default 0.1)"
    )
    p.add_argument("--seed", type=int, help="random seed for split, initialisation and data order (default 42)")
    p.add_argument("--eval-data", help="a separate test file instead of a split")
    p.add_argument("--min-examples", type=int, help="drop classes with fewer rows than this")
    p.add_argument(
        "--target-fpr",
        type=float,
        help="binary tasks: choose the threshold for this false-positive rate on validation rows (default 0.001)",
    )
    p.add_argument(
        "--resume", action="store_true", default=None, help="continue an interrupted run from its last checkpoint"
    )
    t = p.add_argument_group("task settings (each names the tasks that take it)")
    add_flags(t, list(task_settings().values()))
    g = p.add_argument_group("method parameters (each names the methods that take it; another method refuses it)")
    add_flags(g, [setting for name, setting in method_settings().items() if name not in TrainConfig.model_fields])
    add_switch_flags(g)
    g.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any method or task setting, e.g. C=5 (YAML value)",
    )


# Real command lines for each command's --help, by its path. ``data``'s sub-commands are added by the tasks, and
# every parser, at any depth, takes its epilog from this one table (a test checks that none is missing).
EXAMPLES: dict[str, tuple[str, ...]] = {
    "": (
        "sectune data cmdline --n 20000 --output cmdlines.jsonl",
        "sectune train cmdlines.jsonl --task cmdline --method features-logreg --output cmd-model/",
        "sectune scan cmd-model/ process-log.jsonl --output alerts.jsonl",
    ),
    "train": (
        "sectune train alerts.csv --text-column message --label-column verdict --output model/",
        "sectune train cmdlines.jsonl --task cmdline --method features-logreg --output cmd-model/",
        "sectune train cve.jsonl.gz --task cwe --method tfidf-logreg --rollup 1003 --min-examples 5 --output cwe-model/",
        "sectune train cve.jsonl.gz nvd.jsonl.gz --task cwe --method tfidf-logreg --output cwe-model/  # CNA + NVD labels",
    ),
    "evaluate": (
        "sectune evaluate model/ holdout.csv",
        "sectune evaluate cmd-model/ real-lines.jsonl --json",
        "sectune evaluate --method causal-llm --zero-shot cmdlines.jsonl --task cmdline   # the untouched LLM",
    ),
    "merge": ("sectune merge llm/ --output llm-merged/",),
    "predict": (
        "sectune predict model/ new.txt --top-k 3                  # one text a line",
        "cat new.txt | sectune predict cmd-model/ - --output predictions.jsonl",
        "sectune predict cwe-model/ cves/2024/ --top-k 3 --format text   # raw CVE records: the triage queue",
    ),
    "compare": (
        "sectune compare cmdlines.jsonl --methods rules,features-logreg,tfidf-logreg",
        "sectune compare cmdlines.jsonl --methods features-logreg,encoder --set encoder.max_steps=600",
        "sectune compare cmdlines.jsonl --test-data real-lines.jsonl --leave-one-out rules,features-logreg",
    ),
    "scan": (
        "sectune scan cmd-model/ process-log.jsonl.gz --output alerts.jsonl",
        "sectune scan cmd-model/ sysmon.xml --format sysmon-xml --threshold 0.9",
        "sectune scan cmd-model/ /var/log/audit/audit.log --follow",
        "sectune scan cmd-model/ 'logs/*.jsonl.gz' --engine ray --output alerts.jsonl",
    ),
    "calibrate": ("sectune calibrate cmd-model/ benign-week.jsonl --field process.command_line --target-fpr 0.001",),
    "export": (
        "sectune export model/ --format onnx --quantize int8 --output model-int8/",
        "sectune export cmd-model/ --format onnx --eval-data real-lines.jsonl --output cmd-model-onnx/",
    ),
    "explain": ("sectune explain cmd-model/ 'powershell -e UwBlAGwAZQBjAHQA'",),
    "serve": (
        "sectune serve cwe-model/ cmd-model/                 # http://127.0.0.1:8080/ (page, /v2, /metrics)",
        "SECTUNE_SERVE_TOKEN=$(openssl rand -hex 24) sectune serve cmd-model/ --host 0.0.0.0 --port 9000",
    ),
    "data": (
        "sectune data cmdline --n 20000 --output cmdlines.jsonl",
        "sectune data cve cvelistV5-main.zip --output cve.jsonl.gz",
        "sectune data cwe-examples --output cwe-examples.jsonl",
    ),
    "data cve": (
        "sectune data cve cvelistV5-main.zip --output cve.jsonl.gz",
        "sectune data cve --fetch --output cve.jsonl.gz               # downloads the CVE List, resumes",
        "sectune data cve cves/ --since 2024-11-01 --output new.jsonl",
    ),
    "data cwe-examples": (
        "sectune data cwe-examples --output cwe-examples.jsonl --min-examples 1",
        "sectune train cve.jsonl.gz cwe-examples.jsonl --task cwe --method tfidf-logreg --output cwe-model/",
    ),
    "data cmdline": (
        "sectune data cmdline --shells bash,cmd,powershell --n 20000 --obfuscated 0.5 --output cmdlines.jsonl",
        "sectune data cmdline --from my_process_log.txt --output mine.jsonl   # your own benign lines as seeds",
        "sectune data cmdline --list-techniques",
    ),
    "demo": ("sectune demo", "sectune demo --output demo-output --max-steps 60   # quicker, weaker models"),
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Examples kept as written, and every option's default in its help unless the help already states it.

    Options whose default is None or off say nothing: argparse's ArgumentDefaultsHelpFormatter would print
    "default: None" on every flag whose real default belongs to the chosen method or task (which its help names).
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            default is None
            or default is False
            or default == argparse.SUPPRESS
            or default == []
            or not action.option_strings
            or "%(default)" in text
            or states_default(text, default)
        ):
            return action.help
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def states_default(text: str, default: Any) -> bool:
    """Whether a help text already names ``default`` as the default (written by hand: "default 1024")."""
    squeezed = "".join(text.split())
    return "default" in squeezed.lower() and "".join(str(default).split()) in squeezed


def finish_help(parser: argparse.ArgumentParser, path: str = "") -> None:
    """Every parser, at any depth, gets the formatter, and its examples (``EXAMPLES[path]``) as the epilog."""
    parser.formatter_class = HelpFormatter
    examples = EXAMPLES.get(path)
    if examples and not parser.epilog:
        parser.epilog = "Examples:\n" + "\n".join(f"  {line}" for line in examples)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                finish_help(sub, f"{path} {name}".strip())


# What shapes an untouched causal LM at inference: the flags of ``evaluate --zero-shot``.
ZERO_SHOT_PARAMS = ("model", "max_length", "precision", "prompt_template", "chat", "quantize")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sectune", description="Turn pretrained language models into security classifiers."
    )
    parser.add_argument("--version", action="version", version=f"sectune {__version__}")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars or logs, only results and errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _train_parser(sub)

    p = sub.add_parser("evaluate", help="score a model on a labelled data file (or an untouched LLM: --zero-shot DATA)")
    p.add_argument("model_dir", help="a model directory (with --zero-shot: the data file)")
    p.add_argument("data", nargs="?", help="labelled data (.csv, .tsv, .jsonl, .parquet, optionally .gz)")
    p.add_argument("--text-column", help="column holding the text (default: the one the model was trained on)")
    p.add_argument("--label-column", help="column holding the label (default: the one the model was trained on)")
    p.add_argument(
        "--output",
        "-o",
        help="folder for metrics.json, per_class.csv, confusion.png (default: MODEL_DIR/eval/DATA; with --zero-shot: none)",
    )
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    z = p.add_argument_group("zero-shot (sectune evaluate --method causal-llm --zero-shot DATA)")
    z.add_argument(
        "--zero-shot", action="store_true", help="evaluate an untouched model; the labels come from the data"
    )
    z.add_argument("--method", default="causal-llm", help="the method to run untouched")
    z.add_argument("--task", choices=list(TASKS), default="generic", help=TASK_HELP)
    add_flags(z, restricted("causal-llm", ZERO_SHOT_PARAMS))
    add_switch_flags(p)

    p = sub.add_parser("merge", help="merge a causal-llm model's LoRA adapter into full weights")
    p.add_argument("model_dir", help="a causal-llm model directory holding a LoRA adapter")
    p.add_argument("--output", "-o", required=True, help="the merged model directory (loadable without peft)")
    add_switch_flags(p)

    p = sub.add_parser("predict", help="top-k predictions for texts, as JSONL")
    p.add_argument("model_dir", help="a model directory")
    p.add_argument("input", help="a data file, a text file (one text a line) or - for stdin")
    p.add_argument("--top-k", type=int, default=3, help="labels suggested per text, best first")
    p.add_argument("--output", "-o", help="JSONL file to write (default: stdout)")
    p.add_argument(
        "--text-column", help="column holding the text (default: the one the model was trained on, else text)"
    )
    p.add_argument("--id-column", help="column to use as id (default: the line/row number)")
    p.add_argument("--batch-size", type=int, default=1024, help="texts scored at a time")
    p.add_argument("--format", choices=["jsonl", "text"], default="jsonl", help="text: one readable block per input")
    p.add_argument(
        "--labels",
        default="cna-then-adp",
        help="raw input of the model's task (CVE records): which source's labels are the stated ones",
    )
    add_switch_flags(p)
    add_engine_flags(p)

    p = sub.add_parser("compare", help="train several methods on one split and compare them (binary detection)")
    p.add_argument("data", help="labelled data: text and a 0/1 label (e.g. from sectune data cmdline)")
    p.add_argument("--methods", default="rules,features-logreg,charcnn,encoder", help="comma-separated method names")
    p.add_argument(
        "--task",
        choices=list(TASKS),
        default="cmdline",
        help="the kind of data and its breakdowns (default cmdline: per shell, per technique, leave one family out)",
    )
    p.add_argument(
        "--split", help="default: the task's (cmdline: group:orig, a line and its obfuscated twins stay on one side)"
    )
    p.add_argument("--test-data", help="compare on this separate file (e.g. train on generated, test on real)")
    p.add_argument(
        "--output", "-o", default="compare-output", help="folder for report.md, roc.png, techniques.png, models/"
    )
    p.add_argument(
        "--leave-one-out",
        default="none",
        help="methods that also get leave-one-technique-family-out runs: none (default), all, or a list such as "
        "rules,features-logreg; each listed method is retrained once per technique family in the test rows "
        "(about 15 times), so keep it to cheap methods",
    )
    p.add_argument("--text-column", help="column holding the text (default: the task's, cmdline: text)")
    p.add_argument("--label-column", help="column holding the label (default: the task's, cmdline: label)")
    p.add_argument("--max-steps", type=int, help="budget for the fine-tuned methods (default: each method's own)")
    p.add_argument(
        "--target-fpr", type=float, help="choose each threshold for this false-positive rate (default 0.001)"
    )
    p.add_argument("--seed", type=int, help="random seed for the split and every method (default 42)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="METHOD.KEY=VALUE",
        help="a setting for one method only, e.g. --set encoder.max_steps=600 --set features-logreg.C=4 (repeatable)",
    )
    p.add_argument("--config", help="YAML with shared training settings")

    add_scan_parser(sub)
    add_serve_parser(sub)
    add_calibrate_parser(sub)
    add_export_parser(sub)

    p = sub.add_parser("explain", help="why a model scores a line as it does (methods that can explain)")
    p.add_argument("model_dir", help="a model directory of a method that explains (rules, features-logreg, ...)")
    p.add_argument("text", help="the line to explain")
    p.add_argument("--top", type=int, default=8, help="the largest contributions to show")
    add_switch_flags(p)

    p = sub.add_parser("data", help="build data sets")
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="SOURCE")
    for name in TASKS:  # each task adds its own data builders (cwe: cve, cwe-examples; cmdline: cmdline)
        task_class(name).add_data_parsers(data_sub)

    p = sub.add_parser(
        "demo",
        help="the CWE demo (fine-tune the default encoder, evaluate, predict) and a short ladder of command-line detectors",
    )
    p.add_argument("--output", "-o", default="demo-output", help="folder for the demo's models and reports")
    p.add_argument(
        "--max-steps", type=int, default=None, help="cap every neural training at this many steps (default: the demo's)"
    )
    finish_help(parser)
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
            raise SectuneError(
                f"{flag} '{shorten(key.strip())}': the value is not valid YAML ({shorten(problem, 60)})"
            ) from None
    return params


def cmd_train(args: argparse.Namespace) -> int:
    from sectune.api import train
    from sectune.metrics import format_metrics_table

    settable = set(TrainConfig.model_fields) | set(method_settings()) | set(task_settings())
    settings = {k: v for k, v in vars(args).items() if k in settable - {"data", "output", "params"} and v is not None}
    if args.param:
        settings["params"] = _parse_params(args.param)
    if not args.config and (not args.data or not args.output):
        raise SectuneError("train needs DATA and --output (or a --config that names them)")
    result = train(args.data, output=args.output, config=args.config, verbose=not args.quiet, **settings)
    if not is_main_process():  # `accelerate launch`: the main process wrote the model and reports the results
        return 0
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
        params = {k: getattr(args, k) for k in ZERO_SHOT_PARAMS if getattr(args, k) is not None}
        params.update(switches(args))
        output = args.output  # no report folder unless asked: an untouched model leaves nothing behind
        metrics = zero_shot(
            data,
            method=args.method,
            task=args.task,
            text_column=args.text_column,
            label_column=args.label_column,
            output=output,
            verbose=not args.quiet,
            **params,
        )
    else:
        if args.data is None:
            raise SectuneError("evaluate needs MODEL_DIR and DATA (or --zero-shot DATA)")
        output = args.output or str(Path(args.model_dir) / "eval" / Path(args.data).name.split(".")[0])
        metrics = evaluate(
            args.model_dir,
            args.data,
            text_column=args.text_column,
            label_column=args.label_column,
            output=output,
            verbose=not args.quiet,
            **switches(args),
        )
    if args.json:
        print(json.dumps(metrics, ensure_ascii=False))
    else:
        print(format_metrics_table(metrics))
        if output:
            print(f"report written to {output}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from sectune.io import atomic_write, progress_bar, read_texts
    from sectune.methods.base import load
    from sectune.outputs import check_output_file

    if args.top_k < 1:
        raise SectuneError("--top-k must be at least 1")
    engine = engine_options(args)
    check_engine(engine["engine"])  # a missing engine package: one line, before any work
    if args.output:
        check_output_file(args.output, inputs=[args.input, args.model_dir])
    clf = load(args.model_dir, verbose=not args.quiet, **switches(args))  # a slow model's own bar, per batch
    task = Task.for_model(clf)
    raw = (
        task.read_raw(args.input, labels=args.labels, progress=not args.quiet)
        if task.is_raw_source(args.input)
        else None
    )
    if raw is not None:  # the task's own records (CVE: the triage queue, with the CWE each record states)
        ids, texts, stated = raw.ids, raw.texts, raw.stated
    else:
        column = args.text_column or clf.run.training.data.text_column or "text"  # the column it was trained on
        table = read_texts(args.input, text_column=column, id_column=args.id_column)
        ids, texts, stated = table.columns.get("id") or table.rows, table.texts, None
    started = time.perf_counter()
    progress = progress_bar(
        not args.quiet and len(texts) >= 2 * args.batch_size, total=len(texts), desc="predicting", unit="text"
    )

    def write(handle) -> None:
        kw = {"top_k": args.top_k, "batch_size": args.batch_size, "switches": switches(args), **engine}
        for i, scored in enumerate(scored_rows(clf, args.model_dir, texts, progress=not args.quiet, **kw)):
            predictions = scored["predictions"]
            row: dict[str, Any] = {"id": ids[i]}
            if raw is not None:  # disagrees: the record's labels (as the model's labels map them) are not in the top-k
                top = {p["label"] for p in predictions}
                row[raw.stated_key] = stated[i]
                row["disagrees"] = bool(stated[i]) and not top & set(task.map_labels(stated[i]))
            row.update(scored)  # predictions, and a binary model's decision at its threshold
            handle.write(format_prediction(row, args.format, stated_key=raw.stated_key if raw is not None else None))
            progress.update(1)

    if args.output:
        with atomic_write(args.output) as handle:
            write(handle)
    else:
        write(sys.stdout)
    progress.close()
    seconds = time.perf_counter() - started
    if not args.quiet:
        print(
            f"sectune: {len(texts)} texts in {seconds:.2f} s ({len(texts) / max(seconds, 1e-9):,.0f} texts/s)",
            file=sys.stderr,
        )
    return 0


def format_prediction(row: dict[str, Any], fmt: str, stated_key: str | None = None) -> str:
    """One JSON line, or a readable block: the id (and the labels a raw record states, under ``stated_key``),
    then ``LABEL  name  score`` per suggestion."""
    if fmt == "jsonl":
        return json.dumps(row, ensure_ascii=False) + "\n"
    head = str(row["id"])
    if stated_key in row:
        head += f"  (stated: {', '.join(row[stated_key]) or 'none'}{'; disagrees' if row.get('disagrees') else ''})"
    if "decision" in row:
        head += f"  decision: {row['decision']}"
    lines = [head]
    for p in row["predictions"]:
        name = f"  {p['name']}" if p.get("name") else ""
        lines.append(f"  {p['label']:<9}{name}  {p['score']:.2f}")
    return "\n".join(lines) + "\n"


def cmd_data(args: argparse.Namespace) -> int:
    return args.run_data(args)  # set by the task that added the sub-command


def cmd_compare(args: argparse.Namespace) -> int:
    from sectune.compare import compare

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    loo = None if args.leave_one_out == "all" else [] if args.leave_one_out == "none" else args.leave_one_out.split(",")
    settings = {
        k: getattr(args, k)
        for k in ("text_column", "label_column", "max_steps", "target_fpr", "seed")
        if getattr(args, k) is not None
    }
    per_method: dict[str, dict[str, Any]] = {}
    for item in args.set:
        method, dot, rest = item.partition(".")
        if not dot or "=" not in rest:
            raise SectuneError(f"--set '{shorten(item)}': expected METHOD.KEY=VALUE, e.g. encoder.max_steps=600")
        per_method.setdefault(method.strip(), {}).update(_parse_params([rest], flag="--set"))
    result = compare(
        args.data,
        methods,
        output=args.output,
        split=args.split,
        test_data=args.test_data,
        task=args.task,
        leave_one_out=loo,
        verbose=not args.quiet,
        config=args.config,
        method_settings=per_method,
        **settings,
    )
    print(result.table())
    print(f"report written to {result.report}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from sectune.methods.base import load

    clf = load(args.model_dir, verbose=False, **switches(args))
    items = clf.explain(args.text, top=args.top)  # before any output: a method that cannot explain says so in one line
    score = float(clf.predict_proba([args.text])[0, -1])
    threshold = clf.threshold_ if clf.threshold_ is not None else 0.5
    verdict = "ALERT" if score >= threshold else "no alert"
    print(f"score {score:.4f} = P({clf.labels_[-1]}); threshold {threshold:.4f}: {verdict}")
    width = max([24, *(len(name) for name, _, _ in items)])
    print(f"  {'what':<{width}} {'contribution':>12}  value")
    for name, value, contribution in items:  # value last and whole: a reason in words must not be cut
        shown = f"{value:.4f}" if isinstance(value, float) else " ".join(str(value).split())
        print(f"  {name:<{width}} {contribution:>+12.3f}  {shown[:160]}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from sectune.methods.causal_llm import merge_model

    print(f"merged model written to {merge_model(args.model_dir, args.output, **switches(args))}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from sectune.demo import run_demo

    run_demo(Path(args.output), max_steps=args.max_steps, verbose=not args.quiet)
    return 0


COMMANDS = {
    "scan": lambda args: run_scan_command(args),
    "serve": run_serve_command,
    "calibrate": run_calibrate_command,
    "export": run_export_command,
    "compare": cmd_compare,
    "explain": cmd_explain,
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "data": cmd_data,
    "demo": cmd_demo,
    "merge": cmd_merge,
}


def configure_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO, format="sectune: %(message)s", stream=sys.stderr
    )
    for noisy in ("transformers", "huggingface_hub", "peft", "accelerate", "urllib3", "matplotlib", "bitsandbytes"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not sys.stderr.isatty():  # a log file, not a terminal: redrawn bars leave "\r" and "\x1b[A" debris in it
        os.environ.setdefault("TQDM_DISABLE", "1")  # read when tqdm is first imported, which is later
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()  # weight-loading bars; the Trainer's own bar stays
    except ImportError:  # pragma: no cover
        pass


def accept_global_options_everywhere(parser: argparse.ArgumentParser) -> None:
    """``--quiet`` works where users type it: before the command or after it (``sectune train DATA --quiet``).

    Every sub-command, at any depth, gets a copy whose default is SUPPRESS, so it sets the flag only
    when given and never resets the top-level one.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if "--quiet" not in sub._option_string_actions:
                    sub.add_argument(
                        "--quiet",
                        "-q",
                        action="store_true",
                        default=argparse.SUPPRESS,
                        help="no progress bars or logs, only results and errors",
                    )
                accept_global_options_everywhere(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    accept_global_options_everywhere(parser)
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
