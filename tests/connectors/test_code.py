"""Python connector (ast), the line-window fallback and connector dispatch by extension."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ragkit.connectors.base import ConnectorWarning, ParseError
from ragkit.connectors.code import PythonConnector
from ragkit.connectors.dispatch import connector_for
from ragkit.connectors.languages import connector_name, language_of
from ragkit.connectors.lines import LineWindowConnector
from ragkit.connectors.python_comments import leading_comment
from ragkit.registry import build
from ragkit.types import Chunk

SAMPLES = Path(__file__).parent / "samples"
RAGKIT = Path(__file__).resolve().parents[2] / "ragkit"


def file_lines(path: Path) -> list[str]:
    """The file's lines as the connectors number them (universal newlines)."""
    text = path.read_text(encoding="utf-8")
    return text[:-1].split("\n") if text.endswith("\n") else text.split("\n")


def assert_exact_slices(chunks: list[Chunk], path: Path) -> None:
    lines = file_lines(path)
    for c in chunks:
        assert 1 <= c.start_line <= c.end_line <= len(lines), c.location
        assert c.text == "\n".join(lines[c.start_line - 1 : c.end_line]), c.location


def by_symbol(chunks: list[Chunk]) -> dict[str, Chunk]:
    return {c.symbol: c for c in chunks if c.symbol and "part" not in c.metadata}


@pytest.fixture
def py() -> PythonConnector:
    return PythonConnector(tokenizer="whitespace")


def test_sample_symbols_kinds_and_exact_slices(py):
    path = SAMPLES / "inventory.py"
    chunks = list(py.parse(path))
    assert_exact_slices(chunks, path)
    defs = [(c.symbol, c.kind) for c in chunks if c.symbol]
    assert defs == [
        ("DEFAULT_CURRENCY", "constant"),  # a module-level assignment is its own named chunk
        ("money", "function"),
        ("Item", "class"),
        ("Item.price", "method"),
        ("Item.Meta", "class"),
        ("Item.Meta.describe", "method"),
        ("Inventory", "class"),
        ("Inventory.__init__", "method"),
        ("Inventory.add", "method"),
        ("Inventory.total", "method"),
        ("Inventory", "class"),  # the class-level statement after the methods
        ("restock", "function"),
    ]
    assert all(c.language == "python" and c.source == path.as_posix() for c in chunks)
    assert [c.start_line for c in chunks] == sorted(c.start_line for c in chunks)


def test_ranges_start_at_decorators_and_match_ast(py):
    path = SAMPLES / "inventory.py"
    lines = file_lines(path)
    chunks = by_symbol(list(py.parse(path)))
    total = chunks["Inventory.total"]
    assert lines[total.start_line - 1].strip() == "@functools.lru_cache(maxsize=None)"
    assert total.metadata["decorators"] == ["@functools.lru_cache(maxsize=None)", "@staticmethod"]
    assert total.text.splitlines()[-1].strip() == "return sum(prices)"
    item = chunks["Item"]
    assert lines[item.start_line - 1] == "@dataclass(frozen=True)"
    assert item.metadata["signature"] == "class Item"
    # every def's range is [first decorator, end_lineno] as ast reports it
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in (
            "money",
            "restock",
        ):
            c = chunks[node.name]
            assert (c.start_line, c.end_line) == (node.lineno, node.end_lineno)


def test_class_chunk_has_header_not_method_bodies(py):
    chunks = list(py.parse(SAMPLES / "inventory.py"))
    item = by_symbol(chunks)["Item"]
    assert "sku: str" in item.text and "One stock-keeping unit." in item.text
    assert "return money(self.price_cents)" not in item.text
    assert "class Meta" not in item.text
    inventory_parts = [c for c in chunks if c.symbol == "Inventory"]
    assert [c.metadata["part"] for c in inventory_parts] == [0, 1]
    assert "MAX_ITEMS" in inventory_parts[1].text
    assert "def " not in inventory_parts[1].text
    # no line belongs to two chunks (nothing is duplicated)
    seen: set[int] = set()
    for c in chunks:
        rows = set(range(c.start_line, c.end_line + 1))
        assert not rows & seen, c.location
        seen |= rows


def test_metadata_docstring_signature(py):
    chunks = by_symbol(list(py.parse(SAMPLES / "inventory.py")))
    money = chunks["money"]
    assert money.metadata["docstring"] == "Format an amount of cents as a price string."
    assert money.metadata["signature"].startswith("def money(cents: int, currency: str")
    assert money.metadata["signature"].endswith(") -> str")
    assert money.metadata["docstring_lines"] == [money.start_line + 1, money.start_line + 1]
    restock = chunks["restock"]
    assert restock.metadata["signature"].startswith("async def restock(")
    assert "skus: list[str], *, batch: int" in restock.metadata["signature"]
    assert chunks["Item.Meta.describe"].metadata["docstring"] is None


