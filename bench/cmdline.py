"""Obfuscated command-line detection: the ladder of methods on real tool output, three ways.

(1) generated: train on ``sectune data cmdline`` output only, test on all of
    ../shared/data/cmdline (real obfuscation tools, real benign corpora): the honest test of the
    generator, per technique of the real tools.
(2) shared: train and test on the shared set, group split by ``orig`` (a benign seed and every
    line obfuscated from it stay on one side), with leave-one-technique-family-out recall.
(3) generated + shared: train on both, test on the test side of (2).
(4a) leave one tool out: every real obfuscation tool of the shared set (bashfuscator, bashsmash,
    dosfuscation) and every technique family of the engine held out in turn: train on the rest of
    the shared set plus generated data without that tool's / family's lines (and without any line of
    their seeds: grouped by ``orig``), test on the held-out lines plus held-out benign lines; recall
    and test FPR at the thresholds chosen on validation (never on the test rows), F1, ROC-AUC.
(4b) the light set: the engine's light intensity, one technique per line, lines < 200 characters,
    generated with another seed and never trained on, scored by the models of (4a): the model that
    saw every family and the one that never saw the line's family; recall at the FPR 1% threshold
    chosen on validation, per technique family.

Every setup runs ``sectune.compare.compare`` (the table of ``sectune compare``), plus Adobe's
``obfuscation-detection`` (PyPI, cmd.exe only, an XGBoost model; ``pip install --no-deps
obfuscation-detection xgboost-cpu``) scored on the same test lines as an outside baseline, and
the one-core scan speed of features-logreg.

    python bench/cmdline.py --markdown BENCHMARKS.md
    python bench/cmdline.py --setups 2 --methods rules,features-logreg   # quick look
    python bench/cmdline.py --setups 4 --methods rules,features-logreg,shell-features --markdown BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CMDLINE as REAL  # noqa: E402
from common import cmdline_shared_split, command_line, machine_line, source_digest, update_markdown, versions  # noqa: E402

SECTION = "## Command-line detection (bench/cmdline.py)"
METHODS = ("rules", "features-logreg", "shell-features", "charcnn", "encoder")
FIELDS = ("text", "label", "shell", "technique", "orig")
SETUPS = {
    "1": "train on generated data only, test on all of ../shared/data/cmdline",
    "2": "train and test on ../shared/data/cmdline, group split by orig (test 20%, seed 42)",
    "3": "train on generated data + the train side of (2), test on the test side of (2)",
    "4": "leave one obfuscation tool / technique family out (4a), and the light set (4b)",
}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({k: row.get(k) for k in FIELDS}, ensure_ascii=False) + "\n")
    return path


def prepare(work: Path, n_generated: int, generator_seed: int, generated_file: str | None = None) -> dict[str, Path]:
    """The files every setup reads: generated data (or a given file of it), the shared set, its group split."""
    from sectune.tasks.cmdline.dataset import build_cmdline_dataset

    work.mkdir(parents=True, exist_ok=True)
    if generated_file:
        generated = [json.loads(line) for line in Path(generated_file).open(encoding="utf-8")]
    else:
        generated = build_cmdline_dataset(n=n_generated, seed=generator_seed, progress=False).records
    shared, train_idx, test_idx = cmdline_shared_split()
    return {
        "generated": write_jsonl(work / "generated.jsonl", generated),
        "shared": write_jsonl(work / "shared.jsonl", shared),
        "shared_train": write_jsonl(work / "shared_train.jsonl", [shared[i] for i in train_idx]),
        "shared_test": write_jsonl(work / "shared_test.jsonl", [shared[i] for i in test_idx]),
        "mixed_train": write_jsonl(work / "mixed_train.jsonl", generated + [shared[i] for i in train_idx]),
    }


def outside_baseline(test_file: Path) -> dict | None:
    """Adobe's obfuscation-detection on the cmd lines of the test file (it models cmd.exe only)."""
    try:
        from obfuscation_detection import ObfuscationDetectionClassifier
    except ImportError:
        return None
    from sectune.metrics import evaluate_predictions

    rows = [json.loads(line) for line in test_file.open(encoding="utf-8")]
    rows = [r for r in rows if r["shell"] == "cmd"]
    texts, labels = [r["text"] for r in rows], [str(r["label"]) for r in rows]
    clf = ObfuscationDetectionClassifier()
    started = time.perf_counter()
    p = np.asarray(clf.predict_proba(texts), dtype=float)
    seconds = time.perf_counter() - started
    p = p[:, 1] if p.ndim == 2 else p
    m = evaluate_predictions(labels, np.column_stack([1 - p, p]), ["0", "1"], positive_label="1", threshold=0.5)
    y = np.array([lab == "1" for lab in labels])
    short = y & (np.array([len(t) for t in texts]) < 200)
    return {
        "method": "obfuscation-detection (cmd lines only)",
        "precision": m["precision"],
        "recall": m["recall"],
        "f1": m["f1"],
        "roc_auc": m["roc_auc"],
        "fpr_at_tpr95": m["fpr_at_tpr95"],
        "fpr_at_tpr99": m["fpr_at_tpr99"],
        "threshold": 0.5,
        "recall_short": float((p[short] >= 0.5).mean()) if short.any() else None,
        "train_seconds": None,
        "lines_per_second": len(texts) / seconds,
        "size_mib": None,
        "n": len(texts),
    }


