"""Interpolation vs extrapolation test sets, resampled from training and test queries by similarity.

After Zhan et al. 2022 (CIKM), "Evaluating Interpolation and Extrapolation Performance of
Neural Retrieval Models": a retrieval benchmark's test queries are often near-copies of its
training queries, so one test score mixes *interpolation* (test queries like the training ones)
with *extrapolation* (test queries unlike any of them). The paper resamples the data by
query-query similarity (cosine of dense query embeddings) in two ways: ReSTrain (keep the test
set, build a training set of the training queries similar / dissimilar to it) and ReSTTest
(cluster training and test queries into K buckets; train on K-1 buckets; test queries in those
buckets measure interpolation, test queries in the held-out bucket extrapolation).

What this module implements is **ReSTTest**, one fold at a time (``resample``):

1. every training and test query is embedded (MiniLM by default, L2-normalised) and the union
   clustered into ``buckets`` (K = 5, as in the paper) by k-means (k-means++ init, ``seed``);
   buckets are numbered by their first member (training queries first, in the given order);
2. bucket ``fold`` is held out: its training queries are *removed* from training; its test
   queries are the extrapolation candidates; the test queries of the other buckets are the
   interpolation candidates; the kept training queries are the only ones a model may train on;
3. optional similarity guards (off by default): an interpolation candidate whose nearest kept
   training query has cosine < ``min_interpolation_similarity``, or an extrapolation candidate
   whose nearest kept training query has cosine > ``max_extrapolation_similarity``, is put in
   neither set;
4. ``balance`` (default on): the larger set is subsampled (``seed``) to the size of the smaller,
   so both test sets have the same size.

Nothing is dropped silently: every test query is in exactly one of ``interpolation``,
``extrapolation`` or ``neither`` (with its reason), and ``record`` holds the bucket sizes, the
guards, the counts, each set's nearest-training-query cosine (mean / median) and its
*target-document overlap* (the share of its queries with a relevant document that is also
relevant to a kept training query: the paper's label-overlap measure; needs qrels).

Where this departs from the paper: (a) ReSTrain is not implemented (on a test set as large as
SciFact's 300 against 809 training claims nearly every training query is near some test query,
which is the paper's own reason for ReSTTest on large sets); (b) the paper reports the mean over
all K folds; here one call is one fold (callers may loop over ``fold``); (c) the paper embeds
with a trained dense retriever's query encoder, here with untrained MiniLM by default;
(d) the guards and the balancing are additions, for a small test set.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

from ragkit.defaults import DEFAULT_EMBEDDER

__all__ = ["Resample", "resample", "resample_beir", "resample_dataset", "subset", "default_embed", "SETS"]

SETS = ("interpolation", "extrapolation")


@dataclass
class Resample:
    """One resampled fold: the kept training queries and the two disjoint test sets.

    Attributes:
        train: ids of the training queries a model may train on (the held-out bucket's removed).
        removed_train: ids of the training queries in the held-out bucket.
        interpolation / extrapolation: test query ids of each set (disjoint, equal size when
            balanced), in the given test order.
        neither: ``{test id: reason}`` for every test query in neither set.
        nearest: ``{test id: cosine of its nearest kept training query}`` for all test queries.
        record: settings, bucket sizes, counts, similarity and overlap statistics.
    """

    train: list[str]
    removed_train: list[str]
    interpolation: list[str]
    extrapolation: list[str]
    neither: dict[str, str] = field(default_factory=dict)
    nearest: dict[str, float] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)

    def test_ids(self, which: str) -> list[str]:
        """The ids of test set ``which`` (``interpolation`` or ``extrapolation``)."""
        if which not in SETS:
            raise ValueError(f"the resampled test sets are {SETS}, not {which!r}")
        return self.interpolation if which == "interpolation" else self.extrapolation

    def to_dict(self) -> dict[str, Any]:
        return {"record": self.record, "train": self.train, "removed_train": self.removed_train,
                "interpolation": self.interpolation, "extrapolation": self.extrapolation,
                "neither": self.neither, "nearest": {q: round(s, 4) for q, s in self.nearest.items()}}


def default_embed(model: str = DEFAULT_EMBEDDER) -> Callable[[list[str]], Any]:
    """``texts -> (n, d)`` L2-normalised vectors from ``model`` (loaded once, on the first call)."""
    held: dict[str, Any] = {}

    def embed(texts: list[str]) -> Any:
        if "model" not in held:
            from ragkit.models import load_embedder

            held["model"] = load_embedder(model)
        return held["model"].encode(texts, normalize_embeddings=True, show_progress_bar=False)

    return embed


def _stats(values: list[float]) -> dict[str, float | None]:
    import numpy as np

    if not values:
        return {"mean": None, "median": None}
    return {"mean": round(float(np.mean(values)), 4), "median": round(float(np.median(values)), 4)}


def _doc_overlap(ids: list[str], qrels: dict[str, dict[str, int]], train_docs: set[str]) -> float | None:
    judged = [q for q in ids if q in qrels]
    if not judged:
        return None
    hit = sum(1 for q in judged if any(r > 0 and d in train_docs for d, r in qrels[q].items()))
    return round(hit / len(judged), 4)


def resample(
    train_queries: dict[str, str],
    test_queries: dict[str, str],
    seed: int = 0,
    buckets: int = 5,
    fold: int | None = None,
    balance: bool = True,
    min_interpolation_similarity: float | None = None,
    max_extrapolation_similarity: float | None = None,
    embed: Callable[[list[str]], Any] | None = None,
    train_qrels: dict[str, dict[str, int]] | None = None,
    test_qrels: dict[str, dict[str, int]] | None = None,
) -> Resample:
    """Resample one ReSTTest fold (see the module docstring for the steps).

    Args:
        train_queries / test_queries: ``{id: text}``; ids are per side (the same id on both
            sides names two different queries).
        seed: seed of the clustering and of the balancing subsample.
        buckets: K, the number of clusters (>= 2).
        fold: the held-out bucket, 0..K-1; ``None``: ``seed % buckets``.
        balance: subsample the larger test set to the size of the smaller.
        min_interpolation_similarity / max_extrapolation_similarity: optional cosine guards.
        embed: ``texts -> (n, d)`` L2-normalised vectors (default MiniLM).
        train_qrels / test_qrels: for the target-document overlap statistics (optional).

    Returns:
        The ``Resample``.

    Raises:
        ValueError: too few queries for ``buckets``, a bad ``fold``, or an empty test set
            (the message says which knob to turn).
    """
    import numpy as np

    from ragkit.tuning.qa_filter import kmeans

    if buckets < 2:
        raise ValueError(f"buckets must be >= 2 (one is held out), got {buckets}")
    fold = seed % buckets if fold is None else fold
    if not 0 <= fold < buckets:
        raise ValueError(f"fold must be in 0..{buckets - 1}, got {fold}")
    tr_ids, te_ids = list(train_queries), list(test_queries)
    if len(tr_ids) + len(te_ids) < buckets or not tr_ids or not te_ids:
        raise ValueError(f"{len(tr_ids)} training and {len(te_ids)} test queries are too few for {buckets} buckets")
    embed = embed or default_embed()
    vectors = np.asarray(embed([train_queries[q] for q in tr_ids] + [test_queries[q] for q in te_ids]), dtype=np.float64)
    _, assign = kmeans(vectors, buckets, seed=seed)
    order = {int(c): i for i, c in enumerate(dict.fromkeys(int(a) for a in assign))}  # renumber by first member
    assign = np.array([order[int(a)] for a in assign])
    tr_bucket, te_bucket = assign[: len(tr_ids)], assign[len(tr_ids):]
    kept = [q for q, b in zip(tr_ids, tr_bucket) if b != fold]
    removed = [q for q, b in zip(tr_ids, tr_bucket) if b == fold]
    if not kept:
        raise ValueError(f"bucket {fold} holds every training query; use more buckets or another fold")
    kept_rows = np.array([i for i, b in enumerate(tr_bucket) if b != fold])
    nearest = (vectors[len(tr_ids):] @ vectors[kept_rows].T).max(axis=1)
    near = {q: float(s) for q, s in zip(te_ids, nearest)}

    interp, extra, neither = [], [], {}
    for q, b in zip(te_ids, te_bucket):
        if b == fold:
            if max_extrapolation_similarity is not None and near[q] > max_extrapolation_similarity:
                neither[q] = f"held-out bucket, but nearest training cosine > {max_extrapolation_similarity}"
            else:
                extra.append(q)
        elif min_interpolation_similarity is not None and near[q] < min_interpolation_similarity:
            neither[q] = f"nearest training cosine < {min_interpolation_similarity}"
        else:
            interp.append(q)
    candidates = {"interpolation": len(interp), "extrapolation": len(extra)}
    if not interp or not extra:
        raise ValueError(
            f"fold {fold} leaves {len(interp)} interpolation and {len(extra)} extrapolation test queries; "
            "both must be non-empty: try another --fold/--seed, fewer buckets, or looser similarity guards"
        )
    if balance:
        n = min(len(interp), len(extra))
        rng = random.Random(seed)
        for name, ids in (("interpolation", interp), ("extrapolation", extra)):
            if len(ids) > n:
                keep = set(rng.sample(ids, n))
                for q in ids:
                    if q not in keep:
                        neither[q] = f"{name} candidate not sampled (balanced to {n})"
                ids[:] = [q for q in ids if q in keep]

    train_docs = {d for q in kept for d, r in (train_qrels or {}).get(q, {}).items() if r > 0}
    sets = {"interpolation": interp, "extrapolation": extra}
    record = {
        "method": "ReSTTest (Zhan et al. 2022), one fold",
        "seed": seed, "buckets": buckets, "fold": fold, "balance": balance,
        "min_interpolation_similarity": min_interpolation_similarity,
        "max_extrapolation_similarity": max_extrapolation_similarity,
        "bucket_sizes": [{"train": int((tr_bucket == b).sum()), "test": int((te_bucket == b).sum())} for b in range(buckets)],
        "n_train": len(tr_ids), "n_train_kept": len(kept), "n_train_removed": len(removed),
        "n_test": len(te_ids), "candidates": candidates,
        "counts": {"interpolation": len(interp), "extrapolation": len(extra), "neither": len(neither)},
        "nearest_train_cosine": {name: _stats([near[q] for q in ids]) for name, ids in sets.items()},
        "exact_duplicates_of_kept_train": {name: sum(1 for q in ids if near[q] > 0.9999) for name, ids in sets.items()},
        "target_doc_overlap": ({name: _doc_overlap(ids, test_qrels, train_docs) for name, ids in sets.items()}
                               if test_qrels is not None and train_qrels is not None else None),
    }
    return Resample(train=kept, removed_train=removed, interpolation=interp, extrapolation=extra,
                    neither=neither, nearest=near, record=record)


def subset(dataset: Any, ids: list[str]) -> Any:
    """A copy of a ``BeirDataset`` with only the queries (and qrels) of ``ids``; the corpus is shared."""
    from ragkit.experiments.beir import BeirDataset

    missing = [q for q in ids if q not in dataset.queries]
    if missing:
        raise ValueError(f"{len(missing)} id(s) not among the dataset's queries (e.g. {missing[0]!r})")
    return BeirDataset(name=dataset.name, corpus=dataset.corpus, queries={q: dataset.queries[q] for q in ids},
                       qrels={q: dataset.qrels[q] for q in ids if q in dataset.qrels})


def resample_beir(train: Any, test: Any, **kwargs: Any) -> Resample:
    """``resample`` on two splits of one BEIR dataset (``load_beir``), qrels included for the overlap."""
    return resample(train.queries, test.queries, train_qrels=train.qrels, test_qrels=test.qrels, **kwargs)


def resample_dataset(path: Any, test: Any, which: str, train_split: str = "train", out: Any = None,
                     **kwargs: Any) -> tuple[Any, Resample]:
    """The ``which`` test set of a BEIR dataset, resampled against its ``train_split`` queries.

    Args:
        path: the dataset (``load_beir``), read again for ``train_split``.
        test: the loaded test split.
        which: ``interpolation`` or ``extrapolation``.
        train_split: the split holding the training queries (``train``).
        out: if given, ``out/resample.json`` (the full ``Resample``) and ``out/resample-train.qrels``
            (TREC qrels of the kept training queries: train a model on these only) are written.
        **kwargs: ``resample``'s settings (``seed``, ``buckets``, ``fold`` …).

    Raises:
        ValueError: a bad ``which`` or resampling settings; FileNotFoundError: no ``train_split``.
    """
    import json
    from pathlib import Path

    from ragkit.eval.retrieval import write_qrels
    from ragkit.experiments.beir import load_beir
    from ragkit.indexes.atomic import atomic_write_text

    if which not in SETS:
        raise ValueError(f"--resample must be one of {SETS}, not {which!r}")
    train = load_beir(path, train_split)
    result = resample_beir(train, test, **kwargs)
    result.record["train_split"] = train_split
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "resample.json", json.dumps(result.to_dict(), indent=1))
        write_qrels({q: train.qrels[q] for q in result.train}, out / "resample-train.qrels")
    return subset(test, result.test_ids(which)), result
