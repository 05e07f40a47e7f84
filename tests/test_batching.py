"""Batches ordered by token count: every row once, and the padding that character order leaves removed."""

from __future__ import annotations

import numpy as np

from sectune.methods.hf import length_sorted_batches, longest_first, token_counts
from sectune.models import default_encoder_path

# base64 cuts into many tokens per character, prose into few: character order and token order disagree
BLOB = "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA"
PROSE = "the quick brown fox jumps over the lazy dog again and again"
TEXTS = [PROSE, BLOB, "ls", PROSE + " twice over", BLOB[:20], ""]


def test_longest_first_yields_every_row_once_in_descending_order() -> None:
    lengths = [3, 9, 1, 9, 4]
    batches = list(longest_first(lengths, 2))
    order = np.concatenate(batches)
    assert sorted(order.tolist()) == list(range(5))
    assert [lengths[i] for i in order] == [9, 9, 4, 3, 1]
    assert [len(b) for b in batches] == [2, 2, 1]
    assert list(longest_first([], 4)) == []


def test_token_counts_are_kept_across_chunks() -> None:
    counts = token_counts(lambda chunk: (len(t.split()) for t in chunk), ["a b", "c", "d e f", ""], chunk=3)
    assert counts.tolist() == [2, 1, 3, 0]
    assert token_counts(lambda chunk: [], []).shape == (0,)


def test_batches_follow_tokens_not_characters() -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(default_encoder_path())
    tokens = [len(tokenizer(t)["input_ids"]) for t in TEXTS]
    assert len(BLOB) < len(PROSE) and tokens[1] > tokens[0]  # the premise of the test
    batches = list(length_sorted_batches(tokenizer, TEXTS, batch_size=2, max_length=64))
    assert sorted(np.concatenate([idx for idx, _ in batches]).tolist()) == list(range(len(TEXTS)))
    widths = [batch["input_ids"].shape[1] for _, batch in batches]
    assert widths == sorted(widths, reverse=True)
    assert batches[0][0][0] == 1  # the blob leads although four texts are longer in characters
    padded = sum(batch["attention_mask"].numel() for _, batch in batches)
    by_characters = sum(max(tokens[i] for i in idx) * len(idx) for idx in longest_first([len(t) for t in TEXTS], 2))
    assert padded == sum(max(tokens[i] for i in idx) * len(idx) for idx, _ in batches) < by_characters
