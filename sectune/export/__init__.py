"""``sectune export MODEL_DIR --format onnx [--quantize int8] --output DIR``: a model for torch-free inference.

The exported directory is itself a sectune model (``sectune.json`` with an ``export`` block): ``sectune.load``,
predict, evaluate and scan run it through onnxruntime (``encoder``, ``charcnn``: :mod:`.onnx_backend`) or the
method's own numpy path (``tfidf-logreg``, ``features-logreg``, ``shell-features``, ``rules``:
:mod:`.linear_backend`), never importing torch, and nothing in it is pickle or code.

An export is checked before it is kept: the original and the exported model score the same rows (``--eval-data``,
else the test split the model's ``config.yaml`` names); when accuracy or F1 drops by more than ``--max-delta`` the
export is refused (unless ``--force``) and nothing is written. The drop, the largest probability difference and
the measured speed-up go into ``sectune.json`` and the model card. Peers' exports have shipped heads that silently
differ from the torch model; this check is what stops that here.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from sectune.errors import SectuneError
from sectune.methods.base import Classifier, read_info
from sectune.security import add_switch_flags, switches

log = logging.getLogger("sectune")

FORMATS = ("onnx",)
MAX_DELTA = 0.005
COMPARED = ("accuracy", "macro_f1", "f1")  # top-1 and F1: a drop in any beyond --max-delta refuses the export
COPIED = ("metrics.json", "per_class.csv", "config.yaml", "confusion.png", "training_curve.png")
NOT_EXPORTABLE = {
    "causal-llm": "its score is the language model's probability of each label's answer after a prompt (a decoder "
    "pass with a cache per label), which this exporter does not build; run it with torch (sectune merge makes it "
    "one model)",
    "embed-logreg": "its sentence-embedding model and head have no ONNX export yet; run it with torch",
}


@dataclass
class ExportResult:
    output: Path
    export: dict[str, Any]  # the block written to sectune.json

    def table(self) -> str:
        """The check as a short text table: each metric before and after, the speed-up."""
        check = self.export["check"]
        lines = [f"{'metric':<12} {'original':>10} {'exported':>10} {'change':>10}"]
        for name, row in check["metrics"].items():
            lines.append(f"{name:<12} {row['original']:>10.4f} {row['exported']:>10.4f} {row['change']:>+10.4f}")
        speed = check["texts_per_second"]
        lines.append(
            f"{check['rows']} rows; texts/s {speed['original']:,.0f} -> {speed['exported']:,.0f} "
            f"({check['speedup']:.2f}x); largest probability difference {check['max_abs_proba_diff']:.2e}"
        )
        return "\n".join(lines)


# --- loading (no torch) ------------------------------------------------------------------------------
def load_exported(directory: str | Path, info: Mapping[str, Any], **runtime: Any) -> Classifier:
    """Load a directory ``sectune export`` wrote, by the runtime its ``export`` block names."""
    runtime_name = info["export"].get("runtime")
    if runtime_name == "onnxruntime":
        from sectune.export.onnx_backend import OnnxClassifier

        return OnnxClassifier.from_export(directory, info, **runtime)
    if runtime_name == "numpy":
        from sectune.export.linear_backend import load_numpy

        return load_numpy(directory, info, **runtime)
    raise SectuneError(f"sectune.json field 'export.runtime': unknown runtime {runtime_name!r}", path=directory)


# --- export ------------------------------------------------------------------------------------------
def export_model(
    model_dir: str | Path,
    output: str | Path,
    *,
    format: str = "onnx",
    quantize: str | None = None,
    eval_data: str | Path | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    max_delta: float = MAX_DELTA,
    force: bool = False,
    verbose: bool = True,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
) -> ExportResult:
    """Export ``model_dir`` into ``output`` (see the module docstring); refuse in one line, writing nothing, when the
    method cannot be exported or the export scores worse than ``max_delta`` below the original."""
    from sectune.export.linear_backend import NUMPY_METHODS
    from sectune.export.onnx_backend import ONNX_METHODS, QUANTIZE
    from sectune.methods.base import load
    from sectune.outputs import check_output_dir, staged_dir

    if format not in FORMATS:
        raise SectuneError(f"unknown export format '{format}' (available: {', '.join(FORMATS)})")
    if quantize not in (None, "none", *QUANTIZE):
        raise SectuneError(f"unknown quantization '{quantize}' (available: {', '.join(QUANTIZE)})")
    quantize = None if quantize == "none" else quantize
    if not 0 <= max_delta < 1:
        raise SectuneError(f"--max-delta must be between 0 and 1, got {max_delta}")
    info = read_info(model_dir)  # one line when it is not a model, before anything is loaded
    if info.get("export"):
        raise SectuneError("is already an exported model; export the original model directory", path=model_dir)
    method = info["method"]
    if method in NOT_EXPORTABLE:
        raise SectuneError(f"a {method} model cannot be exported to ONNX: {NOT_EXPORTABLE[method]}")
    if method not in (*ONNX_METHODS, *NUMPY_METHODS):
        raise SectuneError(
            f"a '{method}' model cannot be exported (exportable: {', '.join(ONNX_METHODS + NUMPY_METHODS)})"
        )
    if quantize and method in NUMPY_METHODS:
        raise SectuneError(
            f"--quantize {quantize} is for the neural methods ({', '.join(ONNX_METHODS)}); {method} exports to its "
            "numpy path, which has no network to quantize"
        )
    check_output_dir(output, inputs=[model_dir, eval_data])

    original = load(model_dir, verbose=False, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    table, rows_from = _eval_rows(original, Path(model_dir), eval_data, text_column, label_column, verbose)
    with staged_dir(output) as stage:
        try:
            export = _build(original, info, Path(model_dir), stage, method, quantize, verbose)
            _write_info(stage, info, export)
            exported = load(stage, verbose=False)  # as users will load it
            export["check"] = _check(original, exported, table, rows_from, max_delta, force)
            _write_info(stage, info, export)
            _write_card(stage, Path(model_dir))
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)  # nothing half-written stays behind
            raise
    return ExportResult(output=Path(output), export=export)


def _build(
    original: Classifier,
    info: Mapping[str, Any],
    source: Path,
    stage: Path,
    method: str,
    quantize: str | None,
    verbose: bool,
) -> dict[str, Any]:
    """Write the exported model's files into ``stage``; return the ``export`` block (without the check)."""
    from importlib.metadata import version

    for leftover in stage.iterdir():  # an older, failed export's staging folder
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    block: dict[str, Any] = {"format": "onnx", "source": str(source.resolve()), "quantize": quantize}
    started = time.perf_counter()
    if method == "encoder" or method == "charcnn":
        import importlib.util

        missing = [name for name in ("onnx", "onnxruntime", "onnxscript") if importlib.util.find_spec(name) is None]
        if missing:
            raise SectuneError(f"exporting to ONNX needs {', '.join(missing)}: pip install 'sectune[onnx]'")
        from sectune.export import onnx_backend

        if verbose:
            log.info("exporting the %s network to ONNX with torch.onnx.export ...", method)
        facts = (onnx_backend.export_encoder if method == "encoder" else onnx_backend.export_charcnn)(original, stage)
        if quantize == "int8":
            onnx_backend.quantize_int8(stage)
        block.update(facts, runtime="onnxruntime", file=onnx_backend.ONNX_FILE)
        block["versions"] = {name: version(name) for name in ("onnx", "onnxruntime")}
    else:
        from sectune.export.linear_backend import export_numpy

        block.update(export_numpy(original, stage), format="numpy")
    block["export_seconds"] = round(time.perf_counter() - started, 2)
    return block


