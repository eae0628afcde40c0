from __future__ import annotations

import json
from pathlib import Path

import pytest

import ragkit
from ragkit.indexes.store import ChunkStore
from ragkit.ingest import ingest, walk

DEMO = Path(ragkit.__file__).parent / "demo_corpus"
REPO = Path(ragkit.__file__).parent.parent


def _tree(root: Path) -> Path:
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "guide.md").write_text("# Guide\n\nThe widget spins at 40 rpm.\n")
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("def spin(rpm):\n    \"\"\"Spin the widget.\"\"\"\n    return rpm * 2\n")
    (root / "build").mkdir()
    (root / "build" / "out.md").write_text("# generated\n\nignored by .gitignore\n")
    (root / "src" / "secret.log").write_text("ignored by nested .gitignore\n")
    (root / "src" / ".gitignore").write_text("*.log\n")
    (root / ".gitignore").write_text("build/\n")
    (root / ".hidden.md").write_text("# hidden\n")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    return root


def test_walk_respects_gitignore_hidden_and_binaries(tmp_path):
    root = _tree(tmp_path / "repo")
    skipped: dict[str, str] = {}
    files = [p.relative_to(root).as_posix() for p in walk(root, skipped=skipped)]
    assert files == ["docs/guide.md", "src/app.py"]
    assert list(skipped.values()) == ["binary file"]


def test_walk_skips_files_over_the_size_limit(tmp_path):
    root = _tree(tmp_path / "repo")
    skipped: dict[str, str] = {}
    files = [p.name for p in walk(root, max_bytes=50, skipped=skipped)]
    assert files == ["guide.md"]
    assert any("larger than 50 bytes" in why for why in skipped.values())


def test_reingesting_an_unchanged_tree_adds_nothing(tmp_path):
    root = _tree(tmp_path / "repo")
    first = ingest([root], tmp_path / "index")
    assert sorted(first.parsed) == ["docs/guide.md", "src/app.py"] and first.chunks_added > 0
    chunks_before = (tmp_path / "index" / "chunks.jsonl").read_text()
    second = ingest([root], tmp_path / "index")
    assert second.parsed == [] and second.chunks_added == 0 and second.chunks_removed == 0
    assert sorted(second.unchanged) == ["docs/guide.md", "src/app.py"]
    assert (tmp_path / "index" / "chunks.jsonl").read_text() == chunks_before


def test_changed_and_deleted_files_update_only_their_chunks(tmp_path):
    root = _tree(tmp_path / "repo")
    ingest([root], tmp_path / "index")
    (root / "docs" / "guide.md").write_text("# Guide\n\nThe widget now spins at 45 rpm.\n")
    (root / "src" / "app.py").unlink()
    report = ingest([root], tmp_path / "index")
    assert report.parsed == ["docs/guide.md"] and report.removed == ["src/app.py"]
    store = ChunkStore.load(tmp_path / "index")
    assert {c.source for c in store} == {"docs/guide.md"}
    assert any("45 rpm" in c.text for c in store) and not any("40 rpm" in c.text for c in store)


def test_a_bad_file_is_reported_and_the_batch_goes_on(tmp_path):
    root = _tree(tmp_path / "repo")
    (root / "docs" / "broken.pdf").write_bytes(b"%PDF-1.7\nthis is not really a pdf")
    report = ingest([root], tmp_path / "index")
    assert list(report.failed) == ["docs/broken.pdf"]
    assert "docs/guide.md" in report.parsed and "src/app.py" in report.parsed
    assert ChunkStore.load(tmp_path / "index").failures == report.failed
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["counts"]["failures"] == 1


def test_an_interrupted_ingest_leaves_the_previous_index_intact(tmp_path, monkeypatch):
    root = _tree(tmp_path / "repo")
    ingest([root], tmp_path / "index")
    before = {p.name: p.read_bytes() for p in (tmp_path / "index").iterdir()}
    (root / "docs" / "guide.md").write_text("# Guide\n\nChanged text.\n")
    (root / "docs" / "more.md").write_text("# More\n\nNew text.\n")

    def interrupted(source, total):
        if source == "docs/more.md":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest([root], tmp_path / "index", on_file=interrupted)
    after = {p.name: p.read_bytes() for p in (tmp_path / "index").iterdir()}
    assert after == before
    # no temp dir beside the index or among its generations: only the lock and the one generation
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [".index.gens", ".index.lock"]
    assert [p.name for p in (tmp_path / ".index.gens").iterdir()] == ["g000001"]


def test_missing_path_is_a_clear_error_and_writes_nothing(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        ingest([tmp_path / "nope"], tmp_path / "index")
    assert not (tmp_path / "index").exists()


def test_the_demo_corpus_ingests_with_zero_failures(tmp_path):
    report = ingest([DEMO], tmp_path / "index")
    assert report.failed == {} and report.warnings == {}
    store = ChunkStore.load(tmp_path / "index")
    kinds = {c.kind for c in store}
    assert {"pdf", "table", "text", "function"} <= kinds
    assert {c.language for c in store} >= {"python", "javascript", "go"}
    assert any(c.page == 2 for c in store if c.source == "docs/helios-x2-manual.pdf")


def test_ingesting_ragkit_itself_gives_functions_that_slice_back_exactly(tmp_path):
    ingest([REPO / "ragkit"], tmp_path / "index")
    store = ChunkStore.load(tmp_path / "index")
    functions = [c for c in store if c.kind in ("function", "method") and c.language == "python"]
    assert len(functions) > 50
    assert any(c.symbol == "ChunkStore.replace_source" for c in functions)
    for chunk in functions:
        lines = (REPO / "ragkit" / chunk.source).read_text(encoding="utf-8").splitlines()
        assert chunk.text == "\n".join(lines[chunk.start_line - 1 : chunk.end_line]), chunk.location
