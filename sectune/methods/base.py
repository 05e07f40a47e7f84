"""The classifier contract every method follows, and the registry of ``--method`` names.

A method has scikit-learn's small surface (parameters in ``__init__``, learned state ends with
``_``, ``fit`` returns self) and Hugging Face's persistence: ``save_pretrained(dir)`` writes a
self-contained directory with ``sectune.json``; ``from_pretrained(dir)`` reads it back without
running any code from it (no pickle anywhere). A model loads from the loading fields of sectune.json
and its method's ``state`` alone; the ``run`` record beside them is provenance (:mod:`sectune.run`).
"""

from __future__ import annotations

import importlib
import inspect
import json
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal, Mapping, Sequence, get_type_hints

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from safetensors import SafetensorError

from sectune.errors import SectuneError, first_problem, shorten
from sectune.methods.hf import check_texts
from sectune.methods.info import FORMAT_VERSION, is_v1, upgrade_v1, validate_info
from sectune.methods.tags import MethodTags
from sectune.outputs import fix_weight_modes
from sectune.run import RunRecord
from sectune.security import SECURITY_SWITCHES, refuse_stored_switches

INFO_FILE = "sectune.json"

# name -> "module:Class"; imported lazily so `sectune --help` does not import torch.
REGISTRY: dict[str, str] = {
    "tfidf-logreg": "sectune.methods.tfidf:TfidfLogreg",
    "embed-logreg": "sectune.methods.embed:EmbedLogreg",
    "encoder": "sectune.methods.encoder:EncoderClassifier",
    "rules": "sectune.methods.rules:RulesClassifier",
    "features-logreg": "sectune.methods.features:FeaturesLogreg",
    "shell-features": "sectune.methods.shell_features:ShellFeaturesLogreg",
    "charcnn": "sectune.methods.charcnn:CharCNN",
    "causal-llm": "sectune.methods.causal_llm:CausalLLMClassifier",
    "ensemble": "sectune.methods.ensemble:Ensemble",
}


# Parameter domains for the methods' ``__init__`` annotations, which Classifier.validate_params reads: each
# setting is declared once, in the signature.
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, lt=1)]  # dropout, warmup ratio
PositiveInt = Annotated[int, Field(ge=1)]  # sizes, steps, iterations
NonNegativeInt = Annotated[int, Field(ge=0)]  # 0 switches off (patience, LoRA rank)
# the range numpy and scikit-learn accept
Seed = Annotated[int, Field(ge=0, le=2**32 - 1, description="random seed for the split, initialisation and data order")]
# scikit-learn's choices; none: unweighted
LogregClassWeight = Annotated[
    Literal["balanced", "none"] | None, Field(description="weigh classes by inverse frequency (balanced) or not")
]
# training.class_weights' choices
TorchClassWeight = Annotated[
    Literal["balanced", "sqrt", "none"] | None,
    Field(description="weigh the loss by inverse class frequency (balanced), its square root (sqrt) or not"),
]
Precision = Annotated[
    Literal["auto", "fp32", "bf16", "fp16"], Field(description="auto: bf16/fp16 on a capable GPU, fp32 on CPU")
]
LogregC = Annotated[
    PositiveFloat, Field(description="inverse regularisation strength of the logistic regression (larger: fits closer)")
]
LogregMaxIter = Annotated[PositiveInt, Field(description="iterations the logistic regression solver may take")]


def method_class(name: str) -> type["Classifier"]:
    if name not in REGISTRY:
        raise SectuneError(f"unknown method '{shorten(name)}' (available: {', '.join(REGISTRY)})")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


