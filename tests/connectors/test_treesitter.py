"""Tree-sitter connector: one realistic sample per language parses into the expected symbols."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ragkit.connectors.base import ConnectorWarning
from ragkit.connectors.treesitter import TreeSitterConnector, clean_comment
from ragkit.types import Chunk

SAMPLES = Path(__file__).parent / "samples"

# (file, language, [(symbol, kind) of definition chunks in line order])
EXPECTED = {
    "shapes.js": ("javascript", [
        ("circleArea", "function"),
        ("Point", "class"),
        ("Point.constructor", "method"),
        ("Point.distanceTo", "method"),
        ("Point.origin", "method"),
        ("lerp", "function"),
        ("Rect", "class"),
        ("Rect.area", "method"),
        ("range", "function"),
    ]),
    "store.ts": ("typescript", [
        ("User", "interface"),
        ("Role", "enum"),
        ("UserStore", "class"),
        ("UserStore.add", "method"),
        ("UserStore.get", "method"),
        ("UserStore.size", "method"),
        ("search", "function"),
        ("greet", "function"),
        ("isEmail", "function"),
    ]),
    "Account.java": ("java", [
        ("Account", "class"),
        ("Account.Account", "method"),
        ("Account.deposit", "method"),
        ("Account.toString", "method"),
        ("Account.Transaction", "class"),
        ("Account.Transaction.Transaction", "method"),
        ("Account.Kind", "enum"),
        ("Account.Kind.isCredit", "method"),
        ("Auditable", "interface"),
        ("Auditable.auditTrail", "method"),
    ]),
    "cache.go": ("go", [
        ("Cache", "struct"),
        ("entry", "struct"),
        ("Getter", "interface"),
        ("New", "function"),
        ("Cache.Get", "method"),
        ("Cache.Put", "method"),
        ("entry.String", "method"),
    ]),
    "stack.rs": ("rust", [
        ("Stack", "struct"),
        ("StackError", "enum"),
        ("impl Stack", "impl"),
        ("Stack.new", "method"),
        ("Stack.push", "method"),
        ("Stack.pop", "method"),
        ("Sized2", "trait"),
        ("Sized2.is_empty", "method"),
        ("impl fmt::Display for Stack", "impl"),
        ("Stack.fmt", "method"),
        ("total", "function"),
        ("push_then_pop", "function"),
    ]),
    "buffer.c": ("c", [
        ("buffer", "struct"),
        ("buf_status", "enum"),
        ("buffer_reserve", "function"),
        ("buffer_append", "function"),
        ("buffer_cstr", "function"),
        ("buffer_free", "function"),
    ]),
    "matrix.cpp": ("cpp", [
        ("Matrix", "class"),
        ("Matrix.Matrix", "method"),
        ("Matrix.at", "method"),
        ("Matrix.rows", "method"),
        ("Matrix.operator*", "method"),
        ("Point", "struct"),
        ("max_of", "function"),
        ("main", "function"),
    ]),
}


def file_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return text[:-1].split("\n") if text.endswith("\n") else text.split("\n")


def assert_exact_slices(chunks: list[Chunk], path: Path) -> None:
    lines = file_lines(path)
    for c in chunks:
        assert 1 <= c.start_line <= c.end_line <= len(lines), c.location
        assert c.text == "\n".join(lines[c.start_line - 1 : c.end_line]), c.location


@pytest.fixture(scope="module")
def conn() -> TreeSitterConnector:
    return TreeSitterConnector(tokenizer="whitespace")


def parse(conn: TreeSitterConnector, name: str) -> list[Chunk]:
    return list(conn.parse(SAMPLES / name))


def first(chunks: list[Chunk], symbol: str) -> Chunk:
    return next(c for c in chunks if c.symbol == symbol)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_parses_into_expected_symbols(conn, name, recwarn):
    language, expected = EXPECTED[name]
    path = SAMPLES / name
    chunks = parse(conn, name)
    assert not [w for w in recwarn if issubclass(w.category, ConnectorWarning)]
    assert_exact_slices(chunks, path)
    assert {c.language for c in chunks} == {language}
    defs = [(c.symbol, c.kind) for c in chunks if c.symbol and c.metadata.get("part", 0) == 0]
    assert defs == expected
    # chunks do not share lines: class chunks hold no method bodies
    seen: set[int] = set()
    for c in chunks:
        rows = set(range(c.start_line, c.end_line + 1))
        assert not rows & seen, c.location
        seen |= rows
    # every line with code of its own is in some chunk
    lines = file_lines(path)
    for number, line in enumerate(lines, start=1):
        code = re.sub(r"//.*|/\*.*", "", line)
        if re.search(r"\w", code) and not line.lstrip().startswith(("*", "/*", "//")):
            assert number in seen, f"{name}:{number} {line!r} is in no chunk"


@pytest.mark.parametrize(
    ("name", "symbol", "doc_start"),
    [
        ("shapes.js", "circleArea", "Area of a circle."),
        ("store.ts", "UserStore.add", "Add a user and emit `added`."),
        ("Account.java", "Account.deposit", "Deposits a positive amount."),
        ("cache.go", "Cache.Get", "Get returns the value for key and marks it recently used."),
        ("stack.rs", "Stack.push", "Pushes an item, or fails when the stack is full."),
        ("buffer.c", "buffer_append", "Append `n` bytes from `src`."),
        ("matrix.cpp", "Matrix.at", "Element access with bounds checking."),
    ],
)
def test_doc_comment_above_is_in_range_and_metadata(conn, name, symbol, doc_start):
    chunk = first(parse(conn, name), symbol)
    lines = file_lines(SAMPLES / name)
    assert chunk.metadata["docstring"].startswith(doc_start)
    first_doc, last_doc = chunk.metadata["docstring_lines"]
    assert first_doc == chunk.start_line
    assert doc_start in lines[first_doc - 1] or doc_start in lines[first_doc]
    assert last_doc < chunk.end_line
    assert chunk.text.splitlines()[0].lstrip().startswith(("/", "*"))


def test_comment_separated_by_blank_line_is_not_a_docstring(conn):
    chunks = parse(conn, "shapes.js")
    # "// Geometry helpers …" is followed by an import, and "export class Rect" has no comment
    assert first(chunks, "Rect").metadata["docstring"] is None
    assert first(chunks, "Point.origin").metadata["docstring"] is None
    stack = parse(conn, "stack.rs")
    # the `//!` inner doc comment documents the module, not the next item
    assert all("bounded stack" not in (c.metadata.get("docstring") or "") for c in stack)


def test_blank_line_ends_a_rust_doc_comment(tmp_path, conn):
    # tree-sitter-rust line comments end on the next row, column 0: still not adjacent
    path = tmp_path / "lib.rs"
    path.write_text("// section: helpers\n\n/// Doubles x.\nfn double(x: i32) -> i32 {\n    x * 2\n}\n")
    chunks = list(conn.parse(path))
    double = first(chunks, "double")
    assert (double.start_line, double.end_line) == (3, 6)
    assert double.metadata["docstring"] == "Doubles x."
    assert double.metadata["docstring_lines"] == [3, 3]


def test_decorators_attributes_and_annotations(conn):
    rust = parse(conn, "stack.rs")
    assert first(rust, "Stack").metadata["decorators"] == ["#[derive(Debug, Clone)]"]
    test_fn = first(rust, "push_then_pop")
    assert test_fn.metadata["decorators"] == ["#[test]"]
    assert test_fn.text.startswith("    #[test]")
    assert test_fn.metadata["namespace"] == "tests"
    java = parse(conn, "Account.java")
    to_string = first(java, "Account.toString")
    assert to_string.metadata["decorators"] == ["@Override"]
    assert to_string.text.lstrip().startswith("@Override")


def test_signatures(conn):
    assert first(parse(conn, "cache.go"), "Cache.Put").metadata["signature"] == (
        "func (c *Cache) Put(key string, value any)"
    )
    assert first(parse(conn, "matrix.cpp"), "max_of").metadata["signature"] == (
        "template <typename T> T max_of(const T& a, const T& b)"
    )
    assert first(parse(conn, "shapes.js"), "lerp").metadata["signature"] == (
        "export const lerp = (a, b, t) =>"
    )


def test_class_chunk_is_header_and_fields_only(conn):
    java = parse(conn, "Account.java")
    account = [c for c in java if c.symbol == "Account"]
    assert len(account) == 1
    assert "private final String owner;" in account[0].text
    assert "balance.add(amount)" not in account[0].text
    cpp = parse(conn, "matrix.cpp")
    matrix = [c for c in cpp if c.symbol == "Matrix"]
    assert [c.metadata["part"] for c in matrix] == [0, 1]
    assert "std::vector<double> data_;" in matrix[1].text
    assert all(c.metadata["namespace"] == "linalg" for c in matrix)


def test_tsx_and_cpp_header(tmp_path, conn):
    tsx = tmp_path / "Button.tsx"
    tsx.write_text(
        "/** A button. */\n"
        "export function Button({ label }: { label: string }) {\n"
        "  return <button className=\"btn\">{label}</button>;\n"
        "}\n"
    )
    (button,) = list(conn.parse(tsx))
    assert (button.symbol, button.kind, button.language) == ("Button", "function", "typescript")
    assert button.start_line == 1 and button.metadata["docstring"] == "A button."
    header = tmp_path / "vec.h"
    header.write_text("class Vec {\npublic:\n  int size() const { return n; }\n  int n;\n};\n")
    chunks = list(conn.parse(header))
    assert {c.language for c in chunks} == {"cpp"}
    assert [c.symbol for c in chunks] == ["Vec", "Vec.size", "Vec"]


def test_partial_syntax_errors_keep_what_parsed(tmp_path, conn):
    path = tmp_path / "bad.js"
    path.write_text(
        "function ok(a) {\n  return a + 1;\n}\n\n"
        "function broken( {\n  return ;\n}\n\n"
        "class Fine {\n  m() { return 2; }\n}\n"
    )
    with pytest.warns(ConnectorWarning, match="syntax errors"):
        chunks = list(conn.parse(path))
    assert_exact_slices(chunks, path)
    assert [c.symbol for c in chunks if c.symbol] == ["ok", "Fine", "Fine.m"]


def test_mostly_broken_file_falls_back_to_windows(tmp_path, conn):
    path = tmp_path / "junk.go"
    path.write_text("this is ( not } go at all ]]] {{{\nreally not\n")
    with pytest.warns(ConnectorWarning, match="line windows"):
        chunks = list(conn.parse(path))
    assert [(c.kind, c.language) for c in chunks] == [("window", "go")]
    assert_exact_slices(chunks, path)


def test_long_definition_split_into_parts(tmp_path):
    body = "\n".join(f"    let v{i} = compute({i}) * factor;" for i in range(50))
    path = tmp_path / "long.rs"
    path.write_text(f"/// Many steps.\nfn long_steps(factor: i64) -> i64 {{\n{body}\n    0\n}}\n")
    conn = TreeSitterConnector(max_tokens=40, overlap_tokens=4, tokenizer="whitespace")
    chunks = list(conn.parse(path))
    assert_exact_slices(chunks, path)
    assert len(chunks) > 2 and {c.symbol for c in chunks} == {"long_steps"}
    assert [c.metadata["part"] for c in chunks] == list(range(len(chunks)))
    assert chunks[0].start_line == 1 and chunks[-1].end_line == 54


def test_unknown_extension_is_refused(tmp_path, conn):
    path = tmp_path / "x.py"
    path.write_text("x = 1\n")
    with pytest.raises(ValueError, match="connector_for"):
        list(conn.parse(path))


def test_clean_comment():
    assert clean_comment("/**\n * Deposits.\n *\n * @param a x\n */") == "Deposits.\n\n@param a x"
    assert clean_comment("/// Creates an empty stack.") == "Creates an empty stack."
    assert clean_comment("// Get returns it.") == "Get returns it."
    assert clean_comment("/* A buffer. */") == "A buffer."
