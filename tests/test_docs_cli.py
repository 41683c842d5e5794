"""Every ``python -m freight ...`` command the docs, the README or the examples show exists.

Two checks: each sub-command named anywhere is one the parser knows, and each complete
command line in a fenced code block parses with its options (placeholders such as
``ID|all`` or ``[connection]`` are skipped).
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from freight.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "examples").rglob("*.py"),
     *(ROOT / "examples").rglob("*.sh")]
)
MENTION = re.compile(r"python3? -m freight((?:\s+-[-\w]+(?:[ =][\w./:-]+)?)*)\s+([a-z][\w:-]*)")
PLACEHOLDER = re.compile(r"[\[\]|<>{}…]|\.\.\.|\bID\b|\bKEY\b|\bFILE\b|\bNAME\b|\bSECONDS\b")
FENCE = re.compile(r"^```.*?$(.*?)^```", re.S | re.M)
GLOBAL_WITH_VALUE = {"--config", "--app"}


def sub_commands() -> set[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert actions, "the freight parser has no sub-commands"
    return set(actions[0].choices)


def mentions() -> list[tuple[str, str]]:
    """(source, sub-command) for every ``python -m freight <sub-command>`` in the sources."""
    found = []
    for path in SOURCES:
        for match in MENTION.finditer(path.read_text(encoding="utf-8")):
            found.append((str(path.relative_to(ROOT)), match.group(2)))
    return found


def command_lines() -> list[tuple[str, str]]:
    """(source, argv text) for complete command lines inside fenced code blocks."""
    found = []
    for path in SOURCES:
        if path.suffix != ".md":
            continue
        for block in FENCE.findall(path.read_text(encoding="utf-8")):
            for line in block.splitlines():
                at = line.find("-m freight")
                if at < 0 or "python" not in line[:at]:
                    continue
                rest = line[at + len("-m freight"):].split("#", 1)[0].split("&&", 1)[0].strip()
                rest = rest.rstrip("\\").strip()
                if rest and not PLACEHOLDER.search(rest):
                    found.append((str(path.relative_to(ROOT)), rest))
    return found


def test_the_docs_name_commands_at_all() -> None:
    names = {name for _, name in mentions()}
    assert {"work", "failed", "retry"} <= names, names


@pytest.mark.parametrize(("source", "name"), sorted(set(mentions())))
def test_every_named_sub_command_exists(source: str, name: str) -> None:
    assert name in sub_commands(), f"{source} names `python -m freight {name}`, which does not exist"


@pytest.mark.parametrize(("source", "argv"), sorted(set(command_lines())))
def test_every_documented_command_line_parses(source: str, argv: str) -> None:
    parser = build_parser()
    try:
        parser.parse_args(shlex.split(argv))
    except SystemExit as exc:
        pytest.fail(f"{source}: `python -m freight {argv}` does not parse (exit {exc.code})")
