"""``ragkit compare``: RAG vs fine-tuning vs both, on the same held-out questions of one corpus.

The matrix is {base LLM, LoRA-tuned LLM} x {closed-book, RAG}, plus RAG with the fine-tuned
retriever and RAG with the trained reranker (``ragkit.experiments.compare_config.DEFAULT_SYSTEMS``; any
subset or other combination can be configured). Steps:

1. index: ingest the configured corpus and build BM25 + FAISS (incremental), or open ``index``;
2. QA pairs: generated from the chunks by the LLM, or the user's JSONL (``compare_data``);
3. split into training and held-out questions; label each held-out question interpolation /
   extrapolation (default: Zhan et al. 2022's resampling, which also drops the training
   questions of the held-out cluster: ``compare_data.similarity_split``);
4. tunings: LoRA generator, embedder, reranker (``compare_models``), each timed and measured;
5. every system answers every held-out question (models are loaded before the timed run, so
   latency per answer excludes loading); answers are scored with ``ragkit.eval.answers`` and
   ``ragkit.eval.ragas`` (LLM-judged metrics only on request);
6. outputs in ``out``: ``compare.json`` (every prediction and score), ``compare.md`` (tables) and
   ``report.html`` (charts and a per-question drill-down), plus ``qa/`` and ``models/``.

References: Balaguer et al., 2024, "RAG vs Fine-tuning: Pipelines, Tradeoffs, and a Case Study
on Agriculture"; Ovadia et al., 2024, "Fine-Tuning or Retrieval? Comparing Knowledge Injection
in LLMs".
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any, Callable

from ragkit.eval.answers import Gold, aggregate, score_answers, strip_citations
from ragkit.experiments.compare_config import CompareConfig, SystemSpec, load_config, resolve_references
from ragkit.eval.costs import measure
from ragkit.indexes.atomic import atomic_write_text
from ragkit.types import Answer

__all__ = ["run_compare", "compare_from_file", "SPLIT_LABELS"]

SPLIT_LABELS = ("interpolation", "extrapolation")


def _index(cfg: CompareConfig, out: Path, log: Callable[[str], None]) -> tuple[Path, dict[str, Any]]:
    """Ingest + index the corpus (incremental) or open the given index; returns (dir, record)."""
    from ragkit.indexes.index import Index

    index_dir = cfg.path(cfg.index) if cfg.index else out / "index"
    record: dict[str, Any] = {"index": str(index_dir)}
    with measure() as cost:
        if cfg.corpus:
            from ragkit.ingest import ingest

            paths = cfg.corpus_paths()
            log(f"ingesting {', '.join(map(str, paths))} -> {index_dir}")
            report = ingest(paths, index_dir)
            if report.failed:
                raise ValueError(f"some corpus files failed to ingest: {report.failed}; fix or remove them")
            Index.build(index_dir, embedder=cfg.embedder, show_progress=False)
        elif not (index_dir / "manifest.json").is_file():
            raise FileNotFoundError(
                f"{index_dir} is not a ragkit index; set 'corpus' in the config to build one, or point 'index' "
                "at a directory made by `ragkit ingest` + `ragkit index`"
            )
    record["cost"] = cost.to_dict()
    return index_dir, record


def _hit_view(answer: Answer) -> list[dict[str, Any]]:
    return [{"chunk_id": h.chunk_id, "rank": h.rank, "score": round(float(h.score), 5),
             "location": h.chunk.location if h.chunk else h.chunk_id} for h in answer.hits]


def _answer_view(answer: Answer) -> dict[str, Any]:
    """The JSON form of an answer: text, citations with locations, hits without chunk texts."""
    by_id = {h.chunk_id: h.chunk for h in answer.hits if h.chunk is not None}
    cites = []
    for c in answer.citations:
        chunk = by_id.get(c.chunk_id)
        cites.append({"number": c.number, "chunk_id": c.chunk_id, "location": chunk.location if chunk else c.source})
    keep = ("idk_reason", "model_text", "grounding", "citations_attributed", "reasoning", "reasoning_flags")
    return {"text": answer.text, "mode": answer.mode, "citations": cites, "hits": _hit_view(answer),
            "timings": {k: round(v, 4) for k, v in answer.timings.items()},
            "metadata": {k: v for k, v in answer.metadata.items() if k in keep}}


def base_spec(cfg: CompareConfig, index_dir: Path) -> dict[str, Any]:
    """The pipeline spec every system overlays: the config's index, retriever, generator and ``k``."""
    return {"index": str(index_dir), "retriever": cfg.retriever,
            "generator": {"type": "llm", **cfg.generator, "llm": cfg.llm}, "k": cfg.k}


