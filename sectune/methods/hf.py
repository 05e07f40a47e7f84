"""Loading Hugging Face models safely, and running them over many texts in length-sorted batches.

Shared by every method that holds a transformers model (``embed-logreg``, ``encoder``, ``causal-llm``).
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import warnings
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

import numpy as np

from sectune.errors import SectuneError
from sectune.models import load_error

if TYPE_CHECKING:  # torch is imported where a model is built, not when the CLI starts
    import torch

log = logging.getLogger("sectune")


def device() -> "torch.device":
    """The fastest device here: CUDA where present, else CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def inference(target: "torch.device") -> Iterator[None]:
    """No autograd, and on a GPU half-precision matmuls (bf16 where supported, else fp16) under autocast: a model
    fine-tuned in fp32 or bf16 scores about twice as fast there. On CPU the weights run as saved (fp32)."""
    import torch

    with torch.inference_mode():
        if target.type != "cuda":
            yield
            return
        half = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        with torch.autocast(device_type="cuda", dtype=half):
            yield


def load_tokenizer(name: str, *, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise load_error(name, exc) from exc


def load_pretrained(
    auto_class,
    name: str,
    *,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
    must_match: str | None = None,
    **kwargs,
):
    """``auto_class.from_pretrained`` with safetensors enforced unless pickle is explicitly allowed.

    ``must_match`` (what the weights were saved as, e.g. "pooling 'cls'") is for reloading a trained model:
    transformers fills weights the checkpoint lacks with random values, which would predict noise without
    a word, so any missing weight (or one of another shape) is refused, the message saying the weights do
    not match ``must_match``.
    """
    if must_match is not None:  # report a reshaped tensor with the missing ones, rather than raise RuntimeError
        kwargs.setdefault("ignore_mismatched_sizes", True)
    try:
        with warnings.catch_warnings():  # torch's note on a pickle's protocol: the refusal below says what matters
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            loaded = auto_class.from_pretrained(
                name,
                use_safetensors=None if allow_pickle else True,
                trust_remote_code=trust_remote_code,
                output_loading_info=must_match is not None,
                **kwargs,
            )
    except pickle.UnpicklingError as exc:  # torch's weights_only loader met more than plain tensors
        raise SectuneError(
            "holds a pickle that is not plain weights (torch's weights-only loader refused it: it could run code); "
            "convert the weights to safetensors from a trusted copy",
            path=name,
        ) from exc
    except (OSError, ValueError, EnvironmentError) as exc:
        raise load_error(name, exc) from exc
    if must_match is None:
        return loaded
    net, loading = loaded
    missing = [
        *loading["missing_keys"],
        *(key for key, *_ in loading["mismatched_keys"]),
    ]  # mismatched: (key, shapes...)
    if missing:
        raise SectuneError(
            f"the weights do not match {must_match}: {len(missing)} tensor(s) missing or of another shape "
            f"({', '.join(sorted(missing)[:3])}{', ...' if len(missing) > 3 else ''})",
            path=name,
        )
    return net


def longest_first(lengths: Sequence[int], batch_size: int) -> Iterator[np.ndarray]:
    """Row indices in batches of ``batch_size``, longest first: a batch padded to its longest row wastes least."""
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def token_counts(count: Callable[[list[str]], Iterable[int]], texts: Sequence[str], chunk: int = 1024) -> np.ndarray:
    """Each text's length in tokens, ``count`` applied a chunk at a time so only the lengths are kept.

    Sorting by tokens, not characters, is what removes the padding: base64, hex and obfuscated command lines
    cut into several times more tokens per character than prose (on 2,000 generated command lines, batches of
    64 sorted by characters were 34% padding; sorted by tokens, 4%)."""
    counts = [np.fromiter(count(list(texts[i : i + chunk])), dtype=np.int64) for i in range(0, len(texts), chunk)]
    return np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)


def length_sorted_batches(
    tokenizer, texts: Sequence[str], batch_size: int, max_length: int
) -> Iterator[tuple[np.ndarray, dict]]:
    """Yield (row indices, padded tensors), longest texts (in tokens) first, so padding is minimal. Each text is
    tokenised twice, to count and then in its batch: cheap beside the forward pass, and only the counts of a
    whole corpus stay in memory, not its token ids."""
    lengths = token_counts(
        lambda chunk: tokenizer(chunk, truncation=True, max_length=max_length, return_length=True)["length"], texts
    )
    for idx in longest_first(lengths, batch_size):
        batch = tokenizer(
            [texts[i] for i in idx], truncation=True, max_length=max_length, padding=True, return_tensors="pt"
        )
        yield idx, batch


def check_texts(texts: Sequence[str]) -> list[str]:
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise SectuneError(f"text {i} is {type(text).__name__}, not str")
    return texts


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """Wrapping a model in peft reads transformers' deprecated ``is_gradient_checkpointing``; the
    FutureWarning it prints is about peft's code, not the user's, so it is kept off their terminal."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.* is deprecated", category=FutureWarning)
        yield


def load_adapter(net, directory: str):
    """``net`` with the peft adapter saved in ``directory`` (the base is loaded by the caller, quantized or not)."""
    from peft import PeftModel

    with quiet_peft():
        return PeftModel.from_pretrained(net, directory)


def add_lora(
    net,
    *,
    task: str,
    r: int,
    alpha: int,
    dropout: float,
    target_modules: str | list[str] | None = None,
    verbose: bool = True,
):
    """Wrap ``net`` with peft LoRA adapters (``task``: a peft TaskType name such as SEQ_CLS, CAUSAL_LM).

    ``target_modules=None`` uses peft's per-architecture default (the attention projections),
    falling back to every linear layer for an architecture peft has no default for;
    ``"all-linear"`` or a list of module names choose explicitly.
    """
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(
        task_type=TaskType[task], r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules
    )
    with quiet_peft():
        try:
            net = get_peft_model(net, config)
        except ValueError as exc:
            if target_modules is not None:
                raise SectuneError(f"LoRA target modules {target_modules!r}: {str(exc).splitlines()[0]}") from exc
            config.target_modules = "all-linear"  # architecture without peft defaults: adapt every linear layer
            net = get_peft_model(net, config)
    if verbose:
        trainable, total = net.get_nb_trainable_parameters()
        log.info("LoRA r=%d: %s of %s parameters trainable", r, f"{trainable:,}", f"{total:,}")
    return net
