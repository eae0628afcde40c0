"""Put a LoRA-tuned generator into service only when it beats the one in service on held-out questions.

The rule of ``ragkit.tuning.promotion`` (rerankers) and ``ragkit.tuning.promote_retriever``
(embedders), applied to ``ragkit tune generator --index DIR --held-out PAIRS``:

1. the held-out pairs share no question with the training pairs (``check_disjoint``, before
   training);
2. the generator in service (the index's promoted one, else the base model that was tuned) and the
   candidate answer every held-out question greedily, in the mode the candidate was trained for
   (closed-book, or RAG with the gold passage among distractors), token F1 against the reference;
3. promotion iff the candidate's mean F1 is higher and a paired randomization test gives
   ``p <= alpha``: the adapter moves into ``INDEX/models/generator/<generation>/`` and the pointer
   ``models/generator.json`` names it (its spec is an LLM config); ``Pipeline.for_index`` (``ragkit ask``, ``chat``, ``serve``)
   then answers with it whenever the spec names no generator. Otherwise nothing changes.

Every decision is appended to ``models/generator-history.jsonl``. F1 is a lexical proxy: a
candidate that paraphrases correctly can lose; the history keeps sample answers of both so a
person can check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ragkit.eval.significance import randomization_test
from ragkit.indexes.promoted import install_model, log_decision, read_promoted, write_promoted
from ragkit.tuning.data import QAPair
from ragkit.tuning.promote_retriever import Decision
from ragkit.tuning.promotion import verdict

__all__ = ["score_generators", "promote_generator"]

METRIC = "token_f1"


def score_generators(pairs: list[QAPair], models: dict[str, str], mode: str = "closed-book",
                     pool: list[str] | None = None, max_new_tokens: int = 48
                     ) -> tuple[dict[str, dict[str, float]], dict[str, list[str]]]:
    """Per-question token F1 of each model (name → base dir or adapter dir) on ``pairs``, and its first answers.

    Every model sees the same prompts (``GeneratorTuner.examples``: same distractors, same order).
    """
    from ragkit.models import load_causal_lm
    from ragkit.tuning.evaluate import token_f1
    from ragkit.tuning.generator import GeneratorTuner, generate_answers

    chats = GeneratorTuner(mode=mode, progress=False).examples(pairs, pool)
    scores, samples = {}, {}
    for name, ref in models.items():
        model, tok = load_causal_lm(ref)
        answers = generate_answers(model, tok, [m for m, _ in chats], max_new_tokens)
        scores[name] = {f"q{i}": token_f1(a, ref_answer) for i, (a, (_, ref_answer)) in enumerate(zip(answers, chats))}
        samples[name] = answers[:5]
        del model
    return scores, samples


def promote_generator(index: str | Path, candidate: str | Path, held_out: list[QAPair], base: str,
                      mode: str = "closed-book", alpha: float = 0.2, promote: bool = True,
                      pool: list[str] | None = None, on_step: Callable[[str], None] | None = None
                      ) -> Decision:
    """Judge the adapter ``candidate`` against the index's generator in service; promote it if it wins.

    Args:
        index: the index directory whose registry holds the promoted generator.
        candidate: the LoRA adapter dir ``ragkit tune generator`` wrote (moved on promotion).
        held_out: pairs with reference answers, none trained on.
        base: the model in service when the index has no promoted generator (the tuning base).
        mode: the mode the candidate was trained for (the prompts both are judged with).
        alpha: the largest p-value (paired randomization test) that still promotes.
        promote: False: decide and report, change nothing.
        pool: passages RAG distractors are drawn from (default: the pairs' own passages).
        on_step: called with a short description as each step starts (progress).

    Raises:
        ValueError: no held-out pair has a reference answer.
    """
    step = on_step or (lambda _: None)
    index = Path(index).absolute()
    held_out = [p for p in held_out if p.answer.strip() and (mode == "closed-book" or p.positive)]
    if not held_out:
        raise ValueError("no held-out pair has a reference answer (and a passage, in RAG mode): nothing to judge on")
    current = read_promoted(index, "generator")
    in_service = current["spec"]["model"] if current else base
    step(f"answering {len(held_out)} held-out questions with the generator in service and the candidate")
    scores, samples = score_generators(held_out, {"in_service": in_service, "candidate": str(candidate)}, mode, pool)
    test = randomization_test(scores["candidate"], scores["in_service"])
    held = {"metric": METRIC, "mode": mode, "n": test.n, "in_service": test.mean_b, "candidate": test.mean_a,
            "in_service_is": "promoted generator" if current else f"base {base}", "test": test.to_dict(),
            "samples": samples}
    better, reason = verdict(test, alpha, METRIC)
    decision = Decision(promoted=False, reason=reason, held_out=held)
    if better and promote:
        generation = install_model(index, "generator", candidate)
        spec = {"type": "transformers", "model": str(generation)}  # an LLM config (the generator's ``llm``)
        decision.pointer = write_promoted(index, "generator", generation, spec, {"held_out": held})
        decision.promoted = True
    elif better:
        decision.reason += " (not promoted: dry run)"
    log_decision(index, "generator", decision.to_dict())
    return decision
