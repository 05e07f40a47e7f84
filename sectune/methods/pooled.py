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
        hidden = self.body(input_ids=input_ids, attention_mask=attention_mask, **inputs).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        logits = self.classifier(self.dropout(pooled))
        loss = torch.nn.functional.cross_entropy(logits.float(), labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)

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
