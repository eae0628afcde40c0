"""Retrieval metrics identical to trec_eval (via pytrec_eval), TREC run files and qrels.

Metric names: ``ndcg@k`` (trec_eval ``ndcg_cut.k``), ``recall@k`` (``recall.k``),
``precision@k`` (``P.k``), ``map`` (``map``), ``map@k`` (``map_cut.k``), ``mrr`` (``recip_rank``)
and ``mrr@k`` (``recip_rank`` over each query's top ``k``, ranked the way trec_eval ranks: score
descending, ties by document id descending).

Results are plain dicts: ``{"aggregate": {metric: mean}, "per_query": [{"query_id": q,
metric: value, ...}], "n_queries": n}``.

References: NIST trec_eval; Van Gysel & de Rijke 2018, "Pytrec_eval: An Extremely Fast Python
Interface to trec_eval".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from ragkit.indexes.atomic import atomic_write_text
from ragkit.types import Hit

__all__ = [
    "DEFAULT_METRICS",
    "evaluate",
    "read_qrels",
    "write_qrels",
    "read_run",
    "write_run",
    "run_from_hits",
    "trec_order",
]

DEFAULT_METRICS = ("ndcg@10", "recall@100", "mrr@10", "map")
_METRIC = re.compile(r"^(ndcg|recall|precision|map|mrr)(?:@(\d+))?$")
_TREC = {"ndcg": "ndcg_cut", "recall": "recall", "precision": "P", "map": "map_cut"}

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


def _parse(metric: str) -> tuple[str, int | None]:
    match = _METRIC.match(metric)
    if not match:
        raise ValueError(
            f"unknown metric {metric!r}; use ndcg@k, recall@k, precision@k, map, map@k, mrr or mrr@k"
        )
    name, k = match.group(1), match.group(2)
    if name in ("ndcg", "recall", "precision") and k is None:
        raise ValueError(f"metric {metric!r} needs a cutoff, e.g. {name}@10")
    return name, int(k) if k else None


def trec_order(docs: Mapping[str, float]) -> list[str]:
    """Document ids in trec_eval's order: score descending, ties by document id descending."""
    return sorted(docs, key=lambda d: (docs[d], d), reverse=True)


def evaluate(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    complete: bool = True,
) -> dict[str, Any]:
    """Score a run against qrels with trec_eval's definitions.

    Args:
        qrels: ``{query_id: {doc_id: relevance}}``; relevance >= 1 counts as relevant for the
            binary metrics, graded relevance is the nDCG gain.
        run: ``{query_id: {doc_id: score}}``.
        metrics: metric names (see the module docstring).
        complete: average over every query in ``qrels``, a query missing from the run scoring
            0 (``trec_eval -c``, Pyserini's setting); ``False`` averages over the queries in both
            (plain ``trec_eval``).

    Returns:
        ``{"aggregate": {...}, "per_query": [...], "n_queries": n}``.

    Raises:
        ValueError: an unknown metric name.
    """
    import pytrec_eval

    parsed = {m: _parse(m) for m in metrics}
    qrels = {q: {d: int(r) for d, r in docs.items()} for q, docs in qrels.items()}
    run = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in qrels and docs}
    per_query: dict[str, dict[str, float]] = {q: {} for q in (qrels if complete else run)}

    measures = {f"{_TREC[n]}.{k}" for n, k in parsed.values() if n in _TREC and k is not None}
    if any(n == "map" and k is None for n, k in parsed.values()):
        measures.add("map")
    if any(n == "mrr" and k is None for n, k in parsed.values()):
        measures.add("recip_rank")
    results = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run) if measures else {}
    for metric, (name, k) in parsed.items():
        if name == "mrr" and k is not None:
            cut = {q: {d: docs[d] for d in trec_order(docs)[:k]} for q, docs in run.items()}
            values = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
            values = {q: v["recip_rank"] for q, v in values.items()}
        else:
            key = "recip_rank" if name == "mrr" else "map" if (name == "map" and k is None) else f"{_TREC[name]}_{k}"
            values = {q: v[key] for q, v in results.items()}
        for q in per_query:
            per_query[q][metric] = float(values.get(q, 0.0))
    n = len(per_query)
    aggregate = {m: (sum(v[m] for v in per_query.values()) / n if n else 0.0) for m in metrics}
    return {
        "aggregate": aggregate,
        "per_query": [{"query_id": q, **v} for q, v in per_query.items()],
        "n_queries": n,
    }


def run_from_hits(query_ids: Sequence[str], hits: Sequence[Sequence[Hit]]) -> Run:
    """A run dict from retriever output (``hits[i]`` answers ``query_ids[i]``)."""
    if len(query_ids) != len(hits):
        raise ValueError(f"{len(query_ids)} query ids but {len(hits)} hit lists")
    return {q: {h.chunk_id: float(h.score) for h in hs} for q, hs in zip(query_ids, hits)}


def write_run(run: Mapping[str, Mapping[str, float]], path: str | Path, tag: str = "ragkit") -> Path:
    """Write a TREC run file: ``qid Q0 docid rank score tag``, ranks in trec_eval's order."""
    lines = []
    for q, docs in run.items():
        for rank, d in enumerate(trec_order(docs), start=1):
            lines.append(f"{q} Q0 {d} {rank} {float(docs[d])!r} {tag}\n")
    atomic_write_text(path, "".join(lines))
    return Path(path)


def read_run(path: str | Path) -> Run:
    """Read a TREC run file into ``{query_id: {doc_id: score}}``.

    Raises:
        ValueError: a line without the six TREC columns.
    """
    run: Run = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 6:
            raise ValueError(f"{path}:{n}: a TREC run line has 6 columns (qid Q0 docid rank score tag): {line!r}")
        run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
    return run


def read_qrels(path: str | Path) -> Qrels:
    """Read qrels: TREC (``qid iter docid rel``) or BEIR TSV (``query-id corpus-id score``).

    A header line (BEIR's ``query-id corpus-id score``) is skipped.

    Raises:
        ValueError: a line with neither 3 nor 4 columns, or a non-integer relevance.
    """
    qrels: Qrels = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) not in (3, 4):
            raise ValueError(f"{path}:{n}: qrels lines have 4 (TREC) or 3 (BEIR) columns: {line!r}")
        qid, doc, rel = (parts[0], parts[2], parts[3]) if len(parts) == 4 else parts
        try:
            qrels.setdefault(qid, {})[doc] = int(rel)
        except ValueError:
            if n == 1:  # header
                continue
            raise ValueError(f"{path}:{n}: relevance {rel!r} is not an integer") from None
    return qrels


def write_qrels(qrels: Mapping[str, Mapping[str, int]], path: str | Path) -> Path:
    """Write TREC qrels (``qid 0 docid rel``)."""
    lines = [f"{q} 0 {d} {int(r)}\n" for q, docs in qrels.items() for d, r in docs.items()]
    atomic_write_text(path, "".join(lines))
    return Path(path)
