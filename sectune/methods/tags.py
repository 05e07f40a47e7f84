"""What a method can do, declared once on its class: the pipeline reads these instead of probing for attributes.

In the spirit of scikit-learn's estimator tags (``__sklearn_tags__``): a frozen dataclass with a default for
every capability, so a method declares only what differs (``tags = MethodTags(uses_validation=True)``), and a
subclass changes one tag with ``dataclasses.replace(Parent.tags, binary_only=True)``.
:func:`sectune.testing.check_method` holds every method to what its tags say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class MethodTags:
    binary_only: bool = False  # two classes only: fit refuses more (rules scores one positive class)
    uses_validation: bool = (
        False  # held-out rows drive early stopping, so the pipeline splits them off for any class count
    )
    supports_resume: bool = (
        False  # trains through checkpoints: takes checkpoint_dir, runs_dir and resume (sectune train --resume)
    )
    zero_shot: bool = False  # scores without training when built with zero_shot=True
    prompted: bool = False  # reads a prompt_template; when the user names none, the pipeline passes the task's default
    explains: bool = False  # explain(text, top) says what made a score
    guesses_technique: bool = False  # guess_technique(text) names the obfuscation it saw (sectune scan reports it)
    default_base_model: str | None = None  # what sectune.json records as the base model when the user named none
    # Small settings that train in seconds, for check_method (a test adds what exists only there, such as a tiny model).
    fast_test_params: Mapping[str, Any] = field(default_factory=dict)
