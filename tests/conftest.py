"""Shared fixtures: offline mode, a tiny random BERT built here, small labelled data sets."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # a hidden download must fail loudly, before transformers is imported
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json
from pathlib import Path

import pytest

from sectune.testing import make_texts  # noqa: F401 - the tests' shared data, imported from here

SHARED = Path(__file__).resolve().parents[2] / "shared"


def save_tiny_encoder(path: Path, architecture: str, **config: object) -> str:
    """A 2-layer, 32-wide random ``architecture`` model (BERT, RoBERTa...) with MiniLM's tokenizer, saved as
    safetensors in ``path``: the architecture is what a test exercises, not what the weights know."""
    import torch
    import transformers
    from transformers import AutoTokenizer

    from sectune.models import default_encoder_path

    tokenizer = AutoTokenizer.from_pretrained(default_encoder_path())
    settings = dict(num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    settings.update(config)
    config_class = getattr(transformers, f"{architecture}Config")
    torch.manual_seed(0)
    model = getattr(transformers, f"{architecture}Model")(
        config_class(vocab_size=tokenizer.vocab_size, hidden_size=32, **settings)
    )
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> str:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), "Bert")


@pytest.fixture(scope="session")
def tiny_roberta_dir(tmp_path_factory) -> str:
    """RoBERTa classifies through its own [CLS] head; its positions start after the padding index."""
    from transformers import AutoTokenizer

    from sectune.models import default_encoder_path

    pad = AutoTokenizer.from_pretrained(default_encoder_path()).pad_token_id
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-roberta"), "Roberta", pad_token_id=pad)


@pytest.fixture
def labelled_csv(tmp_path) -> Path:
    import csv

    texts, labels = make_texts(10)
    path = tmp_path / "data.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels))
    return path


@pytest.fixture
def labelled_jsonl(tmp_path) -> Path:
    texts, labels = make_texts(10)
    path = tmp_path / "data.jsonl"
    path.write_text(
        "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(texts, labels)), encoding="utf-8"
    )
    return path


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> str:
    """A 2-layer, 64-wide random Llama with SmolLM2's tokenizer, as safetensors (64: bitsandbytes' 4-bit CPU kernels need it)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from sectune.models import resolve_causal_lm

    path = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(resolve_causal_lm(None))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return str(path)
