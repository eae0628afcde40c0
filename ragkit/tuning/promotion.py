"""Tune a reranker from the feedback log and promote it only if it beats the one in service.

The loop behind ``ragkit tune reranker --feedback LOG --index DIR --kind bi-encoder``:

1. judgements from every signal in the log, split by question and time
   (``ragkit.tuning.feedback_split``);
2. a bi-encoder (the index's MiniLM, or the promoted one, as the starting point) fine-tuned
   on the train questions (``RetrieverTuner``, in-batch negatives);
3. the first-stage weight chosen on the dev questions (grid 0, 0.1, …, 1; ties → more weight
   on the first stage);
4. on held-out questions never used for 2–3: the candidate pipeline (first stage + new
   reranker) against the pipeline in service (first stage + the promoted reranker, or the first
   stage alone), nDCG@10 per question, paired randomization test;

Steps 3–4 score *condensed* rankings (Sakai, "Alternatives to Bpref", SIGIR 2007): each ranking
is cut down to the chunks a user judged before nDCG@10 is taken. Feedback only labels what the
server showed, i.e. the in-service pipeline's top few; scored on full rankings, any chunk a new
reranker lifts from deeper down is unjudged and counts as non-relevant, so the pipeline in
service wins by construction (the first version of this loop never promoted anything for that
reason: on SciFact its feedback nDCG was 0.81 where the real qrels gave 0.68). Condensed lists
ask only the question the labels can answer: does the candidate order the judged chunks better?
The real-qrels check on questions outside the log is ``benchmarks/feedback_loop.py``'s job.

5. promotion iff the candidate's mean is higher and ``p <= alpha``: the model moves into
   ``INDEX/models/reranker/<generation>/`` and the pointer follows atomically
   (``ragkit.indexes.promoted``); otherwise the candidate is discarded and the reason logged.

``alpha`` defaults to 0.2: a held-out set of a few dozen questions rarely reaches 0.05, and
the rule's job is the guard — never ship a model that is not measurably ahead.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ragkit.eval.retrieval import evaluate
from ragkit.eval.significance import randomization_test
from ragkit.feedback import read_answers, read_feedback
from ragkit.indexes.promoted import install_model, log_decision, read_promoted, write_promoted
from ragkit.pipeline import Pipeline, default_retriever
from ragkit.registry import build
from ragkit.tuning.feedback_split import judgements, split_feedback

__all__ = ["PromotionReport", "tune_reranker_from_feedback", "score_pipelines", "verdict", "WEIGHTS"]

WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
METRIC = "ndcg@10"


@dataclass
class PromotionReport:
    """What the loop did: data counts, the chosen settings, held-out figures and the decision."""

    promoted: bool
    reason: str
    data: dict[str, Any]
    first_stage_weight: float
    held_out: dict[str, Any]
    dev: dict[str, float] = field(default_factory=dict)
    pointer: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"promoted": self.promoted, "reason": self.reason, "data": self.data,
                "first_stage_weight": self.first_stage_weight, "dev": self.dev, "held_out": self.held_out,
                "pointer": self.pointer}


def verdict(test: Any, alpha: float, metric: str) -> tuple[bool, str]:
    """The promotion rule shared by every tuner: ``(promote?, why)`` from a paired test of candidate vs in service.

    Promote iff the candidate's mean is higher and ``p <= alpha``.
    """
    a, b, p = test.mean_a, test.mean_b, test.p_value
    if test.delta > 0 and p <= alpha:
        return True, f"candidate {a:.4f} > in service {b:.4f} {metric} (p={p:.3g} <= {alpha})"
    if test.delta <= 0:
        return False, f"candidate {a:.4f} is not above in service {b:.4f} {metric}: kept the old one"
    return False, f"candidate {a:.4f} > in service {b:.4f} {metric} but p={p:.3g} > {alpha}: not enough evidence, kept the old one"


def score_pipelines(index: Path, qrels: dict[str, dict[str, int]], rerankers: dict[str, Any],
                    depth: int = 50, condensed: bool = False, retriever: str | dict[str, Any] | None = None
                    ) -> dict[str, dict[str, float]]:
    """Per-question nDCG@10 of the first stage reranked by each of ``rerankers`` (``None``: as retrieved).

    The first stage runs once; every reranker sees the same candidates. Question texts are
    their own ids. ``condensed``: drop the chunks ``qrels`` does not judge (no key for the
    question) from each ranking before the cut at 10 (see the module docstring). ``retriever``:
    the first stage (default: the index's, ``default_retriever``).
    """
    pipeline = Pipeline.for_index(index, {"retriever": retriever or default_retriever(index), "reranker": None})
    questions = sorted(qrels)
    hits, _ = pipeline.retrieve(questions, depth)
    out = {}
    for name, reranker in rerankers.items():
        ranked = hits if reranker is None else reranker.rerank(questions, hits, depth)
        if condensed:
            ranked = [[h for h in hs if h.chunk_id in qrels[q]] for q, hs in zip(questions, ranked)]
        run = {q: {h.chunk_id: float(len(hs) - i) for i, h in enumerate(hs[:10])} for q, hs in zip(questions, ranked)}
        result = evaluate(qrels, run, metrics=[METRIC])
        out[name] = {row["query_id"]: float(row[METRIC]) for row in result["per_query"]}
    return out


def tune_reranker_from_feedback(
    index: str | Path,
    feedback: str | Path,
    held_out: float = 0.3,
    dev: float = 0.25,
    alpha: float = 0.2,
    depth: int = 50,
    tuner: Any | None = None,
    promote: bool = True,
    on_step: Callable[[str], None] | None = None,
    retriever: str | dict[str, Any] | None = None,
) -> PromotionReport:
    """Run the whole loop (see the module docstring) and return its report.

    Args:
        index: the index directory the bot serves (its chunks, first stage and model registry).
        feedback: the bot's feedback log.
        held_out / dev: fractions of questions for the promotion decision and for selection.
        alpha: the largest p-value (paired randomization test) that still promotes.
        depth: first-stage candidates the reranker re-scores.
        tuner: a ``RetrieverTuner`` (default: 2 epochs, batch 16, from the promoted
            bi-encoder if there is one, else MiniLM).
        promote: False: decide and report, but move nothing.
        on_step: called with a short description as each step starts (progress).
        retriever: the first stage the bot serves with (default: the index's ``default_retriever``).

    Raises:
        ValueError: too little feedback to split (see ``split_feedback``).
    """
    from ragkit.indexes.store import ChunkStore
    from ragkit.tuning.retriever import RetrieverTuner

    index = Path(index)
    step = on_step or (lambda _: None)
    store = ChunkStore.load(index)
    judged, counts = judgements(read_feedback(feedback), read_answers(feedback), store)
    split = split_feedback(judged, store, held_out=held_out, dev=dev)
    data = {**counts, **split.report}
    current = read_promoted(index, "reranker")
    incumbent = build("reranker", current["spec"]) if current else None
    start_from = current["spec"]["model"] if current and current["spec"].get("type") == "bi-encoder" else None
    tuner = tuner or RetrieverTuner(base=start_from or "minilm", epochs=2.0, batch_size=16, progress=False)
    with tempfile.TemporaryDirectory(prefix=".tune-", dir=index) as scratch:
        step(f"training a bi-encoder on {len(split.train)} examples ({split.report['train_questions']} questions)")
        trained = Path(scratch) / "model"
        tuner.fit(split.train, trained)
        step(f"choosing the first-stage weight on {len(split.dev)} dev questions")
        candidate = build("reranker", {"type": "bi-encoder", "model": str(trained)})
        dev_means = {}
        for w in WEIGHTS:  # one model, its passage vectors cached: only the blend changes
            candidate.first_stage_weight = w
            scores = score_pipelines(index, split.dev, {"candidate": candidate}, depth, True, retriever)["candidate"]
            dev_means[str(w)] = sum(scores.values()) / max(len(scores), 1)
        weight = float(max(dev_means, key=lambda w: (dev_means[w], float(w))))
        candidate.first_stage_weight = weight
        step(f"judging on {len(split.held_out)} held-out questions")
        scores = score_pipelines(index, split.held_out, {"first_stage": None, "in_service": incumbent,
                                                         "candidate": candidate}, depth, True, retriever)
        test = randomization_test(scores["candidate"], scores["in_service"])
        vs_first = randomization_test(scores["candidate"], scores["first_stage"])
        held = {"metric": METRIC, "ranking": "condensed to judged chunks", "n": test.n,
                "first_stage": vs_first.mean_b, "in_service": test.mean_b,
                "candidate": test.mean_a, "vs_in_service": test.to_dict(), "vs_first_stage": vs_first.to_dict(),
                "in_service_is": "promoted reranker" if current else "first stage"}
        better, reason = verdict(test, alpha, METRIC)
        report = PromotionReport(promoted=False, reason=reason, data=data, first_stage_weight=weight,
                                 held_out=held, dev=dev_means)
        if better and promote:
            generation = install_model(index, "reranker", trained)
            spec = {"type": "bi-encoder", "model": str(generation), "first_stage_weight": weight}
            report.pointer = write_promoted(index, "reranker", generation, spec, {"held_out": held, "data": data})
            report.promoted = True
        elif better:
            report.reason += " (not promoted: dry run)"
    log_decision(index, "reranker", report.to_dict())
    return report
