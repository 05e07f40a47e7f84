"""Prompt templates and verbalizers: how a causal LM is asked to classify a text.

A template has three parts: ``instruction`` (the task and the answer format), ``input`` (where the
text goes) and ``output`` (the prefix the answer follows, e.g. ``Answer:``). Each label maps to a
verbalizer, the word the model should answer with (``yes``/``no`` for a binary task, the label
name or a letter for several classes); the LLM's score for a label is the probability of that word
after the prompt. Placeholders: ``{text}``, ``{positive}``, ``{negative}``, ``{options}``.

A template file (``--prompt-template FILE``) is YAML with the keys ``instruction``, ``input``,
``output`` and optionally ``verbalizers`` (a mapping label -> word, or ``names``/``letters``).
"""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

from sectune.errors import SectuneError

PLACEHOLDERS = ("text", "positive", "negative", "options")
BINARY_WORDS = ("no", "yes")  # labels_[0] -> "no", labels_[1] (the positive class) -> "yes"


@dataclass
class PromptTemplate:
    """The three parts of a prompt, and how labels are verbalized."""

    instruction: str
    input: str = "{text}"
    output: str = "Answer:"
    verbalizers: str | dict[str, str] = "auto"  # auto | names | letters | {label: word}
    name: str = "custom"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The generic templates; each task adds its own (``Task.prompts``): see builtin_templates().
BUILTIN: dict[str, PromptTemplate] = {
    "binary": PromptTemplate(
        name="binary",
        instruction="Is the following text an example of '{positive}' (rather than '{negative}')? Answer yes or no.",
        input="Text: {text}",
    ),
    "multiclass": PromptTemplate(
        name="multiclass",
        instruction="Classify the following text. Answer with one of: {options}.",
        input="Text: {text}",
    ),
}


def builtin_templates() -> dict[str, PromptTemplate]:
    """Every built-in template by name: the generic ones and those the registered tasks declare."""
    from sectune.tasks import TASKS, task_class

    found = dict(BUILTIN)
    for name in TASKS:
        found.update(task_class(name).prompts)
    return found


def default_template_name(labels: Sequence[str], task: str = "generic") -> str:
    """The task's built-in template (``Task.prompt_template``), else binary or multiclass by the label count.

    0/1 labels say nothing of what they mean, so they get the generic binary question: a task that
    knows what its labels mean names its own template."""
    from sectune.tasks import task_class

    return task_class(task).prompt_template or ("binary" if len(labels) == 2 else "multiclass")


