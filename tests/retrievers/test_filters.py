from __future__ import annotations

import pytest

from ragkit.indexes.store import ChunkStore
from ragkit.retrievers.filters import allowed_ids, compile_filters, glob_regex
from ragkit.types import Chunk


@pytest.mark.parametrize(
    ("pattern", "path", "ok"),
    [
        ("src/*.py", "src/claims.py", True),
        ("src/*.py", "src/net/router.py", False),
        ("src/**/*.py", "src/net/router.py", True),
        ("src/**/*.py", "src/claims.py", True),
        ("**/*.md", "docs/manual.md", True),
        ("docs/?anual.md", "docs/manual.md", True),
        ("docs/*", "docs/sub/a.md", False),
        ("docs/**", "docs/sub/a.md", True),
        ("*.md", "docs/manual.md", False),
        ("a+b.txt", "a+b.txt", True),
    ],
)
def test_path_globs(pattern, path, ok):
    assert bool(glob_regex(pattern).match(path)) is ok


def test_filters_combine_keys_with_and_and_values_with_or():
    chunks = [
        Chunk(text="a", source="src/a.py", kind="function", language="python"),
        Chunk(text="b", source="src/b.go", kind="function", language="go"),
        Chunk(text="c", source="docs/c.md"),
    ]
    keep = compile_filters({"path": ["src/**", "docs/*.md"], "kind": "function"})
    assert [keep(c) for c in chunks] == [True, True, False]
    keep = compile_filters({"language": ["python", "rust"]})
    assert [keep(c) for c in chunks] == [True, False, False]
    store = ChunkStore()
    store.add(chunks)
    assert allowed_ids(store, {"kind": "text"}) == frozenset({chunks[2].id})
    assert allowed_ids(store, None) is None and compile_filters({}) is None


def test_bad_filters_are_clear_errors():
    with pytest.raises(ValueError, match="unknown filter key"):
        compile_filters({"lang": "python"})
    with pytest.raises(ValueError, match="string or a list of strings"):
        compile_filters({"kind": 3})
