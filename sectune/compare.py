"""``sectune compare``: several methods on one split, in one table that easy signals cannot game.

Every method is trained on the same rows and tested on the same rows (``--test-data`` for a
separate file: train on generated, test on real). Beside precision/recall/ROC the table holds
recall on short positive lines (length alone must not carry the score) and the task's own
breakdowns (``Task.breakdowns``; the cmdline task, the default: recall per shell and per technique,
and leave-one-technique-family-out recall: trained without a family, does the method still flag it?).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from sectune.api import (
    Split,
    calibrate_scores,
    check_method_params,
    choose_threshold,
    fit_and_save,
    load_split,
    with_task_prompt,
)
from sectune.config import TrainConfig, flatten, make_config, read_config_file
from sectune.errors import SectuneError, shorten
from sectune.io import Table, atomic_write
from sectune.methods.base import method_class
from sectune.outputs import check_output_dir
from sectune.settings import method_settings, user_params
from sectune.tasks import Refit, Task, task_class

log = logging.getLogger("sectune")
SHORT = 200  # characters: "short" positive lines, where length cannot be the tell
DEFAULT_TASK = "cmdline"  # compare is for binary detection, command lines first


@dataclass
class CompareResult:
    rows: list[dict[str, Any]]
    tables: dict[str, dict[str, dict[str, float | None]]] = field(
        default_factory=dict
    )  # task table -> method -> group -> recall
    report: Path | None = None
    columns: dict[str, str] = field(default_factory=dict)  # the task's extra row cells -> column titles

    @property
    def per_technique(self) -> dict[str, dict[str, float | None]]:
        return self.tables.get("per_technique", {})

    @property
    def leave_one_out(self) -> dict[str, dict[str, float | None]]:
        return self.tables.get("leave_one_out", {})

    def table(self) -> str:
        return render_table(self.rows, self.columns)


MIN_SUPPORT = 5  # a recall over fewer positives than this is one or two lines, not a rate: shown as blank


def recall_where(flags: np.ndarray, mask: np.ndarray) -> float | None:
    """The share of flagged rows among those ``mask`` selects (None: fewer than MIN_SUPPORT)."""
    return float(flags[mask].mean()) if mask.sum() >= MIN_SUPPORT else None


def _dir_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def compare(
    data: str,
    methods: Sequence[str],
    *,
    output: str | Path,
    split: str | None = None,
    test_data: str | None = None,
    task: str = DEFAULT_TASK,
    leave_one_out: Sequence[str] | None = None,
    verbose: bool = True,
    config: str | None = None,
    method_settings: dict[str, dict[str, Any]] | None = None,
    **settings: Any,
) -> CompareResult:
    """Train each method on one split, write OUTPUT/{report.md, comparison.json, roc.png, techniques.png}.

    ``split``: None for the task's default (cmdline: group:orig). ``leave_one_out``: methods that also get
    the task's retraining breakdowns, e.g. leave-one-family-out (None: all; [] none).
    ``method_settings``: settings for one method only, e.g. ``{"encoder": {"max_steps": 600}}`` (a CPU
    budget for the encoder that must not cap the char-CNN too).
    """
    if not methods:
        raise SectuneError("no method to compare: name at least one, e.g. --methods rules,charcnn")
    for name in methods:
        method_class(name)  # fail fast on a typo, before hours of training
    stray = set(method_settings or {}) - set(methods)
    if stray:
        raise SectuneError(
            f"settings given for {shorten(', '.join(sorted(stray)))}, which is not among the compared methods ({', '.join(methods)})"
        )
    output = check_output_dir(
        output, inputs=[data, test_data, config], markers=("comparison.json",), what="comparison report"
    )
    given = {"data": data, "split": split, "eval_data": test_data, "task": task, **settings}
    shared = {
        **(read_config_file(config) if config else {}),
        **{k: v for k, v in flatten(given).items() if v is not None},
    }
    configs = {
        name: _method_config(shared, name, output / "models" / name, (method_settings or {}).get(name, {}), config)
        for name in methods
    }
    base = configs[methods[0]]
    for cfg in configs.values():
        check_method_params(cfg)  # a bad --set fails now, not after the methods before it have trained
    extras = _available_columns(base, Task.for_config(base).breakdown_columns())
    run = load_split(base, needs_validation=True, verbose=verbose, extra_columns=extras)
    if run.n_classes != 2:
        raise SectuneError(f"compare is for binary detection; the data has {run.n_classes} classes", path=data)
    positive = sorted(set(run.train.labels))[1]  # labels_[1], the class binary thresholds are chosen for
    test = run.test
    y = np.array([label == positive for label in test.labels])
    lengths = np.array([len(t) for t in test.texts])

    result = CompareResult(rows=[], columns=dict(task_class(base.task).compare_columns))
    curves = {}
    from sklearn.metrics import roc_curve

    for name in methods:
        cfg = configs[name]
        log.info("compare: training %s", name)
        trained = fit_and_save(cfg, run, verbose=verbose)
        m, proba = trained.metrics, trained.test_proba
        scores = proba[:, trained.model.labels_.index(positive)]
        flags = scores >= (trained.model.threshold_ if trained.model.threshold_ is not None else 0.5)
        if y.any() and (~y).any():
            fpr, tpr, _ = roc_curve(y, scores)
            curves[name] = (fpr, tpr)
        row = {
            "method": name,
            "precision": m.get("precision"),
            "recall": m.get("recall"),
            "f1": m.get("f1"),
            "roc_auc": m.get("roc_auc"),
            "fpr_at_tpr95": m.get("fpr_at_tpr95"),
            "fpr_at_tpr99": m.get("fpr_at_tpr99"),
            "threshold": trained.model.threshold_,
            **_operating_cells(m),
            "recall_short": recall_where(flags, y & (lengths < SHORT)),
            "short_positives": int((y & (lengths < SHORT)).sum()),
            "train_seconds": m.get("train_seconds"),
            "lines_per_second": m.get("predict_texts_per_second"),
            "size_mib": round(_dir_mib(trained.output), 2),
        }
        refit = _refitter(cfg, run, positive) if leave_one_out is None or name in leave_one_out else None
        found = run.task.breakdowns(test, flags, y, refit)
        row.update(found.cells)
        for key, recalls in found.tables.items():
            result.tables.setdefault(key, {})[name] = recalls
        result.rows.append(row)
        if verbose:
            print(render_table(result.rows[-1:], result.columns), flush=True)

    result.report = _write_report(output, result, curves, base, run)
    return result


def _method_config(
    shared: dict[str, Any], method: str, output: Path, own: dict[str, Any], source: str | None
) -> TrainConfig:
    """The shared settings this method takes (--max-steps is for the fine-tuned ones), then its own (--set), which it must take."""
    taken = set(user_params(method_class(method)))
    kept = {k: v for k, v in shared.items() if k not in method_settings() or k in taken}
    return make_config({**kept, **flatten(own), "method": method, "output": str(output)}, source)


def _available_columns(cfg: TrainConfig, wanted: list[str]) -> list[str]:
    """The optional per-row columns the task's breakdowns read (technique, shell) that every data file really has."""
    from sectune.io import read_tables

    tables = read_tables(cfg.data_files, cfg.text_column, cfg.label_column, optional_columns=wanted)
    have = [column for column in wanted if all(column in t.columns for t in tables)]
    for column in sorted(set(wanted) - set(have)):
        log.info("compare: no '%s' column: its breakdown is left out", column)
    return have


