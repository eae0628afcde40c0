"""ragas metrics, offline: non-LLM metrics always, LLM-judged metrics with a local judge on request.

Non-LLM metrics (no model, or only the local MiniLM embedder):

- ``bleu``, ``rouge_l``, ``exact_match``, ``string_similarity`` (normalised Levenshtein),
  ``string_presence`` (gold answer inside the response): ``ragas.metrics.collections``;
- ``semantic_similarity``: ragas' cosine of ``ragas.embeddings.HuggingFaceEmbeddings`` built
  on a local sentence-transformers directory (MiniLM by default);
- ``non_llm_context_precision`` / ``non_llm_context_recall``: ragas' reference-context metrics
  (retrieved vs gold passages matched by string similarity >= 0.5).

LLM metrics (``llm_metrics=True``): ``faithfulness``, ``answer_relevancy``,
``context_precision`` (with reference) and ``context_recall``, from
``ragas.metrics.collections``, judged by any ragkit LLM config (the local SmolLM2-135M by
default; an OpenAI-compatible server with ``{"type": "openai", ...}``). ``RagkitJudge`` adapts a
ragkit LLM to ragas' structured-output interface: it sends ragas' prompt (which carries the JSON
schema and examples) as a chat message through ``LLM.chat_json`` — decoding constrained to the
response model's JSON schema on the local backends (``ragkit.llm.structured``) — and parses the
first JSON object of the reply into ragas' pydantic model.

Nothing is a silent NaN: every value that could not be computed is ``None`` in
``per_query`` with its reason in ``per_query[i]["missing"][metric]``, and counted in
``missing[metric][reason]``. Reasons: ``parse_error`` (the judge's reply is not valid JSON for
the schema), ``prompt_too_long``, ``llm_error``, ``nan`` (ragas returned NaN, e.g. no
statement could be extracted), ``invalid_input``. Metrics that do not apply (context metrics of
a closed-book answer, any metric of an empty answer) are counted under ``not_applicable``.

References: Es et al., 2024, "RAGAS: Automated Evaluation of Retrieval Augmented Generation".
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")

from ragas.llms.base import InstructorBaseRagasLLM  # noqa: E402

from ragkit.defaults import DEFAULT_EMBEDDER, default_llm

__all__ = [
    "NON_LLM_METRICS",
    "LLM_METRICS",
    "RagasSample",
    "JudgeParseError",
    "RagkitJudge",
    "extract_json",
    "ragas_scores",
]

NON_LLM_METRICS = (
    "bleu",
    "rouge_l",
    "exact_match",
    "string_similarity",
    "string_presence",
    "semantic_similarity",
    "non_llm_context_precision",
    "non_llm_context_recall",
)
LLM_METRICS = ("faithfulness", "answer_relevancy", "context_precision", "context_recall")
_CONTEXT_METRICS = {"non_llm_context_precision", "non_llm_context_recall", "faithfulness", "context_precision", "context_recall"}
_REFERENCE_CONTEXT_METRICS = {"non_llm_context_precision", "non_llm_context_recall"}


class JudgeParseError(ValueError):
    """The judge's reply holds no JSON object that fits the metric's schema."""


@dataclass(slots=True)
class RagasSample:
    """One question to score: what was asked, answered, retrieved, and what is right.

    Attributes:
        question: the user input.
        response: the system's answer.
        reference: the gold answer.
        retrieved_contexts: passages the generator saw; ``None`` for a closed-book answer.
        reference_contexts: gold passages (for the non-LLM context metrics).
    """

    question: str
    response: str
    reference: str
    retrieved_contexts: list[str] | None = None
    reference_contexts: list[str] = field(default_factory=list)


def extract_json(text: str) -> Any:
    """The first JSON object in ``text`` (code fences and chatter around it are ignored).

    Raises:
        JudgeParseError: no JSON object is found.
    """
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    raise JudgeParseError(f"no JSON object in the judge's reply: {text[:160]!r}")


class RagkitJudge(InstructorBaseRagasLLM):
    """A ragkit LLM as ragas' structured-output judge (``InstructorBaseRagasLLM``).

    Args:
        llm: a built ragkit LLM (``ragkit.registry.build("llm", config)``).
        max_new_tokens: reply budget per judgement.
        description: how the judge is named in reports (default: the LLM's config).
        max_items: the most entries a list in a reply may hold (statements, classifications).

    Attributes:
        calls: judgements asked; ``parse_errors``: replies that did not parse; ``seconds``:
            time spent in the LLM.
    """

    def __init__(self, llm: Any, max_new_tokens: int = 512, description: str | None = None, max_items: int = 5):
        self.llm = llm
        self.max_new_tokens = max_new_tokens
        self.max_items = max_items
        self.description = description or json.dumps(llm.to_config(), sort_keys=True)
        self.calls = 0
        self.parse_errors = 0
        self.seconds = 0.0

    def generate(self, prompt: str, response_model: Any) -> Any:
        """Ask the LLM and parse its reply into ``response_model`` (a pydantic model class).

        Raises:
            JudgeParseError: the reply is not a JSON object valid for the model.
            ValueError: the prompt does not fit the judge's context window.
            LLMError: the LLM failed.
        """
        from pydantic import ValidationError

        self.calls += 1
        started = time.perf_counter()
        try:
            reply = self.llm.chat_json([[{"role": "user", "content": prompt}]], self.schema(response_model),
                                       max_new_tokens=self.max_new_tokens)[0]
        finally:
            self.seconds += time.perf_counter() - started
        try:
            return response_model.model_validate(extract_json(reply))
        except (JudgeParseError, ValidationError) as exc:
            self.parse_errors += 1
            raise JudgeParseError(f"judge reply does not fit {response_model.__name__}: {reply[:160]!r}") from exc

    def schema(self, response_model: Any) -> dict[str, Any]:
        """The response model's JSON schema, its strings and lists capped so a reply fits the budget.

        About four characters a token: the strings of a reply share ``max_new_tokens`` and each
        list holds at most ``max_items`` entries, so constrained decoding closes the JSON in time.
        Every integer of ragas' response models is a 0/1 verdict (``verdict``, ``attributed``,
        ``noncommittal``), so integers are held to 0 or 1 (a free one averaged to 4.3).
        """
        from ragkit.llm.structured import bounded, map_schema

        max_string = max(40, self.max_new_tokens * 4 // (2 * self.max_items + 2))
        schema = bounded(response_model.model_json_schema(), max_string=max_string, max_items=self.max_items)
        return map_schema(schema, _binary_integer)

    async def agenerate(self, prompt: str, response_model: Any) -> Any:
        """``generate``, for ragas' async metrics (runs in the caller's thread: local models are not async)."""
        return self.generate(prompt, response_model)


def _binary_integer(node: dict[str, Any]) -> dict[str, Any]:
    """An ``{"type": "integer"}`` schema node held to ``enum [0, 1]`` (other nodes as they are)."""
    if node.get("type") == "integer" and "enum" not in node:
        node["enum"] = [0, 1]
    return node


@functools.lru_cache(maxsize=4)
def _embeddings(embedder: str) -> Any:
    """ragas' HuggingFaceEmbeddings on a local model (one per process and model)."""
    from ragas.embeddings import HuggingFaceEmbeddings

    from ragkit.models import device, resolve

    return HuggingFaceEmbeddings(model=resolve(embedder), device=device(None))


