"""Answer questions from retrieved contexts with numbered citations, or closed-book.

``LLMGenerator.generate(questions, contexts)`` packs each question's hits, in rank order, into a
numbered context block within a token budget, asks the LLM to answer and cite ``[n]``, then
checks the answer against the evidence:

1. no contexts, or (with ``min_score``) a best hit scoring below it: "I don't know." without
   calling the LLM;
2. the model says it does not know: normalised to "I don't know.";
3. the answer is not grounded (``check_grounding``): no single context holds at least
   ``min_support`` of the answer's new content words (those not already in the question) and
   at least ``min_relevance`` of the question's content words (``min_relevance_code`` for a
   code context: code rarely repeats a question's wording), or a new number or identifier
   (``3,000``, ``DEFAULT_POOLSIZE``, ``getUser``) of the answer is in no grounded context:
   "I don't know." (thresholds chosen on ``benchmarks/grounding_calibration.py``);
4. citations ``[n]`` / ``[n, m]`` / ``[n][m]`` are parsed and mapped to chunks (out-of-range
   numbers dropped). With ``cite="auto"``, a cited context that supports none of the answer is
   dropped, and an answer left without citations is attributed to the context(s) that overlap
   it most (``metadata["citations_attributed"] = True``).

With ``reasoning`` (on by itself for a model dir tuned with ``tune generator --mode
rag-reasoning``) the model is prompted for the ``ragkit.reasoning`` format (relevant passages,
a quoted evidence span, the answer). The stated passages become the answer's citations; a number
outside the passages given or evidence found in no stated passage is flagged in
``metadata["reasoning_flags"]`` (the citations are kept, never silently dropped); the text
returned is the answer alone, the parsed reasoning is in ``metadata["reasoning"]``. A reply not
in the format is read as a plain answer and flagged ``"malformed"``.

Every override keeps the model's own text in ``metadata["model_text"]`` and the reason in
``metadata["idk_reason"]``. References: the grounding check is a lexical form of the answer
attribution checks in Rashkin et al., 2023, "Measuring Attribution in Natural Language
Generation Models" (AIS).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterator

from ragkit import prompts, reasoning as reasoning_format
from ragkit.defaults import default_llm
from ragkit.grounding import (
    check_grounding,
    content_words,
    dedupe_sentences,
    exact_terms,
    parse_citations,
    split_sentences,
)
from ragkit.prompts import says_idk
from ragkit.registry import Component, build, register
from ragkit.types import Answer, Citation, Hit

__all__ = ["LLMGenerator", "check_grounding", "content_words", "exact_terms", "parse_citations", "says_idk"]

_CITE_MODES = ("auto", "model", "off")
_MIN_TRUNCATED_TOKENS = 16  # a truncated last context shorter than this is left out instead

@register("generator", "llm")
class LLMGenerator(Component):
    """Answers with ``[n]`` citations from retrieved contexts (RAG), or closed-book.

    Args:
        llm: the LLM config for ``ragkit.registry.build("llm", ...)``; default
            ``{"type": "transformers", "model": "smollm2-135m"}``.
        max_context_tokens: token budget (``llm.count_tokens``) for the numbered contexts.
        max_new_tokens: generation budget per answer.
        min_score: when set, a question whose best hit scores below it gets "I don't know."
            without calling the LLM (the scale is the retriever's / reranker's).
        cite: ``"auto"`` (model citations checked against the evidence, attributed when
            missing), ``"model"`` (the model's in-range citations as is) or ``"off"``.
        min_support: fraction of the answer's new content words one context must hold.
        min_relevance: fraction of the question's content words that same context must hold.
        min_relevance_code: the same for a code context (a chunk with a ``language``).
        exact_identifiers: new identifiers of the answer, like its numbers, must be in a
            grounding context.
        reasoning: ask for and check the intermediate-reasoning format (``ragkit.reasoning``);
            ``None``: on when the LLM's model dir records tuning mode ``rag-reasoning``.

    Raises:
        ValueError: an unknown ``cite`` mode or a threshold outside [0, 1].
    """

    def __init__(
        self,
        llm: dict[str, Any] | None = None,
        max_context_tokens: int = 1536,
        max_new_tokens: int = 160,
        min_score: float | None = None,
        cite: str = "auto",
        min_support: float = 0.5,
        min_relevance: float = 0.6,
        min_relevance_code: float = 0.0,
        exact_identifiers: bool = True,
        reasoning: bool | None = None,
    ):
        if cite not in _CITE_MODES:
            raise ValueError(f"cite must be one of {_CITE_MODES}, got {cite!r}")
        thresholds = (("min_support", min_support), ("min_relevance", min_relevance), ("min_relevance_code", min_relevance_code))
        for name, value in thresholds:
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        self.llm = llm if llm is not None else default_llm()
        self.max_context_tokens = max_context_tokens
        self.max_new_tokens = max_new_tokens
        self.min_score = min_score
        self.cite = cite
        self.min_support = min_support
        self.min_relevance = min_relevance
        self.min_relevance_code = min_relevance_code
        self.exact_identifiers = exact_identifiers
        model_ref = self.llm.get("model") if isinstance(self.llm, dict) else None
        self.reasoning = reasoning if reasoning is not None else reasoning_format.tuned_mode(model_ref) == "rag-reasoning"
        self._llm: Any = None
        self._on_text: Callable[[str], None] | None = None

    @property
    def model(self) -> Any:
        """The LLM component, built on first use."""
        if self._llm is None:
            self._llm = build("llm", self.llm)
        return self._llm

    def use_llm(self, llm: Any) -> None:
        """Use an already built LLM object (shared with a rewriter or reranker, or a test double)."""
        self._llm = llm

    def warm_up(self) -> None:
        """Load the LLM now (not on the first question); generates nothing."""
        self.model.count_tokens("warm-up")

    @contextlib.contextmanager
    def streaming(self, on_text: Callable[[str], None]) -> Iterator[None]:
        """Within the block, stream the model's reply: ``on_text(piece)`` as it is generated.

        Applies to a ``generate`` call that sends exactly one conversation to the LLM (one
        question; batches are generated as usual). What streams is the model's raw reply; the
        returned ``Answer`` is still checked (grounding, citations) and may say "I don't know."
        instead. ``Answer.metadata["first_token_s"]`` records the time to the first piece.

        Args:
            on_text: called with each new piece of text (e.g. print it without a newline).
        """
        previous, self._on_text = self._on_text, on_text
        try:
            yield
        finally:
            self._on_text = previous

    def _stream(self, conversation: list[dict[str, str]], t0: float, answer: Answer) -> str:
        pieces: list[str] = []
        assert self._on_text is not None
        for piece in self.model.stream_chat(conversation, max_new_tokens=self.max_new_tokens, stop=prompts.STOP):
            if not pieces:
                answer.metadata["first_token_s"] = round(time.perf_counter() - t0, 4)
            pieces.append(piece)
            self._on_text(piece)
        return "".join(pieces).strip()

    def generate(self, questions: list[str], contexts: list[list[Hit]] | None = None) -> list[Answer]:
        """Answer each question from its hits (RAG) or, with ``contexts=None``, closed-book.

        Args:
            questions: the questions.
            contexts: per question, its hits in rank order (each with ``.chunk`` set); ``None``
                answers closed-book (``Answer.mode == "closed-book"``).

        Returns:
            One ``Answer`` per question with text, citations, the hits given, metadata (packed
            contexts, support, overrides) and ``timings["generate"]`` (seconds; the LLM's batch
            time is shared equally among the questions it answered).

        Raises:
            ValueError: ``contexts`` and ``questions`` differ in length, or a hit has no chunk.
            LLMError: the LLM failed.
        """
        if contexts is not None and len(contexts) != len(questions):
            raise ValueError(f"got {len(questions)} questions but {len(contexts)} context lists; pass one list per question")
        prepared, spent = [], []
        for i, question in enumerate(questions):
            t0 = time.perf_counter()
            prepared.append(self._prepare(question, None if contexts is None else list(contexts[i])))
            spent.append(time.perf_counter() - t0)
        pending = [i for i, (_, convo, _) in enumerate(prepared) if convo is not None]
        if pending:
            t0 = time.perf_counter()
            convos = [prepared[i][1] for i in pending]
            if self._on_text is not None and len(convos) == 1:
                texts = [self._stream(convos[0], t0, prepared[pending[0]][0])]
            else:
                texts = self.model.chat(convos, max_new_tokens=self.max_new_tokens, stop=prompts.STOP)
            share = (time.perf_counter() - t0) / len(pending)
            for i, text in zip(pending, texts):
                t1 = time.perf_counter()
                self._finish(prepared[i][0], text, prepared[i][2])
                spent[i] += share + time.perf_counter() - t1
        for (answer, _, _), seconds in zip(prepared, spent):
            answer.timings["generate"] = seconds
        return [answer for answer, _, _ in prepared]

    # -- building the prompt -------------------------------------------------------------

    def _prepare(
        self, question: str, hits: list[Hit] | None
    ) -> tuple[Answer, list[dict[str, str]] | None, list[str]]:
        """The answer shell, the chat to send (``None``: decided without the LLM), packed texts."""
        if hits is None:
            answer = Answer(question=question, text="", mode="closed-book")
            return answer, prompts.closed_book_messages(question), []
        for h in hits:
            if h.chunk is None:
                raise ValueError(
                    f"hit {h.chunk_id!r} has no chunk; the generator needs chunk text: retrieve "
                    "with chunks attached (or fill Hit.chunk from the chunk store)"
                )
        answer = Answer(question=question, text="", hits=hits, mode="rag")
        if not hits:
            return self._idk(answer, "no_contexts"), None, []
        best = max(h.score for h in hits)
        if self.min_score is not None and best < self.min_score:
            answer.metadata["best_score"] = best
            return self._idk(answer, "low_score"), None, []
        block, packed, truncated = self._pack(question, hits)
        answer.metadata.update(packed=len(packed), truncated=truncated)
        chat = reasoning_format.reasoning_messages if self.reasoning else prompts.rag_messages
        return answer, chat(question, block), packed

    def _budget(self, question: str) -> int:
        """``max_context_tokens``, lowered if the prompt would not fit the model's window."""
        llm = self.model
        chat = reasoning_format.reasoning_messages if self.reasoning else prompts.rag_messages
        overhead = sum(llm.count_tokens(m["content"]) + 8 for m in chat(question, ""))
        room = llm.context_window - self.max_new_tokens - overhead
        return max(0, min(self.max_context_tokens, room))

    def _pack(self, question: str, hits: list[Hit]) -> tuple[str, list[str], bool]:
        """Numbered context lines in rank order within the budget; the last one may be truncated.

        Returns:
            The context block, the packed lines' texts (what the model saw, by number - 1), and
            whether the last one was truncated.
        """
        count = self.model.count_tokens
        left = self._budget(question)
        if left < _MIN_TRUNCATED_TOKENS:
            raise ValueError(
                f"only {left} tokens are left for contexts (max_context_tokens="
                f"{self.max_context_tokens}, max_new_tokens={self.max_new_tokens}, context window "
                f"{self.model.context_window}); raise max_context_tokens or lower max_new_tokens"
            )
        lines: list[str] = []
        texts: list[str] = []
        for n, hit in enumerate(hits, start=1):
            chunk = hit.chunk
            assert chunk is not None  # checked in _prepare
            line = prompts.context_line(n, chunk)
            cost = count(line) + 1  # + the newline
            if cost <= left:
                lines.append(line)
                texts.append(chunk.text)
                left -= cost
                continue
            words = chunk.text.split()
            lo, hi = 0, len(words)  # the longest word prefix that fits
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if count(prompts.context_line(n, chunk, " ".join(words[:mid]) + " …")) + 1 <= left:
                    lo = mid
                else:
                    hi = mid - 1
            if lo and left >= _MIN_TRUNCATED_TOKENS:
                text = " ".join(words[:lo])
                lines.append(prompts.context_line(n, chunk, text + " …"))
                texts.append(text)
                return "\n".join(lines), texts, True
            break
        return "\n".join(lines), texts, False

    # -- checking the answer -------------------------------------------------------------

    def _idk(self, answer: Answer, reason: str, model_text: str | None = None) -> Answer:
        answer.text = prompts.IDK
        answer.citations = []
        answer.metadata["idk_reason"] = reason
        if model_text is not None:
            answer.metadata["model_text"] = model_text
        return answer

    def _finish(self, answer: Answer, text: str, contexts: list[str]) -> None:
        stated: list[int] | None = None
        if self.reasoning and answer.mode == "rag":
            text, stated, notes = reasoning_format.read_reply(text.strip(), contexts)
            answer.metadata.update(notes)
        text = dedupe_sentences(text.strip())
        if says_idk(text):
            self._idk(answer, "model", text)
            return
        answer.text = text
        if answer.mode == "closed-book":
            return
        code = [h.chunk is not None and h.chunk.language is not None for h in answer.hits[: len(contexts)]]
        check = self._grounded_prefix(answer, text, contexts, code)
        text = answer.text
        best = check["context"]
        if best is not None:
            answer.metadata["grounding"] = {
                "context": best + 1, "support": check["support"], "relevance": check["relevance"]
            }
        if not check["grounding"]:
            self._idk(answer, "unsupported", text)
            return
        if check["missing"]:  # a new number or identifier in no grounding context
            answer.metadata["unsupported_numbers"] = check["missing"]
            self._idk(answer, "unsupported", text)
            return
        new_words, ctx_words = check["new_words"], check["ctx_words"]
        grounded = [i in check["grounding"] for i in range(len(contexts))]
        if stated is not None and self.cite != "off":  # the stated passages are the citations, checked already
            answer.citations = [_citation(n, answer.hits[n - 1]) for n in stated if 1 <= n <= len(contexts)]
        elif self.cite != "off":
            answer.citations = self._cite(answer, text, new_words, ctx_words, grounded)

    def _grounded_prefix(self, answer: Answer, text: str, contexts: list[str], code: list[bool]) -> dict[str, Any]:
        """The grounding check of the whole answer or, when that fails, of its longest grounded
        leading sentences: a small model often states the answer, then rambles past the evidence.
        What is cut is kept in ``metadata["trimmed"]`` (never dropped silently)."""
        def check(candidate: str) -> dict[str, Any]:
            return check_grounding(answer.question, candidate, contexts, code, self.min_support, self.min_relevance,
                                   self.min_relevance_code, self.exact_identifiers)

        whole = check(text)
        sentences = split_sentences(text)
        if (whole["grounding"] and not whole["missing"]) or len(sentences) < 2:
            return whole
        for n in range(len(sentences) - 1, 0, -1):
            prefix = " ".join(sentences[:n])
            part = check(prefix)
            if part["grounding"] and not part["missing"]:
                answer.text = prefix
                answer.metadata["trimmed"] = {"kept_sentences": n, "of": len(sentences),
                                              "dropped": " ".join(sentences[n:]),
                                              "support_whole": whole["support"]}
                return part
        return whole

    def _cite(
        self, answer: Answer, text: str, new_words: set[str], ctx_words: list[set[str]], grounded: list[bool]
    ) -> list[Citation]:
        numbers = parse_citations(text)
        in_range = [n for n in numbers if 1 <= n <= len(ctx_words)]
        if len(in_range) < len(numbers):
            answer.metadata["citations_out_of_range"] = [n for n in numbers if n not in in_range]
        if self.cite == "auto":
            kept = [n for n in in_range if new_words & ctx_words[n - 1]]
            if len(kept) < len(in_range):
                answer.metadata["citations_dropped"] = [n for n in in_range if n not in kept]
            in_range = kept
            if not in_range:
                overlap = [len(new_words & w) if g else 0 for w, g in zip(ctx_words, grounded)]
                top = max(overlap, default=0)
                in_range = [n for n, o in enumerate(overlap, start=1) if top and o == top]
                answer.metadata["citations_attributed"] = bool(in_range)
        return [_citation(n, answer.hits[n - 1]) for n in in_range]


def _citation(number: int, hit: Hit) -> Citation:
    chunk = hit.chunk
    assert chunk is not None
    return Citation(
        number=number,
        chunk_id=chunk.id,
        source=chunk.source,
        page=chunk.page,
        start_line=chunk.start_line,
        end_line=chunk.end_line,
        symbol=chunk.symbol,
        heading=list(chunk.heading),
    )
