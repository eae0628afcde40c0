"""A small index (BM25 + real MiniLM vectors) on a few topics, built once per session."""

from __future__ import annotations

import pytest

from ragkit.indexes.index import Index
from ragkit.types import Chunk

TEXTS = {
    "felines": "Cats purr when they are content; a purring cat is usually relaxed.",
    "kitten": "A kitten purrs while nursing and sleeps most of the day.",
    "dogs": "Dogs bark at strangers and wag their tails when they are happy.",
    "router": "To reset the router, hold the power button for ten seconds.",
    "modem": "Restart the modem after a firmware update to restore the connection.",
    "warranty": "The warranty covers manufacturing defects for two years.",
    "returns": "Products can be returned within thirty days with the receipt.",
    "volcano": "A volcano erupts when magma rises through the crust.",
    "lava": "Lava flows cool into basalt rock after an eruption.",
    "tea": "Green tea is brewed at eighty degrees for two minutes.",
}


@pytest.fixture(scope="session")
def chunks() -> dict[str, Chunk]:
    return {name: Chunk(text=text, source=f"{name}.md") for name, text in TEXTS.items()}


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory, chunks) -> str:
    directory = tmp_path_factory.mktemp("rewriters") / "index"
    Index.create(directory, list(chunks.values()), show_progress=False)
    return str(directory)
