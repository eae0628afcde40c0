"""`ragkit make-qa` and `ragkit tune retriever|reranker|generator`: training data and fine-tuning.

Each command is one call into ``ragkit.tuning``; heavy libraries are imported inside the functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from ragkit.extras import require

console = Console()

_LLM_HELP = "LLM: a model for the local transformers backend (smollm2-135m, a dir), BACKEND:MODEL, or a JSON config like '{\"type\": \"openai\", ...}'."


def _llm_config(llm: str) -> dict[str, Any]:
    from ragkit.config import parse_component

    try:
        return parse_component("llm", llm)
    except ValueError as exc:
        raise typer.BadParameter(f"--llm: {exc}") from exc


def _store(index: Optional[Path]):
    from ragkit.tuning.inputs import chunk_store

    return chunk_store(index)


def _mine(pairs: list, index: Optional[Path], store: Any, n: int) -> list:
    from ragkit.tuning.inputs import mine_from_index

    return mine_from_index(pairs, index, store, n)


def _report(result: Any, title: str) -> None:
    before, after = result.metrics_before, result.metrics_after
    table = Table("metric", "before", "after", title=title)
    for key in after or before:
        if isinstance((after or before).get(key), (int, float)) and key != "n":
            b = before.get(key)
            table.add_row(key, "-" if b is None else f"{b:.4f}", f"{after[key]:.4f}" if key in after else "-")
    if before or after:
        console.print(table)
    console.print(f"[green]saved[/] {result.out_dir} (ragkit-tuning.json; {result.wall_time_s:.0f} s)")


def make_qa_cmd(
    index: Annotated[Path, typer.Argument(help="Index directory written by `ragkit ingest`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for train/dev/test.jsonl and make-qa.json.")],
    llm: Annotated[str, typer.Option(help=_LLM_HELP)] = "smollm2-135m",
    questions_per_chunk: Annotated[int, typer.Option(help="Questions asked per chunk.")] = 2,
    max_chunks: Annotated[Optional[int], typer.Option(help="Sample at most this many chunks.")] = None,
    min_support: Annotated[float, typer.Option(help="Share of answer words that must be in the chunk.")] = 0.6,
    dedup: Annotated[float, typer.Option(help="Question Jaccard at which a pair is a near-duplicate.")] = 0.8,
    diverse: Annotated[Optional[int], typer.Option(help="Keep at most N pairs by k-means diversity.")] = None,
    dev: Annotated[float, typer.Option(help="Fraction of pairs (by document) for dev.")] = 0.1,
    test: Annotated[float, typer.Option(help="Fraction of pairs (by document) for test.")] = 0.1,
    negatives: Annotated[int, typer.Option(help="BM25 hard negatives mined per pair (0: none).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed for sampling, splits and k-means.")] = 0,
    structured: Annotated[bool, typer.Option(help="Ask for the questions as JSON under a schema (constrained "
                                                  "decoding; fewer pairs survive the filter with the 135M model).")] = False,
) -> None:
    """Generate QA pairs from an index's chunks with an LLM, filter them and split them by document."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ragkit.indexes.atomic import atomic_write_text
    from ragkit.registry import build
    from ragkit.tuning.data import split_by_document, write_qa_jsonl
    from ragkit.tuning.qa_filter import filter_qa
    from ragkit.tuning.qa_gen import generate_qa

    store = _store(index)
    if not len(store):
        raise typer.BadParameter(f"{index} holds no chunks; run `ragkit ingest PATH --out {index}` first")
    model = build("llm", _llm_config(llm))
    with Progress(TextColumn("[bold]make-qa"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("", total=None)
        raw = generate_qa(list(store), model, questions_per_chunk=questions_per_chunk, max_chunks=max_chunks, seed=seed,
                          progress=lambda done, total: progress.update(task, completed=done, total=total),
                          structured=structured)
    kept, report = filter_qa(raw, min_support=min_support, dedup_threshold=dedup, diverse_k=diverse, seed=seed)
    kept = _mine(kept, index, store, negatives)
    splits = split_by_document(kept, dev=dev, test=test, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    for name, pairs in splits.items():
        write_qa_jsonl(pairs, out / f"{name}.jsonl")
    summary = {"index": str(index), "llm": _llm_config(llm), "filter": report.to_dict(),
               "splits": {k: len(v) for k, v in splits.items()}, "seed": seed, "structured": structured}
    atomic_write_text(out / "make-qa.json", json.dumps(summary, indent=2))
    console.print(f"[green]{report.kept}[/] of {report.total} generated pairs kept (dropped: {dict(report.dropped) or 'none'}); "
                  f"train/dev/test = {summary['splits']['train']}/{summary['splits']['dev']}/{summary['splits']['test']} in {out}")


def tune_retriever_cmd(
    train: Annotated[Path, typer.Option(help="Training QA pairs (JSONL).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output model dir (a SentenceTransformer dir).")],
    index: Annotated[Optional[Path], typer.Option(help="Index the pairs come from (passages, negatives, dev eval).")] = None,
    dev: Annotated[Optional[Path], typer.Option(help="Dev QA pairs scored before/after (needs --index).")] = None,
    base: Annotated[str, typer.Option(help="Base embedder.")] = "minilm",
    epochs: Annotated[float, typer.Option()] = 1.0,
    batch_size: Annotated[int, typer.Option()] = 32,
    learning_rate: Annotated[float, typer.Option()] = 2e-5,
    max_seq_length: Annotated[int, typer.Option()] = 256,
    loss: Annotated[str, typer.Option(help="mnrl or cached-mnrl.")] = "mnrl",
    hard_negatives: Annotated[int, typer.Option(help="BM25 hard negatives per pair (needs --index).")] = 0,
    lora: Annotated[bool, typer.Option(help="Train LoRA adapters (saved as adapters over the base embedder).")] = False,
    merge_lora: Annotated[bool, typer.Option(help="--lora: merge the adapters into the weights before saving.")] = False,
    precision: Annotated[str, typer.Option(help="auto (bf16 where the hardware has it natively), fp32 or bf16.")] = "auto",
    seed: Annotated[int, typer.Option()] = 0,
    held_out: Annotated[Optional[Path], typer.Option(
        "--held-out", help="QA pairs never trained on: with --index, the tuned embedder replaces the index's "
                           "only if it wins on them (paired test; the index is re-embedded).")] = None,
    alpha: Annotated[float, typer.Option(help="--held-out: largest paired-test p-value that promotes.")] = 0.2,
    dry_run: Annotated[bool, typer.Option(help="--held-out: decide and report, change nothing.")] = False,
) -> None:
    """Fine-tune the dense retriever's embedder; with --index and --held-out it goes into service only if it wins."""
    require("tune")
    from ragkit.api import tune_retriever

    held_pairs = _held_out_pairs(train, held_out, index, "embedder")
    result = tune_retriever(train, out, index=index, dev=dev, base=base, epochs=epochs, batch_size=batch_size,
                            learning_rate=learning_rate, max_seq_length=max_seq_length, loss=loss,
                            hard_negatives=hard_negatives, lora=lora, merge_lora=merge_lora, seed=seed,
                            precision=precision)
    _report(result, "retriever (dev)")
    if held_out is not None:
        _promote_retriever(index, out, held_pairs, alpha, dry_run)


def _held_out_pairs(train: Path, held_out: Optional[Path], index: Optional[Path], kind: str) -> list:
    """``--held-out`` pairs, checked before training: they need ``--index`` and no training question among them."""
    if held_out is None:
        return []
    if index is None:
        raise typer.BadParameter(f"--held-out needs --index (the index whose {kind} is in service)")
    from ragkit.tuning.inputs import chunk_store, qa_pairs
    from ragkit.tuning.promote_retriever import check_disjoint

    store = chunk_store(index)
    held_pairs = qa_pairs(held_out, store)
    check_disjoint(qa_pairs(train, store), held_pairs)  # an honest split or nothing
    return held_pairs


def _promote_retriever(index: Path, out: Path, held_pairs: list, alpha: float, dry_run: bool) -> None:
    from ragkit.tuning.promote_retriever import promote_retriever

    with console.status("judging the tuned embedder on the held-out questions") as status:
        decision = promote_retriever(index, out, held_pairs, alpha=alpha, promote=not dry_run,
                                     on_step=status.update)
    _print_decision(decision, "embedder")
    if decision.promoted:
        console.print(f"{index} is re-embedded with it; search/ask/serve use it by default "
                      f"(history: {index}/models/retriever-history.jsonl)")


def tune_reranker_cmd(
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output reranker dir (cross-encoder kind).")] = None,
    kind: Annotated[str, typer.Option(
        help="bi-encoder: tune from --feedback on --index, promote only if it beats the reranker in service; "
             "cross-encoder: train a CrossEncoder into --out.")] = "cross-encoder",
    held_out: Annotated[float, typer.Option(help="bi-encoder: fraction of questions (the latest) held out.")] = 0.3,
    alpha: Annotated[float, typer.Option(help="bi-encoder: largest paired-test p-value that promotes.")] = 0.2,
    dry_run: Annotated[bool, typer.Option(help="bi-encoder: decide and report, promote nothing.")] = False,
    train: Annotated[Optional[Path], typer.Option(help="Training QA pairs (JSONL).")] = None,
    feedback: Annotated[Optional[Path], typer.Option(help="The QA bot's feedback log (SQLite) to learn from.")] = None,
    index: Annotated[Optional[Path], typer.Option(help="Index the pairs come from (passages, negatives, dev eval).")] = None,
    dev: Annotated[Optional[Path], typer.Option(help="Dev QA pairs: BM25 top-k reranked before/after (needs --index).")] = None,
    base: Annotated[Optional[str], typer.Option(
        help="cross-encoder: base encoder (a fresh scoring head is added), a reranker dir, or 'promoted' (the "
             "index's promoted bi-encoder: a warm start; default minilm); "
             "bi-encoder: embedder to start from (default: the promoted one, else minilm).")] = None,
    epochs: Annotated[float, typer.Option()] = 1.0,
    batch_size: Annotated[int, typer.Option()] = 32,
    learning_rate: Annotated[float, typer.Option()] = 1e-4,
    max_length: Annotated[int, typer.Option(help="Longest input in tokens (both kinds; a small base may need less).")] = 256,
    negatives: Annotated[int, typer.Option(help="Hard negatives per query (mined with BM25 when missing).")] = 3,
    loss: Annotated[str, typer.Option(
        help="cached-mnrl (listwise, memory-bounded), mnrl (listwise, all pairs at once) or bce (pointwise).")] = "cached-mnrl",
    query_rewrite: Annotated[str, typer.Option(help="none or car (LLM rewrites ambiguous training queries).")] = "none",
    llm: Annotated[str, typer.Option(help=_LLM_HELP)] = "smollm2-135m",
    depth: Annotated[int, typer.Option(help="BM25 candidates reranked in the dev evaluation.")] = 100,
    precision: Annotated[str, typer.Option(help="auto (bf16 where the hardware has it natively), fp32 or bf16.")] = "auto",
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Train a reranker from feedback (bi-encoder, promoted only when better) or QA pairs (cross-encoder, CAR)."""
    require("tune")
    if kind == "bi-encoder":
        return _tune_from_feedback(feedback, index, held_out, alpha, depth, dry_run, epochs, batch_size, seed, base,
                                   max_length)
    if kind != "cross-encoder":
        raise typer.BadParameter(f"--kind must be bi-encoder or cross-encoder, not {kind!r}")
    if out is None:
        raise typer.BadParameter("the cross-encoder kind needs --out DIR")
    from ragkit.api import tune_reranker

    if train is None and feedback is None:
        raise typer.BadParameter("give --train QA pairs and/or --feedback LOG")
    if base == "promoted":
        base = _promoted_bi_encoder(index)
    result = tune_reranker(out, train, feedback=feedback, index=index, dev=dev, base=base or "minilm", epochs=epochs,
                           batch_size=batch_size, learning_rate=learning_rate, max_length=max_length,
                           negatives=negatives, loss=loss, query_rewrite=query_rewrite, llm=_llm_config(llm),
                           eval_depth=depth, seed=seed, precision=precision)
    if result.record.get("car"):
        console.print(f"CAR: {result.record['car']}")
    _report(result, "reranker (dev; before = BM25)")
    curve = result.record.get("interpolation")
    if curve:
        best = max(curve, key=lambda w: (curve[w], -float(w)))
        console.print(f"dev nDCG@10 by first-stage weight: {curve}\n"
                      f"best on dev: first_stage_weight={best} (nDCG@10 {curve[best]:.4f}); use it as "
                      f"--rerank cross-encoder:model={out},first_stage_weight={best}")


def _promoted_bi_encoder(index: Optional[Path]) -> str:
    """``--base promoted``: warm-start the cross-encoder from the index's promoted bi-encoder (a model that already ranks)."""
    from ragkit.indexes.promoted import read_promoted

    if index is None:
        raise typer.BadParameter("--base promoted needs --index (the index whose promoted bi-encoder to start from)")
    current = read_promoted(index, "reranker")
    if not current or current["spec"].get("type") != "bi-encoder":
        raise ValueError(f"{index} has no promoted bi-encoder reranker; run `ragkit tune reranker --kind bi-encoder "
                         "--feedback LOG --index DIR` first, or pass --base minilm")
    console.print(f"warm start: the encoder of the promoted bi-encoder {current['generation']} (a fresh scoring head)")
    return current["spec"]["model"]


def _tune_from_feedback(feedback: Optional[Path], index: Optional[Path], held_out: float, alpha: float, depth: int,
                        dry_run: bool, epochs: float, batch_size: int, seed: int, base: Optional[str] = None,
                        max_length: int = 256) -> None:
    from ragkit.tuning.promotion import tune_reranker_from_feedback
    from ragkit.tuning.retriever import RetrieverTuner

    if feedback is None or index is None:
        raise typer.BadParameter("--kind bi-encoder learns from --feedback LOG for the index it serves: give both")
    _store(index)  # a clear error when it is not an index directory
    from ragkit.indexes.promoted import read_promoted

    current = read_promoted(index, "reranker")
    start = current["spec"]["model"] if current and current["spec"].get("type") == "bi-encoder" else "minilm"
    start = base or start
    tuner = RetrieverTuner(base=start, epochs=epochs, batch_size=min(batch_size, 16), seed=seed,
                           max_seq_length=max_length, progress=False)
    with console.status("tuning") as status:
        report = tune_reranker_from_feedback(index, feedback, held_out=held_out, alpha=alpha, depth=depth,
                                             tuner=tuner, promote=not dry_run, on_step=status.update)
    data, held = report.data, report.held_out
    console.print(f"feedback: {data['rows']} rows ({data['marks']} source marks, {data['thumbs']} thumbs), "
                  f"{data['duplicates']} repeated, {data['stale_chunks']} on chunks no longer indexed (ignored); "
                  f"questions: {data['train_questions']} train, {data['dev_questions']} dev, "
                  f"{data['held_out_questions']} held out")
    table = Table("system", f"held-out {held['metric']}", "candidate − system", "p (paired randomization)",
                  title=f"{held['n']} held-out questions, never trained on")
    table.add_row("first stage", f"{held['first_stage']:.4f}", f"{held['vs_first_stage']['delta']:+.4f}",
                  f"{held['vs_first_stage']['p_value']:.3g}")
    table.add_row(f"in service ({held['in_service_is']})", f"{held['in_service']:.4f}",
                  f"{held['vs_in_service']['delta']:+.4f}", f"{held['vs_in_service']['p_value']:.3g}")
    table.add_row(f"candidate (first_stage_weight={report.first_stage_weight})", f"{held['candidate']:.4f}", "", "")
    console.print(table)
    verdict = "[green]promoted[/]" if report.promoted else "[yellow]not promoted[/]"
    console.print(f"{verdict}: {report.reason}")
    if report.promoted:
        console.print(f"serving from {report.pointer['spec']['model']} (ragkit search / ask / serve use it; "
                      "a running `ragkit serve` switches on its next question, /health names the model)")


def tune_generator_cmd(
    train: Annotated[Path, typer.Option(help="Training QA pairs (JSONL) with answers.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output LoRA adapter dir.")],
    dev: Annotated[Optional[Path], typer.Option(help="Held-out QA pairs: token-F1 before/after.")] = None,
    index: Annotated[Optional[Path], typer.Option(help="Index the pairs come from (passages, RAG distractors).")] = None,
    base: Annotated[str, typer.Option(help="Base causal LM.")] = "smollm2-135m",
    mode: Annotated[str, typer.Option(help="closed-book, rag or rag-reasoning (name the passages, quote evidence, then answer).")] = "closed-book",
    epochs: Annotated[float, typer.Option()] = 3.0,
    batch_size: Annotated[int, typer.Option()] = 8,
    learning_rate: Annotated[float, typer.Option()] = 3e-4,
    lora_rank: Annotated[int, typer.Option()] = 16,
    max_length: Annotated[int, typer.Option()] = 512,
    merge_to: Annotated[Optional[Path], typer.Option(help="Also write a merged (adapter-free) model here.")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    held_out: Annotated[Optional[Path], typer.Option(
        "--held-out", help="QA pairs never trained on: with --index, the adapter becomes the index's generator "
                           "(ask/chat/serve) only if it wins on them (token F1, paired test).")] = None,
    alpha: Annotated[float, typer.Option(help="--held-out: largest paired-test p-value that promotes.")] = 0.2,
    dry_run: Annotated[bool, typer.Option(help="--held-out: decide and report, change nothing.")] = False,
) -> None:
    """LoRA fine-tune the generator LLM on QA pairs; with --index and --held-out it goes into service only if it wins."""
    require("tune")
    from ragkit.api import tune_generator
    from ragkit.tuning.generator import merge_adapter

    held_pairs = _held_out_pairs(train, held_out, index, "generator")
    result = tune_generator(train, out, index=index, dev=dev, base=base, mode=mode, epochs=epochs,
                            batch_size=batch_size, learning_rate=learning_rate, lora_rank=lora_rank,
                            lora_alpha=2 * lora_rank, max_length=max_length, seed=seed)
    _report(result, f"generator {mode} (dev)")
    if merge_to is not None:
        console.print(f"[green]merged[/] into {merge_adapter(out, merge_to)}")
    if held_out is not None:
        from ragkit.tuning.promote_generator import promote_generator

        with console.status("judging the tuned generator on the held-out questions") as status:
            decision = promote_generator(index, out, held_pairs, base=base, mode=mode, alpha=alpha,
                                         promote=not dry_run, on_step=status.update)
        _print_decision(decision, "generator")


def _print_decision(decision: Any, kind: str) -> None:
    """The held-out table and verdict of a retriever / generator promotion decision."""
    held = decision.held_out
    table = Table(kind, f"held-out {held['metric']}", "p (paired randomization)",
                  title=f"{held['n']} held-out questions, never trained on")
    table.add_row(f"in service ({held.get('in_service_is') or held.get('in_service_embedder')})",
                  f"{held['in_service']:.4f}", "")
    table.add_row("candidate", f"{held['candidate']:.4f}", f"{held['test']['p_value']:.3g}")
    console.print(table)
    verdict = "[green]promoted[/]" if decision.promoted else "[yellow]not promoted[/]"
    console.print(f"{verdict}: {decision.reason}")
