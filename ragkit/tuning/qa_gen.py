"""Generate QA pairs from corpus chunks with an LLM: extract, write questions, answer them.

The pipeline of Balaguer et al. (2024): (1) extract: the chunks of an index are the passages;
(2) question generation: the LLM writes ``questions_per_chunk`` questions that the passage
answers; (3) answer generation: the LLM answers each question from its passage alone. Step (4),
filtering low-quality pairs, is ``ragkit.tuning.qa_filter.filter_qa``.

With ``structured=True`` the questions are asked for as JSON (``{"questions": [...]}``) and decoded
under that schema where the backend can constrain decoding (``LLM.supports_json_schema``:
transformers, llama.cpp, OpenAI-compatible servers); elsewhere, and for a reply that still does
not parse, the reply is read one question a line (``parse_questions``). Each pair's
``metadata["questions_from"]`` says which. One a line stays the default: with SmolLM2-135M the
constrained replies parse (23 of 24) but fewer of their pairs survive the filter (3 vs 5 of 16
chunks, ``benchmarks/qa_gen_structured.py``); a bigger model may turn that around.

References: Balaguer et al., 2024, "RAG vs Fine-tuning: Pipelines, Tradeoffs, and a Case Study
on Agriculture" (arXiv:2401.08406).
"""

from __future__ import annotations

import random
import re
from typing import Any, Callable, Iterable

from ragkit.llm.structured import read_string_list, string_list_schema
from ragkit.tuning.data import QAPair

__all__ = ["QUESTION_PROMPT", "QUESTION_JSON_PROMPT", "ANSWER_PROMPT", "questions_schema", "parse_questions",
           "parse_json_questions", "generate_qa"]

QUESTION_PROMPT = (
    "Read the text and write {n} different questions that the text answers. Each question must "
    "make sense on its own, without the text. Write one question per line and nothing else.\n\n"
    "Text:\n{text}"
)
QUESTION_JSON_PROMPT = (
    "Read the text and write {n} different questions that the text answers. Each question must "
    "make sense on its own, without the text. Reply with JSON only: {{\"questions\": [\"...\"]}}\n\n"
    "Text:\n{text}"
)
ANSWER_PROMPT = (
    "Answer the question using only the text, in one short sentence with the words of the text.\n\n"
    "Text:\n{text}\n\nQuestion: {question}"
)
_LEAD = re.compile(r"^\s*(?:[-*\u2022]+|\(?\d+[.):]|q(?:uestion)?\s*\d*\s*[:.)-])\s*", re.IGNORECASE)


def parse_questions(text: str, n: int) -> list[str]:
    """Questions from an LLM reply: one a line, numbering and bullets stripped, at most ``n``.

    Lines of fewer than three words are dropped; so are exact repeats. A line holding several
    questions (``...? ...?``) is split at the question marks.

    Args:
        text: the LLM's reply.
        n: the most questions to keep.

    Returns:
        Up to ``n`` questions, in order.
    """
    out: list[str] = []
    for line in text.splitlines():
        line = _LEAD.sub("", line).strip().strip('"').strip()
        parts = [p.strip() + "?" for p in line.split("?") if p.strip()] if line.count("?") > 1 else [line]
        for q in parts:
            q = _LEAD.sub("", q).strip()
            if len(q.split()) >= 3 and q not in out:
                out.append(q)
    return out[:n]


def questions_schema(n: int, max_length: int = 200) -> dict[str, Any]:
    """The JSON schema of a question-writing reply: ``{"questions": [1..n strings]}``."""
    return string_list_schema("questions", n, max_length, min_length=8)


def parse_json_questions(text: str, n: int) -> list[str] | None:
    """Questions from a JSON reply (cleaned as ``parse_questions`` cleans lines), or None when it does not parse."""
    items = read_string_list(text, "questions")
    if items is None:
        return None
    return parse_questions("\n".join(q.replace("\n", " ") for q in items), n)


