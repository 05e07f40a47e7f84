"""The classifier contract every method follows, and the registry of ``--method`` names.

A method has scikit-learn's small surface (parameters in ``__init__``, learned state ends with
``_``, ``fit`` returns self) and Hugging Face's persistence: ``save_pretrained(dir)`` writes a
self-contained directory with ``sectune.json``; ``from_pretrained(dir)`` reads it back without
running any code from it (no pickle anywhere).
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from sectune.errors import SectuneError

FORMAT_VERSION = 1
INFO_FILE = "sectune.json"

# name -> "module:Class"; imported lazily so `sectune --help` does not import torch.
REGISTRY: dict[str, str] = {
    "tfidf-logreg": "sectune.methods.tfidf:TfidfLogreg",
    "embed-logreg": "sectune.methods.embed:EmbedLogreg",
    "encoder": "sectune.methods.encoder:EncoderClassifier",
    "rules": "sectune.methods.rules:RulesClassifier",
    "features-logreg": "sectune.methods.features:FeaturesLogreg",
    "charcnn": "sectune.methods.charcnn:CharCNN",
    "causal-llm": "sectune.methods.causal_llm:CausalLLMClassifier",
}


def method_class(name: str) -> type["Classifier"]:
    if name not in REGISTRY:
        raise SectuneError(f"unknown method '{name}' (available: {', '.join(REGISTRY)})")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


class Classifier:
    """Base class: subclasses implement ``_fit``, ``predict_proba``, ``_save_state``, ``_load_state``."""

    name: ClassVar[str] = ""
    # Parameters that steer a run (where checkpoints go, progress bars) but are not part of the model.
    runtime_params: ClassVar[frozenset[str]] = frozenset({"verbose"})

    labels_: list[str]
    threshold_: float | None = None

    def __init__(self, verbose: bool = True) -> None:
        self.verbose = verbose

    # --- scikit-learn surface -------------------------------------------------------------
    @classmethod
    def param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.param_names()}

    def set_params(self, **params: Any) -> "Classifier":
        unknown = set(params) - set(self.param_names())
        if unknown:
            raise SectuneError(f"{self.name}: unknown parameter(s) {', '.join(sorted(unknown))}")
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        eval_texts: Sequence[str] | None = None,
        eval_labels: Sequence[str] | None = None,
    ) -> "Classifier":
        """Learn from texts and string labels; eval data (optional) drives early stopping."""
        texts, labels = list(texts), [str(label) for label in labels]
        if len(texts) != len(labels):
            raise SectuneError(f"{len(texts)} texts but {len(labels)} labels")
        self.labels_ = sorted(set(labels))
        if len(self.labels_) < 2:
            raise SectuneError(f"need at least 2 classes to train, found {len(self.labels_)}: {self.labels_}")
        if eval_texts is not None and eval_labels is not None:
            keep = [i for i, label in enumerate(eval_labels) if str(label) in set(self.labels_)]
            eval_texts = [eval_texts[i] for i in keep]
            eval_labels = [str(eval_labels[i]) for i in keep]
            if not eval_texts:
                eval_texts = eval_labels = None
        self._fit(texts, labels, eval_texts, eval_labels)
        return self

    def _fit(self, texts: list[str], labels: list[str], eval_texts, eval_labels) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, len(labels_)) probabilities; columns follow ``labels_``; rows sum to 1."""
        raise NotImplementedError  # pragma: no cover - abstract

    def predict(self, texts: Sequence[str]) -> list[str]:
        proba = self.predict_proba(texts)
        if len(self.labels_) == 2 and self.threshold_ is not None:
            return [self.labels_[1] if p >= self.threshold_ else self.labels_[0] for p in proba[:, 1]]
        return [self.labels_[i] for i in proba.argmax(axis=1)]

    # --- persistence ----------------------------------------------------------------------
    @property
    def info(self) -> dict[str, Any]:
        """Free-form facts about the run (task, training data, metrics summary) kept in sectune.json."""
        if not hasattr(self, "_info"):
            self._info: dict[str, Any] = {}
        return self._info

    def saved_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.get_params().items() if k not in self.runtime_params}

    def save_pretrained(self, directory: str | Path) -> None:
        """Write weights and ``sectune.json`` into ``directory`` (created if needed)."""
        if not hasattr(self, "labels_"):
            raise SectuneError(f"{self.name}: call fit() before save_pretrained()")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._save_state(directory)
        info = {
            **self.info,
            "format_version": FORMAT_VERSION,
            "method": self.name,
            "params": _jsonable(self.saved_params()),
            "labels": self.labels_,
            "threshold": self.threshold_,
        }
        tmp = directory / (INFO_FILE + ".tmp")
        tmp.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(directory / INFO_FILE)

    @classmethod
    def from_pretrained(cls, directory: str | Path, **runtime: Any) -> "Classifier":
        info = read_info(directory)
        if cls.name and info.get("method") != cls.name:
            raise SectuneError(f"holds a '{info.get('method')}' model, not '{cls.name}'", path=directory)
        params = {k: v for k, v in info.get("params", {}).items() if k in cls.param_names()}
        params.update({k: v for k, v in runtime.items() if k in cls.runtime_params})
        model = cls(**params)
        model.labels_ = [str(label) for label in info["labels"]]
        model.threshold_ = info.get("threshold")
        model._info = {k: v for k, v in info.items() if k not in {"params", "labels", "threshold", "method", "format_version"}}
        model._load_state(Path(directory))
        return model

    def _save_state(self, directory: Path) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    def _load_state(self, directory: Path) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.saved_params().items())
        return f"{type(self).__name__}({args})"


def read_info(directory: str | Path) -> dict[str, Any]:
    """Read a model directory's sectune.json, with one clear line when it is not a model."""
    directory = Path(directory)
    if not directory.exists():
        raise SectuneError("no such model directory", path=directory)
    if not directory.is_dir():
        raise SectuneError("is not a model directory", path=directory)
    path = directory / INFO_FILE
    if not path.exists():
        partial = directory.parent / f".{directory.name}.partial"
        hint = f" (an unfinished run is in {partial}; finish it with --resume)" if partial.exists() else ""
        raise SectuneError(f"is not a sectune model directory: no {INFO_FILE}{hint}", path=directory)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SectuneError(f"is corrupt: {exc}", path=path) from exc
    if not isinstance(info, dict) or "method" not in info or "labels" not in info:
        raise SectuneError("is not a sectune model file (no method or labels)", path=path)
    if info.get("format_version", 1) > FORMAT_VERSION:
        raise SectuneError(f"was written by a newer sectune (format {info['format_version']}); upgrade sectune", path=path)
    return info


def load(directory: str | Path, **runtime: Any) -> Classifier:
    """Load any sectune model directory, whatever its method."""
    info = read_info(directory)
    return method_class(info["method"]).from_pretrained(directory, **runtime)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value
