"""Python source as one chunk per function, class and method, parsed with the standard ``ast``.

Line ranges include decorators and end at the definition's last line, so every chunk's text is
exactly its line slice of the file. A class chunk holds the class header, docstring and
class-level statements; its methods are chunks of their own (``symbol="Class.method"``,
nested classes ``"Outer.Inner.method"``). Module-level assignments are named chunks
(``kind="constant"`` / ``"variable"``, see ``python_constants``); imports and other module-level
code become ``kind="module"`` chunks. A file that does not parse falls back to line windows.

A ``#`` comment block right above a definition or assignment (same indentation, no blank line
between) belongs to it, as the tree-sitter connector does for doc comments: its lines start the
chunk, so ``# How close the DST periods have to be`` is indexed with ``_DST_CONSENSUS_WINDOW =
…`` instead of being dropped as a comment-only run of module code.

Importing this module also registers the other code connectors: ``"tree-sitter"``
(JavaScript, TypeScript, Java, Go, Rust, C, C++) and ``"lines"`` (any other text file);
``ragkit.connectors.languages.connector_for(path)`` picks one by extension.
"""

from __future__ import annotations

import ast
import io
import tokenize
import warnings
from pathlib import Path
from typing import Any, Iterator

from ragkit.connectors import treesitter as _treesitter  # noqa: F401  (registers "tree-sitter")
from ragkit.connectors.base import Connector, ConnectorWarning, ParseError
from ragkit.connectors.lines import (  # also registers "lines"
    decode_source,
    source_lines,
    source_name,
    window_chunks,
)
from ragkit.connectors.python_comments import leading_comment
from ragkit.connectors.python_constants import python_assignments
from ragkit.connectors.symbols import Definition, definition_chunks
from ragkit.registry import register
from ragkit.types import Chunk

__all__ = ["PythonConnector", "python_definitions"]

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_BLOCKS = (ast.If, ast.Try, ast.With, ast.AsyncWith) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())


