"""The model card (README.md in a model directory): what the model is, how good it is, where it fails.

Cards are written from ``sectune.json`` in the format 2 layout (:func:`sectune.methods.base.read_info` converts
older files): the model's own fields (method, labels, params, threshold) and its ``run`` record, where the
provenance is. Partial records (zero-shot, saved from Python) still get a card; missing facts are left out
rather than guessed.
"""

from __future__ import annotations

import json
from typing import Any

from sectune.metrics import format_value

RARE_SUPPORT = 10
PER_CLASS_ROWS = 20
LABELS_LISTED = 20

_HEADLINE = (
    ("n", "test rows"),
    ("accuracy", "accuracy"),
    ("top3", "top-3 accuracy"),
    ("top5", "top-5 accuracy"),
    ("top1_any", "top-1 accuracy (any acceptable label)"),
    ("top3_any", "top-3 accuracy (any acceptable label)"),
    ("top5_any", "top-5 accuracy (any acceptable label)"),
    ("macro_f1", "macro F1"),
    ("weighted_f1", "weighted F1"),
    ("macro_precision", "macro precision"),
    ("macro_recall", "macro recall"),
    ("n_unseen", "test rows with labels unseen in training (scored wrong)"),
)
_BINARY = (
    ("positive_label", "positive label"),
    ("threshold", "decision threshold on P(positive)"),
    ("precision", "precision (positive class)"),
    ("recall", "recall (positive class)"),
    ("f1", "F1 (positive class)"),
    ("roc_auc", "ROC AUC"),
    ("pr_auc", "PR AUC (average precision)"),
    ("fpr_at_tpr95", "FPR at TPR 95%"),
    ("fpr_at_tpr99", "FPR at TPR 99%"),
)