def _eval_rows(
    clf: Classifier,
    model_dir: Path,
    eval_data: str | Path | None,
    text_column: str | None,
    label_column: str | None,
    verbose: bool,
):
    """The labelled rows both models are scored on, and where they come from: ``eval_data``, else the test split
    of the run the model's ``config.yaml`` describes (the same split: it is seeded)."""
    from sectune.io import read_table
    from sectune.tasks import Task

    task = Task.for_model(clf)
    if eval_data is not None:
        trained_on = clf.run.training.data
        table = read_table(
            eval_data,
            text_column or trained_on.text_column or "text",
            label_column or trained_on.label_column or "label",
            progress=verbose,
        )
        table, _ = task.prepare(table)
        where = str(eval_data)
    else:
        from sectune.api import load_split
        from sectune.config import load_config
        from sectune.methods.base import method_class

        config = model_dir / "config.yaml"
        if not config.is_file():
            raise SectuneError(
                "names no rows to check the export on (no config.yaml): pass --eval-data FILE", path=model_dir
            )
        cfg = load_config(config, {})
        try:
            split = load_split(cfg, needs_validation=method_class(clf.name).tags.uses_validation, verbose=False)
        except SectuneError as exc:
            raise SectuneError(
                f"cannot rebuild the test rows its config.yaml names ({exc}); pass --eval-data FILE"
            ) from None
        table, where = split.test, f"the test split of {cfg.data}"
    if not len(table):
        raise SectuneError("holds no rows to check the export on", path=eval_data or model_dir)
    return table, where


def _timed(clf: Classifier, texts: list[str], budget: float = 1.0) -> tuple[np.ndarray, float]:
    """Probabilities of ``texts`` and the best seconds of up to 5 passes within ``budget`` seconds, after a warm-up
    (sessions, caches, threads): one pass over a few rows is too noisy to call a speed-up."""
    clf.predict_proba(texts[:8])
    best, spent, proba = float("inf"), 0.0, None
    for _ in range(5):
        started = time.perf_counter()
        proba = clf.predict_proba(texts)
        seconds = time.perf_counter() - started
        best, spent = min(best, seconds), spent + seconds
        if spent >= budget:
            break
    return proba, best


