"""The numpy path of the methods that need no neural network: ``tfidf-logreg``, ``features-logreg``,
``shell-features`` and ``rules``.

These methods already score with numpy over stored arrays (safetensors, .npy, JSON; no pickle, no torch), and that
is their fast path: their cost is the text processing (tokenising, byte statistics, shell normalisation, regular
expressions), which ONNX cannot express (features, rules), and the linear head is one small matrix product that
an onnxruntime session only slows down (``bench/export.py --linear``: the head alone runs 2-4x faster in numpy, and
is under 1% of a line's cost). skl2onnx's TfidfVectorizer converter was not used: it tokenises with ONNX's own
string ops, not scikit-learn's token pattern, so it would score other tokens than the model was trained on. So
these exports are the method's own state, written by the method, and the exported directory loads through the
method's own class (explain, techniques and all).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from sectune.methods.base import Classifier, method_class

NUMPY_METHODS = ("tfidf-logreg", "features-logreg", "shell-features", "rules")


def export_numpy(clf: Classifier, directory: Path) -> dict[str, Any]:
    """Write ``clf``'s arrays and tables into ``directory`` (its ``state`` in sectune.json stays the original's)."""
    clf._save_state(directory)
    return {"runtime": "numpy"}


def load_numpy(directory: str | Path, info: Mapping[str, Any], **runtime: Any) -> Classifier:
    """The exported directory loaded by its method's own class: it reads the same files a trained one holds."""
    return method_class(info["method"]).from_pretrained(directory, **runtime)
