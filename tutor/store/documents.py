"""Reading documents into clean Markdown: files in, text a learner would want to read out.

Web pages saved as text or HTML carry chrome (navigation, "6 min read", chat widgets,
Mermaid diagram sources) that would pollute retrieval; this module removes it and keeps
headings, tables and code. Plain text has no heading markup, so headings are recovered
from layout: the rules are in `_is_plain_heading` with the reasons.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tutor.errors import DocumentError

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf")

# Lines that are page furniture, not content (seen on the study pages users save).
_CHROME_LINES = [
    r"\d+\s+min(ute)?s?\s+read(\s+[\d,]+\s+words)?",
    r"[\d,]+\s+words",
    r"skip to (main )?content",
    r"latest commit",
    r"history",
    r"file metadata and controls",
    r"[\d,]+ lines \(\d+ loc\) · [\d.]+ [KMG]?B",
    r"any doubt in content\? ask me anything\?",
    r"chat",
    r"note",
    r"copy( code)?",
    r"(raw|blame|preview|code)",
    r"(share|tweet|subscribe|sign in|sign up|log in)",
    r"table of contents",
    r"🤖.*(learning assistant|ask|help).*",
]
_CHROME_RE = re.compile(r"^\s*(?:" + "|".join(_CHROME_LINES) + r")\s*$", re.IGNORECASE)

# Mermaid sources: an init directive or a diagram keyword opens a block; these shapes stay in it.
_MERMAID_START = re.compile(
    r"^\s*(%%\{init|(flowchart|graph)\s+(LR|RL|TB|TD|BT)\b|sequenceDiagram|classDiagram|"
    r"stateDiagram|erDiagram|gantt|pie\b|mindmap|timeline)"
)
_MERMAID_LINE = re.compile(
    r"^\s*(%%|subgraph\b|end\s*$|direction\s+\w+|style\s+\w+|classDef\b|class\s+\w+|linkStyle\b|"
    r"participant\b|actor\b|note\s+(over|left|right)\b|loop\b|alt\b|else\b|opt\b|"
    r".*(-->|<-->|~~~|-\.->|==>|->>|-->>|---)|"
    r"[A-Za-z_][\w]*\s*(\(\[|\[\[|\[/|\[\(|\(\(|\{\{|\[|\(|\{|>)\s*\"?.*)"
)
# Trailing prose that a page glued onto the diagram's last `style` line.
_STYLE_TAIL = re.compile(r"^\s*style\s+\w+\s+\S+\s+(?P<tail>[A-Z].*)$")

_BOX_CHARS = set("│┌┐└┘├┤┬┴┼─═║╔╗╚╝▼▲►◄")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Document:
    """One source file, read and cleaned to Markdown."""

    id: str
    path: Path
    title: str
    text: str
    hash: str  # sha256 of the raw bytes: unchanged file, unchanged hash
    meta: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # things the user should know (e.g. "decoded as cp1252")


def read_document(path: Path, doc_id: str, max_bytes: int) -> Document:
    """Read one file into a clean `Document`, or raise `DocumentError` saying why not."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(f"unsupported type '{suffix}' (supported: {', '.join(SUPPORTED_SUFFIXES)})")
    size = path.stat().st_size
    if size == 0:
        raise DocumentError("empty file")
    if size > max_bytes:
        raise DocumentError(
            f"too large ({size / 1e6:.1f} MB > {max_bytes / 1e6:.0f} MB limit; "
            "split it or raise TUTOR_MAX_FILE_MB)"
        )
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    notes: list[str] = []
    if suffix == ".pdf":
        text = _pdf_to_markdown(raw)
    else:
        text, encoding_note = _decode(raw)
        if encoding_note:
            notes.append(encoding_note)
        if suffix in (".html", ".htm"):
            text = html_to_markdown(text)
        elif suffix == ".txt":
            text = plain_to_markdown(text)
    meta, text = split_front_matter(text)
    text = clean_markdown(text)
    if len(text.strip()) < 20:
        raise DocumentError("no readable text after cleaning")
    title = str(meta.get("title") or _first_heading(text) or path.stem)
    return Document(doc_id, path, title, text, digest, meta, tuple(notes))