class Classifier:
    """Base class: subclasses implement ``_fit``, ``_predict_proba``, ``_save_state``, ``_load_state``, and declare
    in ``tags`` what they can do beyond that (the optional hooks below have a default for methods that cannot)."""

    name: ClassVar[str] = ""
    tags: ClassVar[MethodTags] = MethodTags()
    # Parameters that steer a run (where checkpoints go, progress bars) but are not part of the model.
    runtime_params: ClassVar[frozenset[str]] = frozenset({"verbose"})
    # transformers TrainerCallbacks for the next fit of a method trained by the Trainer (tests use them to stop or
    # corrupt a run). Set on an instance or the class, not a parameter: they are not part of the model.
    extra_callbacks: Sequence[Any] = ()
    # What each label means in words, for a method that can start from it (encoder ``head_init='label-text'``).
    # The run fills it from the task (CWE: MITRE's name and description); like the callbacks, not a parameter.
    label_texts: Mapping[str, str] = MappingProxyType({})

    labels_: list[str]
    threshold_: float | None = None
    calibration_: dict[str, Any] | None = None  # sectune.json "calibration", applied after _predict_proba
    fitted_: bool = False  # set by fit and from_pretrained
    log_history_: Sequence[
        dict[str, Any]
    ] = ()  # the last fit's log (loss, eval scores), for methods trained step by step
    optimizer_stats_: Mapping[str, Any] = MappingProxyType({})  # the last fit's optimiser facts (skipped_steps)

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
        self._check_names(params)
        for key, value in params.items():
            setattr(self, key, value)
        return self

    @classmethod
    def _check_names(cls, params: dict[str, Any]) -> None:
        unknown = set(params) - set(cls.param_names())
        if unknown:
            raise SectuneError(f"{cls.name}: unknown parameter(s) {shorten(', '.join(sorted(map(str, unknown))))}")

    @classmethod
    def validate_params(cls, params: dict[str, Any], source: str = "parameter") -> dict[str, Any]:
        """``params`` checked against the ``__init__`` annotations and coerced to them (``"5"`` -> 5.0), so a bad
        value fails in one line naming the parameter, before any data is read, not deep inside scikit-learn or torch.
        ``source`` names where the values came from in that line (e.g. "saved parameter")."""
        cls._check_names(params)
        try:
            checked = _params_model(cls).model_validate(params)
        except ValidationError as exc:
            name, problem = first_problem(exc)
            raise SectuneError(f"{cls.name or cls.__name__}: {source} '{name}': {problem}") from None
        return {name: getattr(checked, name) for name in params}

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        eval_texts: Sequence[str] | None = None,
        eval_labels: Sequence[str] | None = None,
    ) -> "Classifier":
        """Learn from texts and string labels; eval data (optional) drives early stopping."""
        self.set_params(**self.validate_params(self.get_params()))  # direct Python use gets the CLI's checks
        texts, labels = check_texts(texts), [str(label) for label in labels]
        if len(texts) != len(labels):
            raise SectuneError(f"{len(texts)} texts but {len(labels)} labels")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise SectuneError(f"need at least 2 classes to train, found {len(classes)}: {classes}")
        if self.tags.binary_only and len(classes) != 2:
            raise SectuneError(
                f"{self.name} is a binary detector: it needs exactly 2 labels, found {len(classes)} "
                f"({shorten(', '.join(classes))})"
            )
        self.fitted_, self.labels_ = False, classes  # a refused fit (above) leaves a fitted model as it was
        self.calibration_ = None  # a calibration belongs to the scores it was fitted on
        if eval_texts is not None and eval_labels is not None:
            keep = [i for i, label in enumerate(eval_labels) if str(label) in set(self.labels_)]
            eval_texts = [eval_texts[i] for i in keep]
            eval_labels = [str(eval_labels[i]) for i in keep]
            if not eval_texts:
                eval_texts = eval_labels = None
        self._fit(texts, labels, eval_texts, eval_labels)
        self.fitted_ = True
        return self

    def _fit(self, texts: list[str], labels: list[str], eval_texts, eval_labels) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    def check_fitted(self, action: str) -> None:
        """One clear line, not an AttributeError from deep inside a method, when a model is used untrained."""
        if not self.fitted_:
            raise SectuneError(f"{self.name or type(self).__name__}: call fit() or from_pretrained() before {action}")

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, len(labels_)) probabilities; columns follow ``labels_``; rows sum to 1 (an empty input: (0, len(labels_)))."""
        self.check_fitted("predicting")
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, len(self.labels_)), dtype=np.float64)
        proba = self._predict_proba(texts)
        if self.calibration_:  # every method's, after its own scores (sectune.operating)
            from sectune.operating import apply_calibration

            proba = apply_calibration(proba, self.calibration_)
        return proba

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - abstract

    def predict(self, texts: Sequence[str]) -> list[str]:
        proba = self.predict_proba(texts)
        if len(self.labels_) == 2 and self.threshold_ is not None:
            return [self.labels_[1] if p >= self.threshold_ else self.labels_[0] for p in proba[:, 1]]
        return [self.labels_[i] for i in proba.argmax(axis=1)]

    # --- optional hooks: what a method does beyond scoring, declared in its tags ------------
    def explain(self, text: str, top: int = 8) -> list[tuple[str, object, float]]:
        """Why ``text`` scores as it does (``tags.explains``): up to ``top`` ``(what, value, contribution)``, most
        important first; contributions are on the logit of the positive class of a binary model."""
        raise SectuneError(f"a '{self.name}' model cannot explain its predictions")

    def guess_technique(self, text: str) -> str | None:
        """The obfuscation technique(s) ``text`` shows, joined by ">" (``tags.guesses_technique``); None: no guess."""
        return None

    def extra_metrics(self, texts: Sequence[str], labels: Sequence[str | None]) -> dict[str, Any]:
        """Figures a method reports beside the scored metrics (labels the model never saw are None)."""
        return {}

    def training_history(self) -> list[dict[str, Any]]:
        """The last fit's log, one dict per logged step (loss, eval_macro_f1...), for the training curve."""
        return list(self.log_history_)

    def training_stats(self) -> dict[str, Any]:
        """Facts about the last fit that sectune.json keeps under ``training`` (skipped_steps)."""
        return dict(self.optimizer_stats_)

    # --- persistence ----------------------------------------------------------------------
    @property
    def run(self) -> RunRecord:
        """How this model came to be (task, training data, metrics summary), kept in sectune.json under ``run``;
        the pipeline fills it before saving. Loading never reads it."""
        if not hasattr(self, "_run"):
            self._run = RunRecord()
        return self._run

    @run.setter
    def run(self, record: RunRecord) -> None:
        self._run = record

    @property
    def info(self) -> dict[str, Any]:
        """The run record as a plain dict, read-only (a copy): for callers that dig into it."""
        return self.run.as_dict()

    def saved_params(self) -> dict[str, Any]:
        """The parameters that describe the model (written to sectune.json): no runtime or security switch."""
        return {k: v for k, v in self.get_params().items() if k not in self.runtime_params | SECURITY_SWITCHES}

    def save_pretrained(self, directory: str | Path) -> None:
        """Write weights and ``sectune.json`` into ``directory`` (created if needed)."""
        self.check_fitted("save_pretrained()")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = _jsonable(self._save_state(directory))
        if not isinstance(state, dict) or set(state) & SECURITY_SWITCHES:
            raise TypeError(
                f"{self.name}._save_state must return a dict of the method's facts, without a security switch"
            )
        run = self.run
        if run.base_model is None and self.base_model():  # saved from Python: no pipeline named it
            run = run.model_copy(update={"base_model": self.base_model()})
        info = {
            "format_version": FORMAT_VERSION,
            "method": self.name,
            "params": _jsonable(self.saved_params()),
            "labels": self.labels_,
            "threshold": self.threshold_,
            "state": state,
            "run": run.as_dict(),
            **({"calibration": self.calibration_} if self.calibration_ else {}),
        }
        tmp = directory / (INFO_FILE + ".tmp")
        tmp.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(directory / INFO_FILE)
        fix_weight_modes(directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, **runtime: Any) -> "Classifier":
        info = read_info(directory)
        if cls.name and info.get("method") != cls.name:
            raise SectuneError(f"holds a '{info.get('method')}' model, not '{cls.name}'", path=directory)
        stored = info.get("params", {})
        refuse_stored_switches({**info["state"], **stored}, runtime, directory)
        params = {
            k: v
            for k, v in stored.items()
            if k in cls.param_names() and k not in cls.runtime_params | SECURITY_SWITCHES
        }
        try:  # an edited value (max_length -1, predict_batch_size 0) fails here, naming the field, not deep in torch
            params = cls.validate_params(params, source="params")
        except SectuneError as exc:
            raise SectuneError(str(exc), path=Path(directory) / INFO_FILE) from None
        params.update(
            {k: v for k, v in runtime.items() if k in cls.runtime_params | (SECURITY_SWITCHES & set(cls.param_names()))}
        )
        model = cls(**params)
        model.labels_ = [str(label) for label in info["labels"]]
        model.threshold_ = info.get("threshold")
        model.calibration_ = info.get("calibration")
        model.run = RunRecord.model_validate(info["run"])
        try:
            model._load_state(Path(directory), info["state"])
        except SectuneError:
            raise
        except (
            OSError,
            ValueError,
            KeyError,
            SafetensorError,
        ) as exc:  # a weight file missing, cut short or of another kind
            first = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise SectuneError(f"cannot load its weights: {first}", path=directory) from None
        model.fitted_ = True
        return model

    def base_model(self) -> str | None:
        """The base model the run record names when the pipeline did not: the ``model`` parameter, else the default."""
        return getattr(self, "model", None) or self.tags.default_base_model

    def _save_state(self, directory: Path) -> dict[str, Any]:
        """Write the weights into ``directory``; return the method's own facts that loading needs beside them (JSON
        types; sectune.json keeps them under ``state``), ``{}`` when the files say it all."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _load_state(self, directory: Path, state: Mapping[str, Any]) -> None:
        """Read the weights back; ``state`` is what ``_save_state`` returned (maybe edited: check what is used)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.saved_params().items())
        return f"{type(self).__name__}({args})"


