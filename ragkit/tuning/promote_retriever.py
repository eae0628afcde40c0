"""Put a tuned embedder into service only when it beats the one in service on held-out questions.

The rule ``ragkit tune reranker --kind bi-encoder`` applies to rerankers (``ragkit.tuning.promotion``),
applied to the dense retriever (``ragkit tune retriever --index DIR --held-out PAIRS --promote``):

1. the held-out pairs must share no question with the training pairs (checked by the caller,
   ``check_disjoint``): they were never trained on and never used to choose settings;
2. over the index's own chunks, each question is answered by dense retrieval with the embedder
   in service (the one the index's dense part was built with; MiniLM for a BM25-only index) and
   with the candidate, nDCG@10 per question against the pair's chunk;
3. the candidate is promoted iff its mean is higher and a paired randomization test gives
   ``p <= alpha``: the model moves into ``INDEX/models/retriever/<generation>/``, the index's
   dense part is re-embedded with it (``Index.build(rebuild=True)``: a new index generation,
   switched in by one rename, so readers and ``ragkit serve`` see the old index or the new one)
   and the pointer ``models/retriever.json`` names it. Otherwise nothing in the index changes.

Every decision, promoted or not, is appended to ``models/retriever-history.jsonl`` with its reason
and figures. Once promoted, every command that reads the index (search, ask, serve,
eval-retrieval) uses the new embedder by default, since the index records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ragkit.defaults import DEFAULT_EMBEDDER
from ragkit.eval.retrieval import evaluate
from ragkit.eval.significance import randomization_test
from ragkit.indexes.promoted import install_model, log_decision, write_promoted
from ragkit.tuning.data import QAPair
from ragkit.tuning.promotion import verdict

__all__ = ["Decision", "check_disjoint", "score_embedders", "promote_retriever"]

METRIC = "ndcg@10"


@dataclass
class Decision:
    """What a promotion rule decided (retriever, generator), why, and the held-out figures behind it."""

    promoted: bool
    reason: str
    held_out: dict[str, Any]
    pointer: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"promoted": self.promoted, "reason": self.reason, "held_out": self.held_out, "pointer": self.pointer}


def check_disjoint(train: list[QAPair], held_out: list[QAPair]) -> None:
    """Raise ``ValueError`` if a held-out question is also a training question."""
    shared = {p.question.strip() for p in train} & {p.question.strip() for p in held_out}
    if shared:
        example = sorted(shared)[0][:60]
        raise ValueError(f"{len(shared)} held-out question(s) are also training questions (e.g. {example!r}); "
                         "hold out questions the model never saw (ragkit make-qa writes disjoint splits)")


def score_embedders(store: Any, pairs: list[QAPair], embedders: dict[str, str], batch_size: int = 64,
                    precision: str = "auto") -> dict[str, dict[str, float]]:
    """Per-question nDCG@10 of dense retrieval over ``store`` with each embedder (name → model ref)."""
    from ragkit.models import load_sentence_transformer
    from ragkit.precision import autocast
    from ragkit.tuning.evaluate import dense_run, task_from_pairs

    task = task_from_pairs(pairs, store)
    out = {}
    for name, ref in embedders.items():
        model = load_sentence_transformer(ref)

        def encode(texts: list[str], model: Any = model) -> Any:
            with autocast(precision, model.device.type):
                vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                       convert_to_tensor=True, show_progress_bar=False)
            return vectors.float().cpu().numpy()

        result = evaluate(task.qrels, dense_run(encode, task, k=100), metrics=[METRIC])
        out[name] = {row["query_id"]: float(row[METRIC]) for row in result["per_query"]}
    return out


def promote_retriever(index: str | Path, candidate: str | Path, held_out: list[QAPair], alpha: float = 0.2,
                      promote: bool = True, on_step: Callable[[str], None] | None = None) -> Decision:
    """Judge ``candidate`` (a SentenceTransformer dir) against the index's embedder; promote it if it wins.

    Args:
        index: the index directory (its chunks are the corpus; its dense part is re-embedded on promotion).
        candidate: the tuned model directory. On promotion it is moved into the index's registry.
        held_out: QA pairs with chunk ids of this index, none of them trained on.
        alpha: the largest p-value (paired randomization test) that still promotes.
        promote: False: decide and report, change nothing.
        on_step: called with a short description as each step starts (progress).
    """
    from ragkit.indexes.index import Index

    step = on_step or (lambda _: None)
    index = Path(index).absolute()  # the symlink path, not a generation: the model path must outlive generations
    current = Index.open(index)
    in_service = current.embedder_id or DEFAULT_EMBEDDER
    step(f"scoring {len(held_out)} held-out questions with {Path(str(in_service)).name} and the candidate")
    scores = score_embedders(current.store, held_out, {"in_service": in_service, "candidate": str(candidate)})
    test = randomization_test(scores["candidate"], scores["in_service"])
    held = {"metric": METRIC, "n": test.n, "in_service": test.mean_b, "candidate": test.mean_a,
            "in_service_embedder": str(in_service), "dense_index": current.has("dense"), "test": test.to_dict()}
    better, reason = verdict(test, alpha, METRIC)
    decision = Decision(promoted=False, reason=reason, held_out=held)
    if better and promote:
        generation = install_model(index, "retriever", candidate)
        step("re-embedding the index with the promoted embedder")
        Index.build(index, embedder=str(generation), rebuild=True, show_progress=False, on_stage=step)
        decision.pointer = write_promoted(index, "retriever", generation,
                                          {"type": "embedder", "model": str(generation)}, {"held_out": held})
        decision.promoted = True
    elif better:
        decision.reason += " (not promoted: dry run)"
    log_decision(index, "retriever", decision.to_dict())
    return decision