def _dig(data: Any, *keys: str) -> Any:
    """Nested lookup that yields None on any missing key or non-dict level."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _cell(value: Any) -> str:
    """Make a value safe inside a Markdown table cell."""
    return format_value(value).replace("|", "\\|").replace("\n", " ")


# The card's headline figures in the Hub's model-index form: (metric key, model-index type, shown name, config)
_INDEXED = (
    ("accuracy", "accuracy", "accuracy", None),
    ("macro_f1", "f1", "macro F1", "macro"),
    ("f1", "f1", "F1 (positive class)", "binary"),
    ("roc_auc", "roc_auc", "ROC AUC", None),
)


def _front_matter(info: dict, run: dict, metrics: dict) -> list[str]:
    """Hugging Face metadata, written by huggingface_hub's ModelCardData: the test metrics in
    model-index form, so the Hub and other tools read them without parsing the prose."""
    from huggingface_hub import EvalResult, ModelCardData

    from sectune.models import hub_id

    data_path = _dig(run, "training", "data", "path")
    dataset = str(data_path).replace("\\", "/").rsplit("/", 1)[-1] if data_path else "held-out test rows"
    task = str(_dig(run, "task") or "generic")
    results = [
        EvalResult(
            task_type="text-classification",
            dataset_type=f"sectune-{task}",
            dataset_name=dataset,
            metric_type=kind,
            metric_name=shown,
            metric_value=round(float(metrics[key]), 6),
            metric_config=config,
        )
        for key, kind, shown, config in _INDEXED
        if isinstance(metrics.get(key), (int, float))
    ]
    card = ModelCardData(
        library_name="sectune",
        pipeline_tag="text-classification",
        base_model=hub_id(_dig(run, "base_model")),
        tags=[
            "sectune",
            "security",
            "text-classification",
            *(str(d[k]) for d, k in ((info, "method"), (run, "task")) if _dig(d, k)),
        ],
        metrics=[
            "accuracy",
            "f1",
            "precision",
            "recall",
            *(["roc_auc", "average_precision"] if "roc_auc" in metrics else []),
        ],
        model_name=f"sectune {_dig(info, 'method') or 'model'} ({task})" if results else None,
        eval_results=results or None,
    )
    return ["---", card.to_yaml(), "---"]


def _labels(info: dict) -> list[str]:
    labels = _dig(info, "labels")
    return [str(label) for label in labels] if isinstance(labels, (list, tuple)) else []


def _about(info: dict, run: dict, metrics: dict) -> list[str]:
    labels = _labels(info)
    out = ["## What it does", ""]
    if labels:
        out.append(f"Classifies a piece of text into one of **{len(labels)}** classes.")
        out.append("")
    facts = []
    if _dig(info, "method"):
        facts.append(f"- Method: `{info['method']}`")
    if _dig(run, "task"):
        facts.append(f"- Task: `{run['task']}`")
    if _dig(run, "base_model"):
        facts.append(f"- Base model: `{run['base_model']}`")
    if labels:
        shown = ", ".join(f"`{label}`" for label in labels[:LABELS_LISTED])
        more = f" … and {len(labels) - LABELS_LISTED} more" if len(labels) > LABELS_LISTED else ""
        facts.append(f"- Classes ({len(labels)}): {shown}{more}")
    threshold = _dig(info, "threshold")
    if threshold is None:
        threshold = metrics.get("threshold")
    if len(labels) == 2 or threshold is not None:
        threshold = 0.5 if threshold is None else threshold
        positive = metrics.get("positive_label") or (labels[1] if len(labels) == 2 else None)
        rule = f"predicts `{positive}` when P(`{positive}`) ≥ {format_value(threshold)}" if positive else None
        facts.append(f"- Decision rule: {rule or f'threshold {format_value(threshold)}'}")
        facts += _threshold_facts(_dig(run, "threshold_selection"))
    params = _dig(info, "params")
    if isinstance(params, dict) and params:
        rendered = ", ".join(f"`{k}`={json.dumps(v, default=str)}" for k, v in params.items())
        facts.append(f"- Hyper-parameters: {rendered}")
    out += facts or ["No model details were recorded."]
    return out + [""]


def _threshold_facts(chosen: Any) -> list[str]:
    """How the threshold was chosen (``run.threshold_selection``): on what, for which FPR, with what it achieved."""
    if not isinstance(chosen, dict) or chosen.get("threshold") is None:
        return []
    baseline = chosen.get("baseline") if isinstance(chosen.get("baseline"), dict) else None
    if baseline:
        where = f"{baseline.get('lines')} command lines of the benign baseline log `{baseline.get('path')}`"
        if baseline.get("sha256"):
            where += f" (SHA-256 `{baseline['sha256'][:16]}…`)"
    else:
        where = f"{chosen.get('validation_rows')} validation rows"
    out = [
        f"- Threshold chosen on {where} for FPR ≤ {format_value(chosen.get('target_fpr'))} "
        "(its 95% upper bound, so that it holds on new rows)"
    ]
    floor = chosen.get("fpr_floor")
    if chosen.get("resolvable") is False and floor is not None:
        out.append(
            f"  - the target is below what {chosen.get('validation_negatives')} benign rows can resolve "
            f"(rule of three: {format_value(floor)}); chosen for FPR ≤ {format_value(chosen.get('effective_fpr'))} instead"
        )
    ci = chosen.get("validation_fpr_ci95")
    achieved = f"  - achieved FPR {format_value(chosen.get('validation_fpr'))}"
    if isinstance(ci, list) and len(ci) == 2:
        achieved += f" (95% CI {format_value(ci[0])}–{format_value(ci[1])})"
    if chosen.get("validation_tpr") is not None:
        achieved += f", recall {format_value(chosen.get('validation_tpr'))}"
    out.append(achieved)
    if chosen.get("fallback") == "top_positive":
        out.append(
            "  - no validation positive reached the FPR-constrained threshold: it falls back to the top positive "
            "score, at the FPR above"
        )
    return out


def _data(run: dict) -> list[str]:
    training = _dig(run, "training") or {}
    data = _dig(training, "data") or {}
    out = []
    if _dig(data, "path"):
        out.append(f"- File: `{data['path']}`")
    if _dig(data, "sha256"):
        out.append(f"- SHA-256: `{data['sha256']}`")
    if _dig(data, "rows") is not None:
        columns = [
            f"{name} column `{data[key]}`"
            for key, name in (("text_column", "text"), ("label_column", "label"))
            if _dig(data, key)
        ]
        out.append(f"- Rows: {data['rows']}" + (f" ({', '.join(columns)})" if columns else ""))
    split_bits = []
    if _dig(training, "split"):
        split_bits.append(str(training["split"]))
    if _dig(training, "test_size") is not None:
        split_bits.append(f"test size {training['test_size']}")
    if _dig(training, "seed") is not None:
        split_bits.append(f"seed {training['seed']}")
    if split_bits:
        out.append(f"- Split: {', '.join(split_bits)}")
    if _dig(training, "train_rows") is not None or _dig(training, "test_rows") is not None:
        out.append(
            f"- Train / test rows: {format_value(_dig(training, 'train_rows'))} / {format_value(_dig(training, 'test_rows'))}"
        )
    dropped = _dig(training, "dropped")
    if _dig(training, "min_examples") is not None or isinstance(dropped, dict):
        text = "- Filtering:"
        if _dig(training, "min_examples") is not None:
            text += f" classes with fewer than {training['min_examples']} examples dropped"
        if isinstance(dropped, dict):
            text += (
                f" ({format_value(dropped.get('rows'))} rows, {format_value(dropped.get('classes'))} classes removed)"
            )
        out.append(text)
    if isinstance(_dig(training, "train_seconds"), (int, float)):
        out.append(f"- Training time: {training['train_seconds']:.0f} s")
    versions = _dig(run, "versions")
    if isinstance(versions, dict) and versions:
        out.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return ["## Training data", "", *(out or ["No training data details were recorded."]), ""]


def _metrics_section(metrics: dict) -> list[str]:
    out = ["## Evaluation", ""]
    rows = [(title, metrics[key]) for key, title in _HEADLINE if key in metrics]
    if "positive_label" in metrics:
        rows += [(title, metrics[key]) for key, title in _BINARY if key in metrics]
        from sectune.metrics import operating_point_rows

        rows += operating_point_rows(metrics)
    if not rows:
        return out + ["No evaluation metrics were recorded.", ""]
    out += ["Scores on the held-out test split.", "", "| Metric | Value |", "|---|---|"]
    out += [f"| {title} | {_cell(value)} |" for title, value in rows]
    unseen = metrics.get("unseen_labels") or {}
    if unseen:
        listed = ", ".join(f"`{k}` ({v})" for k, v in list(unseen.items())[:LABELS_LISTED])
        out += ["", f"Test labels not seen in training: {listed}."]
    out.append("")

    per_class = metrics.get("per_class") or []
    if per_class:
        largest = sorted(per_class, key=lambda r: (-(r.get("support") or 0), str(r.get("label"))))
        largest = largest[:PER_CLASS_ROWS]
        out += [
            f"### Per-class results ({len(largest)} largest of {len(per_class)} classes)",
            "",
            "| Class | Precision | Recall | F1 | Support |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| {_cell(r.get('label'))} | {_cell(r.get('precision'))} | {_cell(r.get('recall'))} "
            f"| {_cell(r.get('f1'))} | {_cell(r.get('support'))} |"
            for r in largest
        ]
        out.append("")
    return out


def _usage() -> list[str]:
    return [
        "## How to use",
        "",
        "`DIR` is this model's directory. Command line (one text per line, top 3 classes each):",
        "",
        "```bash",
        "sectune predict DIR input.txt --top-k 3",
        "```",
        "",
        "Python (load it with sectune: an encoder trained with mean pooling keeps its body in `body/` and its head "
        "in `pooled_head.safetensors`, which plain transformers would not assemble):",
        "",
        "```python",
        "import sectune",
        "",
        'model = sectune.load("DIR")',
        'proba = model.predict_proba(["text to classify"])  # one row per text, columns in label order',
        "```",
        "",
        "## How to reproduce",
        "",
        "```bash",
        "sectune train --config DIR/config.yaml --output NEW_DIR",
        "```",
        "",
        "`config.yaml` holds absolute paths; a new `--output` keeps this directory as it is (sectune never writes "
        "over the folder a run reads its config from). The data file must match the SHA-256 above; the seed fixes "
        "the split, though GPU non-determinism can move scores slightly.",
        "",
    ]


def _limitations(info: dict, run: dict, metrics: dict) -> list[str]:
    data_path = _dig(run, "training", "data", "path")
    source = f"`{data_path}`" if data_path else "the training data listed above"
    out = [
        "## Limitations",
        "",
        f"- Trained on {source} only; text from other sources, products or time periods may score worse.",
        "- Labels not seen in training cannot be predicted: the model always answers with one of its own classes.",
    ]
    if metrics.get("n_unseen"):
        out.append(
            f"- {metrics['n_unseen']} test rows carried labels outside the model's label set and were scored as wrong."
        )
    per_class = metrics.get("per_class")
    if per_class:
        support = {str(r.get("label")): r.get("support") or 0 for r in per_class}
        labels = _labels(info) or list(support)
        rare = sum(1 for label in labels if support.get(label, 0) < RARE_SUPPORT)
        out.append(
            f"- Rare classes: {rare} of {len(labels)} classes have fewer than {RARE_SUPPORT} test "
            "examples, so their per-class figures are noisy."
        )
    calibration = _dig(info, "calibration") or _dig(run, "calibration") or _dig(run, "calibrated")
    if isinstance(calibration, dict):
        params = ", ".join(f"{k} {format_value(calibration[k])}" for k in ("temperature", "a", "b") if k in calibration)
        rows = calibration.get("rows")
        out.append(
            f"- Probabilities were calibrated ({calibration.get('method')}: {params}"
            + (f"; fitted on {rows} validation rows, chosen by cross-validated log-loss" if rows else "")
            + "); thresholds were chosen on the calibrated scores."
        )
    elif calibration:
        detail = f" ({calibration})" if not isinstance(calibration, bool) else ""
        out.append(f"- Probabilities were calibrated{detail}.")
    else:
        out.append(
            "- Probabilities are not calibrated: treat them as scores and choose thresholds on "
            "held-out data from your own environment."
        )
    return out + [""]


def _task_section(run: dict, metrics: dict) -> list[str]:
    """The task's own section (``Task.card_section``); none for a task this install does not know."""
    from sectune.errors import SectuneError
    from sectune.tasks import Task

    try:
        section = Task.from_info(run).card_section(run, metrics)
    except SectuneError:  # an unknown task or settings this version cannot read: the rest of the card still stands
        return []
    return [*section.rstrip("\n").split("\n"), ""] if section else []


