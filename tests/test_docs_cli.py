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
    [
        ROOT / "README.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "examples").rglob("*.py"),
        *(ROOT / "examples").rglob("*.sh"),
    ]
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


def mentions(path: Path) -> list[str]:
    """Every sub-command named as ``python -m freight <sub-command>`` in ``path``."""
    return [m.group(2) for m in MENTION.finditer(path.read_text(encoding="utf-8"))]


def command_lines(path: Path) -> list[str]:
    """The argv text of complete ``python -m freight`` lines inside fenced code blocks of ``path``."""
    found = []
    if path.suffix != ".md":
        return found
    for block in FENCE.findall(path.read_text(encoding="utf-8")):
        for line in block.splitlines():
            at = line.find("-m freight")
            if at < 0 or "python" not in line[:at]:
                continue
            rest = line[at + len("-m freight") :].split("#", 1)[0].split("&&", 1)[0].strip()
            rest = rest.rstrip("\\").strip()
            if rest and not PLACEHOLDER.search(rest):
                found.append(rest)
    return found


def name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_docs_name_commands_at_all() -> None:
    names = {sub for path in SOURCES for sub in mentions(path)}
    assert {"work", "failed", "retry"} <= names, names


@pytest.mark.parametrize("path", SOURCES, ids=name)
def test_every_named_sub_command_exists(path: Path) -> None:
    known = sub_commands()
    unknown = sorted({sub for sub in mentions(path) if sub not in known})
    assert not unknown, f"{name(path)} names `python -m freight` sub-commands that do not exist: {unknown}"


@pytest.mark.parametrize("path", SOURCES, ids=name)
def test_every_documented_command_line_parses(path: Path) -> None:
    parser = build_parser()
    bad = []
    for argv in command_lines(path):
        try:
            parser.parse_args(shlex.split(argv))
        except SystemExit as exc:
            bad.append(f"`python -m freight {argv}` (exit {exc.code})")
    assert not bad, f"{name(path)}: command lines that do not parse: {bad}"


# -- links between the pages ---------------------------------------------------------------------
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(text: str) -> set[str]:
    """The anchors GitHub makes of a page's headings."""
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*$", FENCE.sub("", text), re.M):
        found.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    return found


@pytest.mark.parametrize("path", PAGES, ids=name)
def test_every_relative_link_resolves(path: Path) -> None:
    broken = []
    for link in LINK.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):
            continue  # http:, https:, mailto:
        target_path, _, fragment = link.partition("#")
        target = (path.parent / target_path).resolve() if target_path else path
        if not target.exists():
            broken.append(f"{link} (no such file)")
        elif fragment and target.suffix == ".md" and fragment not in anchors(target.read_text("utf-8")):
            broken.append(f"{link} (no such heading)")
    assert not broken, f"{name(path)} has broken links: {broken}"


def test_the_index_links_every_page() -> None:
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    linked = {link.partition("#")[0] for link in LINK.findall(index)}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert not pages - linked, f"docs/index.md does not link {sorted(pages - linked)}"
