"""Where batch scoring runs: ``local`` (this process, the default) or ``ray`` (a Ray cluster, ``sectune[ray]``).

An engine changes only where the model scores: reading inputs and writing outputs stay the commands' own code.
The heavy engine is imported only when chosen, so ``sectune --help`` and local runs never load it.
"""

from __future__ import annotations

import argparse
from typing import Any, Iterator, Sequence

from sectune.errors import SectuneError

ENGINES = ("local", "ray")


def check_engine(engine: str) -> None:
    """An unknown engine, or one whose package is missing, is one error line before any work."""
    if engine not in ENGINES:
        raise SectuneError(f"unknown engine '{engine}' (one of: {', '.join(ENGINES)})")
    if engine == "ray":
        from sectune.engines.ray_engine import require_ray

        require_ray()


def add_engine_flags(parser: argparse.ArgumentParser) -> None:
    """``--engine``, ``--address``, ``--concurrency``: shared by ``scan`` and ``predict``."""
    g = parser.add_argument_group("scale-out (sectune[ray])")
    g.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="where scoring runs: local (this process) or ray (Ray Data actors, each loading the model once)",
    )
    g.add_argument(
        "--address",
        help="--engine ray: the cluster to join (auto: the one `ray start` runs here; ray://HOST:10001; "
        "default: start a local one for this run)",
    )
    g.add_argument(
        "--concurrency",
        type=int,
        help="--engine ray: model-holding actors (default: one per CPU of the cluster)",
    )


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """The engine flags of parsed arguments as keyword arguments (defaults when a parser has none)."""
    concurrency = getattr(args, "concurrency", None)
    if concurrency is not None and concurrency < 1:
        raise SectuneError("--concurrency must be at least 1")
    return {
        "engine": getattr(args, "engine", "local"),
        "address": getattr(args, "address", None),
        "concurrency": concurrency,
    }


def predictions(
    clf: Any,
    model_dir: str,
    texts: Sequence[str],
    *,
    top_k: int,
    batch_size: int,
    switches: dict[str, bool],
    engine: str = "local",
    address: str | None = None,
    concurrency: int | None = None,
    progress: bool = False,
) -> Iterator[dict[str, Any]]:
    """``sectune predict``'s scored rows in input order: :func:`sectune.api.iter_predictions` here (on the loaded
    ``clf``), or the same function in Ray actors that each load ``model_dir`` once."""
    check_engine(engine)
    if engine == "ray":
        from sectune.engines.ray_engine import ray_predictions

        return ray_predictions(
            model_dir,
            texts,
            top_k=top_k,
            batch_size=batch_size,
            switches=switches,
            address=address,
            concurrency=concurrency,
            progress=progress,
        )
    from sectune.api import iter_predictions

    return iter_predictions(clf, texts, top_k=top_k, batch_size=batch_size)