def _check(
    original: Classifier, exported: Classifier, table, rows_from: str, max_delta: float, force: bool
) -> dict[str, Any]:
    """Score both models on ``table``; refuse an export whose accuracy or F1 drops by more than ``max_delta``."""
    from sectune.tasks import Task

    task = Task.for_model(original)
    before, seconds_before = _timed(original, table.texts)
    after, seconds_after = _timed(exported, table.texts)
    scored_before, scored_after = task.metrics(original, table, before), task.metrics(exported, table, after)
    metrics = {
        key: {
            "original": round(float(scored_before[key]), 6),
            "exported": round(float(scored_after[key]), 6),
            "change": round(float(scored_after[key]) - float(scored_before[key]), 6),
        }
        for key in COMPARED
        if isinstance(scored_before.get(key), (int, float)) and isinstance(scored_after.get(key), (int, float))
    }
    drop = max([0.0, *(-row["change"] for row in metrics.values())])
    rate_before, rate_after = len(table) / max(seconds_before, 1e-9), len(table) / max(seconds_after, 1e-9)
    check = {
        "rows": len(table),
        "data": rows_from,
        "metrics": metrics,
        "max_drop": round(drop, 6),
        "max_delta": max_delta,
        "forced": bool(force and drop > max_delta),
        "max_abs_proba_diff": float(np.abs(after - before).max(initial=0.0)),
        "texts_per_second": {"original": round(rate_before, 1), "exported": round(rate_after, 1)},
        "speedup": round(rate_after / rate_before, 3),
    }
    if drop > max_delta and not force:
        worst = min(metrics, key=lambda key: metrics[key]["change"])
        raise SectuneError(
            f"export refused: {worst} drops by {drop:.4f} on {len(table)} rows of {rows_from} "
            f"(from {metrics[worst]['original']:.4f} to {metrics[worst]['exported']:.4f}), more than --max-delta "
            f"{max_delta}; nothing was written (--force keeps it anyway)"
        )
    if check["forced"]:
        log.warning("export kept with --force: %s drops by %.4f (more than --max-delta %s)", rows_from, drop, max_delta)
    return check


def _write_info(stage: Path, info: Mapping[str, Any], export: dict[str, Any]) -> None:
    """sectune.json: the original's loading fields and run record, plus the ``export`` block; checked against the
    schema at once, so a bad block fails the export before it is kept."""
    from sectune.io import atomic_write

    written = {**{k: v for k, v in info.items() if k != "export"}, "export": export}
    with atomic_write(stage / "sectune.json") as handle:
        handle.write(json.dumps(written, indent=2, ensure_ascii=False) + "\n")
    read_info(stage)


def _write_card(stage: Path, source: Path) -> None:
    """The original's reports (metrics, config.yaml, plots) and the model card, with the export's check."""
    from sectune.card import render_model_card
    from sectune.io import atomic_write

    for name in COPIED:
        if (source / name).is_file():
            shutil.copy2(source / name, stage / name)
    metrics_path = stage / "metrics.json"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
    with atomic_write(stage / "README.md") as handle:
        handle.write(render_model_card(read_info(stage), metrics))


# --- command line ------------------------------------------------------------------------------------
def add_export_parser(subparsers) -> argparse.ArgumentParser:
    """``sectune export``: add the sub-command to the top-level sub-parsers."""
    p = subparsers.add_parser(
        "export",
        help="export a model for torch-free inference (ONNX, optional int8), checked against the original",
        description="Write MODEL_DIR as a model that runs without torch: encoder and charcnn as ONNX (onnxruntime, "
        "optionally int8), tfidf-logreg, features-logreg, shell-features and rules on their numpy path. The export "
        "is scored beside the original on --eval-data (else the test split of the model's config.yaml) and refused "
        "when accuracy or F1 drops by more than --max-delta; the change and the speed-up go into its model card.",
    )
    p.add_argument("model_dir", metavar="MODEL_DIR", help="a trained model directory")
    p.add_argument("--format", dest="export_format", choices=FORMATS, default="onnx", help="export format")
    p.add_argument(
        "--quantize", choices=("int8", "none"), help="onnxruntime dynamic int8 quantization (encoder, charcnn)"
    )
    p.add_argument("--output", "-o", required=True, help="folder for the exported model")
    p.add_argument("--eval-data", help="labelled rows to check the export on (default: the model's own test split)")
    p.add_argument("--text-column", help="column holding the text (default: the one the model was trained on)")
    p.add_argument("--label-column", help="column holding the label (default: the one the model was trained on)")
    p.add_argument(
        "--max-delta",
        type=float,
        default=MAX_DELTA,
        help=f"refuse the export when accuracy or F1 drops by more than this (default {MAX_DELTA})",
    )
    p.add_argument("--force", action="store_true", help="keep the export even when it drops by more than --max-delta")
    add_switch_flags(p)
    return p


def run_export_command(args: argparse.Namespace) -> int:
    quiet = getattr(args, "quiet", False)
    result = export_model(
        args.model_dir,
        args.output,
        format=args.export_format,
        quantize=args.quantize,
        eval_data=args.eval_data,
        text_column=args.text_column,
        label_column=args.label_column,
        max_delta=args.max_delta,
        force=args.force,
        verbose=not quiet,
        **switches(args),
    )
    print(result.table())
    print(f"exported model written to {result.output}", file=sys.stdout)
    return 0
