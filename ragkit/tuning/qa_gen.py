"""Generate QA pairs from corpus chunks with an LLM: extract, write questions, answer them.

The pipeline of Balaguer et al. (2024): (1) extract: the chunks of an index are the passages;
(2) question generation: the LLM writes ``questions_per_chunk`` questions that the passage
answers; (3) answer generation: the LLM answers each question from its passage alone. Step (4),
filtering low-quality pairs, is ``ragkit.tuning.qa_filter.filter_qa``.

References: Balaguer et al., 2024, "RAG vs Fine-tuning: Pipelines, Tradeoffs, and a Case Study
on Agriculture" (arXiv:2401.08406).
"""

from __future__ import annotations

import random
import re
from typing import Any, Callable, Iterable

from ragkit.tuning.data import QAPair

__all__ = ["QUESTION_PROMPT", "ANSWER_PROMPT", "parse_questions", "generate_qa"]

QUESTION_PROMPT = (
    "Read the text and write {n} different questions that the text answers. Each question must "
    "make sense on its own, without the text. Write one question per line and nothing else.\n\n"
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

    Returns:
        Unfiltered pairs: ``question``, ``answer``, ``chunk_id``, ``source``, ``contexts=[chunk
        text]`` and ``metadata={"origin": "generated", "kind": chunk kind}``.

    Raises:
        LLMError: the LLM failed (propagated; nothing is half-written since nothing is written).
    """
    if questions_per_chunk < 1:
        raise ValueError(f"questions_per_chunk must be >= 1, got {questions_per_chunk}")
    pool = [c for c in chunks if len(c.text.split()) >= min_chunk_words]
    pool.sort(key=lambda c: c.id)
    if max_chunks is not None and len(pool) > max_chunks:
        pool = sorted(random.Random(seed).sample(pool, max_chunks), key=lambda c: c.id)
    pairs: list[QAPair] = []
    done = 0
    for batch in _batches(pool, batch_size):
        replies = llm.chat(
            [[{"role": "user", "content": QUESTION_PROMPT.format(n=questions_per_chunk, text=c.text)}] for c in batch],
            max_new_tokens=max_new_tokens,
        )
        asked = [(c, q) for c, reply in zip(batch, replies) for q in parse_questions(reply, questions_per_chunk)]
        if asked:
            answers = llm.chat(
                [[{"role": "user", "content": ANSWER_PROMPT.format(text=c.text, question=q)}] for c, q in asked],
                max_new_tokens=max_new_tokens,
            )
            for (c, q), a in zip(asked, answers):
                pairs.append(
                    QAPair(question=q, answer=a.strip(), chunk_id=c.id, source=c.source, contexts=[c.text],
                           metadata={"origin": "generated", "kind": c.kind})
                )
        done += len(batch)
        if progress is not None:
            progress(done, len(pool))
    return pairs
