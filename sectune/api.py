"""The Python API, which the CLI mirrors: train, evaluate, predict, load.

Data flows one way: a data file -> a Table -> a split -> a method's fit -> a model directory
(weights, sectune.json, metrics, model card, plots) -> predictions and reports.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from sectune import distributed
from sectune.config import TrainConfig, load_config
from sectune.errors import SectuneError
from sectune.io import Table, atomic_write, read_table, read_tables
from sectune.methods.base import Classifier, load, method_class, read_info
from sectune.outputs import check_output_dir
from sectune.run import RunRecord
from sectune.splits import parse_split, split_indices
from sectune.tasks import Task, task_class

log = logging.getLogger("sectune")

__all__ = ["train", "evaluate", "predict", "load", "TrainResult"]


@dataclass
class TrainResult:
    model: Classifier
    metrics: dict[str, Any]
    output: Path
    test_proba: np.ndarray | None = None  # the test rows' probabilities, for reports that need more than the metrics


# --- training -------------------------------------------------------------------------------
def train(
    data: str | Path | Sequence[str | Path] | None = None,
    *,
    output: str | Path | None = None,
    config: str | Path | None = None,
    verbose: bool = True,
    **settings: Any,
) -> TrainResult:
    """Train a method on a data file (or several, read as one) and write a complete model directory.

    ``settings`` are the keys of :class:`sectune.config.TrainConfig` (the CLI flags), e.g.
    ``method="tfidf-logreg"``, ``split="group:orig"``, ``max_steps=200``; any other key is a parameter of the
    method (``C=4``, ``quantize="4bit"``), as ``--param`` on the command line.
    """
    if isinstance(data, (list, tuple)):
        files: str | list[str] | None = [str(d) for d in data] or None
    else:
        files = str(data) if data is not None else None
    given = {"data": files, "output": str(output) if output is not None else None}
    distributed.quiet_followers()
    verbose = verbose and distributed.is_main_process()  # one progress bar and log for a multi-process run
    cfg = load_config(config, {**given, **settings})
    return train_config(cfg, verbose=verbose, inputs=[config])


def train_config(cfg: TrainConfig, *, verbose: bool = True, inputs: Sequence[str | Path | None] = ()) -> TrainResult:
    """Train from a resolved configuration; ``inputs``: files beside the data that the output must not touch (the config)."""
    cls = method_class(cfg.method)
    check_method_params(cfg)
    check_output_dir(cfg.output, inputs=[*run_inputs(cfg), *inputs])
    split = load_split(cfg, needs_validation=cls.tags.uses_validation, verbose=verbose)
    return fit_and_save(cfg, split, verbose=verbose)


def check_method_params(cfg: TrainConfig) -> None:
    """Refuse a bad method parameter (C=-1) in one line before any data is read, not after the split inside fit."""
    cls = method_class(cfg.method)
    cls.validate_params(cfg.method_params(cls.param_names()))


def run_inputs(cfg: TrainConfig) -> list[str | None]:
    """Every file or folder a run reads, none of which its output may be or contain."""
    return [*cfg.data_files, cfg.eval_data, *Task.for_config(cfg).inputs(), *cfg.params.values()]


@dataclass
class Split:
    """The rows of one run, read, prepared for the task and split: what every method is trained
    and tested on (``sectune compare`` trains several methods on one Split)."""

    table: Table
    train: Table
    validation: Table | None
    test: Table
    task: Task
    task_report: dict[str, Any]
    dropped: dict[str, int]  # by --min-examples (rows, classes) and, from several files, as duplicates
    files: list[dict[str, Any]] | None = None  # several data files: each one's path, sha256 and rows

    @property
    def n_classes(self) -> int:
        return len(set(self.train.labels) | set(self.validation.labels if self.validation else ()))


def load_split(
    cfg: TrainConfig, *, needs_validation: bool, verbose: bool = True, extra_columns: Sequence[str] = ()
) -> Split:
    """Read the data, prepare labels for the task, split off test (and validation) rows."""
    _, split_column = parse_split(cfg.split)
    extra = list(dict.fromkeys([*([split_column] if split_column and not cfg.eval_data else []), *extra_columns]))
    task = Task.for_config(cfg)
    several = len(cfg.data_files) > 1
    tables = read_tables(
        cfg.data_files,
        cfg.text_column,
        cfg.label_column,
        extra,
        optional_columns=task.merge_columns if several else (),
        progress=verbose,
    )
    table, duplicates = task.combine(tables) if several else (tables[0], 0)
    table, task_report = task.prepare(table)
    table, dropped = _drop_rare(table, cfg.min_examples)
    files = None
    if several:
        dropped["duplicate_rows"] = duplicates
        files = [{"path": t.path, "sha256": t.sha256, "rows": len(t)} for t in tables]

    if cfg.eval_data:
        train_part = table
        test_part, _ = task.prepare(
            read_table(cfg.eval_data, cfg.text_column, cfg.label_column, list(extra_columns), progress=verbose)
        )
    else:
        train_idx, test_idx = split_indices(table, cfg.split, cfg.test_size, cfg.seed)
        train_part, test_part = table.subset(train_idx), table.subset(test_idx)
    test_part = task.drop_seen(train_part, test_part, task_report)
    n_classes = len(set(train_part.labels))
    if n_classes < 2:
        raise SectuneError(f"need at least 2 classes to train, found {n_classes} in the training rows", path=table.path)
    if not len(test_part):
        raise SectuneError(
            "the test side is empty (too few rows, or every test description also stands in training)", path=table.path
        )

    val_part = None
    binary = n_classes == 2  # a binary model also needs held-out rows to choose its operating threshold
    if (binary or needs_validation) and cfg.validation_size > 0 and len(train_part) >= 20:
        fit_idx, val_idx = split_indices(train_part, "stratified", cfg.validation_size, cfg.seed, side="validation")
        train_part, val_part = train_part.subset(fit_idx), train_part.subset(val_idx)
    return Split(table, train_part, val_part, test_part, task, task_report, dropped, files)


def fit_and_save(cfg: TrainConfig, split: Split, *, verbose: bool = True) -> TrainResult:
    """Fit ``cfg.method`` on the split, choose a threshold, evaluate, write the model directory."""
    cls = method_class(cfg.method)
    table, train_part, val_part, test_part, task = split.table, split.train, split.validation, split.test, split.task
    task_report, dropped, n_classes = split.task_report, split.dropped, len(set(split.train.labels))
    binary = n_classes == 2
    output = Path(cfg.output)
    main = distributed.is_main_process()  # under `accelerate launch`, only the main process writes (see distributed)
    with distributed.training_stage(output) as stage:
        if main and not cfg.resume:  # a fresh run: nothing from an older, unfinished run may leak in
            for leftover in stage.iterdir():
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        resumed_from = _record_run(stage, cfg, table, train_part.labels) if cls.tags.supports_resume and main else None
        distributed.barrier()  # the others checkpoint into the stage only once the main process has prepared it
        params = {**cfg.method_params(cls.param_names()), "verbose": verbose}
        if cls.tags.supports_resume:
            params.update(checkpoint_dir=str(stage / "checkpoints"), runs_dir=str(stage / "runs"), resume=cfg.resume)
        model = cls(**with_task_prompt(cls, params, task))
        model.label_texts = task.describe_labels(sorted(set(train_part.labels)))
        log.info(
            "training %s on %d rows, %d classes (test: %d rows%s)",
            cfg.method,
            len(train_part),
            n_classes,
            len(test_part),
            f", validation: {len(val_part)}" if val_part is not None else "",
        )
        started = time.perf_counter()
        model.fit(
            train_part.texts,
            train_part.labels,
            *(val_part.texts, val_part.labels) if val_part is not None else (None, None),
        )
        train_seconds = time.perf_counter() - started
        distributed.barrier()  # every process is done with the checkpoints before the main one removes them
        if not main:  # the trained weights are the main process's too: it alone evaluates and writes
            return TrainResult(model=model, metrics={}, output=output)
        val_proba = calibrate_scores(model, val_part)
        threshold_info = choose_threshold(model, val_part, cfg.target_fpr, val_proba) if binary else None

        started = time.perf_counter()
        proba = model.predict_proba(test_part.texts)
        predict_seconds = time.perf_counter() - started
        metrics = task.metrics(model, test_part, proba, train_part.labels)
        metrics.update(_extra_metrics(model, test_part))
        metrics.update(_validation_points(model, test_part, proba, threshold_info))
        metrics["train_seconds"] = round(train_seconds, 2)
        metrics["predict_texts_per_second"] = round(len(test_part) / max(predict_seconds, 1e-9), 1)

        model.run = RunRecord.model_validate(
            dict(
                task=cfg.task,
                **task.record(task_report),
                base_model=model.base_model(),
                training={
                    "data": {
                        "path": table.path,
                        "sha256": table.sha256,
                        "rows": len(table) + dropped["rows"] + dropped.get("duplicate_rows", 0),
                        **({"files": split.files} if split.files else {}),
                        "text_column": cfg.text_column,
                        "label_column": cfg.label_column,
                    },
                    "eval_data": {"path": cfg.eval_data, "sha256": test_part.sha256} if cfg.eval_data else None,
                    "split": cfg.split,
                    "test_size": cfg.test_size,
                    "seed": cfg.seed,
                    "min_examples": cfg.min_examples,
                    "dropped": dropped,
                    "train_rows": len(train_part),
                    "validation_rows": len(val_part) if val_part is not None else 0,
                    "test_rows": len(test_part),
                    "train_seconds": round(train_seconds, 2),
                    "arguments": {k: v for k, v in model.saved_params().items()},
                    **model.training_stats(),
                    **({"resumed_from": resumed_from} if resumed_from else {}),
                    **distributed.layout(),
                },
                **({"threshold_selection": threshold_info} if threshold_info else {}),
                metrics={
                    k: metrics.get(k)
                    for k in ("accuracy", "top3", "macro_f1", "weighted_f1", "roc_auc")
                    if metrics.get(k) is not None
                },
                versions=_versions(),
            )
        )
        model.save_pretrained(stage)
        write_reports(stage, model, test_part, proba, metrics, log_history=model.training_history())
        (stage / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
        shutil.rmtree(stage / "checkpoints", ignore_errors=True)
        (stage / RUN_FILE).unlink(missing_ok=True)
    return TrainResult(model=model, metrics=metrics, output=output, test_proba=proba)


RUN_FILE = "run.json"  # in the staging dir: what the unfinished run trains on, for --resume to check


def _record_run(stage: Path, cfg: TrainConfig, table: Table, labels: Sequence[str]) -> dict[str, Any] | None:
    """Note in the staging dir what this run trains on; on --resume, first hold the data against the unfinished run's note.

    A checkpoint's head fits only its own labels: other labels would crash while loading it or, as
    many of them, silently swap classes, so they are refused before any work. Another file with the
    same labels may continue the run; that is said and returned, for sectune.json to record.
    """
    this = {"data": table.path, "sha256": table.sha256, "labels": sorted(set(labels))}
    path = stage / RUN_FILE
    if not (cfg.resume and path.is_file()):
        with atomic_write(path) as handle:
            handle.write(json.dumps(this, indent=2, ensure_ascii=False) + "\n")
        return None
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
        earlier = {
            "data": str(earlier["data"]),
            "sha256": earlier["sha256"],
            "labels": [str(x) for x in earlier["labels"]],
        }
    except (OSError, ValueError, KeyError, TypeError):
        raise SectuneError(
            f"cannot resume: {path} is damaged, so the unfinished run's labels are unknown; rerun without --resume"
        ) from None
    if earlier["labels"] != this["labels"]:
        before, now = set(earlier["labels"]), set(this["labels"])
        differ = "; ".join(
            f"{what}: {_shown(sorted(found))}"
            for what, found in (("missing", before - now), ("new", now - before))
            if found
        )
        raise SectuneError(
            f"cannot resume the unfinished run in {stage}: it was trained on {len(before)} labels {_shown(earlier['labels'])}, "
            f"this data has {len(now)} labels {_shown(this['labels'])} ({differ}); rerun without --resume"
        )
    if earlier["sha256"] == this["sha256"]:
        return None
    log.warning(
        "--resume: the unfinished run was trained on %s (sha256 %.12s), this data is %s (sha256 %.12s); the labels are "
        "the same, so it continues, and sectune.json records it as training.resumed_from",
        earlier["data"],
        earlier["sha256"],
        this["data"],
        this["sha256"],
    )
    return {"data": earlier["data"], "sha256": earlier["sha256"]}


def _shown(labels: Sequence[str], limit: int = 10) -> str:
    """``[a, b, c]``, cut after ``limit`` items: a 200-class list would drown the one-line error."""
    more = f", ... +{len(labels) - limit} more" if len(labels) > limit else ""
    return f"[{', '.join(labels[:limit])}{more}]"


def with_task_prompt(cls: type[Classifier], params: dict[str, Any], task: Task) -> dict[str, Any]:
    """``params`` with the task's prompt template for a prompted method (causal-llm) when the user named none."""
    if cls.tags.prompted and params.get("prompt_template") in (None, "", "auto") and task.prompt_template:
        return {**params, "prompt_template": task.prompt_template}
    return params


