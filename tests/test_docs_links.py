"""Every relative link in the repository's Markdown points at a file or folder that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".git", ".venv", "data", "runs", "node_modules", ".gpu_carry", ".whl", "build", "dist"}
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
"""Inline Markdown links and images: ``[text](target)`` and ``![alt](target "title")``."""


def markdown_files(root: Path = ROOT) -> list[Path]:
    """The repository's Markdown files, without environments, data and run folders."""
    out = []
    for path in root.rglob("*.md"):
        parts = path.relative_to(root).parts
        if not any(p in SKIP or p.endswith(".egg-info") for p in parts[:-1]):
            out.append(path)
    return sorted(out)


def broken_links(path: Path) -> list[str]:
    """The relative link targets in ``path`` that do not exist (anchors and URLs skipped;
    links inside code spans and fenced blocks are not links)."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    bad = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL (http:, mailto:, ...) or an anchor in the same file
        file = target.split("#", 1)[0]
        if file and not (path.parent / file).exists():
            bad.append(target)
    return bad


def test_the_check_finds_a_broken_link(tmp_path):
    (tmp_path / "there.md").write_text("x")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "[ok](there.md) [ok](there.md#part) [web](https://x.org/a.md) [gone](missing.md)\n"
        '`[code](nowhere.md)`\n```\n[fenced](nowhere.md)\n```\n![img](gone.png "t")\n'
    )
    assert broken_links(doc) == ["missing.md", "gone.png"]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path):
    assert broken_links(path) == [], f"{path.relative_to(ROOT)}: broken relative links"
