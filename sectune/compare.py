"""``sectune compare``: several methods on one split, in one table that easy signals cannot game.

Every method is trained on the same rows and tested on the same rows (``--test-data`` for a
separate file: train on generated, test on real). Beside precision/recall/ROC the table holds
recall on short obfuscated lines (length alone must not carry the score), recall per shell and
per technique, and leave-one-technique-family-out recall: trained without a family, does the
method still flag it?
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sectune.api import (
    Split,
    check_method_params,
    choose_threshold,
    fit_and_save,
    load_split,
)
from sectune.config import TrainConfig, load_config, route_settings
from sectune.errors import SectuneError, shorten
from sectune.io import Table, atomic_write
from sectune.methods.base import method_class
from sectune.outputs import check_output_dir

log = logging.getLogger("sectune")
SHORT = 200  # characters: "short" obfuscated lines, where length cannot be the tell


@dataclass
class CompareResult:
    rows: list[dict[str, Any]]
    per_technique: dict[str, dict[str, float | None]] = field(default_factory=dict)  # method -> technique -> recall
    leave_one_out: dict[str, dict[str, float | None]] = field(default_factory=dict)  # method -> family -> recall
    report: Path | None = None

    def table(self) -> str:
        return render_table(self.rows)


def _recall(flags: np.ndarray, mask: np.ndarray) -> float | None:
    return float(flags[mask].mean()) if mask.any() else None


def _dir_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def compare(
    data: str,
    methods: Sequence[str],
    *,
    output: str | Path,
    split: str = "group:orig",
    test_data: str | None = None,
    technique_column: str = "technique",
    shell_column: str = "shell",
    leave_one_out: Sequence[str] | None = None,
    verbose: bool = True,
    config: str | None = None,
    method_settings: dict[str, dict[str, Any]] | None = None,
    **settings: Any,
) -> CompareResult:
    """Train each method on one split, write OUTPUT/{report.md, comparison.json, roc.png, techniques.png}.

    ``leave_one_out``: methods that also get the leave-one-family-out runs (None: all; [] none).
    ``method_settings``: settings for one method only, e.g. ``{"encoder": {"max_steps": 600}}`` (a CPU
    budget for the encoder that must not cap the char-CNN too).
    """
    if not methods:
        raise SectuneError("no method to compare: name at least one, e.g. --methods rules,charcnn")
    for name in methods:
        method_class(name)  # fail fast on a typo, before hours of training
    stray = set(method_settings or {}) - set(methods)
    if stray:
        raise SectuneError(f"settings given for {shorten(', '.join(sorted(stray)))}, which is not among the compared methods ({', '.join(methods)})")
    output = check_output_dir(output, inputs=[data, test_data, config], markers=("comparison.json",), what="comparison report")
    base = load_config(config, {"data": data, "output": str(output / "models" / methods[0]), "method": methods[0], "split": split,
                                "eval_data": test_data, **settings})
    configs = {name: _method_config(base, name, output / "models" / name, (method_settings or {}).get(name, {})) for name in methods}
    for cfg in configs.values():
        check_method_params(cfg)  # a bad --set fails now, not after the methods before it have trained
    extras = _available_columns(base, [technique_column, shell_column])
    run = load_split(base, needs_validation=True, verbose=verbose, extra_columns=extras)
    if run.n_classes != 2:
        raise SectuneError(f"compare is for binary detection; the data has {run.n_classes} classes", path=data)
    positive = sorted(set(run.train.labels))[1]
    test = run.test
    y = np.array([label == positive for label in test.labels])
    lengths = np.array([len(t) for t in test.texts])
    techniques = test.columns.get(technique_column)
    shells = test.columns.get(shell_column)

    result = CompareResult(rows=[])
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
            "method": name, "precision": m.get("precision"), "recall": m.get("recall"), "f1": m.get("f1"), "roc_auc": m.get("roc_auc"),
            "fpr_at_tpr95": m.get("fpr_at_tpr95"), "fpr_at_tpr99": m.get("fpr_at_tpr99"), "threshold": trained.model.threshold_,
            "recall_short": _recall(flags, y & (lengths < SHORT)), "short_positives": int((y & (lengths < SHORT)).sum()),
            "train_seconds": m.get("train_seconds"), "lines_per_second": m.get("predict_texts_per_second"),
            "size_mib": round(_dir_mib(trained.output), 2),
        }
        if shells is not None:
            row["recall_by_shell"] = {s: _recall(flags, y & (np.array(shells) == s)) for s in sorted(set(shells))}
        if techniques is not None:
            result.per_technique[name] = _per_technique(flags, y, techniques)
            if leave_one_out is None or name in leave_one_out:
                result.leave_one_out[name] = _leave_one_family_out(cfg, run, techniques, positive, technique_column)
                known = [v for v in result.leave_one_out[name].values() if v is not None]
                row["leave_one_out_recall"] = float(np.mean(known)) if known else None
        result.rows.append(row)
        if verbose:
            print(render_table(result.rows[-1:]), flush=True)

    result.report = _write_report(output, result, curves, base, run)
    return result


def _method_config(base: TrainConfig, method: str, output: Path, own: dict[str, Any]) -> TrainConfig:
    """The shared settings, this method's own on top: config keys (max_steps) or method parameters (C)."""
    return load_config(None, route_settings({**base.model_dump(), "method": method, "output": str(output)}, own))


