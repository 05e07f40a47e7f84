"""Mean pooling + linear head on any encoder body: the pooling sentence-embedding models were trained with.

``AutoModelForSequenceClassification`` classifies from the [CLS] token through a pooler layer.
Sentence-transformers checkpoints such as all-MiniLM-L6-v2 were trained to be read by the *mean*
of their token states instead; their [CLS]/pooler path is an untrained leftover. Fine-tuning
them through it starts far from where they are good, so for such models we pool the way they
were trained.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers.modeling_outputs import SequenceClassifierOutput

from sectune.errors import SectuneError, shorten
from sectune.methods.hf import inference, length_sorted_batches
from sectune.methods.info import check_outputs

HEAD_FILE = "pooled_head.safetensors"


def trained_pooling(model_dir: str) -> str:
    """'mean' when a sentence-transformers pooling config says so, else 'cls' (the model's own head)."""
    config = Path(model_dir) / "1_Pooling" / "config.json"
    if config.is_file():
        try:
            if json.loads(config.read_text(encoding="utf-8")).get("pooling_mode_mean_tokens"):
                return "mean"
        except ValueError:
            pass
    return "cls"


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The masked mean of token states: the sentence embedding mean-pooling models were trained to give."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def embed_texts(
    body: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    *,
    batch_size: int,
    max_length: int,
    normalize: bool = False,
    progress: bool = False,
) -> np.ndarray:
    """Mean-pooled (optionally L2-normalised) last hidden states of ``body`` (in eval mode), one float32 row per
    text, scored in length-sorted batches on the device the body sits on."""
    from sectune.io import progress_bar

    target = next(body.parameters()).device
    out = np.zeros((len(texts), body.config.hidden_size), dtype=np.float32)
    batches = length_sorted_batches(tokenizer, texts, batch_size, max_length)
    total = -(-len(texts) // batch_size)
    with inference(target):
        for idx, batch in progress_bar(
            progress and total >= 20, iterable=batches, total=total, desc="embedding", unit="batch"
        ):
            batch = {k: v.to(target) for k, v in batch.items()}
            pooled = mean_pool(body(**batch).last_hidden_state.float(), batch["attention_mask"])
            if normalize:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            out[idx] = pooled.cpu().numpy()
    return out


class MeanPoolingClassifier(torch.nn.Module):
    """Body (an AutoModel) -> masked mean of token states -> dropout -> linear head."""

    main_input_name = "input_ids"

    def __init__(self, body: torch.nn.Module, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.body = body
        self.config = body.config
        self.dropout = torch.nn.Dropout(dropout)
        self.classifier = torch.nn.Linear(body.config.hidden_size, num_labels)
        torch.nn.init.normal_(self.classifier.weight, std=0.02)
        torch.nn.init.zeros_(self.classifier.bias)

    def forward(self, input_ids=None, attention_mask=None, labels=None, **inputs) -> SequenceClassifierOutput:
        pooled = self.pooled(input_ids=input_ids, attention_mask=attention_mask, **inputs)
        logits = self.classifier(self.dropout(pooled))
        loss = torch.nn.functional.cross_entropy(logits.float(), labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def pooled(self, input_ids=None, attention_mask=None, **inputs) -> torch.Tensor:
        """The masked mean of the body's token states: the text's sentence embedding."""
        hidden = self.body(input_ids=input_ids, attention_mask=attention_mask, **inputs).last_hidden_state
        return mean_pool(hidden, attention_mask)

    @torch.no_grad()
    def init_head_from_label_texts(
        self, tokenizer, label_texts: Sequence[str], texts: Sequence[str], label_ids: Sequence[int], max_length: int
    ) -> dict[str, float]:
        """Start the head where the sentence embedding already points: row i is the unit embedding of label i's
        text (a CWE's name and description) over a temperature fitted on ``texts`` by maximum likelihood.

        At step 0 the model then classifies by cosine similarity to the label texts (zero-shot), so a class with
        a handful of training rows starts from its description instead of from noise. Returns the zero-shot
        top-1 on ``texts`` and the temperature, for the log.
        """
        from sectune.operating import fit_temperature

        was_training = self.training
        self.eval()
        embed = partial(embed_texts, self.body, tokenizer, batch_size=32, max_length=max_length)
        directions = torch.nn.functional.normalize(torch.from_numpy(embed(label_texts)), dim=-1)
        scores = torch.from_numpy(embed(texts)) @ directions.T
        temperature = fit_temperature(torch.softmax(scores.double(), dim=-1).numpy(), np.asarray(label_ids))
        self.classifier.weight.copy_(directions / temperature)
        self.classifier.bias.zero_()
        self.train(was_training)
        top1 = float((scores.argmax(-1).numpy() == np.asarray(label_ids)).mean())
        return {"zero_shot_top1": top1, "temperature": temperature}

    def save_head(self, directory: Path) -> None:
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in self.classifier.state_dict().items()},
            str(directory / HEAD_FILE),
        )

    def load_head(self, directory: Path) -> None:
        """The saved head, refused unless it is exactly this model's: a missing or reshaped head is not a mean-pooling model."""
        path = directory / HEAD_FILE
        if not path.is_file():
            raise SectuneError(f"the weights do not match pooling 'mean': no {HEAD_FILE}", path=directory)
        state = load_file(str(path))
        if "weight" in state:
            check_outputs(state["weight"].shape[0], self.classifier.out_features, path)
        expected = {key: tuple(value.shape) for key, value in sorted(self.classifier.state_dict().items())}
        found = {key: tuple(value.shape) for key, value in sorted(state.items())}
        if found != expected:
            raise SectuneError(
                f"the weights do not match pooling 'mean' on this model: tensors {shorten(found, 120)}, expected {expected}",
                path=path,
            )
        self.classifier.load_state_dict(state)