def _metric_objects(names: Sequence[str], judge: RagkitJudge | None, embeddings: Any) -> dict[str, Any]:
    import warnings

    from ragas.metrics import collections as mc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas.metrics import NonLLMContextPrecisionWithReference, NonLLMContextRecall

    factories: dict[str, Callable[[], Any]] = {
        "bleu": mc.BleuScore,
        "rouge_l": lambda: mc.RougeScore(rouge_type="rougeL", mode="fmeasure"),
        "exact_match": mc.ExactMatch,
        "string_similarity": mc.NonLLMStringSimilarity,
        "string_presence": mc.StringPresence,
        "semantic_similarity": lambda: mc.SemanticSimilarity(embeddings=embeddings),
        "non_llm_context_precision": NonLLMContextPrecisionWithReference,
        "non_llm_context_recall": NonLLMContextRecall,
        "faithfulness": lambda: mc.Faithfulness(llm=judge),
        "answer_relevancy": lambda: mc.AnswerRelevancy(llm=judge, embeddings=embeddings),
        "context_precision": lambda: mc.ContextPrecisionWithReference(llm=judge),
        "context_recall": lambda: mc.ContextRecall(llm=judge),
    }
    return {name: factories[name]() for name in names}


def _applicable(name: str, s: RagasSample) -> bool:
    if not s.response.strip() or not s.reference.strip():
        return False
    if name in _CONTEXT_METRICS and not s.retrieved_contexts:
        return False
    return not (name in _REFERENCE_CONTEXT_METRICS and not s.reference_contexts)


async def _score_one(name: str, metric: Any, s: RagasSample) -> float:
    if name in _REFERENCE_CONTEXT_METRICS:
        from ragas.dataset_schema import SingleTurnSample

        sample = SingleTurnSample(retrieved_contexts=s.retrieved_contexts, reference_contexts=s.reference_contexts)
        return float(await metric.single_turn_ascore(sample))
    args: dict[str, Any] = {
        "bleu": {"reference": s.reference, "response": s.response},
        "faithfulness": {"user_input": s.question, "response": s.response, "retrieved_contexts": s.retrieved_contexts},
        "answer_relevancy": {"user_input": s.question, "response": s.response},
        "context_precision": {"user_input": s.question, "reference": s.reference, "retrieved_contexts": s.retrieved_contexts},
        "context_recall": {"user_input": s.question, "reference": s.reference, "retrieved_contexts": s.retrieved_contexts},
    }.get(name, {"reference": s.reference, "response": s.response})
    result = await metric.ascore(**args)
    return float(result.value)