def _available_columns(cfg: TrainConfig, wanted: list[str]) -> list[str]:
    """The optional per-row columns (technique, shell) the file really has."""
    from sectune.io import read_table

    have = []
    for column in wanted:
        try:
            read_table(cfg.data, cfg.text_column, cfg.label_column, [column])
            have.append(column)
        except SectuneError:
            log.info("compare: no '%s' column: its breakdown is left out", column)
    return have


def _per_technique(flags: np.ndarray, y: np.ndarray, techniques: list) -> dict[str, float | None]:
    from sectune.tasks.cmdline.families import technique_names

    hits: dict[str, list[bool]] = defaultdict(list)
    for flag, positive, technique in zip(flags, y, techniques):
        if positive:
            for name in technique_names(str(technique or "")) or ["(unknown)"]:
                hits[name].append(bool(flag))
    return {name: float(np.mean(v)) for name, v in sorted(hits.items())}


def _leave_one_family_out(cfg: TrainConfig, run: Split, techniques_test: list, positive: str, column: str) -> dict[str, float | None]:
    """For each family in the test positives: train without any row of it, measure recall on it."""
    from sectune.tasks.cmdline.families import technique_families

    cls = method_class(cfg.method)
    fams_test = [technique_families(str(t or "")) for t in techniques_test]
    families = sorted(set().union(*fams_test)) if fams_test else []
    out: dict[str, float | None] = {}
    for family in families:
        def without(table: Table | None, family: str = family) -> Table | None:
            if table is None:
                return None
            keep = [i for i, t in enumerate(table.columns.get(column, [None] * len(table))) if family not in technique_families(str(t or ""))]
            return table.subset(keep)

        train, validation = without(run.train), without(run.validation)
        if len(set(train.labels)) < 2:
            out[family] = None
            continue
        params = cfg.method_params(cls.param_names())
        params.update({k: v for k, v in {"verbose": False}.items() if k in cls.param_names()})
        model = cls(**params).fit(train.texts, train.labels, *(validation.texts, validation.labels) if validation else (None, None))
        choose_threshold(model, validation, cfg.target_fpr)
        rows = [i for i, fams in enumerate(fams_test) if family in fams]
        scores = model.predict_proba([run.test.texts[i] for i in rows])[:, model.labels_.index(positive)]
        out[family] = float((scores >= (model.threshold_ if model.threshold_ is not None else 0.5)).mean())
        log.info("compare: %s without %s: recall %.3f on %d held-out lines", cfg.method, family, out[family], len(rows))
    return out


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "" if value is None else format(value, spec)


def render_table(rows: list[dict[str, Any]]) -> str:
    shells = sorted({s for r in rows for s in (r.get("recall_by_shell") or {})})
    head = ["method", "precision", "recall", "F1", "ROC-AUC", "FPR@95%TPR", "FPR@99%TPR", f"recall <{SHORT} chars",
            *[f"recall {s}" for s in shells], "leave-one-out recall", "train s", "lines/s", "size MiB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["method"], _fmt(r["precision"]), _fmt(r["recall"]), _fmt(r["f1"]), _fmt(r["roc_auc"]), _fmt(r["fpr_at_tpr95"], ".4f"),
                 _fmt(r["fpr_at_tpr99"], ".4f"), _fmt(r["recall_short"]), *[_fmt((r.get("recall_by_shell") or {}).get(s)) for s in shells],
                 _fmt(r.get("leave_one_out_recall")), _fmt(r["train_seconds"], ",.1f"), _fmt(r["lines_per_second"], ",.0f"), _fmt(r["size_mib"], ".1f")]
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
    if curves:
        plot_roc(curves, output / "roc.png")
    if result.per_technique:
        plot_grouped_bars(result.per_technique, output / "techniques.png", title="Recall per obfuscation technique (test positives)", ylabel="recall")
    lines = [
        "# sectune compare", "",
        f"- data: `{cfg.data}`" + (f", tested on `{cfg.eval_data}`" if cfg.eval_data else f", split `{cfg.split}` (test {cfg.test_size:.0%})"),
        f"- rows: train {len(run.train):,}, validation {len(run.validation) if run.validation else 0:,} (threshold for FPR <= {cfg.target_fpr}), test {len(run.test):,}",
        f"- precision, recall and F1 at each model's threshold; recall <{SHORT} chars: obfuscated test lines shorter than {SHORT} characters;"
        " leave-one-out recall: mean over technique families of the recall on a family when training saw none of it", "",
        result.table(), "",
    ]
    if curves:
        lines += ["![ROC curves](roc.png)", ""]
    if result.per_technique:
        lines += ["## Recall per technique", "", recall_table(result.per_technique, "technique"), "", "![recall per technique](techniques.png)", ""]
    if result.leave_one_out:
        lines += ["## Leave one technique family out", "", recall_table(result.leave_one_out, "family held out")]
    report = output / "report.md"
    with atomic_write(report) as handle:
        handle.write("\n".join(lines) + "\n")
    with atomic_write(output / "comparison.json") as handle:
        handle.write(json.dumps({"rows": result.rows, "per_technique": result.per_technique, "leave_one_out": result.leave_one_out}, indent=2) + "\n")
    return report