def system_spec(cfg: CompareConfig, system: SystemSpec, index_dir: Path, tuned: dict[str, Any]) -> dict[str, Any]:
    """The resolved pipeline spec of one system: the base, the system's overlay, ``tuned:KIND`` filled in.

    Raises:
        ValueError: the tuned retriever's index with a BM25 retriever (BM25 has no embedder to tune).
    """
    from ragkit.config import overlay, validate_spec

    references = {"generator": getattr(tuned.get("generator"), "llm", None),
                  "retriever": getattr(tuned.get("retriever"), "index", None),
                  "reranker": getattr(tuned.get("reranker"), "model", None)}
    spec = resolve_references(overlay(base_spec(cfg, index_dir), system.pipeline), references)
    retriever = spec.get("retriever")
    kind = retriever if isinstance(retriever, str) else (retriever or {}).get("type")
    if "retriever" in system.needs and kind == "bm25":
        raise ValueError(f"system {system.id!r} uses the tuned retriever but the retriever is bm25; use dense or hybrid")
    if system.mode == "closed-book":
        spec.pop("index", None)
    return validate_spec(spec)


def _pipeline(cfg: CompareConfig, system: SystemSpec, index_dir: Path, tuned: dict[str, Any]) -> Any:
    from ragkit.pipeline import Pipeline

    return Pipeline.from_config(system_spec(cfg, system, index_dir, tuned))


def _ragas(cfg: CompareConfig, answers: list[Answer], golds: list[Gold], log: Callable[[str], None]) -> dict[str, Any] | None:
    if not cfg.ragas["enabled"]:
        return None
    from ragkit.eval.ragas import LLM_METRICS, NON_LLM_METRICS, RagasSample, ragas_scores

    samples = [
        RagasSample(question=g.question, response=strip_citations(a.text), reference=g.answers[0],
                    retrieved_contexts=[h.chunk.text for h in a.hits if h.chunk] if a.mode == "rag" else None,
                    reference_contexts=list(g.contexts))
        for a, g in zip(answers, golds)
    ]
    wanted = cfg.ragas["metrics"]
    plain = [m for m in (wanted or NON_LLM_METRICS) if m in NON_LLM_METRICS]
    result = ragas_scores(samples, metrics=plain, embedder=cfg.embedder)
    if cfg.ragas["llm_metrics"]:
        judged = [m for m in (wanted or LLM_METRICS) if m in LLM_METRICS]
        n = cfg.ragas["max_samples"] or len(samples)
        judge = cfg.ragas["judge"] or cfg.llm
        log(f"ragas: judging {min(n, len(samples))} answers with {json.dumps(judge)}")
        judged_result = ragas_scores(samples[:n], llm_metrics=True, judge=judge, metrics=judged, embedder=cfg.embedder,
                                     judge_max_new_tokens=cfg.ragas["judge_max_new_tokens"])
        for row, extra in zip(result["per_query"], judged_result["per_query"]):
            row.update({k: v for k, v in extra.items() if k != "missing"})
            row["missing"].update(extra["missing"])
        for key in ("aggregate", "missing", "counts"):
            result[key].update(judged_result[key])
        result["metrics"] += judged_result["metrics"]
        result["judge"], result["judge_stats"] = judged_result["judge"], judged_result["judge_stats"]
        result["llm_samples"] = min(n, len(samples))
        result["seconds"] += judged_result["seconds"]
    return result


