"""Third-party components through the ``ragkit.components`` entry-point group.

A tiny plug-in distribution (a package plus a ``.dist-info`` with ``entry_points.txt``) is written
into a temp dir and put on ``sys.path`` of a fresh interpreter, as ``pip install`` would leave it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PLUGIN = '''
from ragkit.rewriters.base import Rewriter, TextQueries


class SuffixRewriter(Rewriter):
    """Appends a fixed word to every question (not registered: the entry point names it)."""

    def __init__(self, suffix: str = "warranty"):
        self.suffix = suffix

    def rewrite(self, queries, feedback=None, searcher=None):
        return [TextQueries(q, [q + " " + self.suffix]) for q in queries]
'''

REGISTERING_MODULE = '''
from ragkit.registry import register
from ragkit.rerankers.base import Reranker, check_batch, ranked


@register("reranker", "reverse")
class ReverseReranker(Reranker):
    def __init__(self):
        pass

    def rerank(self, queries, hits, k):
        check_batch(queries, hits)
        return [ranked(h, [-h_.score for h_ in h], k, "reverse") for h in hits]
'''

ENTRY_POINTS = """\
[ragkit.components]
rewriter.suffix = ragkit_suffix:SuffixRewriter
reranker.reverse = ragkit_suffix.rerankers
retriever.broken = ragkit_suffix_missing:Nothing
generator.not-a-class = ragkit_suffix:VALUE
"""


def _install(site: Path) -> None:
    package = site / "ragkit_suffix"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN + "\nVALUE = 3\n")
    (package / "rerankers.py").write_text(REGISTERING_MODULE)
    info = site / "ragkit_suffix-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ragkit-suffix\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)


def _python(site: Path, code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=240, cwd=site)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    _install(site)
    return site


def test_plugins_are_listed_unimported_then_built_and_run_in_a_pipeline(site: Path) -> None:
    done = _python(site, """
        import json, sys
        import ragkit
        from ragkit.registry import available, build

        listed = "suffix" in available("rewriter") and "reverse" in available("reranker")
        imported_on_listing = "ragkit_suffix" in sys.modules
        rewriter = build("rewriter", {"type": "suffix", "suffix": "years"})
        index = ragkit.ingest_files(ragkit.DEMO_CORPUS, "idx", dense=False)
        plain = ragkit.Pipeline(index=index.directory, retriever="bm25", k=5)
        plugged = ragkit.Pipeline(index=index.directory, retriever="bm25", k=5, rewriter="suffix", reranker="reverse")
        question = "How long does the warranty last?"
        hits, _ = plain.retrieve([question])
        plug_hits, _ = plugged.retrieve([question])
        print(json.dumps({
            "listed": listed, "imported_on_listing": imported_on_listing,
            "rewrite": rewriter.rewrite(["q"])[0].queries, "config": rewriter.to_config(),
            "plain": [h.chunk_id for h in hits[0]], "plugged": [h.chunk_id for h in plug_hits[0]],
            "plugged_by": sorted({h.retriever for h in plug_hits[0]}),
            "expected": [h.chunk_id for h in build("reranker", "reverse").rerank([question], plain.retrieve(
                [question + " warranty"], k=20)[0], 5)[0]],
        }))
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["listed"] and not out["imported_on_listing"]
    assert out["rewrite"] == ["q years"] and out["config"] == {"type": "suffix", "suffix": "years"}
    assert out["plugged_by"] == ["reverse"] and out["plugged"] == out["expected"] != out["plain"]


def test_the_cli_uses_a_plugin_rewriter(site: Path) -> None:
    done = _python(site, """
        import ragkit
        from ragkit.cli import app
        ragkit.ingest_files(ragkit.DEMO_CORPUS / "notes", "idx", dense=False)
        app(["search", "idx", "How often does the app update?", "--mode", "bm25", "--rewrite", "suffix",
             "--json", "-k", "1"], standalone_mode=False)
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "every 5 minutes" in done.stdout


def test_broken_plugins_and_unknown_names_are_clear_errors(site: Path) -> None:
    done = _python(site, """
        from ragkit.registry import build
        for kind, name in (("retriever", "broken"), ("generator", "not-a-class"), ("rewriter", "nope")):
            try:
                build(kind, name)
            except Exception as exc:
                print(type(exc).__name__, exc)
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    broken, not_class, unknown = done.stdout.strip().splitlines()
    assert broken.startswith("ImportError retriever 'broken' from package ragkit-suffix") and "No module named" in broken
    assert not_class.startswith("TypeError entry point generator.not-a-class") and "must name a class" in not_class
    assert unknown.startswith("KeyError") and "suffix" in unknown  # the plug-in's names are among the choices


def test_a_builtin_name_is_not_taken_over(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install(site)
    (site / "ragkit_suffix-0.1.dist-info" / "entry_points.txt").write_text(
        "[ragkit.components]\nretriever.bm25 = ragkit_suffix:SuffixRewriter\n")
    done = _python(site, """
        from ragkit.registry import get
        print(get("retriever", "bm25").__module__)
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ragkit.retrievers.bm25"
