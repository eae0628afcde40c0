"""A small index directory (real MiniLM) with prose and code chunks, built once per session."""

from __future__ import annotations

import pytest

from ragkit.indexes.index import Index
from ragkit.types import Chunk

CHUNKS = [
    Chunk(text="To reset the router, hold the power button for ten seconds.", source="docs/manual.md"),
    Chunk(text="The warranty covers manufacturing defects for two years.", source="docs/warranty.md"),
    Chunk(text="Cats purr when they are content and relaxed.", source="notes/cats.md"),
    Chunk(
        text="def reset_router(host):\n    \"\"\"Power-cycle the router at host.\"\"\"\n    send(host, 'reboot')",
        source="src/net/router.py", kind="function", language="python", symbol="reset_router",
        start_line=1, end_line=3,
    ),
    Chunk(
        text="func ResetRouter(host string) error { return send(host, \"reboot\") }",
        source="src/net/router.go", kind="function", language="go", symbol="ResetRouter",
        start_line=10, end_line=10,
    ),
    Chunk(
        text="class WarrantyClaim:\n    \"\"\"A customer's claim under the warranty.\"\"\"",
        source="src/claims.py", kind="class", language="python", symbol="WarrantyClaim",
        start_line=1, end_line=2,
    ),
]


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("retrievers") / "index"
    Index.create(directory, CHUNKS, show_progress=False)
    return str(directory)