def _reason(exc: BaseException) -> str:
    from ragkit.llm import LLMError

    if isinstance(exc, JudgeParseError):
        return "parse_error"
    if isinstance(exc, LLMError):
        return "llm_error"
    if isinstance(exc, ValueError) and "context window" in str(exc):
        return "prompt_too_long"
    return "invalid_input"


def ragas_scores(
    samples: Sequence[RagasSample],
    llm_metrics: bool = False,
    judge: dict[str, Any] | str | Any | None = None,
    embedder: str = DEFAULT_EMBEDDER,
    metrics: Iterable[str] | None = None,
    judge_max_new_tokens: int = 512,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Score samples with ragas' metrics, offline, counting every value that is missing.

    Args:
        samples: the questions with their responses, references and contexts.
        llm_metrics: also run the LLM-judged metrics (slow; weak with a 135M judge).
        judge: the judge: a ragkit LLM config (dict or registered name) or a built LLM;
            default ``{"type": "transformers", "model": "smollm2-135m"}``.
        embedder: local sentence-transformers model for the embedding metrics.
        metrics: metric names to run (default: every non-LLM metric, plus the LLM metrics when
            ``llm_metrics``).
        judge_max_new_tokens: the judge's reply budget.
        progress: called as ``(samples_done, total)``.

    Returns:
        ``{"aggregate": {metric: mean or None}, "per_query": [{metric: value or None,
        "missing": {metric: reason}}], "missing": {metric: {reason: count}}, "counts":
        {metric: scored}, "judge": description or None, "judge_stats": {...}, "metrics": [...],
        "seconds": float}``.

    Raises:
        ValueError: an unknown metric name, or an LLM metric asked for without ``llm_metrics``.
    """
    from ragkit.llm import LLMError
    from ragkit.registry import build

    names = list(metrics) if metrics is not None else list(NON_LLM_METRICS) + (list(LLM_METRICS) if llm_metrics else [])
    unknown = [n for n in names if n not in NON_LLM_METRICS + LLM_METRICS]
    if unknown:
        raise ValueError(f"unknown ragas metric(s) {unknown}; choose from {list(NON_LLM_METRICS + LLM_METRICS)}")
    wants_judge = [n for n in names if n in LLM_METRICS]
    if wants_judge and not llm_metrics:
        raise ValueError(f"{wants_judge} need a judge LLM: pass llm_metrics=True (and a judge config)")
    started = time.perf_counter()
    rag_judge = None
    if wants_judge:
        if judge is None or isinstance(judge, (dict, str)):
            config = judge if judge is not None else default_llm()
            rag_judge = RagkitJudge(build("llm", config), judge_max_new_tokens, json.dumps(config, sort_keys=True))
        else:
            rag_judge = RagkitJudge(judge, judge_max_new_tokens)
    needs_embeddings = any(n in ("semantic_similarity", "answer_relevancy") for n in names)
    objects = _metric_objects(names, rag_judge, _embeddings(embedder) if needs_embeddings else None)

    rows: list[dict[str, Any]] = []
    missing: dict[str, dict[str, int]] = {n: {} for n in names}

    async def run_all() -> None:
        for i, s in enumerate(samples):
            row: dict[str, Any] = {"missing": {}}
            for name in names:
                reason = None
                value: float | None = None
                if not _applicable(name, s):
                    reason = "not_applicable"
                else:
                    try:
                        value = await _score_one(name, objects[name], s)
                    except (JudgeParseError, LLMError, ValueError, ZeroDivisionError) as exc:
                        reason = _reason(exc)
                    if value is not None and math.isnan(value):
                        value, reason = None, "nan"
                row[name] = value
                if reason is not None:
                    row["missing"][name] = reason
                    missing[name][reason] = missing[name].get(reason, 0) + 1
            rows.append(row)
            if progress is not None:
                progress(i + 1, len(samples))

    asyncio.run(run_all())
    aggregate: dict[str, float | None] = {}
    counts: dict[str, int] = {}
    for name in names:
        values = [r[name] for r in rows if r[name] is not None]
        aggregate[name] = sum(values) / len(values) if values else None
        counts[name] = len(values)
    return {
        "aggregate": aggregate,
        "per_query": rows,
        "missing": missing,
        "counts": counts,
        "metrics": names,
        "judge": rag_judge.description if rag_judge else None,
        "judge_stats": (
            {"calls": rag_judge.calls, "parse_errors": rag_judge.parse_errors, "seconds": round(rag_judge.seconds, 2)}
            if rag_judge else None
        ),
        "seconds": round(time.perf_counter() - started, 2),
    }
