"""ONNX export of the neural methods (``encoder``, ``charcnn``) and the onnxruntime model that replaces them.

Export uses ``torch.onnx.export`` (the dynamo exporter, torch's supported path): optimum's exporter would pin
transformers below 5, which sectune needs. The graph ends at the logits; softmax, calibration and the threshold
stay in :class:`sectune.methods.base.Classifier`, so they cannot drift from the torch model. ``int8`` is
onnxruntime's dynamic quantization (int8 weights, activations quantized per batch at run time).

:class:`OnnxClassifier` loads such a directory with onnxruntime and ``tokenizers`` (the encoder's tokenizer.json)
or numpy (charcnn's bytes): no torch, no transformers, no pickle, and no code from the directory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from sectune.errors import SectuneError
from sectune.methods.base import Classifier, method_class
from sectune.methods.hf import longest_first, token_counts
from sectune.run import RunRecord

log = logging.getLogger("sectune")

ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
ONNX_METHODS = ("encoder", "charcnn")
QUANTIZE = ("int8",)


# --- export (needs torch) --------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """The exporter's notes (deprecations, torchvision ops it skips) are about torch, not the user's model."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _export(module, args: tuple, names: list[str], dynamic: dict | tuple, path: Path) -> dict[str, Any]:
    """``module`` (returning logits) written to ``path`` as one self-contained ONNX file (no external data)."""
    import torch

    with _quiet_export(), torch.inference_mode(False), torch.no_grad():
        try:
            program = torch.onnx.export(
                module.eval(),
                args,
                str(path),
                dynamo=True,
                external_data=False,
                input_names=names,
                output_names=["logits"],
                dynamic_shapes=dynamic,
                verbose=False,
            )
        except Exception as exc:  # the exporter raises many types; all mean "this graph did not export"
            first = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise SectuneError(f"torch.onnx.export failed: {first}") from exc
    opset = next((o.version for o in program.model_proto.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"exporter": f"torch.onnx.export (dynamo) torch {torch.__version__}", "opset": opset}


def export_encoder(clf, directory: Path) -> dict[str, Any]:
    """The encoder's network (its own [CLS] head, or mean pooling + head) to ONNX, and its tokenizer.json."""
    import torch

    tokenizer = clf.tokenizer_
    if not getattr(tokenizer, "is_fast", False):
        raise SectuneError("the encoder's tokenizer has no fast version (tokenizer.json); it cannot be exported")
    names = [
        "input_ids",
        "attention_mask",
        *(["token_type_ids"] if "token_type_ids" in tokenizer.model_input_names else []),
    ]

    class Logits(torch.nn.Module):
        """The network's logits, from named tensors (torch.export needs named parameters for dynamic shapes)."""

        def __init__(self, net) -> None:
            super().__init__()
            self.net = net

        def forward(self, input_ids, attention_mask):
            return self.net(input_ids=input_ids, attention_mask=attention_mask).logits

    class LogitsWithTypes(Logits):
        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.net(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    sample = tokenizer(
        ["an example text", "a somewhat longer example text for the export"],
        truncation=True,
        max_length=int(clf.max_length),
        padding=True,
        return_tensors="pt",
    )
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    facts = _export(
        (LogitsWithTypes if len(names) == 3 else Logits)(clf.net_.cpu()),
        tuple(sample[n] for n in names),
        names,
        {n: {0: batch, 1: seq} for n in names},
        directory / ONNX_FILE,
    )
    tokenizer.save_pretrained(directory)
    if not (directory / TOKENIZER_FILE).is_file():
        raise SectuneError("the encoder's tokenizer did not write a tokenizer.json; it cannot be exported")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return {
        **facts,
        "inputs": names,
        "pad_id": int(pad_id),
        "pad_token": str(tokenizer.pad_token or tokenizer.convert_ids_to_tokens(pad_id)),
        "max_length": int(clf.max_length),
        "batch_size": int(clf.predict_batch_size),
    }


def export_charcnn(clf, directory: Path) -> dict[str, Any]:
    """The byte CNN to ONNX; its inputs are the byte ids (padded with 0) and each line's length."""
    import torch

    widest = max(int(k) for k in clf.kernel_sizes)
    width = widest + 7
    ids = torch.randint(1, 257, (2, width), generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([width, widest + 1])
    ids[1, widest + 1 :] = 0
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", min=widest)
    facts = _export(
        clf.net_.cpu(),
        (ids, lengths),
        ["ids", "lengths"],
        {"ids": {0: batch, 1: seq}, "lengths": {0: batch}},
        directory / ONNX_FILE,
    )
    return {
        **facts,
        "inputs": ["ids", "lengths"],
        "max_length": int(clf.max_length),
        "min_width": widest,
        "batch_size": int(clf.predict_batch_size),
    }


def quantize_int8(directory: Path) -> None:
    """Replace the fp32 model.onnx with onnxruntime's dynamic int8 quantization of it."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32, int8 = directory / ONNX_FILE, directory / "model.int8.onnx"
    ort_log = logging.getLogger("root")  # quantize_dynamic logs its pre-processing advice on the root logger
    level = ort_log.level
    ort_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    finally:
        ort_log.setLevel(level)
    os.replace(int8, fp32)


# --- the onnxruntime model (no torch) --------------------------------------------------------------
def session(path: Path, num_threads: int | None = None):
    """An onnxruntime CPU session; ``num_threads`` caps its intra-op threads (None: onnxruntime's default)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise SectuneError("an exported model needs onnxruntime: pip install 'sectune[onnx]'") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.inter_op_num_threads = 1
    if num_threads:
        options.intra_op_num_threads = int(num_threads)
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's Fail/InvalidProtobuf/NoSuchFile: a damaged or missing file
        first = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise SectuneError(f"cannot load the ONNX model: {first}", path=path) from None


class OnnxClassifier(Classifier):
    """An exported ``encoder`` or ``charcnn``: the same labels, threshold, calibration and run record, scored by
    onnxruntime. It answers to the original method's name and tags, so predict, evaluate and scan treat it as that
    method; it cannot be trained (train the original and export again)."""

    runtime_params = frozenset({"verbose", "num_threads"})

    def __init__(self, verbose: bool = True, num_threads: int | None = None) -> None:
        self.verbose = verbose
        self.num_threads = num_threads

    @classmethod
    def from_export(cls, directory: str | Path, info: Mapping[str, Any], **runtime: Any) -> "OnnxClassifier":
        directory = Path(directory)
        export = info["export"]
        method = info["method"]
        if method not in ONNX_METHODS:
            raise SectuneError(f"an ONNX export of '{method}' is not something sectune writes", path=directory)
        model = cls(**{k: v for k, v in runtime.items() if k in cls.runtime_params})
        model.name = method
        model.tags = method_class(method).tags
        model.labels_ = [str(label) for label in info["labels"]]
        model.threshold_ = info.get("threshold")
        model.calibration_ = info.get("calibration")
        model.run = RunRecord.model_validate(info.get("run") or {})
        model.export_ = dict(export)
        try:
            model.max_length_ = int(export["max_length"])
            model.batch_size_ = max(1, int(export.get("batch_size", 64)))
            model.inputs_ = [str(name) for name in export["inputs"]]
            if method == "encoder":
                model.tokenizer_ = _tokenizer(
                    directory / TOKENIZER_FILE, model.max_length_, int(export["pad_id"]), str(export["pad_token"])
                )
            else:
                model.min_width_ = int(export["min_width"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SectuneError(f"sectune.json field 'export' is incomplete ({exc})", path=directory) from None
        model.session_ = session(directory / str(export.get("file", ONNX_FILE)), model.num_threads)
        outputs = model.session_.get_outputs()[0].shape[-1]
        if isinstance(outputs, int) and outputs != len(model.labels_):
            raise SectuneError(
                f"the ONNX model has {outputs} outputs, which do not fit the {len(model.labels_)} labels",
                path=directory,
            )
        model.fitted_ = True
        return model

    def _fit(self, texts, labels, eval_texts, eval_labels) -> None:
        raise SectuneError(f"an exported {self.name} model cannot be trained: train the original and export it again")

    def save_pretrained(self, directory: str | Path) -> None:
        raise SectuneError("an exported model is written by `sectune export`; copy its directory instead")

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.labels_)), dtype=np.float64)
        batches = self._encoder_batches(texts) if self.name == "encoder" else self._charcnn_batches(texts)
        for idx, feed in batches:
            logits = self.session_.run(None, feed)[0].astype(np.float64)
            logits -= logits.max(axis=1, keepdims=True)
            proba = np.exp(logits)
            out[idx] = proba / proba.sum(axis=1, keepdims=True)
        return out

    def _encoder_batches(self, texts: list[str]) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        lengths = token_counts(
            lambda chunk: (sum(e.attention_mask) for e in self.tokenizer_.encode_batch(chunk)), texts
        )
        for idx in longest_first(lengths, self.batch_size_):
            encodings = self.tokenizer_.encode_batch([texts[i] for i in idx])
            columns = {
                "input_ids": [e.ids for e in encodings],
                "attention_mask": [e.attention_mask for e in encodings],
                "token_type_ids": [e.type_ids for e in encodings],
            }
            yield idx, {name: np.asarray(columns[name], dtype=np.int64) for name in self.inputs_}

    def _charcnn_batches(self, texts: list[str]) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        from sectune.methods.charcnn import encode  # numpy only

        seqs = encode(texts, self.max_length_)
        for idx in longest_first([len(s) for s in seqs], self.batch_size_):
            lengths = np.fromiter((len(seqs[i]) for i in idx), dtype=np.int64, count=len(idx))
            ids = np.zeros((len(idx), max(int(lengths.max(initial=0)), self.min_width_)), dtype=np.int64)
            for row, i in enumerate(idx):
                ids[row, : len(seqs[i])] = seqs[i]
            yield idx, {"ids": ids, "lengths": lengths}

    def __repr__(self) -> str:
        quantized = f", {self.export_.get('quantize')}" if self.export_.get("quantize") else ""
        return f"OnnxClassifier({self.name}{quantized})"


def _tokenizer(path: Path, max_length: int, pad_id: int, pad_token: str):
    """The encoder's fast tokenizer from tokenizer.json, truncating and padding as the torch model's did."""
    from tokenizers import Tokenizer

    if not path.is_file():
        raise SectuneError(f"no {TOKENIZER_FILE} in the exported model directory", path=path.parent)
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on a malformed file
        raise SectuneError(f"cannot read the tokenizer: {' '.join(str(exc).split())[:200]}", path=path) from None
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
    return tokenizer
