"""The models a server holds: loaded once, at start, from the directories the operator named, and nothing else.

No route takes a path or a URL: a request names a model by the name it was served under, so a client can
never make the server open a file or fetch weights. Each model carries what its routes need, worked out once
(its task, the CWE namer, whether it explains), and its own :class:`~sectune.serving.batching.MicroBatcher`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from sectune.errors import SectuneError, shorten
from sectune.methods.base import Classifier
from sectune.serving.batching import MicroBatcher
from sectune.serving.security import Limits

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # what fits a URL path segment and a Prometheus label
CWE_ID = re.compile(r"^CWE-(\d+)$")


@dataclass
class ServedModel:
    name: str
    clf: Classifier
    source: str  # the directory it was loaded from (or "<memory>")
    task: str = "generic"
    namer: Callable[[str], str | None] | None = None
    explains: bool = False
    normalize: Callable[[str], Any] | None = None  # a cmdline model's normaliser: what the shell would run
    batcher: MicroBatcher | None = field(default=None, repr=False)

    @property
    def binary(self) -> bool:
        return len(self.clf.labels_) == 2

    @property
    def threshold(self) -> float:
        """The stored operating threshold on P(labels_[1]) of a binary model (0.5 when none was chosen)."""
        return float(self.clf.threshold_) if self.clf.threshold_ is not None else 0.5

    def describe(self) -> dict[str, Any]:
        """What a client may know about the model: no path, no training data location."""
        return {
            "name": self.name,
            "task": self.task,
            "method": self.clf.name,
            "labels": list(self.clf.labels_),
            "binary": self.binary,
            "threshold": self.threshold if self.binary else None,
            "positive_label": self.clf.labels_[1] if self.binary else None,
            "explains": self.explains,
            "guesses_technique": self.clf.tags.guesses_technique,
        }


def cwe_url(label: str) -> str | None:
    """MITRE's page for a CWE id (``CWE-79``), None for any other label."""
    found = CWE_ID.match(label)
    return f"https://cwe.mitre.org/data/definitions/{found.group(1)}.html" if found else None


def serve_model(name: str, clf: Classifier, source: str = "<memory>") -> ServedModel:
    """Wrap a loaded classifier with what the routes need, computed once (the CWE catalogue loads here, not per call)."""
    from sectune.tasks import Task

    if not NAME.match(name):
        raise SectuneError(
            f"model name '{shorten(name)}' must be 1-64 letters, digits, '.', '_' or '-' (name it with NAME=DIR)"
        )
    if not clf.fitted_:
        raise SectuneError(f"model '{name}' is not trained")
    try:
        task = Task.for_model(clf)
    except SectuneError:
        task = Task()
    normalize = None
    if task.name == "cmdline" or clf.name == "shell-features":
        from sectune.tasks.cmdline.normalize import normalize
    return ServedModel(
        name=name,
        clf=clf,
        source=source,
        task=task.name,
        namer=task.namer(),
        explains=clf.tags.explains,
        normalize=normalize,
    )


def parse_spec(spec: str) -> tuple[str, str]:
    """``NAME=DIR`` or ``DIR`` (named after the folder) -> (name, dir)."""
    name, equals, directory = spec.partition("=")
    if equals and NAME.match(name) and not Path(spec).exists():
        return name, directory
    path = Path(spec)
    return path.resolve().name, spec


def load_models(specs: Sequence[str], **switches: bool) -> list[ServedModel]:
    """Load every directory once, before the server listens: a bad one stops the start, naming it."""
    from sectune.methods.base import load

    if not specs:
        raise SectuneError("serve needs at least one model directory")
    served: list[ServedModel] = []
    for spec in specs:
        name, directory = parse_spec(spec)
        if any(m.name == name for m in served):
            raise SectuneError(f"two models are named '{name}': name them apart with NAME=DIR")
        served.append(serve_model(name, load(directory, verbose=False, **switches), source=str(directory)))
    return served


def attach_batchers(
    models: Sequence[ServedModel],
    limits: Limits,
    on_batch: Callable[[str, int], None],
    in_flight: Callable[[], int] | None = None,
) -> None:
    for model in models:
        model.batcher = MicroBatcher(
            model.clf.predict_proba,
            name=model.name,
            wait_ms=limits.batch_wait_ms,
            max_texts=limits.batch_texts,
            max_queue=limits.max_queue,
            on_batch=lambda n, name=model.name: on_batch(name, n),
            expected=in_flight,
        )
