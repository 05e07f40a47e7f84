"""Mean pooling + linear head on any encoder body: the pooling sentence-embedding models were trained with.

``AutoModelForSequenceClassification`` classifies from the [CLS] token through a pooler layer.
Sentence-transformers checkpoints such as all-MiniLM-L6-v2 were trained to be read by the *mean*
of their token states instead; their [CLS]/pooler path is an untrained leftover. Fine-tuning
them through it starts far from where they are good, so for such models we pool the way they
were trained.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers.modeling_outputs import SequenceClassifierOutput

from sectune.errors import SectuneError, shorten
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

        def embed(batch_texts: Sequence[str]) -> torch.Tensor:
            parts = []
            device = self.classifier.weight.device
            for start in range(0, len(batch_texts), 32):
                batch = tokenizer(
                    list(batch_texts[start : start + 32]),
                    padding=True,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                )
                parts.append(self.pooled(**{k: v.to(device) for k, v in batch.items()}).float())
            return torch.cat(parts)

        directions = torch.nn.functional.normalize(embed(label_texts), dim=-1)
        scores = embed(texts) @ directions.T
        proba = torch.softmax(scores.double(), dim=-1).cpu().numpy()
        temperature = fit_temperature(proba, np.asarray(label_ids))
        self.classifier.weight.copy_((directions / temperature).to(self.classifier.weight.dtype))
        self.classifier.bias.zero_()
        self.train(was_training)
        top1 = float((scores.argmax(-1).cpu().numpy() == np.asarray(label_ids)).mean())
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