def _decode(raw: bytes) -> tuple[str, str | None]:
    if b"\x00" in raw[:8192]:
        raise DocumentError("binary file, not text (it contains NUL bytes)")
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    try:  # most non-UTF-8 English text is Windows-1252; detectors often guess a cousin
        return raw.decode("cp1252"), "not UTF-8: decoded as Windows-1252"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is None or best.encoding is None:
        raise DocumentError("not UTF-8 text and its encoding could not be detected; save it as UTF-8")
    return str(best), f"not UTF-8: decoded as {best.encoding}"


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise DocumentError(f"malformed YAML front matter: {exc}") from exc
    if not isinstance(meta, dict):
        raise DocumentError("front matter is not a YAML mapping")
    return meta, text[match.end() :]


def _first_heading(markdown: str) -> str | None:
    for line in markdown.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return None


def _pdf_to_markdown(raw: bytes) -> str:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise DocumentError(f"cannot read this PDF ({exc}); is it damaged or encrypted?") from exc
    return plain_to_markdown("\n\n".join(pages))


_HIDDEN_STYLE = re.compile(r"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden)", re.IGNORECASE)


def html_to_markdown(html: str) -> str:
    """HTML → Markdown with navigation, scripts and widgets removed."""
    from bs4 import BeautifulSoup
    from markdownify import markdownify

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "nav", "header", "footer", "aside", "form", "noscript",
                     "iframe", "svg", "button"]):
        tag.decompose()
    for tag in soup.select(".mermaid, [role=navigation], [aria-hidden=true], [hidden], template"):
        tag.decompose()
    # Text a browser never shows (closed menus, modals, cookie notices, A/B variants) is not
    # what the reader saw: it is dropped, like the page's chrome. Only inline styles can be
    # read here; a stylesheet's hidden classes would need a browser to resolve them.
    for tag in soup.find_all(style=_HIDDEN_STYLE):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    return markdownify(str(root), heading_style="ATX", code_language="")