def one_core_speed(model_dir: Path, texts: list[str]) -> float:
    """Lines/s of a saved model on one core (torch and BLAS both held to one thread), best of 3."""
    import torch
    from threadpoolctl import threadpool_limits

    import sectune

    clf = sectune.load(model_dir)
    torch.set_num_threads(1)
    best = 0.0
    with threadpool_limits(1):
        clf.predict_proba(texts[:1000])
        for _ in range(3):
            started = time.perf_counter()
            clf.predict_proba(texts)
            best = max(best, len(texts) / (time.perf_counter() - started))
    return best


@dataclass(frozen=True)
class NeuralBudget:
    """The CPU budget of the neural methods, the same for every setup, and the line that states it."""

    encoder_steps: int = 600
    encoder_max_length: int = 256
    charcnn_steps: int = 1500
    ensemble_members: str = "charcnn,shell-features"

    def settings(self, methods: list[str]) -> dict[str, dict]:
        own = {
            "encoder": {
                "max_steps": self.encoder_steps,
                "batch_size": 16,
                "max_length": self.encoder_max_length,
                "lr": 1e-4,
                "eval_steps": max(100, self.encoder_steps // 4),
            },
            "charcnn": {"max_steps": self.charcnn_steps},
        }
        members = self.ensemble_members.split(",")
        own["ensemble"] = {"members": self.ensemble_members, "member_params": {m: own[m] for m in members if m in own}}
        return {name: v for name, v in own.items() if name in methods}

    def describe(self, ran: set[str]) -> list[str]:
        said = []
        if "encoder" in ran:
            said.append(
                f"encoder: all-MiniLM-L6-v2, CPU budget {self.encoder_steps} optimiser steps, batch 16, "
                f"max_length {self.encoder_max_length} tokens, lr 1e-4"
            )
        if "charcnn" in ran:
            said.append(f"charcnn: {self.charcnn_steps} steps of batch 64 at most (max length 4,096 characters)")
        if "ensemble" in ran:
            said.append(
                f"ensemble: {self.ensemble_members} (each member's budget as above), probabilities averaged with "
                "weights chosen on the validation rows' log-loss"
            )
        return said


def run_setup(
    setup: str,
    files: dict[str, Path],
    methods: list[str],
    work: Path,
    budget: NeuralBudget,
    loo: list[str],
) -> dict:
    from sectune.compare import compare

    data, test = {
        "1": (files["generated"], files["shared"]),
        "2": (files["shared_train"], files["shared_test"]),
        "3": (files["mixed_train"], files["shared_test"]),
    }[setup]
    started = time.perf_counter()
    result = compare(
        str(data),
        methods,
        output=work / f"setup{setup}",
        test_data=str(test),
        task="cmdline",
        verbose=False,
        leave_one_out=[] if setup == "1" else [m for m in loo if m in methods],  # (1) holds out every real tool already
        method_settings=budget.settings(methods),
    )
    return {
        "result": result,
        "seconds": time.perf_counter() - started,
        "baseline": outside_baseline(test),
        "test_file": test,
    }


def render(
    setup: str,
    out: dict,
    files: dict[str, Path],
    speed: float | None,
    command: str,
    started: str,
    budget: NeuralBudget,
    generated_from: str,
    title_suffix: str = "",
) -> str:
    from sectune.compare import recall_table, render_table

    result = out["result"]
    ran = {row["method"] for row in result.rows}
    n_train = sum(1 for _ in files[{"1": "generated", "2": "shared_train", "3": "mixed_train"}[setup]].open())
    n_test = sum(1 for _ in out["test_file"].open())
    lines = [
        f"### ({setup}) {SETUPS[setup]}{title_suffix}",
        "",
        f"- command: `{command}`; date: {started}; this setup's run time {out['seconds']:,.0f} s",
        f"- machine: {machine_line()}",
        f"- versions: {versions()}; sectune source sha256 {source_digest()}",
        f"- rows: train file {n_train:,} (10% of it held out for validation: each binary model's threshold for FPR <= 0.001), "
        f"test file {n_test:,} (test lines also present in training are dropped)",
        *([f"- generated data: {generated_from}"] if setup != "2" else []),
        "- "
        + "; ".join(
            [
                *budget.describe(ran),
                "precision/recall/F1 at each model's threshold; lines/s: scoring the test file with 2 threads",
            ]
        ),
        "",
        result.table(),
    ]
    if out["baseline"]:
        b = out["baseline"]
        lines += [
            "",
            f"Outside baseline, Adobe's `obfuscation-detection` 1.0.0 (XGBoost, cmd.exe only; its own 0.5 threshold) on the "
            f"{b['n']:,} cmd lines of the same test file:",
            "",
            render_table([b], result.columns),
        ]
    if speed is not None:
        lines += [
            "",
            f"features-logreg on one core (torch and BLAS held to one thread), scoring the test file: {speed:,.0f} lines/s (best of 3).",
        ]
    if setup == "1" and result.per_technique:
        lines += [
            "",
            "Recall per technique of the real tools (the generator never produced these):",
            "",
            recall_table(result.per_technique, "technique"),
        ]
    if result.leave_one_out:
        lines += [
            "",
            "Leave one technique family out (recall on the family when training saw none of it):",
            "",
            recall_table(result.leave_one_out, "family held out"),
        ]
    return "\n".join(lines) + "\n"


# --- setup (4): leave one tool / family out, and the light set -------------------------------------

TARGETS = (
    "targets: on obfuscation never seen in training F1 >= 0.9 with test FPR <= 0.5%; "
    "on light obfuscation recall >= 0.8 at test FPR <= 1%"
)


def group_key(row: dict) -> str:
    return row.get("orig") or row["text"]


def held_out_units(row: dict, generated: bool) -> set[str]:
    """The units an obfuscated line is held out with: its real tool (shared set) or each engine family of its chain."""
    from sectune.tasks.cmdline.families import technique_families

    if int(row["label"]) != 1:
        return set()
    if generated:
        return {f"engine:{family}" for family in technique_families(row["technique"])}
    return {"tool:" + row["technique"].split(":", 1)[0]}


def _generated_test_side(key: str) -> bool:
    """The generated lines' own group split (20% by orig), by a hash: the same for every held-out unit."""
    import hashlib

    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 5 == 0


def loto_plan(files: dict[str, Path]) -> tuple[list[dict], set[str], list[str]]:
    """Every row (shared + generated, with its units), the base test groups, and the units to hold out."""
    shared, _, test_idx = cmdline_shared_split()
    generated = [json.loads(line) for line in files["generated"].open(encoding="utf-8")]
    rows = [{**r, "units": held_out_units(r, False)} for r in shared]
    rows += [{**r, "units": held_out_units(r, True)} for r in generated]
    base_test = {group_key(shared[i]) for i in test_idx}
    base_test |= {group_key(r) for r in generated if _generated_test_side(group_key(r))}
    units = sorted(set().union(*(r["units"] for r in rows)))
    return rows, base_test, units


def loto_files(
    rows: list[dict], base_test: set[str], unit: str | None, work: Path, cap: int | None, seed: int
) -> tuple[Path, Path, dict]:
    """Train/test files with ``unit`` held out (None: nothing held out, the reference row). Training keeps
    no line of the unit and no line of any seed it obfuscated; test: the unit's lines + benign lines of the
    test groups, minus any text training holds."""
    import random

    held = [r for r in rows if unit in r["units"]] if unit else []
    test_groups = base_test | {group_key(r) for r in held if r.get("orig")}
    train = [r for r in rows if group_key(r) not in test_groups and unit not in r["units"]]
    subsampled = cap is not None and len(train) > cap
    if subsampled:
        pick = random.Random(f"bench-cmdline-4:{seed}:{unit}").sample(range(len(train)), cap)
        train = [train[i] for i in sorted(pick)]
    seen = {r["text"] for r in train}
    positives = held if unit else [r for r in rows if int(r["label"]) == 1 and group_key(r) in test_groups]
    benign = [r for r in rows if int(r["label"]) == 0 and group_key(r) in test_groups]
    test, kept = [], set()
    for r in positives + benign:
        if r["text"] not in seen and r["text"] not in kept:
            kept.add(r["text"])
            test.append(r)
    slug = (unit or "none").replace(":", "-")
    info = {
        "train": len(train),
        "test_pos": sum(int(r["label"]) == 1 for r in test),
        "test_neg": sum(int(r["label"]) == 0 for r in test),
        "subsampled": subsampled,
    }
    return write_jsonl(work / f"4-{slug}-train.jsonl", train), write_jsonl(work / f"4-{slug}-test.jsonl", test), info


def light_set(n: int, seed: int, train_texts: set[str], train_groups: set[str]) -> list[dict]:
    """The engine's light intensity, one technique per line, < 200 chars; no seed or text training saw."""
    from sectune.tasks.cmdline.dataset import build_cmdline_dataset

    records = build_cmdline_dataset(n=n, seed=seed, intensities=["light"], progress=False).records
    return [
        r
        for r in records
        if r["text"] not in train_texts
        and group_key(r) not in train_groups
        and (int(r["label"]) == 0 or (">" not in r["technique"] and len(r["text"]) < 200))
    ]


def _model_metrics(model_dir: Path) -> dict:
    """The test FPR at the model's own threshold, from its metrics.json (1 - recall of class 0)."""
    import sectune

    metrics = json.loads((model_dir / "metrics.json").read_text())
    negative = next((c for c in metrics.get("per_class") or [] if str(c["label"]) == "0"), None)
    selection = sectune.load(model_dir).run.threshold_selection.model_dump(mode="json")
    return {
        "fpr": None if negative is None else 1 - negative["recall"],
        "validation_negatives": selection.get("validation_negatives"),
        "chosen_for_0.001": (selection.get("operating_points") or {}).get("0.001", {}).get("effective_fpr"),
    }


def _light_scores(model_dir: Path, texts: list[str]) -> tuple[np.ndarray, float]:
    """The light lines' scores and the model's FPR 1% threshold chosen on validation."""
    import sectune

    clf = sectune.load(model_dir)
    threshold = clf.run.threshold_selection.model_dump(mode="json")["operating_points"]["0.01"]["threshold"]
    return clf.predict_proba(texts)[:, clf.labels_.index("1")], threshold


def run_setup4(
    files: dict[str, Path],
    methods: list[str],
    work: Path,
    budget: NeuralBudget,
    cap: int | None,
    seed: int,
    n_light: int,
    target_fpr: float,
    only: list[str] | None,
) -> dict:
    from sectune.compare import compare
    from sectune.tasks.cmdline.families import technique_families

    rows, base_test, units = loto_plan(files)
    if only:
        units = [u for u in units if u in only]
    train_texts = {r["text"] for r in rows if group_key(r) not in base_test}
    train_groups = {group_key(r) for r in rows if group_key(r) not in base_test}
    light = light_set(n_light, seed + 1, train_texts, train_groups)
    light_pos = [r for r in light if int(r["label"]) == 1]
    light_neg = [r["text"] for r in light if int(r["label"]) == 0]
    light_family = [next(iter(technique_families(r["technique"]))) for r in light_pos]
    site_baseline = baseline_half(light_neg)
    out: dict = {
        "units": {},
        "light": {},
        "light_n": Counter(light_family),
        "light_neg": len(light_neg),
        "seconds": 0.0,
    }
    for unit in [None, *units]:
        name = unit or "none"
        output = work / "setup4" / name.replace(":", "-")
        done = output / f"result-{'+'.join(methods)}.json"  # a finished unit is kept: a cut run resumes after it
        if done.exists():
            finished = json.loads(done.read_text())
            out["units"][name] = finished["unit"]
            _merge_light(out["light"], finished["light"])
            out["seconds"] += finished["seconds"]
            print(f"[{time.strftime('%H:%M:%S')}] setup 4: {name} done before, kept", file=sys.stderr, flush=True)
            continue
        unit_started = time.perf_counter()
        if output.exists():  # a unit cut before its result was kept: start it again from nothing
            shutil.rmtree(output)
        print(f"[{time.strftime('%H:%M:%S')}] setup 4: holding out {name} ...", file=sys.stderr, flush=True)
        train_file, test_file, info = loto_files(rows, base_test, unit, work, cap, seed)
        result = compare(
            str(train_file),
            methods,
            output=output,
            test_data=str(test_file),
            task="cmdline",
            verbose=False,
            leave_one_out=[],
            target_fpr=target_fpr,
            method_settings=budget.settings(methods),
        )
        out["units"][name] = {"info": info, "rows": {}}
        unit_light: dict = {}
        for row in result.rows:
            model_dir = output / "models" / row["method"]
            out["units"][name]["rows"][row["method"]] = {**row, **_model_metrics(model_dir)}
            if unit is None or unit.startswith("engine:"):
                family = unit.split(":", 1)[1] if unit else None
                picked = [i for i, f in enumerate(light_family) if family is None or f == family]
                if not picked:
                    continue
                scores, threshold = _light_scores(model_dir, [light_pos[i]["text"] for i in picked] + light_neg)
                pos_scores, neg_scores = scores[: len(picked)], scores[len(picked) :]
                site = site_calibrated(site_baseline, neg_scores, pos_scores)
                per = unit_light.setdefault(row["method"], {})
                if unit is None:
                    pos_flags = pos_scores >= threshold
                    fam = np.array(light_family)
                    per["all"] = {f: float(pos_flags[fam == f].mean()) for f in sorted(set(light_family))}
                    per["all_recall"] = float(pos_flags.mean())
                    per["all_fpr"] = float((neg_scores >= threshold).mean()) if light_neg else None
                    per["site"] = site
                else:
                    per.setdefault("held_out", {})[family] = float((pos_scores >= threshold).mean())
                    per.setdefault("site_held_out", {})[family] = site
        _merge_light(out["light"], unit_light)
        seconds = time.perf_counter() - unit_started
        out["seconds"] += seconds
        done.write_text(json.dumps({"unit": out["units"][name], "light": unit_light, "seconds": seconds}, default=str))
    return out


def baseline_half(benign: list[str]) -> np.ndarray:
    """Which benign lines play the site's baseline in :func:`site_calibrated`: half of them, by a hash of the text."""
    import hashlib

    return np.array([hashlib.sha256(t.encode()).digest()[0] % 2 == 0 for t in benign], dtype=bool)


def site_calibrated(baseline: np.ndarray, benign_scores: np.ndarray, positive_scores: np.ndarray) -> dict | None:
    """Recall at a threshold set the way ``sectune calibrate`` sets one, on the site's own benign lines.

    Each half of the light set's benign seeds (``baseline`` and the rest) plays the site's baseline in turn: the
    threshold is chosen there for FPR 1% under sectune.operating's policy, and the other half measures the FPR it
    reaches. Recall and that FPR are averaged over the two turns: one split of ~1,200 lines moves the FPR by half a
    point, which is the noise, not the method."""
    from sectune.operating import select_threshold

    if not baseline.size or baseline.all() or not baseline.any():
        return None
    turns = []
    for half in (baseline, ~baseline):
        chosen = select_threshold(np.zeros(int(half.sum())), benign_scores[half], 0.01, quiet=True)
        threshold = chosen["threshold"]
        turns.append(
            {
                "recall": float((positive_scores >= threshold).mean()),
                "fpr_baseline": chosen["fpr"],
                "fpr_other_half": float((benign_scores[~half] >= threshold).mean()),
            }
        )
    return {
        **{key: float(np.mean([turn[key] for turn in turns])) for key in turns[0]},
        "turns": turns,
        "n": len(positive_scores),
    }


def _merge_light(into: dict, unit_light: dict) -> None:
    """Add one unit's light-set recalls (per method: `seen` figures, or one held-out family) to the totals."""
    for method, per in unit_light.items():
        target = into.setdefault(method, {})
        target.update({k: v for k, v in per.items() if k not in ("held_out", "site_held_out")})
        for key in ("held_out", "site_held_out"):
            target.setdefault(key, {}).update(per.get(key, {}))


def _cell(value, spec: str = ".3f") -> str:
    return "" if value is None else format(value, spec)


def render_setup4(
    out: dict, methods: list[str], command: str, started: str, args, budget: NeuralBudget, generated_from: str
) -> str:
    units = out["units"]
    held = [u for u in units if u != "none"]
    tools = [u for u in held if u.startswith("tool:")]
    families = [u for u in held if u.startswith("engine:")]
    caps = {u for u, v in units.items() if v["info"]["subsampled"]}
    t = args.target_fpr
    lines = [
        f"### (4) {SETUPS['4']}{args.markdown_key}",
        "",
        f"- command: `{command}`; date: {started}; this setup's run time {out['seconds']:,.0f} s",
        f"- machine: {machine_line()}",
        f"- versions: {versions()}; sectune source sha256 {source_digest()}",
        f"- generated data: {generated_from}; base split: the shared set's group split of (2) (test 20% by `orig`, seed 42) "
        "and the generated lines' own 20% by a hash of `orig`",
        "- (4a) for each held-out unit (a real tool of the shared set, by the `technique` prefix; or an engine family: "
        "every generated line whose chain holds a technique of it): training = the train side without any line of the unit "
        "and without any line of a seed the unit obfuscated (group by `orig`); test = all of the unit's lines + the benign "
        "lines of the test groups, minus any text training holds; 10% of training (stratified) is validation: every "
        "threshold is chosen there, so that its FPR's one-sided 95% upper bound is within the target "
        "(sectune.operating's policy). "
        f"Precision/recall/F1 and `test FPR` at the model's threshold chosen for FPR <= {t:.1%}; "
        "recall@0.1% / @1% with the test FPR achieved at the thresholds chosen on validation for those FPRs. "
        "`none`: nothing held out (a reference, as (3))"
        + (
            f"; training subsampled deterministically to {args.loto_train_cap:,} lines for: {', '.join(sorted(caps))}"
            if caps
            else "; no subsampling (full training side)"
        ),
        *[f"- {'; '.join(neural)}" for neural in [budget.describe(set(methods))] if neural],
        f"- {TARGETS}",
        "",
    ]
    floors = [r["chosen_for_0.001"] for v in units.values() for r in v["rows"].values() if r.get("chosen_for_0.001")]
    negatives = [
        r["validation_negatives"] for v in units.values() for r in v["rows"].values() if r.get("validation_negatives")
    ]
    if floors and max(floors) > 0.001:
        lines[-2:-1] += [
            f"- rule of three: {min(negatives):,}-{max(negatives):,} validation negatives, so the 0.1% threshold "
            f"is chosen for FPR <= {min(floors):.2%}-{max(floors):.2%} (3/negatives: no validation negative passes "
            "it); more training lines (no `--loto-train-cap`) resolve it"
        ]
    head = (
        "| held out | train | test +/- | method | precision | recall | F1 | test FPR | recall@0.1% | FPR@0.1% thr | "
        "recall@1% | FPR@1% thr | ROC-AUC | F1 target |"
    )
    lines += [head, "|" + "---|" * 14]
    for unit in ["none", *tools, *families]:
        v = units[unit]
        for m in methods:
            r = v["rows"].get(m)
            if r is None:
                continue
            meets = r["f1"] is not None and r["fpr"] is not None and r["f1"] >= 0.9 and r["fpr"] <= 0.005
            lines.append(
                f"| {unit} | {v['info']['train']:,} | {v['info']['test_pos']:,}/{v['info']['test_neg']:,} | {m} | "
                f"{_cell(r['precision'])} | {_cell(r['recall'])} | {_cell(r['f1'])} | {_cell(r['fpr'], '.4f')} | "
                f"{_cell(r.get('val_recall_0.001'))} | {_cell(r.get('val_fpr_0.001'), '.4f')} | "
                f"{_cell(r.get('val_recall_0.01'))} | {_cell(r.get('val_fpr_0.01'), '.4f')} | {_cell(r['roc_auc'])} | "
                f"{'yes' if meets else 'no'} |"
            )
    lines += [
        "",
        "Mean over held-out units (never seen in training); `F1 >= 0.9 & FPR <= 0.5%`: how many units meet the target:",
        "",
        "| units | method | F1 | test FPR | recall@0.1% | FPR@0.1% thr | recall@1% | FPR@1% thr | ROC-AUC | F1 >= 0.9 & FPR <= 0.5% |",
        "|" + "---|" * 10,
    ]
    for title, group in (("real tools", tools), ("engine families", families), ("all", held)):
        for m in methods:
            got = [units[u]["rows"][m] for u in group if m in units[u]["rows"]]
            if not got:
                continue

            def mean(key: str, got: list[dict] = got) -> float | None:
                vals = [g[key] for g in got if g.get(key) is not None]
                return float(np.mean(vals)) if vals else None

            meets = sum(
                1 for g in got if g["f1"] is not None and g["fpr"] is not None and g["f1"] >= 0.9 and g["fpr"] <= 0.005
            )
            lines.append(
                f"| {title} ({len(got)}) | {m} | {_cell(mean('f1'))} | {_cell(mean('fpr'), '.4f')} | "
                f"{_cell(mean('val_recall_0.001'))} | {_cell(mean('val_fpr_0.001'), '.4f')} | "
                f"{_cell(mean('val_recall_0.01'))} | {_cell(mean('val_fpr_0.01'), '.4f')} | {_cell(mean('roc_auc'))} | "
                f"{meets}/{len(got)} |"
            )
    light = out["light"]
    if light:
        fams = sorted(out["light_n"])
        ran = [m for m in methods if m in light]
        lines += [
            "",
            f"(4b) The light set: `build_cmdline_dataset(n={args.n_light}, seed={args.generator_seed + 1}, "
            "intensities=['light'])`, obfuscated lines with one technique and < 200 characters, no seed or text of "
            f"training ({sum(out['light_n'].values()):,} lines; {out['light_neg']:,} of its benign seeds for the FPR). "
            "Recall at the FPR 1% threshold chosen on validation: `seen` = the model of (4a) `none` (trained on every "
            "family, never on these lines), `unseen` = the model of (4a) that held the line's family out. Target: "
            "recall >= 0.8 at FPR <= 1%.",
            "",
            "| family | lines | " + " | ".join(f"{m} seen | {m} unseen" for m in ran) + " |",
            "|" + "---|" * (2 + 2 * len(ran)),
        ]
        for f in fams:
            cells = []
            for m in ran:
                cells += [
                    _cell((light[m].get("all") or {}).get(f)),
                    _cell((light[m].get("held_out") or {}).get(f)),
                ]
            lines.append(f"| {f} | {out['light_n'][f]:,} | " + " | ".join(cells) + " |")
        cells = []
        for m in ran:
            unseen = light[m].get("held_out") or {}
            weighted = (
                sum(unseen[f] * out["light_n"][f] for f in unseen) / sum(out["light_n"][f] for f in unseen)
                if unseen
                else None
            )
            cells += [_cell(light[m].get("all_recall")), _cell(weighted)]
        lines.append(f"| **all** | {sum(out['light_n'].values()):,} | " + " | ".join(cells) + " |")
        lines.append(
            "| test FPR on the light set's benign seeds (`seen` model) | | "
            + " | ".join(f"{_cell(light[m].get('all_fpr'), '.4f')} | " for m in ran).rstrip(" |")
            + " | "
            + " |"
        )
        lines += _site_table(light, ran)
    return "\n".join(lines) + "\n"


def _site_table(light: dict, ran: list[str]) -> list[str]:
    """(4b) at a site-calibrated threshold: recall on the light lines, FPR on benign seeds the threshold never saw."""
    rows = []
    for m in ran:
        seen = light[m].get("site")
        unseen = [v for v in (light[m].get("site_held_out") or {}).values() if v]
        if not seen and not unseen:
            continue
        weighted = sum(v["recall"] * v["n"] for v in unseen) / sum(v["n"] for v in unseen) if unseen else None
        fprs = [v["fpr_other_half"] for v in unseen]
        rows.append(
            f"| {m} | {_cell(seen and seen['recall'])} | {_cell(seen and seen['fpr_other_half'], '.4f')} | "
            f"{_cell(weighted)} | {_cell(max(fprs) if fprs else None, '.4f')} |"
        )
    if not rows:
        return []
    return [
        "",
        "The same light lines at a threshold set as `sectune calibrate` sets it on a site's benign baseline: the light "
        "set's benign seeds are split in two halves (by a hash of the text); each half in turn is the baseline, the "
        "threshold is chosen there for FPR 1% (its 95% upper bound), and the other half measures the FPR it reaches; "
        "recall and that FPR "
        "are the mean of the two turns. `unseen`: each held-out family's model calibrated alike, recall weighted by "
        "lines; its FPR column is the highest of those models'.",
        "",
        "| method | recall, seen | FPR other half, seen | recall, unseen | FPR other half, unseen (max) |",
        "|---|---|---|---|---|",
        *rows,
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setups", default="1,2,3,4")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--leave-one-out",
        default="rules,features-logreg",
        help="methods that also get the leave-one-family-out runs (default: the two cheap ones, for CPU time)",
    )
    parser.add_argument("--n-generated", type=int, default=20000)
    parser.add_argument("--generator-seed", type=int, default=0)
    parser.add_argument(
        "--encoder-steps", type=int, default=600, help="CPU budget of each encoder run, in optimiser steps"
    )
    parser.add_argument(
        "--encoder-max-length",
        type=int,
        default=256,
        help="tokens the encoder reads of a line (128 halves its CPU cost; obfuscated lines run longer)",
    )
    parser.add_argument(
        "--charcnn-steps", type=int, default=1500, help="CPU budget of each charcnn run, in optimiser steps (batch 64)"
    )
    parser.add_argument(
        "--ensemble-members",
        default="charcnn,shell-features",
        help="the members of --methods ensemble (each with its own budget above)",
    )
    parser.add_argument(
        "--generated",
        help="train on this JSONL of generated lines instead of generating them "
        "(e.g. an older generator's output, for a before/after)",
    )
    parser.add_argument(
        "--loto-train-cap",
        type=int,
        default=None,
        help="(4): subsample each training side to this many lines, deterministically (default: all)",
    )
    parser.add_argument("--n-light", type=int, default=6000, help="(4b): lines asked of the light-intensity generator")
    parser.add_argument(
        "--target-fpr", type=float, default=0.005, help="(4): the FPR the models' own threshold is chosen for"
    )
    parser.add_argument("--hold-out", default="", help="(4): only these units, e.g. tool:bashsmash,engine:case")
    parser.add_argument("--markdown-key", default="", help="suffix of the BENCHMARKS.md block key (e.g. ' before')")
    parser.add_argument(
        "--work",
        default=str(Path(tempfile.gettempdir()) / "sectune-bench-cmdline"),
        help="working folder; (4) keeps each finished unit's result there and a rerun resumes after it "
        "(use a new folder after changing the code or the data)",
    )
    parser.add_argument("--markdown", help="update this file's section (e.g. BENCHMARKS.md)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not REAL.exists():
        print(f"skipped: {REAL} is not here (../shared is absent)")
        return 0
    command = command_line("bench/cmdline.py", argv)
    work = Path(args.work)
    files = prepare(work, args.n_generated, args.generator_seed, args.generated)
    methods = [m for m in args.methods.split(",") if m]
    budget = NeuralBudget(args.encoder_steps, args.encoder_max_length, args.charcnn_steps, args.ensemble_members)
    for setup in args.setups.split(","):
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(f"[{time.strftime('%H:%M:%S')}] setup {setup}: {SETUPS[setup]} ...", file=sys.stderr, flush=True)
        generated_from = (
            f"`{args.generated}`"
            if args.generated
            else f"`sectune data cmdline --n {args.n_generated} --seed {args.generator_seed}` (this commit's engine)"
        )
        if setup == "4":
            out4 = run_setup4(
                files,
                methods,
                work,
                budget,
                args.loto_train_cap,
                args.generator_seed,
                args.n_light,
                args.target_fpr,
                [u for u in args.hold_out.split(",") if u],
            )
            block = render_setup4(out4, methods, command, started, args, budget, generated_from)
            print(block, flush=True)
            if args.markdown:
                update_markdown(Path(args.markdown), SECTION, f"bench/cmdline.py setup=4{args.markdown_key}", block)
            continue
        out = run_setup(setup, files, methods, work, budget, args.leave_one_out.split(","))
        speed = None
        if "features-logreg" in methods:
            test_texts = [json.loads(line)["text"] for line in out["test_file"].open(encoding="utf-8")]
            speed = one_core_speed(work / f"setup{setup}" / "models" / "features-logreg", test_texts)
        block = render(
            setup,
            out,
            files,
            speed,
            command,
            started,
            budget,
            generated_from,
            args.markdown_key,
        )
        print(block, flush=True)
        if args.markdown:
            update_markdown(Path(args.markdown), SECTION, f"bench/cmdline.py setup={setup}{args.markdown_key}", block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
