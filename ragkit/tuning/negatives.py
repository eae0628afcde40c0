"""Hard negatives: passages a retriever ranks high for a question that are not its positive.

Mining retrieves ``depth`` candidates per question (BM25, dense, or any ragkit retriever),
skips the positive(s), passages of the same source document (``exclude_same_source``: a
neighbouring chunk often answers the question too, which would be a false negative) and the
first ``skip_top`` candidates, and keeps the next ``n``.

Why not ``sentence_transformers.util.mine_hard_negatives``: it mines with an embedding model only
(no BM25, the default here, as in DPR) and knows no source documents, so it cannot apply the
same-source guard. Where the two do the same job (dense, no guard) they pick the same negatives;
``tests/tuning/test_negatives.py`` pins that.

References: Karpukhin et al., 2020, "Dense Passage Retrieval for Open-Domain Question
Answering" (BM25 hard negatives); Xiong et al., 2021, "Approximate Nearest Neighbor Negative
Contrastive Learning for Dense Text Retrieval" (ANCE; dense hard negatives).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable

from ragkit.defaults import DEFAULT_EMBEDDER
from ragkit.tuning.data import QAPair

__all__ = ["CorpusDoc", "as_corpus", "bm25_candidates", "bm25_scored", "dense_candidates", "mine_hard_negatives"]


@dataclasses.dataclass(frozen=True, slots=True)
class CorpusDoc:
    """A passage that negatives are drawn from."""

    id: str
    text: str
    source: str


def as_corpus(corpus: Any) -> list[CorpusDoc]:
    """Normalise a corpus: a ``ChunkStore`` / list of ``Chunk``, or ``{id: text}`` (source = id)."""
    if isinstance(corpus, dict):
        return [CorpusDoc(str(k), str(v), str(k)) for k, v in corpus.items()]
    return [CorpusDoc(c.id, c.text, c.source) for c in corpus]


def bm25_candidates(queries: list[str], docs: list[CorpusDoc], depth: int) -> list[list[int]]:
    """Top ``depth`` doc indices per query with ragkit's BM25 (``bm25_scored``).

    Passages that share no term with the query (BM25 score 0) follow the scored ones in corpus
    order, so a small corpus still yields ``depth`` candidates (as bm25s's zero scores did).
    """
    out = []
    for row in bm25_scored(queries, docs, depth):
        ranked = [i for i, _ in row]
        seen = set(ranked)
        ranked += [i for i in range(len(docs)) if i not in seen][: max(0, depth - len(ranked))]
        out.append(ranked)
    return out


def bm25_scored(queries: list[str], docs: list[CorpusDoc], depth: int) -> list[list[tuple[int, float]]]:
    """Top ``depth`` ``(doc index, BM25 score)`` per query, best first.

    The BM25 of ``ragkit search``: an in-memory ``BM25Index`` with its default analyzer and
    scoring (Lucene, k1=0.9, b=0.4, Snowball stemmer, stopwords), so a tuner's "before" figure is
    the BM25 a user searches with. Only documents sharing a term with the query are returned.
    """
    from ragkit.indexes.bm25 import BM25Index

    index = BM25Index()
    index.add([str(i) for i in range(len(docs))], [d.text for d in docs])
    hits = index.search(queries, min(depth, len(docs)))
    return [[(int(h.chunk_id), float(h.score)) for h in row] for row in hits]


def dense_candidates(
    queries: list[str], docs: list[CorpusDoc], depth: int, embed: Callable[[list[str]], Any]
) -> list[list[int]]:
    """Top ``depth`` doc indices per query by inner product of ``embed`` vectors (normalise them for cosine)."""
    import numpy as np

    d = np.asarray(embed([doc.text for doc in docs]), dtype=np.float32)
    q = np.asarray(embed(queries), dtype=np.float32)
    k = min(depth, len(docs))
    out = []
    for start in range(0, len(q), 256):
        scores = q[start : start + 256] @ d.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        for row, cand in zip(scores, top):
            out.append([int(i) for i in cand[np.argsort(-row[cand], kind="stable")]])
    return out


def _retriever_candidates(queries: list[str], docs: list[CorpusDoc], depth: int, retriever: Any) -> list[list[int]]:
    position = {d.id: i for i, d in enumerate(docs)}
    hits = retriever.retrieve(queries, k=depth)
    return [[position[h.chunk_id] for h in row if h.chunk_id in position] for row in hits]


def mine_hard_negatives(
    pairs: Iterable[QAPair],
    corpus: Any,
    n: int = 3,
    method: str = "bm25",
    depth: int = 30,
    skip_top: int = 0,
    exclude_same_source: bool = True,
    retriever: Any = None,
    embed: Callable[[list[str]], Any] | None = None,
) -> list[QAPair]:
    """Give each pair up to ``n`` hard negatives from ``corpus``.

    Args:
        pairs: pairs with a positive (``contexts[0]``) and/or ``chunk_id``.
        corpus: a ``ChunkStore``, a list of ``Chunk``, or ``{doc_id: text}``.
        n: negatives per pair; a pair's existing negatives count towards ``n`` and come first.
        method: ``"bm25"`` or ``"dense"``; ignored when ``retriever`` is given.
        depth: candidates retrieved per question.
        skip_top: candidates skipped at the top of each ranking (guards against unlabelled
            positives ranked first).
        exclude_same_source: skip passages from the pair's own source document.
        retriever: any ragkit retriever (``retrieve(texts, k=...) -> list[list[Hit]]``) whose
            hit ids are ``corpus`` ids (e.g. ``build("retriever", {"type": "bm25", "index": dir})``
            over the index the corpus comes from); overrides ``method``.
        embed: ``texts -> (n, d) array`` for ``method="dense"``; default normalised MiniLM.

    Returns:
        New ``QAPair`` objects (the inputs are not modified), in input order.

    Raises:
        ValueError: unknown ``method``, or an empty corpus.
    """
    pairs = list(pairs)
    docs = as_corpus(corpus)
    if not docs:
        raise ValueError("cannot mine hard negatives from an empty corpus")
    if not pairs:
        return []
    queries = [p.question for p in pairs]
    if retriever is not None:
        candidates = _retriever_candidates(queries, docs, depth, retriever)
    elif method == "bm25":
        candidates = bm25_candidates(queries, docs, depth)
    elif method == "dense":
        if embed is None:
            from ragkit.models import load_embedder

            model = load_embedder(DEFAULT_EMBEDDER)
            embed = lambda texts: model.encode(texts, normalize_embeddings=True, batch_size=64)  # noqa: E731
        candidates = dense_candidates(queries, docs, depth, embed)
    else:
        raise ValueError(f"unknown hard-negative method {method!r}; use 'bm25' or 'dense' (or pass a retriever)")
    out = []
    for pair, cands in zip(pairs, candidates):
        positives = set(pair.contexts)
        negatives = list(pair.negatives[:n])
        for rank, i in enumerate(cands):
            if len(negatives) >= n:
                break
            doc = docs[i]
            if rank < skip_top or doc.id == pair.chunk_id or doc.text in positives or doc.text in negatives:
                continue
            if exclude_same_source and pair.source is not None and doc.source == pair.source:
                continue
            negatives.append(doc.text)
        out.append(dataclasses.replace(pair, negatives=negatives, contexts=list(pair.contexts),
                                       metadata=dict(pair.metadata)))
    return out
