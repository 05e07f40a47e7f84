"""``causal-llm``: a prompted causal language model as a classifier, zero-shot or LoRA/QLoRA fine-tuned.

The text goes into a prompt (:mod:`sectune.prompts`); each label has a verbalizer (`` yes``/`` no``,
a label name or a letter), and the label's score is the model's probability of that answer after
the prompt (summed log-probabilities over the answer's tokens, normalised over the label set). So
the LLM yields probabilities, thresholds and ROC curves like every other method. Fine-tuning adds
LoRA adapters (peft) and trains them on the answer tokens only (the prompt is masked out of the
loss), through the same Trainer set-up as the encoder (warmup, clipping, NaN guard, early stopping
on validation macro-F1, resume, TensorBoard). ``head="classifier"`` instead puts a sequence
classification head on the same LLM (the encoder recipe, on a causal model).

A model directory holds the adapter (safetensors), the tokenizer and the settings to rebuild the
prompt; the base model is resolved again at load time (the packaged SmolLM2 by default).
``sectune merge`` writes the merged full weights instead.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import inspect
import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Sequence

import numpy as np
from pydantic import Field

from sectune.errors import SectuneError, shorten
from sectune.methods.base import Classifier
from sectune.methods.finetune import FineTuneArgs, defaults
from sectune.methods.hf import (
    add_lora,
    check_texts,
    device,
    inference,
    load_adapter,
    load_pretrained,
    load_tokenizer,
    longest_first,
)
from sectune.methods.info import check_outputs
from sectune.methods.tags import MethodTags
from sectune.models import DEFAULT_CAUSAL_LM_LABEL, check_model_dir, load_error, resolve_causal_lm
from sectune.prompts import PromptEncoder, PromptTemplate, load_template

log = logging.getLogger("sectune")

QUANTIZE = ("4bit", "8bit")
ATTENTION = "attention"  # --lora-target default: peft's per-architecture attention projections


def quantization_config(quantize: str | None, precision: str):
    """A bitsandbytes config for ``4bit`` (NF4, double quantization) or ``8bit``; one clear line
    when bitsandbytes is missing or cannot run on this hardware."""
    if quantize in (None, "", "none"):
        return None
    if quantize not in QUANTIZE:
        raise SectuneError(f"unknown quantization '{quantize}' (expected 4bit, 8bit or none)")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise SectuneError(f"--quantize {quantize} needs the package 'bitsandbytes' (pip install bitsandbytes)")
    import torch
    from transformers import BitsAndBytesConfig
    from transformers.integrations import validate_bnb_backend_availability

    from sectune import training

    try:
        validate_bnb_backend_availability(raise_exception=True)
    except Exception as exc:  # bitsandbytes raises several types; all mean "not on this hardware"
        raise SectuneError(
            f"--quantize {quantize} is not supported on this hardware: {str(exc).strip().splitlines()[0]}"
        ) from exc
    if quantize == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    compute = torch.bfloat16 if training.resolve_precision(precision)["bf16"] else torch.float32
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute
    )


class PromptedLM:
    """Marker base so the wrapper below is importable without torch at module import time."""


def _wrapper_class():
    import torch

    class PromptedLMModule(torch.nn.Module, PromptedLM):
        """What the Trainer trains: the causal LM's loss on the answer tokens, and at evaluation
        the label scores, so early stopping sees validation macro-F1 like every other method.

        Checkpoints hold only the trainable parameters (the adapter): the frozen base, often
        quantized, is rebuilt from the base model, not copied into every checkpoint.
        """

        @property
        def _keys_to_ignore_on_save(self) -> list[str]:
            """The frozen base's keys. Trainer reads this after loading the best checkpoint: keys listed here
            are expected to be absent, so it does not log every base weight as a "missing key"."""
            trainable = self._trainable_keys()
            return [key for key in super().state_dict() if key not in trainable]

        def _trainable_keys(self, prefix: str = "") -> set[str]:
            return {prefix + name for name, p in self.named_parameters() if p.requires_grad}

        def tie_weights(self) -> None:  # Trainer calls it after such a load; the wrapped model ties its own
            pass

        def __init__(self, lm, owner: "CausalLLMClassifier") -> None:
            super().__init__()
            self.lm = lm
            self._owner = [owner]  # a list, so the classifier is not registered as a submodule

        def forward(self, input_ids, attention_mask, labels=None, class_labels=None, prompt_lengths=None):
            if self.training or prompt_lengths is None:
                return {
                    "loss": self.lm(
                        input_ids=input_ids, attention_mask=attention_mask, labels=labels, use_cache=False
                    ).loss
                }
            # Evaluation: the label scores only, and their cross-entropy as the loss. A second pass over
            # prompt + answer for the LM loss would cost a full-vocabulary logit per position and say nothing
            # early stopping (macro-F1) does not already read.
            prompts = [row[: int(n)].tolist() for row, n in zip(input_ids, prompt_lengths)]
            scores = torch.as_tensor(self._owner[0]._answer_log_probs(self.lm, prompts), device=input_ids.device)
            loss = torch.nn.functional.nll_loss(scores.float(), class_labels) if class_labels is not None else None
            return {"loss": loss, "logits": scores}

        def state_dict(self, *args: Any, **kwargs: Any):  # type: ignore[override]
            full = super().state_dict(*args, **kwargs)
            prefix = kwargs.get("prefix", args[1] if len(args) > 1 else "")
            trainable = self._trainable_keys(prefix)
            return {k: v for k, v in full.items() if k in trainable}

    return PromptedLMModule


@dataclasses.dataclass(kw_only=True, repr=False, eq=False)
@defaults(
    max_length=256,
    batch_size=8,
    epochs=1.0,
    lr=2e-4,
    warmup_ratio=0.03,
    weight_decay=0.0,
    lora_r=8,
    lora_dropout=0.05,
    predict_batch_size=16,
)
class CausalLLMClassifier(FineTuneArgs, Classifier):
    name = "causal-llm"
    tags = MethodTags(
        uses_validation=True,
        supports_resume=True,
        zero_shot=True,
        prompted=True,
        default_base_model=DEFAULT_CAUSAL_LM_LABEL,
        fast_test_params={
            "max_steps": 2,
            "batch_size": 4,
            "predict_batch_size": 4,
            "lr": 1e-3,
            "report_generation": False,
            "verbose": False,
        },
    )
    head: Annotated[
        Literal["lm", "classifier"],
        Field(description="lm: score the answer words; classifier: a sequence-classification head on the LLM"),
    ] = "lm"
    zero_shot: Annotated[
        bool, Field(description="no training: the model as it is, with a threshold chosen on validation rows")
    ] = False
    prompt_template: Annotated[
        str | None,
        Field(
            description="a YAML prompt template (instruction, input, output, verbalizers) or a built-in: cmdline, cwe, binary, multiclass"
        ),
    ] = None
    chat: Annotated[bool, Field(description="wrap the prompt in the tokenizer's chat template")] = False
    lora_target: Annotated[
        str, Field(description="LoRA modules: attention, all-linear, or module names separated by commas")
    ] = ATTENTION
    gradient_checkpointing: Annotated[
        bool, Field(description="recompute activations in the backward pass: less memory, slower")
    ] = False
    quantize: Annotated[
        Literal["4bit", "8bit", "none"] | None,
        Field(
            description="load the base model quantized with bitsandbytes (4bit: NF4, double quantization; QLoRA when training)"
        ),
    ] = None
    report_generation: Annotated[
        bool, Field(description="also report the accuracy of generating and parsing the answer")
    ] = True

    # --- set-up ---------------------------------------------------------------------------
    def _check_settings(self) -> None:
        """Every refusal before anything heavy is loaded."""
        from sectune import training

        training.resolve_precision(self.precision)
        if self.zero_shot and self.head != "lm":
            raise SectuneError("--zero-shot needs --head lm: a new classification head knows nothing before training")
        if self.quantize not in (None, "", "none") and not self.zero_shot and not self.lora_r:
            raise SectuneError(
                f"--quantize {self.quantize} trains LoRA adapters on a frozen quantized model: give --lora-r > 0"
            )
        quantization_config(self.quantize, self.precision)

    def _target_modules(self) -> str | list[str] | None:
        if self.lora_target in (None, "", ATTENTION):
            return None
        if self.lora_target == "all-linear":
            return "all-linear"
        return [part.strip() for part in str(self.lora_target).split(",") if part.strip()]

    def _load_base(self, path: str, *, trainable: bool):
        """The causal LM (or, for head=classifier, the same LLM with a classification head)."""
        from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

        quant = quantization_config(self.quantize, self.precision)
        kwargs: dict[str, Any] = {"allow_pickle": self.allow_pickle, "trust_remote_code": self.trust_remote_code}
        if quant is not None:
            kwargs["quantization_config"] = quant
        if self.head == "classifier":
            index = {label: i for i, label in enumerate(self.labels_)}
            kwargs.update(num_labels=len(self.labels_), id2label=dict(enumerate(self.labels_)), label2id=index)
            auto = AutoModelForSequenceClassification
        else:
            auto = AutoModelForCausalLM
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # bitsandbytes' CPU kernels warn on every load
                net = load_pretrained(auto, path, **kwargs)
        except (RuntimeError, ImportError) as exc:  # bitsandbytes refusing this hardware surfaces here
            raise SectuneError(
                f"--quantize {self.quantize}: cannot load the model on this hardware: {str(exc).splitlines()[0]}"
                if quant is not None
                else str(load_error(path, exc))
            ) from exc
        if getattr(net.config, "pad_token_id", None) is None:
            net.config.pad_token_id = self.tokenizer_.pad_token_id
        if quant is not None and trainable:
            from peft import prepare_model_for_kbit_training

            net = prepare_model_for_kbit_training(
                net,
                use_gradient_checkpointing=self.gradient_checkpointing,
                gradient_checkpointing_kwargs={"use_reentrant": False},
            )
        elif self.gradient_checkpointing and trainable:
            net.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        return net

    def _setup_prompt(self, tokenizer_path: str, template: PromptTemplate) -> None:
        self.tokenizer_ = load_tokenizer(tokenizer_path, trust_remote_code=self.trust_remote_code)
        if self.tokenizer_.pad_token_id is None:  # many causal LMs have none; padding is masked anyway
            self.tokenizer_.pad_token = self.tokenizer_.eos_token
        self.prompt_ = template
        self.encoder_ = PromptEncoder(
            self.tokenizer_, template, self.labels_, chat=self.chat, max_length=self.max_length
        )
        self.answers_ = self.encoder_.answer_ids()

    # --- training -------------------------------------------------------------------------
    def _fit(self, texts, labels, eval_texts, eval_labels) -> None:
        from transformers import set_seed

        self._check_settings()
        set_seed(self.seed)
        base = resolve_causal_lm(self.model, allow_pickle=self.allow_pickle)
        template = load_template(
            self.prompt_template, self.labels_
        )  # the pipeline passes the task's template when none is given
        self._setup_prompt(base, template)
        self.net_ = self._load_base(base, trainable=not self.zero_shot)
        self.weights_ = "base"
        if self.zero_shot:
            self.net_.eval()
            return
        if self.lora_r:
            task = "SEQ_CLS" if self.head == "classifier" else "CAUSAL_LM"
            self.net_ = add_lora(
                self.net_,
                task=task,
                r=self.lora_r,
                alpha=self.lora_alpha,
                dropout=self.lora_dropout,
                target_modules=self._target_modules(),
                verbose=self.verbose,
            )
        self._train(texts, labels, eval_texts, eval_labels)
        self.weights_ = "adapter" if self.lora_r else "full"
        self.net_.eval()

    def _datasets(self, texts, labels, eval_texts, eval_labels):
        index = {label: i for i, label in enumerate(self.labels_)}

        def items(batch_texts, batch_labels) -> list[dict[str, Any]]:
            out = []
            for text, label in zip(batch_texts, batch_labels):
                prompt = self.encoder_.prompt_ids(text)
                if self.head == "classifier":
                    out.append({"input_ids": prompt, "attention_mask": [1] * len(prompt), "labels": index[label]})
                    continue
                answer = self.answers_[index[label]]
                out.append(
                    {
                        "input_ids": prompt + answer,
                        "labels": [-100] * len(prompt) + answer,
                        "class_labels": index[label],
                        "prompt_lengths": len(prompt),
                    }
                )
            return out

        return items(texts, labels), items(eval_texts, eval_labels) if eval_texts else None

    def _collate(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        """Right padding: pads are masked out of attention and of the loss (-100)."""
        import torch

        width = max(len(f["input_ids"]) for f in features)
        pad = self.tokenizer_.pad_token_id
        batch = {
            "input_ids": torch.tensor([f["input_ids"] + [pad] * (width - len(f["input_ids"])) for f in features]),
            "attention_mask": torch.tensor(
                [[1] * len(f["input_ids"]) + [0] * (width - len(f["input_ids"])) for f in features]
            ),
            "labels": torch.tensor([f["labels"] + [-100] * (width - len(f["labels"])) for f in features]),
            "class_labels": torch.tensor([f["class_labels"] for f in features]),
            "prompt_lengths": torch.tensor([f["prompt_lengths"] for f in features]),
        }
        return batch

    def _train(self, texts, labels, eval_texts, eval_labels) -> None:
        from sectune import training

        train_set, eval_set = self._datasets(texts, labels, eval_texts, eval_labels)
        self.tokenizer_.padding_side = "right"
        if self.head == "lm":
            net, extra = (
                _wrapper_class()(self.net_, self),
                {"data_collator": self._collate, "label_names": ["class_labels"]},
            )
        else:
            net, extra = self.net_, {}
        scratch = None
        checkpoint_dir = (
            Path(self.checkpoint_dir)
            if self.checkpoint_dir
            else Path(scratch := tempfile.mkdtemp(prefix="sectune-ckpt-"))
        )
        try:
            trainer = training.make_trainer(
                net,
                self.tokenizer_,
                train_set,
                eval_set,
                self,
                checkpoint_dir=checkpoint_dir,
                callbacks=self.extra_callbacks,
                **extra,
            )
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*MatMul8bitLt.*")
                self.log_history_ = training.run_training(trainer, checkpoint_dir, resume=self.resume)
            self.optimizer_stats_ = {"skipped_steps": training.skipped_steps(trainer)}
        finally:
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)
        self.net_ = trainer.model.lm if self.head == "lm" else trainer.model

    # --- scoring --------------------------------------------------------------------------
    def _answer_log_probs(self, lm, prompts: Sequence[list[int]], bar: Any = None) -> np.ndarray:
        """(n, n_labels) log P(answer | prompt), normalised over the labels.

        One-token answers: one forward pass per batch, left-padded with explicit positions so a
        text scores the same alone or in a batch. Longer answers: the prompt once, then every
        label's continuation in one batch over a copy of its key/value cache. ``bar``: a progress bar
        advanced by the texts scored (none inside the Trainer's evaluation, which has its own).
        """
        import torch

        answers = self.answers_
        target = next(lm.parameters()).device
        out = np.zeros((len(prompts), len(answers)), dtype=np.float64)
        first = torch.tensor([a[0] for a in answers], device=target)
        keep = {"logits_to_keep": 1} if _accepts(lm, "logits_to_keep") else {}
        pad = self.tokenizer_.pad_token_id
        with inference(target):
            if all(len(a) == 1 for a in answers):
                for idx in longest_first([len(p) for p in prompts], self.predict_batch_size):
                    ids, mask = _left_pad([prompts[i] for i in idx], pad, target)
                    positions = (mask.cumsum(-1) - 1).clamp(min=0)
                    logits = lm(
                        input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False, **keep
                    ).logits[:, -1]
                    out[idx] = logits.float().log_softmax(-1)[:, first].cpu().numpy()
                    if bar is not None:
                        bar.update(len(idx))
            else:
                for i, prompt in enumerate(prompts):
                    out[i] = self._multi_token_scores(lm, prompt, target, keep)
                    if bar is not None:
                        bar.update(1)
        return out - _logsumexp(out)

    def _multi_token_scores(self, lm, prompt: list[int], target, keep: dict) -> np.ndarray:
        import torch

        answers = self.answers_
        head = lm(input_ids=torch.tensor([prompt], device=target), use_cache=True, **keep)
        first = head.logits[0, -1].float().log_softmax(-1)
        scores = np.array([float(first[a[0]]) for a in answers])
        longest = max(len(a) for a in answers)
        chunk = max(1, min(len(answers), 64))
        for start in range(0, len(answers), chunk):
            part = list(range(start, min(start + chunk, len(answers))))
            if all(len(answers[j]) == 1 for j in part):
                continue
            cache = copy.deepcopy(head.past_key_values)
            cache.batch_repeat_interleave(len(part))
            width = longest - 1
            cont = torch.full((len(part), width), self.tokenizer_.pad_token_id, device=target)
            for r, j in enumerate(part):
                cont[r, : len(answers[j]) - 1] = torch.tensor(answers[j][:-1])
            mask = torch.ones((len(part), len(prompt) + width), dtype=torch.long, device=target)
            logp = (
                lm(input_ids=cont, attention_mask=mask, past_key_values=cache, use_cache=True)
                .logits.float()
                .log_softmax(-1)
            )
            for r, j in enumerate(part):
                for t, token in enumerate(answers[j][1:]):
                    scores[j] += float(logp[r, t, token])
        return scores

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        import torch

        net = self._ready()
        prompts = [self.encoder_.prompt_ids(t) for t in texts]
        with self._progress(len(texts), "scoring") as bar:
            if self.head == "lm":
                return np.exp(self._answer_log_probs(net, prompts, bar))
            out = np.zeros((len(texts), len(self.labels_)), dtype=np.float64)
            target = next(net.parameters()).device
            with inference(target):
                for idx in longest_first([len(p) for p in prompts], self.predict_batch_size):
                    ids, mask = _left_pad([prompts[i] for i in idx], self.tokenizer_.pad_token_id, target)
                    positions = (mask.cumsum(-1) - 1).clamp(min=0)
                    logits = net(input_ids=ids, attention_mask=mask, position_ids=positions).logits.float()
                    out[idx] = torch.softmax(logits, dim=-1).cpu().numpy()
                    bar.update(len(idx))
            return out

    def _progress(self, total: int, what: str):
        """A bar with an ETA over the texts, per batch, when verbose: on a CPU an LLM scores a few texts a second,
        so 500 lines are minutes that would otherwise pass without a word."""
        from sectune.io import progress_bar

        return progress_bar(self.verbose, total=total, desc=f"{self.name} {what}", unit="text", leave=False)

    def generate(self, texts: Sequence[str], max_new_tokens: int = 1) -> list[str | None]:
        """The common recipe, for comparison: greedy generation, then the answer parsed back to a
        label (None when it names none). Scores come from :meth:`predict_proba`, not from this."""
        if self.head != "lm":
            raise SectuneError("generation needs --head lm")
        texts = check_texts(texts)
        net = self._ready()
        target = next(net.parameters()).device
        words = [w.lower() for w in self.encoder_.words]
        first_tokens = [self.tokenizer_.decode(a[:1]).strip().lower() for a in self.answers_]
        parsed: list[str | None] = []
        with inference(target), self._progress(len(texts), "generating") as bar:
            for start in range(0, len(texts), self.predict_batch_size):
                prompts = [self.encoder_.prompt_ids(t) for t in texts[start : start + self.predict_batch_size]]
                ids, mask = _left_pad(prompts, self.tokenizer_.pad_token_id, target)
                new = net.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=self.tokenizer_.pad_token_id,
                )[:, ids.shape[1] :]
                for row in new:
                    answer = self.tokenizer_.decode(row, skip_special_tokens=True).strip().lower()
                    parsed.append(_parse_answer(answer, words, first_tokens, self.labels_))
                bar.update(len(prompts))
        return parsed

    def extra_metrics(self, texts: Sequence[str], labels: Sequence[str | None]) -> dict[str, float]:
        """Generation with ``max_new_tokens=1`` and parsing, reported beside the scored metrics."""
        if not self.report_generation or self.head != "lm" or not len(texts):
            return {}
        parsed = self.generate(texts)
        return {
            "generation_accuracy": round(float(np.mean([p == str(y) for p, y in zip(parsed, labels)])), 6),
            "generation_unparsed": round(float(np.mean([p is None for p in parsed])), 6),
        }

    def _ready(self):
        self.check_fitted("predicting")
        net = self.net_
        if not getattr(net, "is_quantized", False) and not getattr(
            getattr(net, "base_model", None), "is_quantized", False
        ):
            net = net.to(device())
        return net.eval()

    # --- persistence ----------------------------------------------------------------------
    def _save_state(self, directory: Path) -> dict[str, Any]:
        """The prompt the model was trained with, and what the weight files hold (base: none, adapter, full)."""
        self.tokenizer_.save_pretrained(directory)
        if self.weights_ in ("adapter", "full"):
            self.net_.save_pretrained(directory, safe_serialization=True)
        return {"prompt": self.prompt_.to_dict(), "weights": self.weights_}

    def _load_state(self, directory: Path, state: Mapping[str, Any]) -> None:
        self.weights_ = state.get("weights", "base")
        if self.weights_ not in ("base", "adapter", "full"):
            raise SectuneError(f"unknown weights kind '{shorten(self.weights_)}' in sectune.json", path=directory)
        prompt = state.get("prompt")  # always written; without one, the built-in template for the labels
        template = (
            PromptTemplate(**prompt) if isinstance(prompt, dict) else load_template(None, self.labels_, "generic")
        )
        self._setup_prompt(str(directory), template)
        rows = _saved_head_rows(directory, self.weights_) if self.head == "classifier" else None
        if rows is not None:  # before the base is built with one row per label, which the saved head would not fit
            check_outputs(rows, len(self.labels_), directory)
        if self.weights_ == "full":
            check_model_dir(directory)
            self.net_ = self._load_base(str(directory), trainable=False).eval()
            return
        base = self._load_base(resolve_causal_lm(self.model, allow_pickle=self.allow_pickle), trainable=False)
        if self.weights_ == "adapter":
            try:
                base = load_adapter(base, str(directory))
            except (OSError, ValueError) as exc:
                raise SectuneError(f"cannot load the LoRA adapter: {str(exc).splitlines()[0]}", path=directory) from exc
        self.net_ = base.eval()

    def merged(self) -> "CausalLLMClassifier":
        """This model with its adapter merged into full-precision base weights (for ``sectune merge``)."""
        if self.weights_ != "adapter":
            raise SectuneError(
                f"nothing to merge: this model holds {'no adapter (zero-shot)' if self.weights_ == 'base' else 'full weights already'}"
            )
        if self.quantize not in (
            None,
            "",
            "none",
        ):  # merge into unquantized weights: rebuild the base without bitsandbytes
            adapter_dir = tempfile.mkdtemp(prefix="sectune-adapter-")
            quantize = self.quantize
            try:
                self.net_.save_pretrained(adapter_dir, safe_serialization=True)
                self.quantize = None
                base = self._load_base(resolve_causal_lm(self.model, allow_pickle=self.allow_pickle), trainable=False)
                net = load_adapter(base, adapter_dir)
            finally:
                self.quantize = quantize  # this model stays quantized even when the rebuild fails
                shutil.rmtree(adapter_dir, ignore_errors=True)
        else:
            net = self.net_
        out = copy.copy(self)
        out.net_ = net.merge_and_unload().eval()
        out.weights_ = "full"
        out.quantize = None
        out.run = self.run.model_copy(update={"merged_from_adapter": True})
        return out


def merge_model(
    model_dir: str | Path, output: str | Path, *, trust_remote_code: bool = False, allow_pickle: bool = False
) -> Path:
    """``sectune merge``: a causal-llm model directory with merged full weights, loadable without peft."""
    from sectune.methods.base import load
    from sectune.outputs import check_output_dir, staged_dir

    check_output_dir(output, inputs=[model_dir])
    clf = load(model_dir, verbose=False, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    if not isinstance(clf, CausalLLMClassifier):
        raise SectuneError(f"merge is for causal-llm models; this one is '{clf.name}'", path=model_dir)
    merged = clf.merged()
    with staged_dir(Path(output)) as stage:
        merged.save_pretrained(stage)
        for extra in ("metrics.json", "per_class.csv", "README.md", "config.yaml"):
            if (Path(model_dir) / extra).exists():
                shutil.copy2(Path(model_dir) / extra, Path(stage) / extra)
    return Path(output)


def _saved_head_rows(directory: Path, weights: str) -> int | None:
    """Rows (classes) of the classification head ``score`` saved in ``directory``; None when no head is saved."""
    from safetensors import safe_open

    files = (
        [directory / "adapter_model.safetensors"]
        if weights == "adapter"
        else sorted(directory.glob("model*.safetensors"))
    )
    for file in (f for f in files if f.is_file()):
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():
                if key.endswith("score.weight"):
                    return int(handle.get_slice(key).get_shape()[0])
    return None


def _left_pad(rows: Sequence[list[int]], pad: int, target):
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row)
        mask[i, width - len(row) :] = 1
    return ids.to(target), mask.to(target)


def _accepts(lm, name: str) -> bool:
    """Whether the model's forward takes ``name`` (peft wrappers forward their kwargs to the base)."""
    inner = lm.get_base_model() if hasattr(lm, "get_base_model") else lm
    return name in inspect.signature(inner.forward).parameters


def _logsumexp(scores: np.ndarray) -> np.ndarray:
    top = scores.max(axis=1, keepdims=True)
    return top + np.log(np.exp(scores - top).sum(axis=1, keepdims=True))


def _parse_answer(answer: str, words: list[str], first_tokens: list[str], labels: list[str]) -> str | None:
    """The label a generated answer names: its verbalizer, or the verbalizer's first token when
    only that was generated; None when it names no label or several."""
    answer = answer.strip(" .:'\"").lower()
    if not answer:
        return None
    for candidates in (words, first_tokens):
        hits = [i for i, c in enumerate(candidates) if c and c == answer]
        if len(hits) == 1:
            return labels[hits[0]]
    return None