def test_module_level_code_is_module_chunks(py):
    chunks = list(py.parse(SAMPLES / "inventory.py"))
    modules = [c for c in chunks if c.kind == "module"]
    assert len(modules) == 2
    assert "import functools" in modules[0].text and 'DEFAULT_CURRENCY = "EUR"' not in modules[0].text
    constant = next(c for c in chunks if c.kind == "constant")
    assert constant.symbol == "DEFAULT_CURRENCY" and 'DEFAULT_CURRENCY = "EUR"' in constant.text
    assert modules[0].text.startswith('"""A tiny inventory model')
    assert modules[1].text.startswith('if __name__ == "__main__":')
    assert all(c.symbol is None for c in modules)


def test_long_function_is_split_into_exact_parts(tmp_path):
    body = "\n".join(f"    total += value_{i} * weight_{i}  # step {i}" for i in range(60))
    path = tmp_path / "long.py"
    path.write_text(f"def long_sum():\n    total = 0\n{body}\n    return total\n")
    conn = PythonConnector(max_tokens=40, overlap_tokens=5, tokenizer="whitespace")
    chunks = list(conn.parse(path))
    assert_exact_slices(chunks, path)
    assert len(chunks) > 3 and all(c.symbol == "long_sum" and c.kind == "function" for c in chunks)
    assert [c.metadata["part"] for c in chunks] == list(range(len(chunks)))
    assert chunks[0].start_line == 1 and chunks[-1].end_line == 63
    assert all(conn._chunker.count(c.text) <= 40 for c in chunks)
    for a, b in zip(chunks, chunks[1:]):  # consecutive, overlapping a little, never a gap
        assert a.start_line < b.start_line <= a.end_line + 1


def test_definitions_in_if_and_try_blocks(tmp_path, py):
    path = tmp_path / "compat.py"
    path.write_text(
        "import sys\n"
        "try:\n"
        "    from fast import speedup\n"
        "except ImportError:\n"
        "    def speedup(x):\n"
        "        return x\n"
        "if sys.version_info >= (3, 12):\n"
        "    class Box:\n"
        "        def get(self):\n"
        "            return 1\n"
    )
    chunks = list(py.parse(path))
    assert_exact_slices(chunks, path)
    assert {(c.symbol, c.kind) for c in chunks if c.symbol} == {
        ("speedup", "function"),
        ("Box", "class"),
        ("Box.get", "method"),
    }


def test_syntax_error_falls_back_to_windows(tmp_path, py):
    path = tmp_path / "broken.py"
    path.write_text("def ok():\n    return 1\n\ndef broken(:\n    pass\n")
    with pytest.warns(ConnectorWarning, match="line 4"):
        chunks = list(py.parse(path))
    assert [c.kind for c in chunks] == ["window"]
    assert chunks[0].language == "python"
    assert_exact_slices(chunks, path)


def test_crlf_bom_and_coding_cookie(tmp_path, py):
    crlf = tmp_path / "crlf.py"
    crlf.write_bytes(b"\xef\xbb\xbfX = 1\r\n\r\ndef f():\r\n    return X\r\n")
    chunks = by_symbol(list(py.parse(crlf)))
    assert (chunks["f"].start_line, chunks["f"].text) == (3, "def f():\n    return X")
    latin = tmp_path / "latin.py"
    latin.write_bytes("# -*- coding: latin-1 -*-\ndef caf\u00e9():\n    return '\u00e9'\n".encode("latin-1"))
    chunks = by_symbol(list(py.parse(latin)))
    assert chunks["caf\u00e9"].text == "def caf\u00e9():\n    return '\u00e9'"


def test_empty_and_binary_files(tmp_path, py):
    empty = tmp_path / "__init__.py"
    empty.write_text("")
    assert list(py.parse(empty)) == []
    binary = tmp_path / "blob.py"
    binary.write_bytes(b"\x00\x01\x02def")
    with pytest.raises(ParseError, match="binary"):
        list(py.parse(binary))
    with pytest.raises(ParseError, match="cannot read"):
        list(py.parse(tmp_path / "missing.py"))


def test_source_name_and_config_round_trip(py):
    chunks = list(py.parse(SAMPLES / "inventory.py", source="pkg/inventory.py"))
    assert {c.source for c in chunks} == {"pkg/inventory.py"}
    config = py.to_config()
    assert config == {"type": "python", "max_tokens": 256, "overlap_tokens": 32, "tokenizer": "whitespace"}
    assert build("connector", config).to_config() == config