def _batches(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def generate_qa(
    chunks: list[Any],
    llm: Any,
    questions_per_chunk: int = 2,
    max_chunks: int | None = None,
    min_chunk_words: int = 20,
    seed: int = 0,
    batch_size: int = 16,
    max_new_tokens: int = 96,
    progress: Callable[[int, int], None] | None = None,
    structured: bool = False,
) -> list[QAPair]:
    """Write questions for each chunk with ``llm`` and answer them from the chunk.

    Args:
        chunks: ``Chunk`` objects (e.g. ``list(ChunkStore.load(index_dir))``).
        llm: a ragkit LLM (``LLM.chat``); e.g. ``build("llm", "transformers")``.
        questions_per_chunk: questions asked per chunk (the reply may hold fewer).
        max_chunks: sample at most this many chunks (seeded); ``None`` uses all.
        min_chunk_words: chunks with fewer words are skipped (too little to ask about).
        seed: sampling seed for ``max_chunks``.
        batch_size: chunks (and then questions) sent to the LLM per call.
        max_new_tokens: generation budget per reply.
        progress: optional callback ``(done, total)`` after each batch of chunks.
        structured: ask for JSON questions under the schema (decoded under it when ``llm`` can
            constrain decoding); ``False``: one question a line, free-form.

    Returns:
        Unfiltered pairs: ``question``, ``answer``, ``chunk_id``, ``source``, ``contexts=[chunk
        text]`` and ``metadata={"origin": "generated", "kind": chunk kind, "questions_from": "json" |
        "lines"}``.

    Raises:
        LLMError: the LLM failed (propagated; nothing is half-written since nothing is written).
    """
    if questions_per_chunk < 1:
        raise ValueError(f"questions_per_chunk must be >= 1, got {questions_per_chunk}")
    pool = [c for c in chunks if len(c.text.split()) >= min_chunk_words]
    pool.sort(key=lambda c: c.id)
    if max_chunks is not None and len(pool) > max_chunks:
        pool = sorted(random.Random(seed).sample(pool, max_chunks), key=lambda c: c.id)
    structured = structured and bool(getattr(llm, "supports_json_schema", False))
    pairs: list[QAPair] = []
    done = 0
    for batch in _batches(pool, batch_size):
        asked = [(c, q, origin) for c, (qs, origin) in zip(batch, _questions(llm, batch, questions_per_chunk,
                                                                                max_new_tokens, structured))
                 for q in qs]
        if asked:
            answers = llm.chat(
                [[{"role": "user", "content": ANSWER_PROMPT.format(text=c.text, question=q)}] for c, q, _ in asked],
                max_new_tokens=max_new_tokens,
            )
            for (c, q, origin), a in zip(asked, answers):
                pairs.append(
                    QAPair(question=q, answer=a.strip(), chunk_id=c.id, source=c.source, contexts=[c.text],
                           metadata={"origin": "generated", "kind": c.kind, "questions_from": origin})
                )
        done += len(batch)
        if progress is not None:
            progress(done, len(pool))
    return pairs


def _questions(llm: Any, batch: list[Any], n: int, max_new_tokens: int,
               structured: bool) -> list[tuple[list[str], str]]:
    """Per chunk: its questions and where they were read from (``"json"`` or ``"lines"``)."""
    if not structured:
        replies = llm.chat([[{"role": "user", "content": QUESTION_PROMPT.format(n=n, text=c.text)}] for c in batch],
                           max_new_tokens=max_new_tokens)
        return [(parse_questions(r, n), "lines") for r in replies]
    # about four characters a token: n capped strings and the JSON around them close within the budget
    schema = questions_schema(n, max_length=max(40, max_new_tokens * 4 // (n + 1)))
    replies = llm.chat_json([[{"role": "user", "content": QUESTION_JSON_PROMPT.format(n=n, text=c.text)}] for c in batch],
                            schema, max_new_tokens=max_new_tokens)
    out = []
    for reply in replies:
        parsed = parse_json_questions(reply, n)
        out.append((parsed, "json") if parsed is not None else (parse_questions(reply, n), "lines"))
    return out