def plain_to_markdown(text: str) -> str:
    """Plain text (a saved web page, a PDF's text) → Markdown with recovered headings."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = [line for line in lines if not _CHROME_RE.match(line)]
    lines = _fence_box_diagrams(_drop_mermaid(lines))
    candidate = _heading_candidates(lines)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    out: list[str] = []
    for i, line in enumerate(lines):
        if i == first and candidate[i]:  # a page's first line, shaped like a heading, is its title
            out.extend(["# " + line.strip(), ""])
            continue
        # Three or more heading-shaped lines in a row are a table or list that lost its
        # markup (pages copied from HTML do this), not a stack of headings.
        run_start = i
        while run_start > 0 and candidate[run_start - 1]:
            run_start -= 1
        run_end = i
        while run_end + 1 < len(lines) and candidate[run_end + 1]:
            run_end += 1
        if candidate[i] and run_end - run_start < 2 and _followed_by_content(lines, i):
            level = _plain_heading_level(line.strip())
            out.extend(["", "#" * level + " " + line.strip(), ""])
        else:
            out.append(line)
    return "\n".join(out)


def _heading_candidates(lines: list[str]) -> list[bool]:
    flags: list[bool] = []
    in_code = False
    for line in lines:
        if line.startswith("```"):
            in_code = not in_code
            flags.append(False)
            continue
        flags.append(not in_code and _is_heading_shaped(line))
    return flags


def _followed_by_content(lines: list[str], i: int) -> bool:
    following = next((n.strip() for n in lines[i + 1 : i + 4] if n.strip()), "")
    if not following:
        return False
    # A question ending in "?" is a heading only when an explanation follows it.
    return not (lines[i].strip().endswith("?") and len(following.split()) < 4)


_SMALL_WORDS = {"a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "vs", "with",
                "by", "is", "at", "from", "as", "into", "how", "not", "it", "its", "&"}


def _title_like(text: str) -> bool:
    """Most content words capitalised ("Stage 1: Pre-Training"), and no quoted speech."""
    if any(q in text for q in "\"“”'"):
        return False
    words = [w for w in re.findall(r"[A-Za-z][\w'-]*", text) if w.lower() not in _SMALL_WORDS]
    if not words:
        return False
    capitalised = sum(1 for w in words if w[0].isupper())
    return capitalised / len(words) >= 0.6


def _is_heading_shaped(line: str) -> bool:
    """A short, capitalised line that is not a sentence, list item, table row, formula or
    label. Plain text has no heading markup; these are the shapes headings take there."""
    stripped = line.strip()
    if not stripped or line != line.lstrip():  # indented lines are list items or code
        return False
    words = stripped.split()
    if len(stripped) > 80 or len(words) > 12:
        return False
    if stripped.endswith((".", ",", ";", ":", "!")) or stripped.startswith(
        ("#", "|", "-", "•", "*", ">", '"', "“", "(", "[")
    ):
        return False
    if re.search(r"[=→←{}≈∝×·√<>^_]", stripped):  # formulas, mappings, code
        return False
    first = stripped[0]
    if not (first.isupper() or first.isdigit() or not first.isascii()):
        return False
    numbered = re.match(r"^\d+(\.\d+)*[.):]?\s+(?P<rest>.*)$", stripped)
    if numbered:  # "3. Pre-training Objectives" is a title; "1. Count the pairs" is a step
        return _title_like(numbered.group("rest"))
    label = re.match(r"^[^:]{1,60}:\s+(?P<rest>.+)$", stripped)
    if label:  # "Stage 2: Supervised Fine-Tuning" is a title; "Input: The [MASK] sat" is not
        return _title_like(label.group("rest"))
    return True


def _drop_mermaid(lines: list[str]) -> list[str]:
    out: list[str] = []
    in_diagram = False
    for line in lines:
        if _MERMAID_START.match(line):
            in_diagram = True
            continue
        if in_diagram:
            tail = _STYLE_TAIL.match(line)
            if tail:  # prose glued to the last style line belongs to the page
                out.append(tail.group("tail"))
                in_diagram = False
                continue
            if _MERMAID_LINE.match(line) and not _looks_like_prose(line):
                continue
            in_diagram = False
        out.append(line)
    return out


def _looks_like_prose(line: str) -> bool:
    words = line.split()
    return len(words) >= 8 and line.rstrip().endswith((".", ":", "?", "!")) and "-->" not in line


def _fence_box_diagrams(lines: list[str]) -> list[str]:
    """Wrap blocks drawn with box characters in code fences, so their labels stay diagram."""
    out: list[str] = []
    block: list[str] = []

    def flush() -> None:
        boxed = sum(1 for b in block if _BOX_CHARS & set(b))
        if block and boxed * 3 >= len(block) and boxed >= 2:
            out.extend(["```", *block, "```"])
        else:
            out.extend(block)
        block.clear()

    for line in lines:
        if line.strip():
            block.append(line)
        else:
            flush()
            out.append(line)
    flush()
    return out


def _plain_heading_level(heading: str) -> int:
    if re.match(r"^\d+\.\d+[:.)]?\s", heading):
        return 3
    if re.match(r"^\d+[.)]\s", heading) or not heading[0].isascii():
        return 2
    return 3


def clean_markdown(text: str) -> str:
    """Drop chrome lines and Mermaid blocks; keep headings, tables and fenced code intact."""
    lines = text.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    in_code = False
    skip_fence = False
    for line in lines:
        fence = line.lstrip().startswith(("```", "~~~"))
        if fence:
            if not in_code and line.strip().lower().lstrip("`~").startswith("mermaid"):
                skip_fence = True
            elif in_code and skip_fence:
                skip_fence = False
                in_code = False
                continue
            in_code = not in_code
            if skip_fence:
                continue
            out.append(line)
            continue
        if skip_fence:
            continue
        if not in_code and _CHROME_RE.match(line):
            continue
        out.append(line.rstrip())
    cleaned = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", cleaned).strip() + "\n"