@cache
def _params_model(cls: type[Classifier]) -> type[BaseModel]:
    """A pydantic model of ``cls.__init__``'s parameters (annotations with their bounds, defaults), built once per class."""
    hints = get_type_hints(cls.__init__, include_extras=True)
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name != "self" and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            fields[name] = (hints.get(name, Any), ... if param.default is param.empty else param.default)
    config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())
    return create_model(f"{cls.__name__}Params", __config__=config, **fields)


def read_info(directory: str | Path) -> dict[str, Any]:
    """Read a model directory's sectune.json in the format 2 layout (a format 1 file is converted), with one clear
    line when it is not a model or fails the schema (:class:`sectune.methods.info.ModelInfo`): an edited file
    must not load into a model that misbehaves."""
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
    version = info.get("format_version", 1)
    if type(version) is int and version > FORMAT_VERSION:  # before the schema: a newer format may have other fields
        raise SectuneError(f"was written by a newer sectune (format {version}); upgrade sectune", path=path)
    if is_v1(info):
        info = upgrade_v1(info)
    validate_info(info, path)
    return {"state": {}, "run": {}, **info}


def load(directory: str | Path, **runtime: Any) -> Classifier:
    """Load any sectune model directory, whatever its method."""
    info = read_info(directory)
    if info.get("export"):  # written by `sectune export`: its own runtime (onnxruntime or numpy), never torch
        from sectune.export import load_exported

        return load_exported(directory, info, **runtime)
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
