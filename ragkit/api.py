"""ragkit's Python API: ``ingest_files``, ``Index``, ``Pipeline``, ``tune_*``, ``evaluate``, ``compare``.

Thin faces over the modules the CLI runs, with the CLI's defaults: ``ragkit.ingest_files`` is
``ragkit ingest`` + ``ragkit index``, ``ragkit.Pipeline`` picks the retriever that fits the index
as ``ragkit ask`` does, ``ragkit.tune_*`` read QA pairs and mine negatives as ``ragkit tune``
does. Every name here is re-exported by ``import ragkit`` (lazily: ``import ragkit`` imports no
model library). The reference is ``docs/api.md``.

Example (the bundled demo corpus, BM25 only, a fake LLM so it runs in a second):
    >>> import tempfile, ragkit
    >>> index = ragkit.ingest_files(ragkit.DEMO_CORPUS, tempfile.mkdtemp() + "/demo", dense=False)
    >>> fake = {"type": "llm", "llm": {"type": "fake",
    ...         "default": "The Helios Monitor app receives a new data point every 5 minutes [1]."}}
    >>> pipeline = ragkit.Pipeline(index=index.directory, generator=fake)
    >>> answer = pipeline.ask(["How often does the Helios Monitor app update?"])[0]
    >>> answer.text
    'The Helios Monitor app receives a new data point every 5 minutes [1].'
    >>> answer.citations[0].source
    'notes/faq.md'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ragkit.defaults import DEFAULT_EMBEDDER, DEMO_CORPUS
from ragkit.extras import require
from ragkit.indexes.index import Index
from ragkit.pipeline import Pipeline, default_retriever

if TYPE_CHECKING:
    from ragkit.tuning.data import QAPair
    from ragkit.tuning.run import TuningResult

__all__ = [
    "ingest_files",
    "Index",
    "Pipeline",
    "default_retriever",
    "tune_retriever",
    "tune_reranker",
    "tune_generator",
    "tune_prf",
    "evaluate",
    "compare",
    "DEMO_CORPUS",
]

PathLike = str | Path
Pairs = PathLike | Sequence["QAPair"]


def ingest_files(
    paths: PathLike | Sequence[PathLike],
    out: PathLike,
    *,
    bm25: bool = True,
    dense: bool = True,
    embedder: str = DEFAULT_EMBEDDER,
    max_tokens: int = 256,
    overlap_tokens: int = 32,
    show_progress: bool = False,
) -> Index:
    """Parse files into an index directory and build its search indexes (``ragkit ingest`` + ``ragkit index``).

    Incremental: unchanged files are not parsed again and chunks embedded before are not
    embedded again. Files that fail to parse do not stop the rest; they are listed in
    ``index.store.failures`` (source -> reason).

    Args:
        paths: a file or directory, or several (``.gitignore`` is respected).
        out: the index directory (created or updated, atomically).
        bm25 / dense: build the BM25 / FAISS index (``dense`` loads the embedder).
        embedder: the dense index's model (``"minilm"``, a local directory).
        max_tokens / overlap_tokens: chunk size and overlap in embedder tokens.
        show_progress: show the embedding progress bar.

    Returns:
        The opened ``Index``.

    Raises:
        FileNotFoundError: a path does not exist (nothing is written).
        ValueError: neither ``bm25`` nor ``dense``.

    Example:
        >>> import tempfile, ragkit
        >>> index = ragkit.ingest_files(ragkit.DEMO_CORPUS, tempfile.mkdtemp() + "/demo", dense=False)
        >>> index.has("bm25"), index.has("dense")
        (True, False)
        >>> sorted({c.source for c in index.store})[:2]
        ['docs/helios-x2-manual.pdf', 'docs/warranty-policy.pdf']
    """
    from ragkit.ingest import ingest as parse_files

    if not (bm25 or dense):
        raise ValueError("build at least one search index: bm25=True and/or dense=True")
    roots = [paths] if isinstance(paths, (str, Path)) else list(paths)
    parse_files(roots, out, max_tokens=max_tokens, overlap_tokens=overlap_tokens)
    return Index.build(out, embedder=embedder, bm25=bm25, dense=dense, show_progress=show_progress)


def tune_retriever(
    train: Pairs, out: PathLike, *, index: PathLike | None = None, dev: Pairs | None = None, **settings: Any
) -> TuningResult:
    """Fine-tune the dense retriever's embedder (``ragkit tune retriever``).

    Args:
        train: QA pairs: a JSONL path (``ragkit make-qa`` output) or ``QAPair`` objects.
        out: the output model directory (a SentenceTransformer dir with ``ragkit-tuning.json``).
        index: the index the pairs come from (passages, hard negatives, dev evaluation).
        dev: held-out pairs scored before and after (needs ``index``).
        **settings: ``ragkit.tuning.retriever.RetrieverTuner`` arguments (``base``, ``epochs``,
            ``hard_negatives`` — mined from ``index`` when the pairs lack them — ``lora`` …).

    Returns:
        A ``TuningResult`` (``out_dir``, ``metrics_before``, ``metrics_after``); use the model
        with ``ragkit.ingest_files(..., embedder=out)``.

    Example:
        >>> result = ragkit.tune_retriever("runs/qa/train.jsonl", "runs/embedder", index="runs/idx",
        ...                                dev="runs/qa/dev.jsonl", epochs=1)  # doctest: +SKIP
    """
    require("tune")
    from ragkit.tuning.evaluate import task_from_pairs
    from ragkit.tuning.inputs import chunk_store, mine_from_index, qa_pairs
    from ragkit.tuning.retriever import RetrieverTuner

    tuner = RetrieverTuner(**settings)
    store = chunk_store(index)
    pairs = mine_from_index(qa_pairs(train, store), index, store, tuner.hard_negatives)
    dev_pairs = qa_pairs(dev, store)
    evaluation = task_from_pairs(dev_pairs, store) if dev_pairs and store is not None else None
    return tuner.fit(pairs, out, evaluation=evaluation)


def tune_reranker(
    out: PathLike,
    train: Pairs | None = None,
    *,
    feedback: PathLike | None = None,
    index: PathLike | None = None,
    dev: Pairs | None = None,
    **settings: Any,
) -> TuningResult:
    """Train a cross-encoder reranker from QA pairs and/or the chat service's feedback log (``ragkit tune reranker``).

    Args:
        out: the output reranker directory.
        train: QA pairs (a JSONL path or ``QAPair`` objects).
        feedback: a ``ragkit serve`` feedback log (SQLite); marked sources become training pairs.
        index: the index the pairs come from; pairs short of ``negatives`` get BM25 negatives from it.
        dev: held-out pairs: BM25 top-k reranked before/after (needs ``index``).
        **settings: ``ragkit.tuning.reranker.RerankerTuner`` arguments (``base``, ``negatives``,
            ``loss``, ``query_rewrite="car"`` …).

    Returns:
        A ``TuningResult``; ``record["interpolation"]`` has dev nDCG@10 per first-stage weight.

    Raises:
        ValueError: neither ``train`` nor ``feedback``.

    Example:
        >>> ragkit.tune_reranker("runs/reranker", feedback="runs/idx-feedback.sqlite",
        ...                      index="runs/idx")  # doctest: +SKIP
    """
    require("tune")
    from ragkit.feedback import read_feedback
    from ragkit.tuning.evaluate import task_from_pairs
    from ragkit.tuning.feedback import rerank_examples_from_feedback
    from ragkit.tuning.inputs import chunk_store, mine_from_index, qa_pairs
    from ragkit.tuning.reranker import RerankerTuner

    if train is None and feedback is None:
        raise ValueError("give train QA pairs and/or a feedback log")
    tuner = RerankerTuner(**settings)
    store = chunk_store(index)
    pairs = qa_pairs(train, store)
    if feedback is not None:
        pairs += rerank_examples_from_feedback(read_feedback(feedback), store)
    need = [p for p in pairs if len(p.negatives) < tuner.negatives]
    if need and store is not None:
        mined = {id(p): m for p, m in zip(need, mine_from_index(need, index, store, tuner.negatives))}
        pairs = [mined.get(id(p), p) for p in pairs]
    dev_pairs = qa_pairs(dev, store)
    evaluation = task_from_pairs(dev_pairs, store) if dev_pairs and store is not None else None
    return tuner.fit(pairs, out, evaluation=evaluation)


def tune_generator(
    train: Pairs, out: PathLike, *, index: PathLike | None = None, dev: Pairs | None = None, **settings: Any
) -> TuningResult:
    """LoRA fine-tune the generator LLM on QA pairs (``ragkit tune generator``).

    Args:
        train: QA pairs with answers (a JSONL path or ``QAPair`` objects).
        out: the output LoRA adapter directory.
        index: the index the pairs come from (passages; RAG-mode distractors).
        dev: held-out pairs: token F1 before/after.
        **settings: ``ragkit.tuning.generator.GeneratorTuner`` arguments (``base``,
            ``mode="closed-book"|"rag"|"rag-reasoning"``, ``lora_rank`` …).

    Returns:
        A ``TuningResult``; use the adapter as the generator's LLM model.

    Example:
        >>> ragkit.tune_generator("runs/qa/train.jsonl", "runs/lora", mode="rag", index="runs/idx")  # doctest: +SKIP
    """
    require("tune")
    from ragkit.tuning.generator import GeneratorTuner
    from ragkit.tuning.inputs import chunk_store, qa_pairs

    store = chunk_store(index)
    pool = [c.text for c in store] if store is not None else None
    tuner = GeneratorTuner(**settings)
    return tuner.fit(qa_pairs(train, store), out, evaluation=qa_pairs(dev, store) or None, pool=pool)


def tune_prf(
    out: PathLike,
    *,
    index: PathLike,
    data: PathLike | None = None,
    split: str = "train",
    train: Pairs | None = None,
    max_queries: int | None = None,
    **settings: Any,
) -> TuningResult:
    """Train a dense PRF query encoder against an index's frozen vectors, with or without LoL (``ragkit tune prf``).

    Args:
        out: the encoder directory (written atomically; use it as ``--rewrite lol:OUT``).
        index: the index whose dense vectors the encoder points into (its chunks are the documents).
        data: a BEIR-format dataset (or SciFact's release) whose ``split`` queries and qrels train it;
            the index must hold its corpus (chunk id = document id).
        split: the dataset split (``"train"``).
        train: QA pairs (``make-qa`` JSONL or ``QAPair`` objects): relevant document = the source chunk.
        max_queries: keep the first N dataset queries.
        **settings: ``ragkit.tuning.prf.PRFTuner`` arguments (``lambda_cr`` — 0 is the no-LoL
            ablation — ``depths``, ``epochs``, ``max_steps``, ``batch_size`` …); ``base``
            defaults to the index's embedder.

    Returns:
        A ``TuningResult``; ``record["skipped"]`` counts the queries left out and why.

    Example:
        >>> result = ragkit.tune_prf("runs/prf-lol", index="runs/scifact-idx", data="data/scifact",
        ...                          lambda_cr=1.0, depths=[0, 1, 3, 5], max_steps=50)  # doctest: +SKIP
    """
    require("tune")
    from ragkit.experiments.beir import load_beir
    from ragkit.tuning.inputs import qa_pairs
    from ragkit.tuning.prf import PRFTuner
    from ragkit.tuning.prf_data import beir_queries, index_task, pair_queries

    opened = Index.open(index)
    base = settings.setdefault("base", opened.embedder_id or DEFAULT_EMBEDDER)
    opened.check_embedder(base)  # the encoder must start in the space the index was built in
    tuner = PRFTuner(**settings)
    sources = [beir_queries(load_beir(data, split=split), max_queries)] if data is not None else []
    if train is not None:
        sources.append(pair_queries(qa_pairs(train, opened.store)))
    return tuner.fit(index_task(opened, *sources), out)


def evaluate(
    pipeline: Pipeline,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    k: int = 100,
    metrics: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Score a pipeline's retrieval (rewrite → retrieve → rerank) on judged queries, trec_eval-exact.

    Args:
        pipeline: the pipeline to score (its generator is not used).
        queries: ``{query_id: text}``.
        qrels: ``{query_id: {chunk_id: relevance}}``.
        k: hits retrieved per query (the run depth).
        metrics: ``ndcg@10``, ``recall@100``, ``mrr@10``, ``map`` … (default: nDCG@10, R@100 …).

    Returns:
        ``{"aggregate": {metric: mean}, "per_query": [...], "n_queries": n}``. For a BEIR
        dataset directory use ``ragkit.experiments.beir.evaluate_beir`` (``ragkit eval-retrieval``).

    Example:
        >>> import tempfile, ragkit
        >>> index = ragkit.ingest_files(ragkit.DEMO_CORPUS, tempfile.mkdtemp() + "/demo", dense=False)
        >>> warranty = [c.id for c in index.store if c.source == "docs/warranty-policy.pdf"]
        >>> result = ragkit.evaluate(ragkit.Pipeline(index=index.directory),
        ...                          {"q1": "How many years of warranty does the inverter have?"},
        ...                          {"q1": {cid: 1 for cid in warranty}}, k=10, metrics=["mrr@10"])
        >>> result["aggregate"]
        {'mrr@10': 1.0}
    """
    require("eval")
    from ragkit.eval.retrieval import DEFAULT_METRICS, run_from_hits
    from ragkit.eval.retrieval import evaluate as score_run

    ids = list(queries)
    hits, _timings = pipeline.retrieve([queries[q] for q in ids], k=k)
    return score_run(qrels, run_from_hits(ids, hits), list(metrics or DEFAULT_METRICS))


def compare(
    config: PathLike, out: PathLike | None = None, log: Callable[[str], None] | None = None, **overrides: Any
) -> dict[str, Any]:
    """RAG vs fine-tuning vs both on held-out questions (``ragkit compare``): {base, LoRA} x {closed-book, RAG} …

    Args:
        config: a compare config (YAML; see ``docs/compare.md``).
        out: output directory (default ``runs/compare/<name>``): ``compare.json``,
            ``compare.md``, ``report.html``.
        log: called with a line per step.
        **overrides: config fields replaced (dicts merged), e.g. ``ragas={"llm_metrics": True}``.

    Returns:
        The results written to ``compare.json``.

    Example:
        >>> results = ragkit.compare("examples/compare-demo.yaml")  # doctest: +SKIP
    """
    require("compare")
    from ragkit.experiments.compare import compare_from_file
    from ragkit.experiments.compare_config import load_config

    out = Path(out) if out is not None else Path("runs") / "compare" / load_config(config).name
    return compare_from_file(config, out, log or (lambda _message: None), **overrides)