def _export_section(info: dict) -> list[str]:
    """What ``sectune export`` made of the model (``export`` in sectune.json): runtime, and the check against the
    original on the same rows (metric change, probability difference, speed-up), so a reader sees what it cost."""
    export = _dig(info, "export")
    if not isinstance(export, dict):
        return []
    runtime = export.get("runtime")
    what = "ONNX model run by onnxruntime" if runtime == "onnxruntime" else f"{runtime} model"
    if export.get("quantize"):
        what += f" ({export['quantize']} dynamic quantization)"
    out = ["## Export", "", f"This directory is an export of `{export.get('source')}`: a {what}, loaded without torch."]
    if export.get("exporter"):
        out.append(f"Exported with {export['exporter']} (opset {format_value(export.get('opset'))}).")
    check = export.get("check")
    if isinstance(check, dict):
        out += [
            "",
            f"Checked against the original on {check.get('rows')} rows of {check.get('data')}:",
            "",
            "| Metric | Original | Exported | Change |",
            "|---|---|---|---|",
        ]
        for name, row in (check.get("metrics") or {}).items():
            if isinstance(row, dict):
                out.append(
                    f"| {_cell(name)} | {_cell(row.get('original'))} | {_cell(row.get('exported'))} "
                    f"| {_cell(row.get('change'))} |"
                )
        speed = check.get("texts_per_second") or {}
        out += [
            "",
            f"- Largest difference of a probability: {_number(check.get('max_abs_proba_diff'), '.1e')}",
            f"- Speed on those rows: {_number(speed.get('original'), ',.0f')} -> {_number(speed.get('exported'), ',.0f')} "
            f"texts/s ({_number(check.get('speedup'), '.2f')}x), measured on the machine that exported it",
            f"- Largest drop allowed: {format_value(check.get('max_delta'))}"
            + (" (exceeded; kept with --force)" if check.get("forced") else ""),
        ]
    return out + [""]


def _number(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) else format_value(value)


def render_model_card(info: dict, metrics: dict) -> str:
    """Render README.md for a model directory from ``sectune.json`` content (format 2: provenance under ``run``)
    and test metrics."""
    info = info if isinstance(info, dict) else {}
    run = info.get("run") if isinstance(info.get("run"), dict) else {}
    metrics = metrics if isinstance(metrics, dict) else {}
    task = _dig(run, "task")
    title = f"# sectune {task} classifier" if task else "# sectune classifier"
    lines = [
        *_front_matter(info, run, metrics),
        "",
        title,
        "",
        *_about(info, run, metrics),
        *_data(run),
        *_metrics_section(metrics),
        *_export_section(info),
        *_task_section(run, metrics),
        *_usage(),
        *_limitations(info, run, metrics),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"
