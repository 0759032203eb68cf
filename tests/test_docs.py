"""The documentation stands alone: every relative link in README.md and docs/ resolves to a file in this repository.

A newcomer clones only this repository, so no link may leave its root (no `../shared/…`), and a link to a heading of
a Markdown file must name a heading that exists (GitHub's anchor slugs).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
_INLINE = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]"  # [text] or ![alt]
    r"\(\s*(<[^>\n]*>|[^\s()]+(?:\([^\s()]*\)[^\s()]*)*)"  # (target, <target> or one with balanced parentheses
    r"(?:\s+[\"'(].*?)?\)"  # optional "title")
)
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>\n]*>|\S+)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")


def _prose_lines(text: str, *, blank_code: bool = True) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, inline code spans blanked out unless asked not to."""
    out, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, _CODE_SPAN.sub("code", line) if blank_code else line))
    return out


def links(text: str) -> list[tuple[int, str]]:
    """Every link target of a Markdown text, with its line number (inline links, images, reference definitions)."""
    found = []
    for number, line in _prose_lines(text):
        targets = [m.group(1) for m in _INLINE.finditer(line)]
        ref = _REFERENCE.match(line)
        if ref:
            targets.append(ref.group(1))
        found += [(number, t[1:-1] if t.startswith("<") else t) for t in targets]
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: link text kept, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors GitHub generates for the headings of a Markdown file (repeats get -1, -2, …)."""
    seen: dict[str, int] = {}
    out = set()
    for _, line in _prose_lines(path.read_text(encoding="utf-8"), blank_code=False):
        m = _HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def problems(doc: Path) -> list[str]:
    """What is wrong with the links of one Markdown file (empty when all resolve inside the repository)."""
    out = []
    for number, target in links(doc.read_text(encoding="utf-8")):
        where = f"{doc.relative_to(ROOT)}:{number}: {target}"
        parts = urlsplit(target)
        if parts.scheme in {"http", "https", "mailto"}:
            continue
        if parts.scheme or parts.netloc:
            out.append(f"{where}: not a relative link")
            continue
        path_text = unquote(parts.path)
        if path_text.startswith("/"):
            out.append(f"{where}: absolute path")
            continue
        if not path_text:  # a heading of this same file
            resolved = doc
        else:
            resolved = (doc.parent / path_text).resolve()
            if not resolved.is_relative_to(ROOT):
                out.append(f"{where}: leaves the repository")
                continue
            if not resolved.exists():
                out.append(f"{where}: no such file")
                continue
        heading = unquote(parts.fragment).lower()
        if heading and resolved.suffix == ".md" and resolved.is_file() and heading not in anchors(resolved):
            out.append(f"{where}: no heading #{parts.fragment} in {resolved.relative_to(ROOT)}")
    return out


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve_inside_the_repository(doc: Path) -> None:
    assert problems(doc) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_mention_of_a_sibling_checkout(doc: Path) -> None:
    assert "../shared" not in doc.read_text(encoding="utf-8")


def test_the_link_parser_sees_what_github_sees() -> None:
    text = "\n".join(
        [
            'See [a](docs/a.md#x), ![img](pic.png "title") and [`code`](<with space.md>).',
            "Not a link: `[b](../outside.md)`, nor <https://example.org>.",
            "```",
            "[c](../inside-a-fence.md)",
            "```",
            "[ref]: ../ref.md",
            "[paren](docs/a_(b).md)",
        ]
    )
    assert links(text) == [
        (1, "docs/a.md#x"),
        (1, "pic.png"),
        (1, "with space.md"),
        (6, "../ref.md"),
        (7, "docs/a_(b).md"),
    ]
    assert slug("5.3 On the ledger: `DocumentSealed`") == "53-on-the-ledger-documentsealed"
    assert slug("1. The [log](x.md)") == "1-the-log"


def test_the_docs_are_found() -> None:
    assert ROOT / "README.md" in DOCS
    assert ROOT / "docs" / "formats.md" in DOCS
    assert any(links((ROOT / "README.md").read_text(encoding="utf-8")))