def _refitter(cfg: TrainConfig, run: Split, positive: str) -> Refit:
    """Retrain ``cfg.method`` on the split's training rows a task keeps, for its held-out breakdowns."""
    cls = method_class(cfg.method)

    def refit(keep: Callable[[Table], list[int]], rows: list[int]) -> np.ndarray | None:
        train = run.train.subset(keep(run.train))
        validation = run.validation.subset(keep(run.validation)) if run.validation is not None else None
        if len(set(train.labels)) < 2:
            return None
        params = with_task_prompt(cls, {**cfg.method_params(cls.param_names()), "verbose": False}, run.task)
        model = cls(**params).fit(
            train.texts, train.labels, *(validation.texts, validation.labels) if validation else (None, None)
        )
        choose_threshold(model, validation, cfg.target_fpr, calibrate_scores(model, validation))
        scores = model.predict_proba([run.test.texts[i] for i in rows])[:, model.labels_.index(positive)]
        return scores >= (model.threshold_ if model.threshold_ is not None else 0.5)

    return refit


def _operating_cells(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Recall and achieved test FPR at the FPR 0.1%/1% thresholds chosen on validation, and the oracle TPR
    (threshold chosen on the test rows themselves, which no deployment gets)."""
    from sectune.metrics import FPR_TARGETS

    chosen = metrics.get("recall_at_fpr_validation") or {}
    oracle = metrics.get("tpr_at_fpr") or {}
    cells: dict[str, float | None] = {}
    for target in FPR_TARGETS:
        point = chosen.get(str(target)) or {}
        cells[f"val_recall_{target}"] = point.get("recall")
        cells[f"val_fpr_{target}"] = point.get("fpr")
        cells[f"oracle_tpr_{target}"] = oracle.get(str(target))
    return cells


def _operating_columns() -> list[tuple[str, str, str]]:
    from sectune.metrics import FPR_TARGETS

    out = []
    for target in FPR_TARGETS:
        out += [
            (f"val_recall_{target}", f"recall@{target:.1%}FPR (val thr)", ".3f"),
            (f"val_fpr_{target}", f"test FPR (val thr {target:.1%})", ".4f"),
            (f"oracle_tpr_{target}", f"oracle TPR@{target:.1%}FPR", ".3f"),
        ]
    return out


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "" if value is None else format(value, spec)


def render_table(rows: list[dict[str, Any]], columns: dict[str, str] | None = None) -> str:
    """The comparison as Markdown; ``columns``: the task's extra row cells and their titles (``{}``: a
    mapping cell, one column per key, e.g. ``recall {}`` per shell)."""
    head = ["method", "precision", "recall", "F1", "ROC-AUC", "FPR@95%TPR", "FPR@99%TPR"]
    head += [title for _, title, _ in _operating_columns()] + [f"recall <{SHORT} chars"]
    extra: list[tuple[str, str | None]] = []  # (cell, key within a mapping cell)
    for cell, title in (columns or {}).items():
        if "{}" in title:
            keys = sorted({k for r in rows for k in (r.get(cell) or {})})
            extra += [(cell, k) for k in keys]
            head += [title.format(k) for k in keys]
        else:
            extra.append((cell, None))
            head.append(title)
    head += ["train s", "lines/s", "size MiB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            r["method"],
            _fmt(r["precision"]),
            _fmt(r["recall"]),
            _fmt(r["f1"]),
            _fmt(r["roc_auc"]),
            _fmt(r["fpr_at_tpr95"], ".4f"),
            _fmt(r["fpr_at_tpr99"], ".4f"),
            *[_fmt(r.get(key), spec) for key, _, spec in _operating_columns()],
            _fmt(r["recall_short"]),
            *[_fmt((r.get(cell) or {}).get(key) if key is not None else r.get(cell)) for cell, key in extra],
            _fmt(r["train_seconds"], ",.1f"),
            _fmt(r["lines_per_second"], ",.0f"),
            _fmt(r["size_mib"], ".1f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def recall_table(per_method: dict[str, dict[str, float | None]], row_title: str) -> str:
    """A markdown table of recall, one row per technique (or family), one column per method."""
    rows = sorted({name for per in per_method.values() for name in per})
    lines = [f"| {row_title} | " + " | ".join(per_method) + " |", "|---|" + "---|" * len(per_method)]
    lines += [f"| {r} | " + " | ".join(_fmt(per_method[m].get(r)) for m in per_method) + " |" for r in rows]
    return "\n".join(lines)


def _write_report(output: Path, result: CompareResult, curves: dict, cfg: TrainConfig, run: Split) -> Path:
    from sectune.plots import plot_grouped_bars, plot_roc

    output.mkdir(parents=True, exist_ok=True)
    shown = {key: spec for key, spec in task_class(cfg.task).compare_tables.items() if result.tables.get(key)}
    if curves:
        plot_roc(curves, output / "roc.png")
    for key, spec in shown.items():
        if spec.plot:
            plot_grouped_bars(
                result.tables[key], output / spec.plot, title=spec.plot_title or spec.title, ylabel="recall"
            )
    lines = [
        "# sectune compare",
        "",
        f"- data: `{cfg.data}`"
        + (f", tested on `{cfg.eval_data}`" if cfg.eval_data else f", split `{cfg.split}` (test {cfg.test_size:.0%})"),
        f"- rows: train {len(run.train):,}, validation {len(run.validation) if run.validation else 0:,} (threshold for FPR <= {cfg.target_fpr}), test {len(run.test):,}",
        "- recall@FPR (val thr): recall on the test rows at the threshold chosen on validation for that FPR at training "
        "time, with the FPR it achieved on the test rows; oracle TPR@FPR: the threshold chosen on the test rows "
        "themselves (hindsight no deployment has)",
        f"- task `{cfg.task}`; precision, recall and F1 at each model's threshold; recall <{SHORT} chars: positive test lines shorter than "
        f"{SHORT} characters"
        + (
            "; leave-one-out recall: mean over technique families of the recall on a family when training saw none of it"
            if "leave_one_out" in shown
            else ""
        ),
        "",
        result.table(),
        "",
    ]
    if curves:
        lines += ["![ROC curves](roc.png)", ""]
    for key, spec in shown.items():
        lines += [f"## {spec.title}", "", recall_table(result.tables[key], spec.row_title), ""]
        if spec.plot:
            lines += [f"![{spec.title.lower()}]({spec.plot})", ""]
    report = output / "report.md"
    with atomic_write(report) as handle:
        handle.write("\n".join(lines) + "\n")
    with atomic_write(output / "comparison.json") as handle:
        handle.write(json.dumps({"task": cfg.task, "rows": result.rows, **result.tables}, indent=2) + "\n")
    return report