def _top_level_defs(tree: ast.Module, lines: list[str]) -> set[tuple[str, int, int]]:
    """(name, first line incl. decorators and the comment block above, last line) of every def not nested in a function."""
    out: set[tuple[str, int, int]] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            is_func = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if is_func and not in_function:
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                comment = leading_comment(lines, first)
                out.add((child.name, comment[0] if comment else first, child.end_lineno))
            visit(child, in_function or is_func)

    visit(tree, False)
    return out


def test_ragkit_source_tree_slices_back_exactly():
    """The acceptance criterion: every function / method chunk of ragkit's own code is exact."""
    conn = PythonConnector(tokenizer="whitespace")
    files = sorted(RAGKIT.rglob("*.py"))
    assert len(files) > 10
    checked = 0
    for path in files:
        chunks = list(conn.parse(path))
        assert_exact_slices(chunks, path)
        spans: dict[str, list[Chunk]] = {}
        for c in chunks:
            if c.kind in ("function", "method"):
                spans.setdefault((c.symbol, c.metadata.get("signature")), []).append(c)
        found = {
            (symbol.rsplit(".", 1)[-1], parts[0].start_line, parts[-1].end_line)
            for (symbol, _), parts in spans.items()
        }
        text = path.read_text(encoding="utf-8")
        assert found == _top_level_defs(ast.parse(text), text.split("\n")), path
        checked += len(found)
    assert checked > 100


# -- line windows and dispatch ---------------------------------------------------------------
def test_unknown_extension_gets_line_windows(tmp_path):
    path = tmp_path / "notes.xyz"
    path.write_text("\n".join(f"line {i} with a few words" for i in range(40)) + "\n\n\n")
    conn = connector_for(path, {"max_tokens": 30, "overlap_tokens": 5, "tokenizer": "whitespace"})
    assert isinstance(conn, LineWindowConnector)
    chunks = list(conn.parse(path))
    assert_exact_slices(chunks, path)
    assert len(chunks) > 1 and {c.kind for c in chunks} == {"window"}
    assert {c.language for c in chunks} == {None}
    assert chunks[0].start_line == 1 and chunks[-1].end_line == 40
    covered = set().union(*(range(c.start_line, c.end_line + 1) for c in chunks))
    assert covered == set(range(1, 41))


def test_line_windows_language_and_binary(tmp_path):
    conn = LineWindowConnector(tokenizer="whitespace")
    yaml = tmp_path / "config.yaml"
    yaml.write_text("name: demo\nsize: 3\n")
    (chunk,) = conn.parse(yaml)
    assert (chunk.language, chunk.text) == ("yaml", "name: demo\nsize: 3")
    blob = tmp_path / "image.bin"
    blob.write_bytes(b"\x89PNG\x00\x00data")
    with pytest.raises(ParseError, match="binary"):
        list(conn.parse(blob))


@pytest.mark.parametrize(
    ("name", "expected", "language"),
    [
        ("paper.PDF", "pdf", None),
        ("README.md", "text", None),
        ("notes.txt", "text", None),
        ("guide.rst", "text", None),
        ("app.py", "python", "python"),
        ("types.pyi", "python", "python"),
        ("ui.tsx", "tree-sitter", "typescript"),
        ("index.mjs", "tree-sitter", "javascript"),
        ("Main.java", "tree-sitter", "java"),
        ("main.go", "tree-sitter", "go"),
        ("lib.rs", "tree-sitter", "rust"),
        ("util.h", "tree-sitter", "c"),
        ("vec.hpp", "tree-sitter", "cpp"),
        ("run.sh", "lines", "bash"),
        ("Makefile", "lines", "make"),
        ("data.unknown", "lines", None),
    ],
)
def test_connector_name_and_language(name, expected, language):
    assert connector_name(name) == expected
    assert language_of(name) == language


def test_connector_for_builds_registered_connectors_and_caches():
    cache: dict = {}
    chunker = {"max_tokens": 64, "overlap_tokens": 8, "tokenizer": "whitespace"}
    py = connector_for("a/b.py", chunker, cache)
    assert py.registered_name == "python" and py.max_tokens == 64
    assert connector_for("c.py", chunker, cache) is py
    assert connector_for("x.rs", chunker, cache).registered_name == "tree-sitter"
    assert connector_for("notes.md", chunker, cache).registered_name == "text"
    assert connector_for("paper.pdf", chunker, cache).registered_name == "pdf"
    assert sorted(cache) == ["pdf", "python", "text", "tree-sitter"]
