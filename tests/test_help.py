"""``--help`` of every command: exits 0, ends with examples, and states each option's default (issue 19)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from sectune.cli import EXAMPLES, accept_global_options_everywhere, build_parser, main
from sectune.methods.base import REGISTRY

README = Path(__file__).resolve().parents[1] / "README.md"


def _parsers() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every sub-command at any depth, by its words (``("data", "cve")``), read from the parser itself."""
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found[(*path, name)] = sub
                    walk(sub, (*path, name))

    parser = build_parser()
    accept_global_options_everywhere(parser)
    walk(parser, ())
    return found


PARSERS = _parsers()


def _squeezed(text: str) -> str:
    """Without whitespace: argparse wraps help text at spaces and hyphens."""
    return "".join(text.split())


def _with_default(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Options whose default means something: not None, not off, not an empty list, not argparse's SUPPRESS."""
    return [
        a
        for a in parser._actions
        if a.option_strings
        and a.help != argparse.SUPPRESS
        and a.default is not None
        and a.default is not False
        and a.default != argparse.SUPPRESS
        and a.default != []
    ]


@pytest.mark.parametrize("path", sorted(PARSERS), ids=" ".join)
def test_help_exits_0_with_examples_and_every_default(path, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main([*path, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "Examples:" in out
    examples = out.split("Examples:", 1)[1]
    assert f"sectune {' '.join(path)}" in examples  # the examples run this very command
    assert "default: None" not in out and "default None" not in out
    parser = PARSERS[path]
    formatter = parser._get_formatter()
    for action in _with_default(parser):
        assert action.help, f"{' '.join(path)} {action.option_strings[0]}: no help, so its default is not shown"
        shown = _squeezed(formatter._expand_help(action))
        assert _squeezed(str(action.default)) in shown, (action.option_strings[0], shown)
        assert _squeezed(str(action.default)) in _squeezed(out)


def test_every_example_names_a_command_that_exists() -> None:
    assert set(EXAMPLES) == {"", *(" ".join(p) for p in PARSERS)}


def test_readme_synopsis_lists_every_method_and_command() -> None:
    text = README.read_text(encoding="utf-8")
    synopsis = text.split("## The command line", 1)[1].split("```", 2)[1]
    listed = re.search(r"--method ([\w|-]+)", synopsis)
    assert listed is not None
    assert set(listed.group(1).split("|")) == set(REGISTRY)
    for path in PARSERS:
        assert f"sectune {' '.join(path)}" in synopsis, path