def _validation_points(
    model: Classifier, table: Table, proba: np.ndarray, selection: dict[str, Any] | None
) -> dict[str, Any]:
    """``recall_at_fpr_validation``: recall and achieved FPR on these rows at the FPR 0.1%/1% thresholds chosen on
    validation at training time, beside the oracle ``tpr_at_fpr`` (a threshold chosen on these very rows)."""
    from sectune.operating import recall_at_stored

    if len(model.labels_) != 2 or not selection or not selection.get("operating_points"):
        return {}
    y = np.array([label == model.labels_[1] for label in table.labels])
    return {"recall_at_fpr_validation": recall_at_stored(selection, y, proba[:, 1])}


def _extra_metrics(model: Classifier, table: Table) -> dict[str, Any]:
    """Figures a method reports beside the scored ones (causal-llm: its generate-and-parse accuracy)."""
    labels = [label if label in set(model.labels_) else None for label in table.labels]
    return model.extra_metrics(table.texts, labels)


def calibrate_scores(model: Classifier, validation: Table | None) -> np.ndarray | None:
    """Fit the model's calibration on the validation rows (:func:`sectune.operating.fit_calibration`: kept only when
    it lowers the cross-validated log-loss) and return their calibrated probabilities (None: no validation rows).

    Every method gets it the same way: it is stored in sectune.json's ``calibration`` block and applied by
    ``Classifier.predict_proba`` after the method's own scores, so thresholds are chosen on calibrated scores."""
    from sectune.operating import apply_calibration, fit_calibration

    if validation is None or not len(validation):
        return None
    model.calibration_ = None
    raw = model.predict_proba(validation.texts)
    found = fit_calibration(raw, model.labels_, list(validation.labels))
    model.calibration_ = found if found["method"] != "none" else None
    if model.calibration_:
        log.info("calibration: %s (cross-validated log-loss %s)", found["method"], found.get("cv_log_loss"))
    return apply_calibration(raw, model.calibration_)


