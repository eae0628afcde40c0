"""BEIR-style retrieval evaluation: load a dataset (corpus, queries, qrels) and score pipelines on it.

Two layouts are read:

- BEIR: a directory with ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
  (``_id``, ``text``) and ``qrels/<split>.tsv`` (``query-id corpus-id score`` with a header).
- SciFact's release as CSV (``scifact.zip`` holding ``corpus_train.csv`` with ``abstract`` as a
  list literal of sentences, ``claims_validation.csv``), with ``qrels-<split>.tsv`` beside it.
  BEIR's SciFact *test* queries are the validation claims; a document's text is its sentences
  joined with spaces.

Documents become Chunks whose id is the dataset's document id and whose text is
``title + " " + text`` (as BEIR and MTEB embed them).

References: Thakur et al. 2021, "BEIR: A Heterogeneous Benchmark for Zero-shot Evaluation of
Information Retrieval Models"; Wadden et al. 2020, "Fact or Fiction: Verifying Scientific Claims".
"""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import time
import tokenize
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ragkit.defaults import DEFAULT_EMBEDDER
from ragkit.eval.retrieval import DEFAULT_METRICS, evaluate, read_qrels, run_from_hits, write_run
from ragkit.types import Chunk

__all__ = ["BeirDataset", "load_beir", "evaluate_beir", "BEIR_RERANK_DEPTH"]

_CLAIMS = {"test": "claims_validation.csv", "dev": "claims_validation.csv", "train": "claims_train.csv"}


@dataclass
class BeirDataset:
    """One split of a retrieval dataset.

    Attributes:
        name: dataset name (the directory name).
        corpus: ``{doc_id: {"title": ..., "text": ...}}``.
        queries: ``{query_id: text}``, only queries that have qrels in this split.
        qrels: ``{query_id: {doc_id: relevance}}``.
    """

    name: str
    corpus: dict[str, dict[str, str]] = field(default_factory=dict)
    queries: dict[str, str] = field(default_factory=dict)
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)

    def chunks(self) -> list[Chunk]:
        """The corpus as Chunks (id = document id, text = ``title + " " + text``)."""
        return [
            Chunk(
                id=doc_id,
                text=f"{doc['title']} {doc['text']}".strip(),
                source=f"{self.name}/{doc_id}",
                metadata={"title": doc["title"]} if doc["title"] else {},
            )
            for doc_id, doc in self.corpus.items()
        ]


def load_beir(path: str | Path, split: str = "test") -> BeirDataset:
    """Read a dataset directory (or SciFact zip) in either supported layout.

    Args:
        path: a BEIR directory, a directory holding ``scifact.zip`` + ``qrels-<split>.tsv``,
            or the path of such a zip.
        split: the qrels split (``test`` …).

    Raises:
        FileNotFoundError: neither layout is found; the message lists what was looked for.
    """
    path = Path(path)
    if (path / "corpus.jsonl").is_file():
        return _load_beir_dir(path, split)
    zips = [path] if path.suffix == ".zip" else sorted(path.glob("*.zip")) if path.is_dir() else []
    for zpath in zips:
        with zipfile.ZipFile(zpath) as zf:
            if any(n.endswith("corpus_train.csv") for n in zf.namelist()):
                return _load_scifact_zip(zpath, split)
    raise FileNotFoundError(
        f"no dataset at {path}: expected a BEIR directory (corpus.jsonl, queries.jsonl, "
        f"qrels/{split}.tsv) or a SciFact CSV zip with qrels-{split}.tsv beside it"
    )