def _run_system(cfg: CompareConfig, system: SystemSpec, index_dir: Path, tuned: dict[str, Any], golds: list[Gold],
                labels: list[str] | None, log: Callable[[str], None]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    questions = [g.question for g in golds]
    pipeline = _pipeline(cfg, system, index_dir, tuned)
    log(f"{system.id}: loading models")
    with measure() as load:
        pipeline.warm_up(system.mode)
    log(f"{system.id}: answering {len(questions)} questions ({system.mode})")
    with measure() as run:
        answers = pipeline.ask(questions, mode=system.mode)
    scores = score_answers(answers, golds, cfg.metrics)
    ragas = _ragas(cfg, answers, golds, log)
    by_split = {}
    if labels is not None:
        for label in SPLIT_LABELS:
            rows = [r for r, lab in zip(scores["per_query"], labels) if lab == label]
            by_split[label] = aggregate(rows, cfg.metrics)
    train_s = sum(tuned[k].train_seconds for k in system.needs)
    peaks = [p for p in (load.peak_rss_mb, run.peak_rss_mb) if p is not None]
    costs = {
        "train_seconds": round(train_s, 2),
        "load_seconds": round(load.seconds, 3),
        "answer_seconds": round(run.seconds, 3),
        "latency_per_answer_s": round(run.seconds / len(questions), 4),
        "peak_rss_mb": round(max(peaks), 1) if peaks else None,
        "rss_added_mb": round(max(peaks) - load.start_rss_mb, 1) if peaks and load.start_rss_mb is not None else None,
        "gpu_peak_mb": run.gpu_peak_mb,
    }
    summary = {**system.__dict__, "spec": pipeline.to_config(), "aggregate": scores["aggregate"], "by_split": by_split, "costs": costs,
               "ragas": None if ragas is None else {k: ragas[k] for k in ragas if k != "per_query"},
               "stage_seconds": _mean_timings(answers)}
    per_question = []
    for i, (a, row) in enumerate(zip(answers, scores["per_query"])):
        view = _answer_view(a)
        view["scores"] = {m: row.get(m) for m in cfg.metrics}
        view["idk"] = row["idk"]
        if ragas is not None:
            rrow = ragas["per_query"][i]
            view["ragas"] = {m: rrow.get(m) for m in ragas["metrics"] if m in rrow}
            view["ragas_missing"] = rrow["missing"]
        per_question.append(view)
    return summary, per_question


def _mean_timings(answers: list[Answer]) -> dict[str, float]:
    stages: dict[str, list[float]] = {}
    for a in answers:
        for k, v in a.timings.items():
            stages.setdefault(k, []).append(v)
    return {k: round(sum(v) / len(v), 4) for k, v in stages.items()}


def run_compare(cfg: CompareConfig, out: str | Path, log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Run the whole comparison and write ``compare.json``, ``compare.md`` and ``report.html`` to ``out``.

    Args:
        cfg: the validated config (``load_config``).
        out: output directory (created).
        log: progress messages (the CLI prints them).

    Returns:
        The results dict written to ``compare.json``.

    Raises:
        ValueError / FileNotFoundError: a bad config, corpus, index or QA file.
    """
    from ragkit.experiments import compare_data
    from ragkit.experiments.compare_models import prepare_tuning
    from ragkit.experiments.report import write_reports
    from ragkit.indexes.store import ChunkStore

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    stages: dict[str, Any] = {}
    index_dir, stages["index"] = _index(cfg, out, log)
    store = ChunkStore.load(index_dir)
    with measure() as qa_cost:
        pairs, qa_record = compare_data.qa_pairs(cfg, store, out, log)
    qa_record["cost"] = qa_cost.to_dict()
    stages["qa"] = qa_record
    train, test = compare_data.split_pairs(pairs, cfg.qa["split"], cfg.qa["max_train"], cfg.qa["max_test"])
    log(f"QA: {len(pairs)} pairs -> {len(train)} train, {len(test)} held out ({cfg.qa['split']['by']} split)")
    labels = nearest = split_record = None
    if cfg.similarity_split["enabled"]:
        train, labels, nearest, split_record = compare_data.similarity_split(train, test, cfg.similarity_split, cfg.seed)
        if split_record["method"] == "resample":
            log(f"interpolation/extrapolation (ReSTTest, cluster {split_record['fold']} of {split_record['buckets']} held out): "
                f"{split_record['n_train_removed']} training pairs removed, {len(train)} kept")
    compare_data.write_splits(out, train, test)

    notes: list[str] = []
    needed = sorted(set().union(*(s.needs for s in cfg.systems)))
    tuned: dict[str, Any] = {}
    for kind in needed:
        if cfg.tuning.get(kind) is None:
            notes.append(f"tuning.{kind} is null: systems that need it were skipped")
            continue
        tuned[kind] = prepare_tuning(kind, cfg, train, store, out, log)
    systems = [s for s in cfg.systems if s.needs <= set(tuned)]
    golds = compare_data.golds(test)
    results_systems, predictions = [], {}
    for system in systems:
        summary, per_question = _run_system(cfg, system, index_dir, tuned, golds, labels, log)
        results_systems.append(summary)
        predictions[system.id] = per_question
    questions = []
    for i, (pair, gold) in enumerate(zip(test, golds)):
        questions.append({
            "id": i, "question": gold.question, "gold": gold.answers, "gold_chunk_ids": gold.chunk_ids,
            "gold_source": pair.source, "split": labels[i] if labels else None,
            "nearest_train_similarity": round(nearest[i], 4) if nearest else None,
            "predictions": {sid: predictions[sid][i] for sid in predictions},
        })
    results = {
        "name": cfg.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": cfg.to_dict(),
        "environment": _environment(cfg),
        "metrics": cfg.metrics,
        "qa": {**stages["qa"], "n_train": len(train), "n_test": len(test), "split": cfg.qa["split"]},
        "similarity_split": split_record,
        "index": stages["index"],
        "tuning": {k: v.to_dict() for k, v in tuned.items()},
        "systems": results_systems,
        "questions": questions,
        "notes": notes,
        "seconds_total": round(time.perf_counter() - started, 2),
    }
    write_reports(results, out)
    log(f"wrote {out / 'compare.json'}, {out / 'compare.md'} and {out / 'report.html'}")
    return results


def _environment(cfg: CompareConfig) -> dict[str, Any]:
    import os

    import torch

    from ragkit.version import __version__

    return {"ragkit": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "machine": platform.machine(), "processor": platform.processor() or None, "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available()}


def compare_from_file(config: str | Path, out: str | Path, log: Callable[[str], None] = lambda _m: None,
                      **overrides: Any) -> dict[str, Any]:
    """Load a YAML config, apply ``overrides`` (e.g. ``ragas={"llm_metrics": True}``) and run it.

    Raises:
        ValueError / FileNotFoundError: as ``load_config`` and ``run_compare``.
    """
    cfg = load_config(config)
    for key, value in overrides.items():
        current = getattr(cfg, key)
        setattr(cfg, key, {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value)
    atomic_write_text(Path(out) / "config.resolved.json", json.dumps(cfg.to_dict(), indent=2, default=str))
    return run_compare(cfg, out, log)