def choose_threshold(
    model: Classifier, validation: Table | None, target_fpr: float, proba: np.ndarray | None = None
) -> dict[str, Any] | None:
    """Set a binary model's operating threshold on held-out rows: the lowest score whose false-positive rate stays
    within ``target_fpr`` on new rows with 95% confidence (alert fatigue is what kills a detection), under the
    policy of :mod:`sectune.operating`:

    - with ``n`` validation negatives an FPR below 3/n cannot be resolved (rule of three): the threshold is
      chosen for ``max(target_fpr, 3/n)``, said in the log and recorded (``fpr_floor``, ``effective_fpr``);
    - the achieved validation FPR is recorded with its 95% Clopper-Pearson interval;
    - a threshold at which no validation positive alerts is never stored: it falls back to the top
      positive score (``fallback: top_positive``);
    - the standard operating points (FPR 0.1% and 1%) are chosen the same way and stored, for evaluate
      and compare to report recall at thresholds chosen before the test rows were seen.

    ``proba``: the validation rows' (calibrated) probabilities when already computed."""
    from sectune.operating import operating_points, select_threshold

    if validation is None:
        log.warning("no validation rows: the decision threshold stays at 0.5")
        return None
    positive = model.labels_[1]
    y = np.array([label == positive for label in validation.labels])
    if y.all() or not y.any():
        log.warning("the validation rows hold one class only: the decision threshold stays at 0.5")
        return None
    scores = (proba if proba is not None else model.predict_proba(validation.texts))[:, 1]
    chosen = select_threshold(y, scores, target_fpr)
    model.threshold_ = chosen["threshold"]
    info = {
        "target_fpr": target_fpr,
        "threshold": model.threshold_,
        "validation_rows": len(y),
        "positive_label": positive,
        "validation_fpr": chosen["fpr"],
        "validation_tpr": chosen["tpr"],
        "source": "validation",
        "fpr_floor": chosen["fpr_floor"],
        "effective_fpr": chosen["effective_fpr"],
        "resolvable": chosen["resolvable"],
        "validation_negatives": chosen["negatives"],
        "validation_false_positives": chosen["false_positives"],
        "validation_fpr_ci95": chosen["fpr_ci95"],
        "fallback": chosen["fallback"],
        "operating_points": operating_points(y, scores),
    }
    log.info(
        "threshold %.4g for FPR <= %g on %d validation rows: validation FPR %.4f (95%% CI %.4f-%.4f), TPR %.3f",
        model.threshold_,
        chosen["effective_fpr"],
        len(y),
        chosen["fpr"],
        *chosen["fpr_ci95"],
        chosen["tpr"],
    )
    return info


