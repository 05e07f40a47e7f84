"""Loading Hugging Face models safely, and running them over many texts in length-sorted batches.

Shared by every method that holds a transformers model (``embed-logreg``, ``encoder``).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from sectune.errors import SectuneError
from sectune.models import load_error


def device() -> "torch.device":
    """The fastest device here: CUDA where present, else CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_tokenizer(name: str, *, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise load_error(name, exc) from exc


def load_pretrained(auto_class, name: str, *, allow_pickle: bool = False, trust_remote_code: bool = False, **kwargs):
    """``auto_class.from_pretrained`` with safetensors enforced unless pickle is explicitly allowed."""
    try:
        return auto_class.from_pretrained(
            name, use_safetensors=None if allow_pickle else True, trust_remote_code=trust_remote_code, **kwargs
        )
    except (OSError, ValueError, EnvironmentError) as exc:
        raise load_error(name, exc) from exc


def length_sorted_batches(tokenizer, texts: Sequence[str], batch_size: int, max_length: int) -> Iterator[tuple[np.ndarray, dict]]:
    """Yield (row indices, padded tensors), longest texts first, so padding is minimal."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        yield idx, batch


def check_texts(texts: Sequence[str]) -> list[str]:
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise SectuneError(f"text {i} is {type(text).__name__}, not str")
    return texts
