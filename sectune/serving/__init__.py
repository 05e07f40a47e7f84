"""``sectune serve``: trained model directories behind an HTTP API (Open Inference Protocol v2 + plain JSON + a page).

One idea per module: :mod:`~sectune.serving.models` loads the directories given at start (and nothing else, ever),
:mod:`~sectune.serving.batching` merges concurrent requests into one forward pass, :mod:`~sectune.serving.security`
holds the limits, the bearer token and the bind rule, :mod:`~sectune.serving.observability` the access log and
Prometheus metrics, :mod:`~sectune.serving.app` the routes, :mod:`~sectune.serving.cli` the command.
FastAPI, uvicorn and prometheus-client are the ``serve`` extra: ``pip install 'sectune[serve]'``.
"""

from __future__ import annotations

from sectune.serving.security import Limits

__all__ = ["Limits", "create_app"]


def create_app(*args, **kwargs):  # noqa: ANN002, ANN003 - the app module imports FastAPI, which only serving needs
    """:func:`sectune.serving.app.create_app`, imported on use."""
    from sectune.serving.app import create_app as create

    return create(*args, **kwargs)