def _drop_rare(table: Table, min_examples: int | None) -> tuple[Table, dict[str, int]]:
    if not min_examples:
        return table, {"rows": 0, "classes": 0}
    counts = Counter(table.labels)
    rare = {label for label, n in counts.items() if n < min_examples}
    keep = [i for i, label in enumerate(table.labels) if label not in rare]
    dropped = {"rows": len(table) - len(keep), "classes": len(rare)}
    log.info(
        "--min-examples %d: dropped %d rows of %d classes; %d rows, %d classes remain",
        min_examples,
        dropped["rows"],
        dropped["classes"],
        len(keep),
        len(counts) - len(rare),
    )
    if not keep:
        raise SectuneError(f"no class has at least {min_examples} examples", path=table.path)
    return table.subset(keep), dropped


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("sectune", "torch", "transformers", "peft", "scikit-learn", "numpy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


# --- evaluation -----------------------------------------------------------------------------
REPORT_MARKERS = ("metrics.json",)  # a folder `sectune evaluate --output` wrote


def write_reports(
    directory: Path, model: Classifier, table: Table, proba: np.ndarray, metrics: dict, log_history: list | None = None
) -> None:
    """metrics.json, per_class.csv, confusion.png, training_curve.png and the model card (README.md)."""
    from sectune.card import render_model_card
    from sectune.metrics import predicted_labels, write_per_class_csv
    from sectune.plots import plot_confusion, plot_training_curve

    with atomic_write(directory / "metrics.json") as handle:
        handle.write(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    write_per_class_csv(metrics, directory / "per_class.csv")
    y_pred = predicted_labels(proba, model.labels_, threshold=model.threshold_)
    plot_confusion(table.labels, y_pred, model.labels_, directory / "confusion.png")
    if log_history:
        plot_training_curve(log_history, directory / "training_curve.png")
    info = read_info(directory) if (directory / "sectune.json").exists() else {}
    with atomic_write(directory / "README.md") as handle:
        handle.write(render_model_card(info, metrics))


def evaluate(
    model: str | Path | Classifier,
    data: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    output: str | Path | None = None,
    verbose: bool = True,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
) -> dict[str, Any]:
    """Score a trained model on a labelled file; write per-class CSV and confusion PNG to ``output``.

    ``trust_remote_code`` / ``allow_pickle``: the security switches for loading a model directory (see :mod:`sectune.security`).
    """
    from sectune.metrics import predicted_labels, write_per_class_csv
    from sectune.plots import plot_confusion

    if output is not None:
        check_output_dir(
            output,
            inputs=[data, model if not isinstance(model, Classifier) else None],
            markers=REPORT_MARKERS,
            what="evaluation report",
        )
    clf = (
        model
        if isinstance(model, Classifier)
        else load(model, verbose=verbose, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    )
    trained_on = clf.run.training.data
    task = Task.for_model(clf)
    table = read_table(
        data,
        text_column or trained_on.text_column or "text",
        label_column or trained_on.label_column or "label",
        progress=verbose,
    )
    table, _ = task.prepare(table)
    started = time.perf_counter()
    proba = clf.predict_proba(table.texts)
    seconds = time.perf_counter() - started
    metrics = task.metrics(clf, table, proba)
    metrics["predict_texts_per_second"] = round(len(table) / max(seconds, 1e-9), 1)
    metrics.update(_extra_metrics(clf, table))
    selection = clf.run.threshold_selection
    metrics.update(_validation_points(clf, table, proba, selection.model_dump(mode="json") if selection else None))
    if metrics.get("n_unseen"):
        log.warning(
            "%d rows have labels the model never saw (%s); they count as errors",
            metrics["n_unseen"],
            ", ".join(sorted(metrics["unseen_labels"])[:5]),
        )
    if output is not None:
        output = Path(output)
        output.mkdir(parents=True, exist_ok=True)
        with atomic_write(output / "metrics.json") as handle:
            handle.write(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
        write_per_class_csv(metrics, output / "per_class.csv")
        plot_confusion(
            table.labels,
            predicted_labels(proba, clf.labels_, threshold=clf.threshold_),
            clf.labels_,
            output / "confusion.png",
        )
    return metrics


def zero_shot(
    data: str | Path,
    *,
    method: str = "causal-llm",
    task: str = "generic",
    text_column: str | None = None,
    label_column: str | None = None,
    output: str | Path | None = None,
    verbose: bool = True,
    **params: Any,
) -> dict[str, Any]:
    """Evaluate an untouched model on a labelled file: the labels come from the data, nothing is trained.

    ``params``: the task's settings (fields of its ``Settings``) and the method's parameters, told apart by name."""
    task_cls = task_class(task)
    task_obj = task_cls(**{k: params.pop(k) for k in list(params) if k in task_cls.Settings.model_fields})
    if output is not None:
        check_output_dir(
            output,
            inputs=[data, *task_obj.inputs(), *params.values()],
            markers=REPORT_MARKERS,
            what="evaluation report",
        )
    cls = method_class(method)
    if not cls.tags.zero_shot:
        raise SectuneError(f"method '{method}' cannot run zero-shot (causal-llm can)")
    text_column, label_column = text_column or task_cls.text_column, label_column or task_cls.label_column
    table, _ = task_obj.prepare(read_table(data, text_column, label_column, progress=verbose))
    unknown = set(params) - set(cls.param_names())
    if unknown:
        raise SectuneError(f"method '{method}' has no parameter(s) {', '.join(sorted(unknown))}")
    clf = cls(**with_task_prompt(cls, {**params, "zero_shot": True, "verbose": verbose}, task_obj))
    labels = sorted(set(table.labels))
    clf.fit(labels, labels)  # zero-shot: fit learns the label set and loads the model; the texts are not used
    clf.run = RunRecord.model_validate(
        {
            "task": task,
            "training": {"data": {"text_column": text_column, "label_column": label_column}},
            **task_obj.record({}),
        }
    )
    return evaluate(clf, data, output=output, verbose=verbose)


# --- prediction -----------------------------------------------------------------------------
def predict(
    model: str | Path | Classifier,
    texts: Sequence[str],
    *,
    top_k: int = 3,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
) -> list[list[dict[str, Any]]]:
    """Top-k predictions per text: ``[{"label", "score"[, "name"]}, ...]``, best first."""
    clf = (
        model
        if isinstance(model, Classifier)
        else load(model, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    )
    return [row["predictions"] for row in iter_predictions(clf, texts, top_k=top_k)]


def iter_predictions(
    clf: Classifier, texts: Iterable[str], *, top_k: int = 3, batch_size: int = 1024
) -> Iterator[dict[str, Any]]:
    """Stream rows in input order, scoring ``batch_size`` texts at a time: ``{"predictions": top-k}``, and for
    a binary model ``"decision"``, the label at the model's threshold (what ``evaluate``, ``scan`` and
    ``clf.predict`` decide), which the top label by probability is not whenever the threshold is not 0.5."""
    namer = Task.for_model(clf).namer()
    batch: list[str] = []

    def flush() -> Iterator[dict[str, Any]]:
        yield from prediction_rows(clf, clf.predict_proba(batch), top_k=top_k, namer=namer)

    for text in texts:
        batch.append(text)
        if len(batch) >= batch_size:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def prediction_rows(
    clf: Classifier, proba: np.ndarray, *, top_k: int = 3, namer: Callable[[str], str | None] | None = None
) -> list[dict[str, Any]]:
    """The rows of :func:`iter_predictions` from probabilities already computed (``sectune serve`` scores many
    requests in one forward pass, then shapes each request's rows here): top-k, and a binary model's decision."""
    from sectune.metrics import top_k as best_k

    binary = len(clf.labels_) == 2
    cut = clf.threshold_ if clf.threshold_ is not None else 0.5
    rows = []
    for scores, row in zip(proba, best_k(proba, clf.labels_, top_k)):
        out = []
        for label, score in row:
            item: dict[str, Any] = {"label": label, "score": round(float(score), 6)}
            if namer:
                item["name"] = namer(label)
            out.append(item)
        rows.append({"predictions": out, **({"decision": clf.labels_[int(scores[1] >= cut)]} if binary else {})})
    return rows
