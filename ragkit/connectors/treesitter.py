"""JavaScript, TypeScript, Java, Go, Rust, C and C++ source as one chunk per definition (tree-sitter).

Definitions are functions, methods, classes, structs, interfaces, enums, traits, impls and Rust
macros (``Chunk.kind`` is that word). Methods are named after their type: ``"Class.method"``,
Go ``"Type.Method"`` from the receiver, Rust ``"Type.fn"`` inside ``impl Type`` (the impl chunk
itself is ``"impl Type"`` or ``"impl Trait for Type"``), C++ ``"Class.method"`` also for
out-of-class ``Class::method`` definitions. A comment block right above a definition (no blank
line between) and its decorators / attributes (``@Override``, ``#[derive(...)]``) are part of
its line range; the comment's text is ``metadata["docstring"]``. A C++ namespace, Rust ``mod``
or TypeScript namespace is recorded in ``metadata["namespace"]``, not in the symbol.

Grammars come from the per-language wheels (``tree-sitter-rust`` …), never from
``tree-sitter-language-pack`` (which downloads at run time). Every chunk's text is exactly its
line slice of the file, as for the Python connector.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, Iterator

import tree_sitter
from tree_sitter import Node

from ragkit.connectors.base import Connector, ConnectorWarning
from ragkit.connectors.languages import EXTENSIONS, TREE_SITTER_LANGUAGES, grammar_of, load_grammar
from ragkit.connectors.lines import read_source, source_lines, source_name, window_chunks
from ragkit.connectors.symbols import Definition, definition_chunks
from ragkit.connectors.treesitter_rules import RULES, Descend, Found, Rules
from ragkit.registry import register
from ragkit.types import Chunk

__all__ = ["TreeSitterConnector", "clean_comment"]

# with more than this share of lines inside ERROR nodes, a file is chunked as line windows
MAX_ERROR_SHARE = 0.5
_MAX_SIGNATURE = 300
_DECORATORS = frozenset({"decorator", "annotation", "marker_annotation"})
_COMMENT_MARK = re.compile(r"^(?:/\*+!?|//[/!]?|\*+/?)\s?")


def clean_comment(text: str) -> str:
    """The words of a comment without its markers (``//``, ``///``, ``/** … */``, leading ``*``)."""
    out = []
    for line in text.split("\n"):
        line = line.strip()
        if line.endswith("*/"):
            line = line[:-2].rstrip()
        out.append(_COMMENT_MARK.sub("", line, count=1).rstrip())
    while out and not out[0]:
        out.pop(0)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def _last_row(node: Node) -> int:
    """0-based last row of ``node`` (a node ending at column 0 ends on the row before)."""
    end = node.end_point
    if end.column == 0 and end.row > node.start_point.row:
        return end.row - 1
    return end.row


def _error_rows(root: Node) -> set[int]:
    """The 0-based rows covered by ERROR or MISSING nodes (and what parsed inside them)."""
    rows: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            rows.update(range(node.start_point.row, _last_row(node) + 1))
        elif node.has_error:
            stack.extend(node.children)
    return rows


class _Walker:
    """Collects ``Definition`` trees from a syntax tree with one language's ``Rules``."""

    def __init__(self, rules: Rules, data: bytes):
        self.rules = rules
        self.data = data

    def walk(
        self, container: Node, scope: tuple[str, ...] = (), in_type: bool = False,
        namespace: tuple[str, ...] = (),
    ) -> list[Definition]:
        defs: list[Definition] = []
        for node in container.named_children:
            if node.is_error:  # definitions that parsed inside an error region still count
                defs.extend(self.walk(node, scope, in_type, namespace))
                continue
            found = self.rules.classify(node)
            if isinstance(found, Descend):
                ns = namespace + ((found.namespace,) if found.namespace else ())
                defs.extend(self.walk(found.node, scope, in_type, ns))
            elif isinstance(found, Found):
                defs.append(self.definition(node, found, scope, in_type, namespace))
        return defs

    def definition(
        self, node: Node, found: Found, scope: tuple[str, ...], in_type: bool,
        namespace: tuple[str, ...],
    ) -> Definition:
        parts = tuple(p for p in found.parts if p) or ("<anonymous>",)
        kind = "method" if found.kind == "function" and in_type else found.kind
        lead = self.leading(node)
        docs = [n for n in lead if n.type in self.rules.comments]
        metadata: dict[str, Any] = {
            "docstring": "\n".join(clean_comment(_text(n)) for n in docs) or None,
            "decorators": [_text(n) for n in lead if n.type in self.rules.attributes]
            + self.decorators(node),
            "signature": self.signature(node, found.head_end),
        }
        if docs:
            metadata["docstring_lines"] = [docs[0].start_point.row + 1, _last_row(docs[-1]) + 1]
        if namespace:
            metadata["namespace"] = ".".join(namespace)
        children: list[Definition] = []
        if found.body is not None:
            member_scope = scope + (found.member_scope or parts)
            children = self.walk(found.body, member_scope, True, namespace)
        return Definition(
            kind=kind,
            symbol=".".join(scope + parts),
            start=(lead[0] if lead else node).start_point.row + 1,
            end=_last_row(node) + 1,
            children=children,
            metadata=metadata,
        )

    def leading(self, node: Node) -> list[Node]:
        """Comments and attributes right above ``node`` (no blank line), top first.

        A comment that shares its first line with earlier code (``x = 1; // note``) and
        Rust inner doc comments (``//!``, documenting the enclosing module) are not included.
        """
        kinds = self.rules.comments | self.rules.attributes
        chain: list[Node] = []
        top = node.start_point.row
        prev = node.prev_named_sibling
        while prev is not None and prev.type in kinds and _last_row(prev) >= top - 1:
            if prev.type in self.rules.comments and _text(prev).startswith(("//!", "/*!")):
                break
            chain.append(prev)
            top = prev.start_point.row
            prev = prev.prev_named_sibling
        boundary = _last_row(prev) if prev is not None else -1
        while chain and chain[-1].start_point.row <= boundary:
            boundary = _last_row(chain.pop())
        chain.reverse()
        return chain

    def decorators(self, node: Node) -> list[str]:
        """Decorators / annotations written inside the definition's own node (TS, Java)."""
        out = []
        for i, child in enumerate(node.named_children):
            if child.type in _DECORATORS:
                out.append(_text(child))
            elif child.type == "modifiers" or node.field_name_for_named_child(i) == "declaration":
                out.extend(_text(c) for c in child.named_children if c.type in _DECORATORS)
        return out

    def signature(self, node: Node, head_end: int | None) -> str:
        """The definition's header text up to its body, whitespace collapsed."""
        if head_end is None or head_end <= node.start_byte:
            head = _text(node).split("\n", 1)[0]
        else:
            head = self.data[node.start_byte : head_end].decode("utf-8", errors="replace")
        head = " ".join(head.split())
        return head[:_MAX_SIGNATURE]


def _text(node: Node) -> str:
    return node.text.decode("utf-8", errors="replace") if node.text else ""


@register("connector", "tree-sitter")
class TreeSitterConnector(Connector):
    """Source files in JavaScript, TypeScript, Java, Go, Rust, C and C++ as definition chunks.

    Metadata of definition chunks: ``docstring`` (the comment right above, cleaned, or
    ``None``), ``docstring_lines`` ([first, last] file lines of that comment), ``decorators``,
    ``signature`` (the header up to the body), ``namespace`` (when inside one) and ``part``
    (when a definition over the token budget is cut into line windows). Code outside
    definitions becomes ``kind="module"`` chunks. ``.h`` files are parsed as C, then as C++
    when C does not parse them.

    Args:
        max_tokens: token budget per chunk.
        overlap_tokens: about this many tokens of whole lines repeat between windows.
        tokenizer: what measures tokens (``"minilm"`` or ``"whitespace"``), see ``Chunker``.
    """


    def __init__(self, max_tokens: int = 256, overlap_tokens: int = 32, tokenizer: str = "minilm"):
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.tokenizer = tokenizer

    def parse(self, path: str | Path, source: str | None = None) -> Iterator[Chunk]:
        """Yield the chunks of one source file, in line order.

        A file with syntax errors gives a ``ConnectorWarning``; the definitions that parsed are
        still used unless more than half of its lines are in error regions outside them:
        then the file is chunked as line windows (``kind="window"``).

        Raises:
            ParseError: the file cannot be read or looks binary.
            ValueError: the extension is not a tree-sitter language (use ``connector_for``).
        """
        grammar = grammar_of(path)
        if grammar is None:
            raise ValueError(
                f"{path}: no tree-sitter grammar for this extension; use "
                f"ragkit.connectors.languages.connector_for(path) to pick a connector"
            )
        yield from self.chunks(read_source(path), source_name(path, source), grammar)

    def chunks(self, text: str, source: str, grammar: str) -> list[Chunk]:
        """The chunks of ``text`` (``\\n`` newlines) parsed with ``grammar``, recorded as ``source``."""
        lines = source_lines(text)
        data = text.encode("utf-8")
        root = tree_sitter.Parser(load_grammar(grammar)).parse(data).root_node
        if root.has_error and grammar == "c" and source.lower().endswith(".h"):
            alt = tree_sitter.Parser(load_grammar("cpp")).parse(data).root_node
            if len(_error_rows(alt)) < len(_error_rows(root)):
                root, grammar = alt, "cpp"
        language = "typescript" if grammar == "tsx" else grammar
        rules = RULES[grammar]
        defs = _Walker(rules, data).walk(root)
        if root.has_error:
            parsed = {row for d in defs for row in range(d.start - 1, d.end)}
            share = len(_error_rows(root) - parsed) / max(1, len(lines))
            fallback = share > MAX_ERROR_SHARE
            warnings.warn(
                f"{source}: {share:.0%} of its lines are in {language} syntax errors; "
                + ("it was chunked as line windows" if fallback else "chunks may be imprecise"),
                ConnectorWarning,
                stacklevel=2,
            )
            if fallback:
                return window_chunks(
                    lines, 1, len(lines), chunker=self.chunker, source=source, kind="window",
                    language=language,
                )
        return definition_chunks(
            defs, lines, chunker=self.chunker, source=source, language=language,
            line_comment=rules.line_comment,
        )
