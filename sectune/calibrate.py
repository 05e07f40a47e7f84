"""``sectune calibrate MODEL BENIGN_LOG --target-fpr 0.001``: set a binary model's threshold on your own benign baseline.

A threshold chosen on generated validation data says little about the false-positive rate on a real fleet.
Every command line of ``BENIGN_LOG`` (any format ``sectune scan`` reads) is taken as benign and scored; the
threshold is the lowest whose FPR on them stays within the target, under the policy of
:mod:`sectune.operating` (a target below 3/n is not resolvable with n lines: the threshold is chosen for
3/n instead, said and recorded; the achieved FPR is recorded with its 95% Clopper-Pearson interval).

The model directory is updated in place, each file atomically: ``sectune.json`` (``threshold`` and
``run.threshold_selection`` with ``source: calibrate``, the log's path, SHA-256 and line count; the
validation-chosen operating points are kept) and the model card. ``sectune scan`` then alerts at it.
Refused, in one line: a directory that is not a binary sectune model, a log without command lines, a
baseline whose top scores are so tied that no threshold keeps within the budget (nothing would ever alert).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from sectune.errors import SectuneError
from sectune.io import atomic_write, file_sha256
from sectune.methods.base import INFO_FILE, read_info
from sectune.methods.info import validate_info

log = logging.getLogger("sectune")


def calibrate(
    model: str | Path,
    log_path: str | Path,
    *,
    fmt: str = "auto",
    field: str | None = None,
    target_fpr: float = 0.001,
    batch_size: int = 1024,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
) -> dict[str, Any]:
    """Choose ``model``'s threshold on the benign log ``log_path``; rewrite its sectune.json and card; return the
    new ``run.threshold_selection``."""
    from sectune.operating import select_threshold
    from sectune.scan import _load_model
    from sectune.tasks.cmdline.logs import ScanCounts, iter_command_lines

    if not 0.0 < target_fpr < 1.0:
        raise SectuneError(f"--target-fpr must be between 0 and 1 (exclusive), got {target_fpr}")
    if batch_size < 1:
        raise SectuneError("--batch-size must be at least 1")
    if str(log_path) == "-":
        raise SectuneError("calibrate needs a log file, not stdin: its SHA-256 is recorded with the threshold")
    directory = Path(model)
    info = read_info(directory)  # not a model directory: one line
    if len(info["labels"]) != 2:
        raise SectuneError(f"calibrate needs a binary model; this one has {len(info['labels'])} labels", path=directory)
    path = Path(log_path)
    if not path.is_file():
        raise SectuneError("no such log file", path=path)
    clf = _load_model(directory, {"trust_remote_code": trust_remote_code, "allow_pickle": allow_pickle})

    counts = ScanCounts()
    scores: list[np.ndarray] = []
    batch: list[str] = []
    for item in iter_command_lines(path, fmt, field, counts):
        batch.append(item.command_line)
        if len(batch) >= batch_size:
            scores.append(clf.predict_proba(batch)[:, 1])
            batch = []
    if batch:
        scores.append(clf.predict_proba(batch)[:, 1])
    values = np.concatenate(scores) if scores else np.zeros(0)
    n = int(values.size)
    if n == 0:
        raise SectuneError(f"no command line found in the log (format {counts.format or fmt})", path=path)

    chosen = select_threshold(np.zeros(n, dtype=bool), values, target_fpr)
    if chosen["threshold"] > 1.0:  # the top benign scores are saturated (1.0) and tied beyond the budget
        raise SectuneError(
            f"{int((values >= values.max()).sum())} of the {n} benign lines share the top score {values.max():.6g}: "
            f"no threshold keeps FPR <= {chosen['effective_fpr']:.2g}, and one above every score would never alert; "
            "use a larger --target-fpr or a longer baseline",
            path=path,
        )
    previous = info["run"].get("threshold_selection") or {}
    selection = {
        "target_fpr": float(target_fpr),
        "threshold": chosen["threshold"],
        "validation_rows": n,
        "positive_label": str(info["labels"][1]),
        "validation_fpr": chosen["fpr"],
        "validation_tpr": None,
        "source": "calibrate",
        "fpr_floor": chosen["fpr_floor"],
        "effective_fpr": chosen["effective_fpr"],
        "resolvable": chosen["resolvable"],
        "validation_negatives": n,
        "validation_false_positives": chosen["false_positives"],
        "validation_fpr_ci95": chosen["fpr_ci95"],
        "operating_points": previous.get("operating_points"),  # chosen on validation: evaluate/compare report them
        "baseline": {"path": str(path), "sha256": file_sha256(path), "lines": n, "format": counts.format},
    }
    info = {**info, "threshold": chosen["threshold"], "run": {**info["run"], "threshold_selection": selection}}
    validate_info(info, directory / INFO_FILE)
    _rewrite(directory, info)
    log.info(
        "threshold %.6g for FPR <= %.2g on %d benign lines: FPR %.4f (95%% CI %.4f-%.4f), was %s",
        chosen["threshold"],
        chosen["effective_fpr"],
        n,
        chosen["fpr"],
        *chosen["fpr_ci95"],
        previous.get("threshold", "unset"),
    )
    return selection


def _rewrite(directory: Path, info: dict[str, Any]) -> None:
    """sectune.json, then the model card (from metrics.json when it is readable), each atomically."""
    from sectune.card import render_model_card

    with atomic_write(directory / INFO_FILE) as handle:
        handle.write(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    try:
        metrics = json.loads((directory / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        metrics = {}
    with atomic_write(directory / "README.md") as handle:
        handle.write(render_model_card(info, metrics if isinstance(metrics, dict) else {}))


def add_calibrate_parser(subparsers) -> None:
    from sectune.security import add_switch_flags
    from sectune.tasks.cmdline.logs import FORMATS

    p = subparsers.add_parser(
        "calibrate",
        help="set a binary model's threshold for a target FPR on your own benign baseline log",
        description="Score every command line of BENIGN_LOG (each taken as benign; any format scan reads) and set "
        "MODEL's threshold to the lowest whose false-positive rate on them is within --target-fpr (with n lines, "
        "an FPR below 3/n cannot be resolved: the threshold is chosen for 3/n and that is recorded). The model's "
        "sectune.json and card are rewritten atomically; sectune scan then uses the threshold.",
    )
    p.add_argument("model_dir", metavar="MODEL", help="a binary sectune model directory (updated in place)")
    p.add_argument("logfile", metavar="BENIGN_LOG", help="a log of benign process creations (optionally .gz)")
    p.add_argument("--format", dest="log_format", choices=FORMATS, default="auto", help="log format (default auto)")
    p.add_argument("--field", help="jsonl/csv/ecs/sysmon-json: the field or column holding the command line")
    p.add_argument("--target-fpr", type=float, default=0.001, help="false-positive rate to allow (default 0.001)")
    p.add_argument("--batch-size", type=int, default=1024, help="command lines scored at a time (default 1024)")
    add_switch_flags(p)


def run_calibrate_command(args) -> int:
    from sectune.security import switches

    chosen = calibrate(
        args.model_dir,
        args.logfile,
        fmt=args.log_format,
        field=args.field,
        target_fpr=args.target_fpr,
        batch_size=args.batch_size,
        **switches(args),
    )
    low, high = chosen["validation_fpr_ci95"]
    floor = (
        ""
        if chosen["resolvable"]
        else f" (target below the 3/n floor: chosen for FPR <= {chosen['effective_fpr']:.2g})"
    )
    print(
        f"threshold {chosen['threshold']:.6g} on {chosen['validation_rows']:,} benign lines{floor}: "
        f"FPR {chosen['validation_fpr']:.4f} (95% CI {low:.4f}-{high:.4f}); written to {args.model_dir}"
    )
    return 0
