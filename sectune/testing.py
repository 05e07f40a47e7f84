"""The method contract as runnable checks: ``check_method(cls)``, in the spirit of scikit-learn's ``check_estimator``.

A method is done when it passes every check with its own fast test parameters (``cls.tags.fast_test_params``);
``check_method(cls, **overrides)`` adds what exists only where the checks run, such as a tiny local model in
place of the packaged one. What a method's tags declare is checked too: a method cannot claim a capability it
lacks, nor have one it does not declare. No pytest needed: a failed check raises AssertionError naming the
method and the check.
"""

from __future__ import annotations

import csv
import json
import random
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from sectune.errors import SectuneError
from sectune.methods.base import INFO_FILE, Classifier, load

WORDS = {
    "sqli": ["sql", "injection", "query", "login", "union", "select", "database", "parameter"],
    "xss": ["script", "cross", "site", "javascript", "html", "comment", "render", "browser"],
    "overflow": ["buffer", "overflow", "heap", "stack", "memory", "length", "copy", "bounds"],
}
MULTICLASS = ("sqli", "xss", "overflow")
BINARY = ("sqli", "xss")
PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".joblib"}
RESUME_PARAMS = {"checkpoint_dir", "runs_dir", "resume"}  # what the pipeline passes a method that supports_resume