def _load_beir_dir(path: Path, split: str) -> BeirDataset:
    qrels_path = path / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        raise FileNotFoundError(f"{path} has no qrels/{split}.tsv")
    data = BeirDataset(name=path.name, qrels=read_qrels(qrels_path))
    with (path / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                doc = json.loads(line)
                data.corpus[str(doc["_id"])] = {"title": doc.get("title") or "", "text": doc.get("text") or ""}
    with (path / "queries.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                query = json.loads(line)
                if str(query["_id"]) in data.qrels:
                    data.queries[str(query["_id"])] = query["text"]
    return data


def _sentences(literal: str) -> list[str]:
    """The strings of a list literal, also when its items are separated by newlines only.

    The release writes numpy-style ``['a.'\\n 'b.']``, which ``ast.literal_eval`` alone would
    concatenate into one string; reading each string token keeps the sentences apart.
    """
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(literal).readline):
        if tok.type == tokenize.STRING:
            out.append(ast.literal_eval(tok.string))
    return out


def _load_scifact_zip(zpath: Path, split: str) -> BeirDataset:
    """SciFact from its CSV release; ``train`` without ``qrels-train.tsv`` takes its qrels from the
    claims' ``cited_doc_ids`` (relevance 1, documents missing from the corpus dropped), which is
    how BEIR built its SciFact train qrels (809 claims, 919 pairs)."""
    if split not in _CLAIMS:
        raise ValueError(f"SciFact splits are {sorted(_CLAIMS)}, not {split!r}")
    qrels_path = zpath.parent / f"qrels-{split}.tsv"
    from_citations = split == "train" and not qrels_path.is_file()
    if not qrels_path.is_file() and not from_citations:
        raise FileNotFoundError(f"{zpath} needs {qrels_path.name} beside it for split {split!r}")
    data = BeirDataset(name=zpath.stem, qrels={} if from_citations else read_qrels(qrels_path))
    csv.field_size_limit(1 << 30)
    with zipfile.ZipFile(zpath) as zf:
        names = {Path(n).name: n for n in zf.namelist()}
        with zf.open(names["corpus_train.csv"]) as raw:
            for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")):
                text = " ".join(s.strip() for s in _sentences(row["abstract"]))
                data.corpus[row["doc_id"]] = {"title": row["title"], "text": text}
        with zf.open(names[_CLAIMS[split]]) as raw:
            for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")):
                if from_citations:
                    cited = {d: 1 for d in re.findall(r"\d+", row["cited_doc_ids"]) if d in data.corpus}
                    if cited:
                        data.qrels.setdefault(row["id"], {}).update(cited)
                if row["id"] in data.qrels:
                    data.queries[row["id"]] = row["claim"]
    return data


BEIR_RERANK_DEPTH = 100
"""Candidates a reranker sees in BEIR's reranking protocol (the spec's ``rerank_k`` wins)."""


def _needs_dense(spec: dict[str, Any]) -> bool:
    retriever = spec.get("retriever", "bm25")
    kind = retriever if isinstance(retriever, str) else retriever.get("type")
    return kind in ("dense", "hybrid")


def evaluate_beir(
    dataset: BeirDataset,
    index_dir: str | Path,
    systems: dict[str, dict[str, Any]],
    k: int = 1000,
    metrics: Sequence[str] = DEFAULT_METRICS,
    runs_dir: str | Path | None = None,
    embedder: str = DEFAULT_EMBEDDER,
    batch_size: int = 64,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Index a dataset's corpus, run each pipeline over its queries and score the runs.

    Each system is a pipeline spec (``ragkit.config``) without ``index``: a retriever and,
    optionally, a rewriter and a reranker, run by ``ragkit.pipeline.Pipeline`` exactly as
    ``ragkit search`` runs them. A system with a reranker and no ``rerank_k`` reranks the top
    ``BEIR_RERANK_DEPTH`` (100) candidates, as BEIR's reranking evaluation does.

    The index directory is built incrementally (``Index.create``): a second call with the same
    corpus embeds nothing and re-indexes nothing.

    Args:
        dataset: from ``load_beir``.
        index_dir: where the corpus index is (or will be) built.
        systems: ``{label: pipeline spec}``, e.g. ``{"bm25": {"retriever": "bm25"},
            "bm25+rm3": {"retriever": "bm25", "rewriter": "rm3"}}``.
        k: run depth (hits kept per query).
        metrics: metric names for ``ragkit.eval.retrieval.evaluate``.
        runs_dir: if given, each run is written there as ``<label>.trec``.
        embedder: the model for the dense index (built only if a system needs it).
        batch_size: queries per pipeline call (and progress step).
        on_progress: called as ``(label, queries_done, queries_total)``.

    Returns:
        ``{label: {"aggregate": ..., "per_query": ..., "n_queries": ..., "seconds": ...,
        "queries_per_second": ..., "spec": ..., "run_file": ...}}``.

    Raises:
        ValueError: a spec that names an index (the dataset's index is used), or an invalid spec.
    """
    from ragkit.indexes.index import Index
    from ragkit.pipeline import Pipeline

    for label, spec in systems.items():
        if "index" in spec:
            raise ValueError(f"system {label!r}: leave 'index' out of the spec; the dataset's index is used")
    needs_dense = any(_needs_dense(spec) for spec in systems.values())
    index = Index.create(index_dir, dataset.chunks(), embedder=embedder, dense=needs_dense, show_progress=True)
    qids = list(dataset.queries)
    texts = [dataset.queries[q] for q in qids]
    results: dict[str, Any] = {}
    for label, spec in systems.items():
        spec = {"retriever": "bm25", **spec, "k": k}
        if spec.get("reranker") is not None:
            spec.setdefault("rerank_k", BEIR_RERANK_DEPTH)
        pipeline = Pipeline.for_index(index_dir, spec).use_index(index)
        hits = []
        start = time.perf_counter()
        for lo in range(0, len(texts), batch_size):
            hits.extend(pipeline.retrieve(texts[lo : lo + batch_size], k=k)[0])
            if on_progress is not None:
                on_progress(label, min(lo + batch_size, len(texts)), len(texts))
        seconds = time.perf_counter() - start
        run = run_from_hits(qids, hits)
        result = evaluate(dataset.qrels, run, metrics)
        result["seconds"] = seconds
        result["queries_per_second"] = len(texts) / seconds if seconds else float("inf")
        result["spec"] = {key: value for key, value in pipeline.to_config().items() if key != "index"}
        if runs_dir is not None:
            result["run_file"] = str(write_run(run, Path(runs_dir) / f"{label}.trec", tag=label))
        results[label] = result
    return results
