from __future__ import annotations

import pytest

from ragkit.indexes.atomic import atomic_dir
from ragkit.indexes.manifest import IndexFormatError, new_manifest, read_manifest, write_manifest
from ragkit.indexes.store import ChunkStore
from ragkit.types import Chunk


def _chunks(source: str, texts: list[str]) -> list[Chunk]:
    return [Chunk(text=t, source=source, start_line=i + 1, end_line=i + 1) for i, t in enumerate(texts)]


def test_add_is_idempotent_and_round_trips(tmp_path):
    store = ChunkStore()
    chunks = _chunks("a.md", ["alpha", "beta"])
    assert len(store.add(chunks)) == 2
    assert store.add(chunks) == []
    store.save(tmp_path)
    loaded = ChunkStore.load(tmp_path)
    assert [c.to_dict() for c in loaded] == [c.to_dict() for c in chunks]


def test_replace_source_adds_and_removes_only_the_difference():
    store = ChunkStore()
    store.replace_source("a.md", "h1", _chunks("a.md", ["alpha", "beta"]))
    added, removed = store.replace_source("a.md", "h2", _chunks("a.md", ["alpha", "gamma"]))
    assert [store.get(i).text for i in added] == ["gamma"]
    assert len(removed) == 1 and len(store) == 2
    assert store.source_unchanged("a.md", "h2") and not store.source_unchanged("a.md", "h1")
    assert len(store.remove_source("a.md")) == 2 and len(store) == 0


def test_atomic_dir_keeps_the_old_directory_on_error(tmp_path):
    target = tmp_path / "index"
    with atomic_dir(target) as tmp:
        (tmp / "data.txt").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "data.txt").write_text("v2-half")
            raise RuntimeError("interrupted")
    assert (target / "data.txt").read_text() == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["index"]  # no temp dirs left behind


def test_manifest_errors_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="ragkit ingest"):
        read_manifest(tmp_path / "missing")
    with pytest.raises(IndexFormatError, match="not a ragkit index"):
        read_manifest(tmp_path)
    manifest = new_manifest()
    manifest["format"] = 999
    write_manifest(tmp_path, manifest)
    with pytest.raises(IndexFormatError, match="Rebuild it"):
        read_manifest(tmp_path)