def make_texts(
    n_per_class: int = 12, classes: tuple[str, ...] = MULTICLASS, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Short synthetic texts whose words give the class away, so any method can learn them."""
    rng = random.Random(seed)
    texts, labels = [], []
    for label in classes:
        for _ in range(n_per_class):
            texts.append(" ".join(rng.choice(WORDS[label]) for _ in range(rng.randint(4, 9))))
            labels.append(label)
    return texts, labels


class _Checker:
    """The checks of one method, sharing one fitted model so that the whole contract costs a few fits."""

    def __init__(self, cls: type[Classifier], params: dict[str, Any]) -> None:
        self.cls, self.params = cls, params
        self.classes = BINARY if cls.tags.binary_only else MULTICLASS
        self.texts, self.labels = make_texts(8, classes=self.classes)
        self.unseen, _ = make_texts(7, classes=self.classes, seed=1)  # 14+ texts: longer than every fast batch (4)
        self.check = ""

    def new(self, **extra: Any) -> Classifier:
        return self.cls(**{**self.params, **extra})

    def require(self, condition: Any, problem: str) -> None:
        if not condition:
            raise AssertionError(f"{self.cls.name}: {self.check}: {problem}")

    @contextmanager
    def refused(self, match: str = "") -> Iterator[None]:
        """The block must raise SectuneError (whose text holds ``match``), never another exception."""
        try:
            yield
        except SectuneError as exc:
            self.require(match.lower() in str(exc).lower(), f"the error {str(exc)!r} does not say {match!r}")
        else:
            self.require(False, "no SectuneError raised")

    def same_proba(self, a: np.ndarray, b: np.ndarray, what: str, atol: float = 1e-6) -> None:
        self.require(
            a.shape == b.shape and np.allclose(a, b, atol=atol),
            f"{what}: probabilities differ (max gap "
            f"{np.abs(a - b).max() if a.shape == b.shape else 'shapes ' + str((a.shape, b.shape))})",
        )

    # --- the checks, in order -------------------------------------------------------------
    def tags_match_the_class(self) -> None:
        cls, tags, names = self.cls, self.cls.tags, set(self.cls.param_names())
        self.require(
            RESUME_PARAMS <= names if tags.supports_resume else "resume" not in names,
            f"supports_resume={tags.supports_resume} but the parameters are {sorted(names & RESUME_PARAMS)}",
        )
        self.require(
            tags.zero_shot == ("zero_shot" in names), f"zero_shot={tags.zero_shot} disagrees with the parameters"
        )
        self.require(
            tags.prompted == ("prompt_template" in names), f"prompted={tags.prompted} disagrees with the parameters"
        )
        self.require(
            tags.explains == (cls.explain is not Classifier.explain),
            f"explains={tags.explains} disagrees with explain()",
        )
        self.require(
            tags.guesses_technique == (cls.guess_technique is not Classifier.guess_technique),
            f"guesses_technique={tags.guesses_technique} disagrees with guess_technique()",
        )
        cls.validate_params(dict(tags.fast_test_params))  # the fast parameters are parameters of the method, in range

    def parameters_and_repr(self) -> None:
        model = self.new()
        self.require(
            all(model.get_params()[k] == v for k, v in self.params.items()),
            "get_params() does not return __init__'s values",
        )
        self.require(repr(model).startswith(type(model).__name__ + "("), f"repr is {repr(model)[:80]!r}")
        with self.refused("unknown parameter"):
            model.set_params(no_such_setting=1)

    def unfitted_use_is_refused(self) -> None:
        model = self.new()
        with self.refused("fit"):
            model.predict_proba(self.texts[:2])
        with self.refused("fit"):
            model.predict(self.texts[:2])
        with self.refused("fit"), tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(tmp)

    def fit(self) -> Classifier:
        model = self.new()
        before = model.get_params()
        self.require(model.fit(self.texts, self.labels) is model, "fit() does not return self")
        self.require(model.get_params() == before, "fit() changed the parameters")
        self.require(model.labels_ == sorted(self.classes), f"labels_ is {model.labels_}, not the sorted classes")
        return model

    def probabilities(self, model: Classifier) -> None:
        proba = model.predict_proba(self.unseen)
        self.require(proba.shape == (len(self.unseen), len(model.labels_)), f"shape {proba.shape}")
        self.require(
            np.all((proba >= 0) & (proba <= 1)) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-6),
            "rows are not probabilities",
        )
        self.require(
            model.predict(self.unseen) == [model.labels_[i] for i in proba.argmax(axis=1)],
            "predict() is not labels_[argmax]",
        )
        self.same_proba(
            np.vstack([model.predict_proba([t]) for t in self.unseen]), proba, "one at a time vs in batches", atol=1e-5
        )
        self.require(
            model.predict_proba([]).shape == (0, len(model.labels_)), "an empty input is not a (0, n_labels) array"
        )
        with self.refused("not str"):
            model.predict_proba([1])  # type: ignore[list-item]

    def refit_is_deterministic(self, model: Classifier) -> None:
        first = model.predict_proba(self.unseen)
        self.same_proba(
            model.fit(self.texts, self.labels).predict_proba(self.unseen), first, "a second fit with the same seed"
        )

    def round_trip(self, model: Classifier) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(Path(tmp) / "m")
            found = {p.suffix for p in (Path(tmp) / "m").rglob("*") if p.is_file()}
            self.require(
                not found & PICKLE_SUFFIXES, f"pickle-capable files in the model directory: {found & PICKLE_SUFFIXES}"
            )
            again = load(Path(tmp) / "m", verbose=False)
            self.require(
                type(again) is type(model) and again.labels_ == model.labels_, "loads as another class or labels"
            )
            self.require(again.saved_params() == model.saved_params(), "the saved parameters changed")
            self.require(repr(again) == repr(model), "repr changed")
            self.same_proba(
                again.predict_proba(self.unseen), model.predict_proba(self.unseen), "save_pretrained -> from_pretrained"
            )
            again.save_pretrained(Path(tmp) / "again")
            saved, resaved = (
                json.loads((Path(tmp) / name / INFO_FILE).read_text(encoding="utf-8")) for name in ("m", "again")
            )
            self.require(saved["state"] == resaved["state"], "the method's state changed through save -> load -> save")

    def hooks(self, model: Classifier) -> None:
        text = self.unseen[0]
        if self.cls.tags.explains:
            items = model.explain(text, top=3)
            self.require(
                0 < len(items) <= 3 and all(isinstance(n, str) and isinstance(c, float) for n, _, c in items),
                f"explain(text, top=3) gave {items!r}",
            )
        else:
            with self.refused("cannot explain"):
                model.explain(text)
        guess = model.guess_technique(text)
        self.require(guess is None or isinstance(guess, str), f"guess_technique gave {guess!r}")
        self.require(
            isinstance(model.extra_metrics(self.unseen[:2], self.labels[:2]), dict), "extra_metrics is not a dict"
        )
        self.require(
            all(isinstance(row, dict) for row in model.training_history()) and isinstance(model.training_stats(), dict),
            "training_history/training_stats are not a list of dicts and a dict",
        )

    def class_counts(self) -> None:
        if self.classes != BINARY:
            texts, labels = make_texts(8, classes=BINARY)
            model = self.new().fit(texts, labels)
            self.require(model.predict_proba(texts[:5]).shape == (5, 2), "a two-class model does not give two columns")
        with self.refused("at least 2 classes"):
            self.new().fit(self.texts[:8], self.labels[:8])
        if self.cls.tags.binary_only:
            with self.refused("binary"):
                self.new().fit(*make_texts(4, classes=MULTICLASS))

    def zero_shot(self) -> None:
        if self.cls.tags.zero_shot:
            model = self.new(zero_shot=True).fit(self.texts, self.labels)
            self.require(
                model.predict_proba(self.unseen[:3]).shape == (3, len(self.classes)),
                "a zero-shot model gives the wrong shape",
            )

    def pipeline(self) -> None:
        """train -> save -> load through :func:`sectune.api.train`, with the model card that names the method."""
        from sectune.api import train

        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "data.csv"
            texts, labels = make_texts(10, classes=self.classes)
            with data.open("w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerows([("text", "label"), *zip(texts, labels)])
            settings = {k: v for k, v in self.params.items() if k != "verbose"}
            result = train(data, output=Path(tmp) / "model", method=self.cls.name, verbose=False, **settings)
            for name in (INFO_FILE, "README.md", "metrics.json"):
                self.require((result.output / name).is_file(), f"the pipeline wrote no {name}")
            self.require(
                self.cls.name in (result.output / "README.md").read_text(encoding="utf-8"),
                "the model card does not name the method",
            )
            again = load(result.output, verbose=False)
            self.same_proba(
                again.predict_proba(self.unseen), result.model.predict_proba(self.unseen), "sectune.api.train -> load"
            )

    def run(self) -> None:
        """Every check in turn; those after fit share its model (refit last: it replaces the model's state)."""
        model: Classifier | None = None
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("tags match the class", self.tags_match_the_class),
            ("parameters and repr", self.parameters_and_repr),
            ("unfitted use is refused", self.unfitted_use_is_refused),
            ("fit", lambda: self.fit()),
            ("probabilities", lambda: self.probabilities(model)),
            ("hooks", lambda: self.hooks(model)),
            ("save and load", lambda: self.round_trip(model)),
            ("refit with the same seed", lambda: self.refit_is_deterministic(model)),
            ("class counts", self.class_counts),
            ("zero-shot", self.zero_shot),
            ("pipeline", self.pipeline),
        ]
        for check, step in steps:
            self.check = check
            fitted = step()
            model = fitted if isinstance(fitted, Classifier) else model


def check_method(cls: type[Classifier], **overrides: Any) -> None:
    """Hold ``cls`` to the method contract, with ``cls.tags.fast_test_params`` updated by ``overrides``.

    Checks: tags agree with the class; parameters and repr; predicting or saving before fit is a SectuneError;
    fit returns self and leaves the parameters alone; probabilities (shape, rows sum to 1, columns follow
    ``labels_``, batching changes nothing, an empty input gives (0, n_labels)); the hooks; save -> load gives the
    same probabilities; a second fit with the same seed too; two classes work, one class is refused, and a
    binary-only method refuses three; a zero-shot method scores without training; and the whole pipeline
    (:func:`sectune.api.train`, the model directory and its card).
    """
    _Checker(cls, {**cls.tags.fast_test_params, **overrides}).run()