def load_template(spec: str | None, labels: Sequence[str], task: str = "generic") -> PromptTemplate:
    """``spec``: None/auto (the task's default), a built-in name, or a YAML file."""
    builtin = builtin_templates()
    if spec in (None, "", "auto"):
        return PromptTemplate(**builtin[default_template_name(labels, task)].to_dict())
    if spec in builtin:
        return PromptTemplate(**builtin[spec].to_dict())
    path = Path(spec).expanduser()
    if not path.is_file():
        raise SectuneError(f"no such prompt template file (built-in templates: {', '.join(builtin)})", path=path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SectuneError(f"is not valid YAML: {str(exc).splitlines()[0]}", path=path) from exc
    if not isinstance(loaded, dict) or not isinstance(loaded.get("instruction"), str):
        raise SectuneError(
            "a prompt template needs at least an 'instruction' string (and 'input', 'output')", path=path
        )
    unknown = set(loaded) - {"instruction", "input", "output", "verbalizers"}
    if unknown:
        raise SectuneError(
            f"unknown prompt template key(s) {', '.join(sorted(unknown))} "
            "(expected instruction, input, output, verbalizers)",
            path=path,
        )
    template = PromptTemplate(**{k: v for k, v in loaded.items()}, name=path.name)
    check_template(template, where=path)
    return template


def check_template(template: PromptTemplate, where: Any = None) -> None:
    """Refuse a template whose text cannot reach the model, or that names unknown placeholders."""
    if "{text}" not in template.instruction + template.input:
        raise SectuneError("the prompt template never uses {text}", path=where)
    for part in (template.instruction, template.input, template.output):
        for _, name, _, _ in string.Formatter().parse(part.replace("{{", "").replace("}}", "")):
            if name is not None and name not in PLACEHOLDERS:
                raise SectuneError(
                    f"unknown placeholder {{{name}}} in the prompt template (known: {', '.join(PLACEHOLDERS)})",
                    path=where,
                )


def verbalizers(template: PromptTemplate, labels: Sequence[str]) -> list[str]:
    """One answer word per label, in ``labels`` order (distinct, non-empty)."""
    mode = template.verbalizers
    if isinstance(mode, dict):
        missing = [label for label in labels if label not in {str(k) for k in mode}]
        if missing:
            raise SectuneError(f"the prompt template's verbalizers lack label(s) {', '.join(missing[:5])}")
        words = [str({str(k): v for k, v in mode.items()}[label]) for label in labels]
    elif mode == "auto":
        words = list(BINARY_WORDS) if len(labels) == 2 else [str(label) for label in labels]
    elif mode == "names":
        words = [str(label) for label in labels]
    elif mode == "letters":
        if len(labels) > 26:
            raise SectuneError(f"verbalizers 'letters' covers at most 26 classes, not {len(labels)} (use names)")
        words = list(string.ascii_uppercase[: len(labels)])
    else:
        raise SectuneError(f"unknown verbalizers '{mode}' (expected auto, names, letters or a mapping label: word)")
    words = [w.strip() for w in words]
    if any(not w for w in words) or len(set(words)) != len(words):
        raise SectuneError("verbalizers must be distinct and non-empty")
    return words


def render(template: PromptTemplate, text: str, labels: Sequence[str], words: Sequence[str]) -> tuple[str, str, str]:
    """(instruction, input, output) with placeholders filled; braces inside ``text`` are kept as they are."""
    if template.verbalizers == "letters":
        options = "; ".join(f"{w}) {label}" for w, label in zip(words, labels))
    else:
        options = ", ".join(words)
    values = {"positive": str(labels[-1]), "negative": str(labels[0]), "options": options}

    def fill(part: str) -> str:
        for key, value in values.items():
            part = part.replace("{" + key + "}", value)
        return part.replace("{text}", "\x00").replace("{{", "{").replace("}}", "}").replace("\x00", text)

    return fill(template.instruction), fill(template.input), fill(template.output)


@dataclass
class PromptEncoder:
    """Turns texts into prompt token ids and labels into answer token ids, the same way for
    training, scoring and generation (prompt and answer are tokenized apart and concatenated)."""

    tokenizer: Any
    template: PromptTemplate
    labels: list[str]
    chat: bool = False
    max_length: int = 256  # tokens of the text itself; the instruction is never cut
    words: list[str] = field(init=False)

    def __post_init__(self) -> None:
        check_template(self.template)
        if self.chat and not getattr(self.tokenizer, "chat_template", None):
            raise SectuneError("--chat: this model's tokenizer has no chat template (drop --chat)")
        self.words = verbalizers(self.template, self.labels)

    def prompt_text(self, text: str) -> str:
        text = self._truncate(text)
        instruction, body, output = render(self.template, text, self.labels, self.words)
        if not self.chat:
            return f"{instruction}\n\n{body}\n{output}".rstrip(" ")
        messages = [{"role": "user", "content": f"{instruction}\n\n{body}"}]
        prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return prompt + output

    def prompt_ids(self, text: str) -> list[int]:
        # a chat template writes its own special tokens; a plain prompt gets the tokenizer's (e.g. BOS)
        return list(self.tokenizer(self.prompt_text(text), add_special_tokens=not self.chat)["input_ids"])

    def answer_ids(self) -> list[list[int]]:
        """Token ids of each label's answer, as it follows the prompt (a space after ``Answer:``)."""
        sep = " " if self.template.output and not self.template.output[-1].isspace() else ""
        if self.chat and not self.template.output:
            sep = ""
        ids = [list(self.tokenizer(sep + word, add_special_tokens=False)["input_ids"]) for word in self.words]
        if len({tuple(i) for i in ids}) != len(ids) or any(not i for i in ids):
            raise SectuneError("two verbalizers tokenize to the same tokens; choose distinct answer words")
        return ids

    def _truncate(self, text: str) -> str:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= self.max_length:
            return text
        return self.tokenizer.decode(ids[: self.max_length])
