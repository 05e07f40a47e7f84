"""sectune: turn pretrained language models into security classifiers.

import sectune
result = sectune.train("data.csv", method="tfidf-logreg", output="model/")
clf = sectune.load("model/")
clf.predict_proba(["some text"])
"""

from __future__ import annotations

__version__ = "0.1.0"

from sectune.api import TrainResult, evaluate, predict, train  # noqa: E402
from sectune.errors import SectuneError  # noqa: E402
from sectune.methods.base import load  # noqa: E402

__all__ = ["train", "evaluate", "predict", "load", "TrainResult", "SectuneError", "__version__"]