def read_python(path: str | Path) -> str:
    """The text of a Python file, decoded per its coding cookie (PEP 263), ``\\n`` newlines.

    Raises:
        ParseError: the file cannot be read or looks binary.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ParseError(f"cannot read {path}: {exc}") from exc
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:  # an unknown coding cookie: decode as UTF-8 and let ast report it
        encoding = "utf-8-sig"
    return decode_source(data, path, encoding)


def _segment(line: str, col: int) -> str:
    """``line`` up to the UTF-8 byte offset ``col`` (ast offsets count bytes)."""
    return line.encode("utf-8")[:col].decode("utf-8", errors="ignore")


def _node_source(node: ast.expr, lines: list[str]) -> str:
    """The source text of ``node`` (like ``ast.get_source_segment``, without re-splitting)."""
    first, last = node.lineno, node.end_lineno or node.lineno
    head = lines[first - 1].encode("utf-8")
    if first == last:
        return head[node.col_offset : node.end_col_offset].decode("utf-8", errors="replace")
    tail = lines[last - 1].encode("utf-8")[: node.end_col_offset]
    return "\n".join(
        [head[node.col_offset :].decode("utf-8", errors="replace")]
        + lines[first : last - 1]
        + [tail.decode("utf-8", errors="replace")]
    )


def _docstring_lines(node: ast.AST, lines: list[str]) -> list[int] | None:
    """[first, last] lines of the docstring when it has those lines to itself, else ``None``."""
    body = getattr(node, "body", None)
    if not body or not isinstance(body[0], ast.Expr):
        return None
    expr = body[0]
    if not (isinstance(expr.value, ast.Constant) and isinstance(expr.value.value, str)):
        return None
    first, last = expr.lineno, expr.end_lineno or expr.lineno
    before = _segment(lines[first - 1], expr.col_offset).strip()
    after = lines[last - 1].encode("utf-8")[expr.end_col_offset or 0 :].decode("utf-8", "ignore")
    if before or (after.strip() and not after.strip().startswith("#")):
        return None
    return [first, last]


def _metadata(node: ast.AST, lines: list[str]) -> dict[str, Any]:
    """docstring, docstring_lines, decorators (as written) and signature of a def or class."""
    decorators = ["@" + _node_source(d, lines) for d in node.decorator_list]
    if isinstance(node, ast.ClassDef):
        bases = [ast.unparse(b) for b in node.bases] + [ast.unparse(k) for k in node.keywords]
        signature = f"class {node.name}" + (f"({', '.join(bases)})" if bases else "")
    else:
        prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
        signature = f"{prefix} {node.name}({ast.unparse(node.args)})"
        if node.returns is not None:
            signature += f" -> {ast.unparse(node.returns)}"
    meta: dict[str, Any] = {
        "docstring": ast.get_docstring(node, clean=True),
        "decorators": decorators,
        "signature": signature,
    }
    doc_lines = _docstring_lines(node, lines)
    if doc_lines is not None:
        meta["docstring_lines"] = doc_lines
    return meta


def python_definitions(
    body: list[ast.stmt], lines: list[str], scope: tuple[str, ...] = (), in_class: bool = False
) -> list[Definition]:
    """The function / class / method definitions in a statement list, as ``Definition`` trees.

    Definitions inside ``if`` / ``try`` / ``with`` blocks (``if TYPE_CHECKING:``, optional
    imports) are found too; the block's own lines stay with the enclosing code. Functions
    nested in functions are part of their enclosing function's chunk.
    """
    defs: list[Definition] = []
    for node in body:
        if isinstance(node, _FUNCS + (ast.ClassDef,)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            comment = leading_comment(lines, start)
            if comment is not None:
                start = comment[0]
            qual = scope + (node.name,)
            is_class = isinstance(node, ast.ClassDef)
            defs.append(
                Definition(
                    kind="class" if is_class else ("method" if in_class else "function"),
                    symbol=".".join(qual),
                    start=start,
                    end=node.end_lineno or node.lineno,
                    children=python_definitions(node.body, lines, qual, True) if is_class else [],
                    metadata=_metadata(node, lines),
                )
            )
        elif isinstance(node, _BLOCKS):
            for block in (
                node.body,
                getattr(node, "orelse", []),
                getattr(node, "finalbody", []),
                *[h.body for h in getattr(node, "handlers", [])],
            ):
                defs.extend(python_definitions(block, lines, scope, in_class))
    return defs


@register("connector", "python")
class PythonConnector(Connector):
    """Python files as function / class / method / module chunks (``ast``; ``language="python"``).

    Metadata of definition chunks: ``docstring`` (cleaned, or ``None``), ``docstring_lines``
    ([first, last] file lines, when the docstring has its lines to itself), ``decorators``
    (as written, with ``@``) and ``signature`` (``"def f(a, b=1) -> int"``); a definition over
    the token budget is cut into consecutive line windows, each with ``metadata["part"]``.

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
        """Yield the chunks of one Python file, in line order.

        A file with a syntax error gives a ``ConnectorWarning`` and line windows
        (``kind="window"``). An empty file gives no chunks.

        Raises:
            ParseError: the file cannot be read or looks binary.
        """
        text = read_python(path)
        yield from self.chunks(text, source_name(path, source))

    def chunks(self, text: str, source: str) -> list[Chunk]:
        """The chunks of Python source ``text`` (``\\n`` newlines) recorded as ``source``."""
        lines = source_lines(text)
        try:
            tree = ast.parse(text, filename=source)
        except (SyntaxError, RecursionError) as exc:
            where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) and exc.lineno else ""
            warnings.warn(
                f"{source} does not parse as Python{where}: {exc.__class__.__name__}; "
                f"it was chunked as line windows",
                ConnectorWarning,
                stacklevel=2,
            )
            return window_chunks(
                lines, 1, len(lines), chunker=self.chunker, source=source, kind="window",
                language="python",
            )
        defs = python_definitions(tree.body, lines) + python_assignments(tree.body, lines)
        return definition_chunks(
            defs, lines, chunker=self.chunker, source=source, language="python", line_comment="#"
        )
