"""QA data for ``ragkit compare``: generate or read pairs, split them, mark interpolation vs extrapolation.

- ``qa_pairs``: QA pairs generated from the index's chunks by an LLM (Balaguer et al.'s
  pipeline: ``ragkit.tuning.qa_gen`` + ``qa_filter``), cached under ``<out>/qa`` and reused while
  the settings and the chunks are unchanged; or read from the user's JSONL
  (``ragkit.tuning.data.read_qa_jsonl``; ``chunk_id``s are checked against the index).
- ``split_pairs``: ``by: question`` (random questions held out: the fine-tuned model may have
  learned the fact from a sibling question: the knowledge-injection setting of the RAG vs
  fine-tuning comparison), ``by: document`` (no held-out question's source is trained on) or
  ``by: given`` (the pairs' own ``split`` field).
- ``similarity_split``: label each held-out question ``interpolation`` or ``extrapolation``.
  ``method: resample`` (the default) is Zhan et al. 2022's ReSTTest protocol
  (``ragkit.experiments.resample``): training and held-out questions are clustered together,
  one cluster is held out, its training questions are *removed from training* and its held-out
  questions are the extrapolation ones; every other held-out question is interpolation.
  ``method: nearest`` (``similarity_labels``) keeps all training questions and labels a
  held-out question by its nearest training question's MiniLM cosine (above the threshold,
  default the median: ``interpolation``).

References: Zhan et al., 2022, "Evaluating Interpolation and Extrapolation Performance of Neural
Retrieval Models"; Balaguer et al., 2024, "RAG vs Fine-tuning: Pipelines, Tradeoffs, and a Case Study
on Agriculture"; Ovadia et al., 2024, "Fine-Tuning or Retrieval? Comparing Knowledge Injection
in LLMs".
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any, Callable

from ragkit.defaults import DEFAULT_EMBEDDER
from ragkit.eval.answers import Gold
from ragkit.experiments.compare_config import CompareConfig
from ragkit.indexes.atomic import atomic_write_text
from ragkit.tuning.data import QAPair, read_qa_jsonl, split_by_document, write_qa_jsonl

__all__ = ["qa_pairs", "attach_passages", "split_pairs", "golds", "similarity_labels", "similarity_split", "write_splits"]


def _fingerprint(settings: dict[str, Any], chunk_ids: list[str]) -> str:
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode("utf-8"))
    for cid in sorted(chunk_ids):
        h.update(cid.encode("ascii", "replace"))
    return h.hexdigest()[:16]


def qa_pairs(cfg: CompareConfig, store: Any, out: Path, log: Callable[[str], None] = lambda _m: None) -> tuple[list[QAPair], dict[str, Any]]:
    """The QA pairs of the comparison and a record of where they came from.

    Args:
        cfg: the compare config (``cfg.qa``).
        store: the index's ``ChunkStore``.
        out: the run's output dir; generated pairs are cached in ``out/qa``.
        log: progress messages.

    Returns:
        ``(pairs, record)``; the record holds the source, counts, filter report and seconds.

    Raises:
        ValueError: no pair survives, or a JSONL chunk_id is not in the index.
        FileNotFoundError: the JSONL file does not exist.
    """
    import time

    qa = cfg.qa
    qa_dir = out / "qa"
    if qa["source"] == "jsonl":
        path = cfg.path(qa["path"])
        pairs = read_qa_jsonl(path, store=store)
        record = {"source": "jsonl", "path": str(path), "n_pairs": len(pairs)}
    else:
        settings = {k: qa[k] for k in ("llm", "questions_per_chunk", "max_chunks", "min_chunk_words", "max_new_tokens", "filter")}
        settings["llm"] = settings["llm"] or cfg.llm
        settings["seed"] = cfg.seed
        key = _fingerprint(settings, store.ids())
        cache, meta_path = qa_dir / "generated.jsonl", qa_dir / "generated.meta.json"
        if cache.is_file() and meta_path.is_file() and json.loads(meta_path.read_text())["key"] == key:
            pairs = read_qa_jsonl(cache)
            record = json.loads(meta_path.read_text())["record"]
            record["cached"] = True
            log(f"reusing {len(pairs)} generated QA pairs from {cache}")
        else:
            from ragkit.registry import build
            from ragkit.tuning.qa_filter import filter_qa
            from ragkit.tuning.qa_gen import generate_qa

            started = time.perf_counter()
            llm = build("llm", settings["llm"])
            raw = generate_qa(
                list(store), llm, questions_per_chunk=qa["questions_per_chunk"], max_chunks=qa["max_chunks"],
                min_chunk_words=qa["min_chunk_words"], seed=cfg.seed, max_new_tokens=qa["max_new_tokens"],
                progress=lambda done, total: log(f"QA generation: {done}/{total} chunks"),
            )
            generated = time.perf_counter() - started
            pairs, report = filter_qa(raw, **qa["filter"])
            record = {"source": "generate", "llm": settings["llm"], "n_generated": len(raw), "n_pairs": len(pairs),
                      "filter": report.to_dict(), "seconds": round(time.perf_counter() - started, 2),
                      "generation_seconds": round(generated, 2)}
            write_qa_jsonl(pairs, cache)
            write_qa_jsonl(raw, qa_dir / "generated.raw.jsonl")
            atomic_write_text(meta_path, json.dumps({"key": key, "record": record}, indent=2))
    pairs = [p for p in pairs if p.answer.strip()]
    record["passages_found"] = attach_passages(pairs, store)
    if len(pairs) < 2:
        raise ValueError(
            f"only {len(pairs)} QA pair(s) with an answer; the comparison needs training and held-out "
            "questions: give more pairs, or generate more (qa.questions_per_chunk, qa.max_chunks)"
        )
    return pairs, record


def attach_passages(pairs: list[QAPair], store: Any) -> int:
    """Give pairs without ``chunk_id`` or ``contexts`` the chunks that contain their answer.

    A chunk qualifies when its normalised text contains the normalised answer as whole words
    and, if the pair names a ``source``, the chunk's source is that file (or ends with it). The
    first qualifying chunk becomes ``chunk_id`` and all of them ``contexts`` (in store order);
    ``metadata["contexts_from"] = "answer_match"`` marks the pair. Pairs with no match are kept
    as they are (they still count for the answer metrics).

    Returns:
        The number of pairs that got passages.
    """
    from ragkit.eval.answers import normalize_answer

    chunks = [(c, f" {normalize_answer(c.text)} ") for c in store]
    found = 0
    for p in pairs:
        if p.chunk_id or p.contexts:
            continue
        answer = normalize_answer(p.answer)
        if not answer:
            continue
        hits = [c for c, text in chunks if f" {answer} " in text
                and (not p.source or c.source == p.source or c.source.endswith("/" + p.source))]
        if hits:
            p.chunk_id, p.contexts = hits[0].id, [c.text for c in hits]
            p.source = p.source or hits[0].source
            p.metadata["contexts_from"] = "answer_match"
            found += 1
    return found


def split_pairs(pairs: list[QAPair], split: dict[str, Any], max_train: int | None = None,
                max_test: int | None = None) -> tuple[list[QAPair], list[QAPair]]:
    """Split pairs into (train, test) as ``split`` says (``by``, ``test`` fraction, ``seed``).

    Raises:
        ValueError: a split with no training or no held-out pair, or ``by: given`` with pairs
            that carry no ``split``.
    """
    by, frac, seed = split["by"], float(split["test"]), int(split["seed"])
    if by == "given":
        missing = [p.question for p in pairs if p.metadata.get("split") not in ("train", "dev", "test")]
        if missing:
            raise ValueError(f"qa.split.by is 'given' but {len(missing)} pair(s) have no split (e.g. {missing[0]!r})")
        train = [p for p in pairs if p.metadata["split"] in ("train", "dev")]
        test = [p for p in pairs if p.metadata["split"] == "test"]
    elif by == "document":
        parts = split_by_document(pairs, dev=0.0, test=frac, seed=seed)
        train, test = parts["train"] + parts["dev"], parts["test"]
    else:
        if not 0 < frac < 1:
            raise ValueError(f"qa.split.test must be a fraction in (0, 1), got {frac}")
        order = list(range(len(pairs)))
        random.Random(seed).shuffle(order)
        n_test = max(1, round(frac * len(pairs)))
        held = set(order[:n_test])
        train = [p for i, p in enumerate(pairs) if i not in held]
        test = [p for i, p in enumerate(pairs) if i in held]
        for part, name in ((train, "train"), (test, "test")):
            for p in part:
                p.metadata["split"] = name
    if max_train is not None:
        train = train[:max_train]
    if max_test is not None:
        test = test[:max_test]
    if not train or not test:
        raise ValueError(f"the split left {len(train)} training and {len(test)} held-out pairs; both must be non-empty")
    return train, test


def golds(pairs: list[QAPair]) -> list[Gold]:
    """The references of held-out pairs: the answer (+ ``metadata["aliases"]``), chunk id, passages."""
    out = []
    for p in pairs:
        aliases = p.metadata.get("aliases") or []
        out.append(Gold(question=p.question, answers=[p.answer, *aliases],
                        chunk_ids=[p.chunk_id] if p.chunk_id else [], contexts=list(p.contexts)))
    return out


def similarity_labels(train: list[QAPair], test: list[QAPair], threshold: float | None = None,
                      embed: Callable[[list[str]], Any] | None = None) -> tuple[list[str], list[float], float]:
    """Label each held-out question ``interpolation`` or ``extrapolation`` by its nearest training question.

    Args:
        train / test: the split.
        threshold: cosine at or above which a question is interpolation; ``None``: the median
            of the held-out questions' nearest-neighbour similarities.
        embed: ``texts -> (n, d)`` normalised vectors (default MiniLM).

    Returns:
        ``(labels, nearest_similarities, threshold_used)``.
    """
    import numpy as np

    if embed is None:
        from ragkit.models import load_embedder

        model = load_embedder(DEFAULT_EMBEDDER)
        embed = lambda texts: model.encode(texts, normalize_embeddings=True, show_progress_bar=False)  # noqa: E731
    q_train = np.asarray(embed([p.question for p in train]), dtype=np.float64)
    q_test = np.asarray(embed([p.question for p in test]), dtype=np.float64)
    nearest = (q_test @ q_train.T).max(axis=1)
    used = float(np.median(nearest)) if threshold is None else float(threshold)
    labels = ["interpolation" if s >= used else "extrapolation" for s in nearest]
    return labels, [float(s) for s in nearest], used


def similarity_split(train: list[QAPair], test: list[QAPair], settings: dict[str, Any], seed: int = 0,
                     embed: Callable[[list[str]], Any] | None = None) -> tuple[list[QAPair], list[str], list[float], dict[str, Any]]:
    """The training pairs to tune on and the held-out questions' labels, as ``settings`` says.

    Args:
        train / test: the split.
        settings: ``similarity_split`` of the config (``method``, ``threshold``, ``buckets``, ``fold``).
        seed: the run's seed (clustering; with ``fold: null`` the first usable cluster from ``seed % buckets``).
        embed: ``texts -> (n, d)`` normalised vectors (default MiniLM).

    Returns:
        ``(train_kept, labels, nearest_similarities, record)``; with ``resample`` the held-out
        cluster's training pairs are not in ``train_kept`` and the record counts them.

    Raises:
        ValueError: ``resample`` with a ``fold`` that leaves a label empty, or no usable cluster.
    """
    from ragkit.experiments.resample import default_embed, resample

    embed = embed or default_embed()
    if settings["method"] == "nearest":
        labels, nearest, used = similarity_labels(train, test, settings["threshold"], embed)
        return train, labels, nearest, {"method": "nearest", "threshold": round(used, 4),
                                        "counts": {lab: labels.count(lab) for lab in ("interpolation", "extrapolation")}}
    buckets = min(int(settings["buckets"]), len(train) + len(test))
    tr = {str(i): p.question for i, p in enumerate(train)}
    te = {str(i): p.question for i, p in enumerate(test)}
    folds = [settings["fold"]] if settings["fold"] is not None else [(seed + i) % buckets for i in range(buckets)]
    error = None
    for fold in folds:
        try:
            r = resample(tr, te, seed=seed, buckets=buckets, fold=fold, balance=False, embed=embed)
            break
        except ValueError as exc:  # this cluster leaves one label empty: the next one
            error = exc
    else:
        raise ValueError(f"similarity_split: no cluster of {buckets} splits the held-out questions in two ({error}); "
                         "give more questions, set similarity_split.buckets, or use method: nearest")
    labels = ["extrapolation" if str(i) in set(r.extrapolation) else "interpolation" for i in range(len(test))]
    kept = [train[int(i)] for i in r.train]
    record = {**r.record, "method": "resample", "removed_train_questions": [train[int(i)].question for i in r.removed_train]}
    return kept, labels, [r.nearest[str(i)] for i in range(len(test))], record


def write_splits(out: Path, train: list[QAPair], test: list[QAPair]) -> None:
    """Write ``qa/train.jsonl`` and ``qa/test.jsonl`` under ``out``."""
    write_qa_jsonl(train, out / "qa" / "train.jsonl")
    write_qa_jsonl(test, out / "qa" / "test.jsonl")
