"""Training data for every tuner: QA pairs, their JSONL form, a content hash, splits by document.

A ``QAPair`` is one training example: a question, its answer, and where it comes from
(``chunk_id``, ``source``), with the supporting passage(s) in ``contexts`` (``contexts[0]`` is
the positive passage for retriever / reranker training) and mined hard ``negatives``.

Where pairs come from:

- generated from corpus chunks by an LLM: ``ragkit.tuning.qa_gen.generate_qa`` then
  ``ragkit.tuning.qa_filter.filter_qa`` (``ragkit make-qa INDEX``);
- the user's own pairs, a JSONL file read by ``read_qa_jsonl``; one object a line::

      {"question": "...", "answer": "...", "chunk_id": "...", "source": "...", "contexts": ["..."]}

  ``question`` is required; ``answer`` (default ``""``), ``chunk_id``, ``source``, ``contexts``
  (list of passages), ``negatives`` (list of passages), ``split`` and ``metadata`` are optional.
  With an index, a pair's missing ``contexts`` / ``source`` are filled from its ``chunk_id``.
- the QA bot's feedback log, a SQLite file read by ``ragkit.feedback.read_feedback``.
  Its schema (one row per judgement the user gave in the chat page)::

      CREATE TABLE feedback (
          id         INTEGER PRIMARY KEY,
          ts         REAL,          -- unix time of the judgement
          question   TEXT,          -- the user's question
          answer     TEXT,          -- the answer the bot gave
          rating     INTEGER,       -- +1 good answer, -1 bad answer, 0 no rating
          chunk_id   TEXT NULL,     -- a retrieved chunk the user judged (NULL: answer-only row)
          relevant   INTEGER NULL,  -- 1 the chunk is relevant, 0 it is not, NULL not judged
          chunk_text TEXT NULL      -- the chunk's text when judged (the index may change later)
      );

  Judged chunks become reranker training pairs (``feedback.rerank_examples_from_feedback``);
  well-rated answers with a relevant chunk become QA pairs (``feedback.qa_pairs_from_feedback``).

Splits are by document (``split_by_document``): every pair of one source lands in the same
split, so a test question never has its source passage in training.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable

from ragkit.indexes.atomic import atomic_write_text

__all__ = [
    "QAPair",
    "read_qa_jsonl",
    "write_qa_jsonl",
    "data_hash",
    "group_key",
    "split_by_document",
]

SPLITS = ("train", "dev", "test")


@dataclass(slots=True)
class QAPair:
    """One training example: a question, its answer, its source and passages.

    Attributes:
        question: the question (or search query / claim).
        answer: the reference answer; ``""`` for retrieval-only data.
        chunk_id: id of the chunk the pair was made from (or judged relevant), if known.
        source: the document the pair comes from (splits group by it).
        contexts: supporting passages; ``contexts[0]`` is the positive for ranking losses.
        negatives: hard negative passages (mined, or judged irrelevant in feedback).
        metadata: anything else (generation scores, split, origin); JSON-able.
    """

    question: str
    answer: str = ""
    chunk_id: str | None = None
    source: str | None = None
    contexts: list[str] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def positive(self) -> str | None:
        """The positive passage (``contexts[0]``), or ``None`` when the pair has no passage."""
        return self.contexts[0] if self.contexts else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QAPair:
        """Build a pair from a dict; ``split`` goes into metadata, other unknown keys are an error."""
        data = dict(data)
        names = {f.name for f in fields(cls)}
        split = data.pop("split", None)
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"QA pair has unknown key(s) {unknown}; allowed: {sorted(names | {'split'})}")
        if not isinstance(data.get("question"), str) or not data["question"].strip():
            raise ValueError(f"QA pair needs a non-empty string 'question', got {data.get('question')!r}")
        for key in ("contexts", "negatives"):
            value = data.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"QA pair key {key!r} must be a list of strings, got {value!r}")
        if data.get("answer") is None:
            data["answer"] = ""
        pair = cls(**data)
        if split is not None:
            pair.metadata["split"] = split
        return pair


def read_qa_jsonl(path: str | Path, store: Any = None) -> list[QAPair]:
    """Read QA pairs from a JSONL file (the format is in this module's docstring).

    Args:
        path: the JSONL file; blank lines are skipped.
        store: optional ``ChunkStore`` (``ChunkStore.load(index_dir)``): pairs with a
            ``chunk_id`` and no ``contexts`` get the chunk's text, and its ``source``.

    Returns:
        The pairs, in file order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line is not JSON, misses ``question``, has unknown keys, or names a
            ``chunk_id`` that the store does not hold (the message gives the line number).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"QA file {path} does not exist; write one JSON object per line")
    pairs = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError(f"expected a JSON object, got {type(data).__name__}")
                pair = QAPair.from_dict(data)
            except (json.JSONDecodeError, ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from exc
            if store is not None and pair.chunk_id:
                if pair.chunk_id not in store:
                    raise ValueError(
                        f"{path}:{lineno}: chunk_id {pair.chunk_id!r} is not in the index; "
                        "re-run `ragkit make-qa` on this index or drop the chunk_id"
                    )
                chunk = store.get(pair.chunk_id)
                if not pair.contexts:
                    pair.contexts = [chunk.text]
                if pair.source is None:
                    pair.source = chunk.source
            pairs.append(pair)
    return pairs


def write_qa_jsonl(pairs: Iterable[QAPair], path: str | Path) -> None:
    """Write pairs as JSONL (atomically: readers never see half a file)."""
    text = "".join(json.dumps(p.to_dict(), ensure_ascii=False) + "\n" for p in pairs)
    atomic_write_text(path, text)


def data_hash(pairs: Iterable[QAPair]) -> str:
    """SHA-256 of the pairs' canonical JSON (order matters), recorded in ``ragkit-tuning.json``."""
    h = hashlib.sha256()
    for p in pairs:
        h.update(json.dumps(p.to_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def group_key(pair: QAPair) -> str:
    """The document a pair belongs to: its ``source``, else its ``chunk_id``, else its question."""
    return pair.source or pair.chunk_id or pair.question


def split_by_document(
    pairs: list[QAPair], dev: float = 0.1, test: float = 0.1, seed: int = 0
) -> dict[str, list[QAPair]]:
    """Split pairs into train / dev / test so that no document is in two splits.

    Documents (``group_key``) are shuffled with ``seed`` and dealt into the splits until each
    holds about its fraction of the *pairs*; dev and test get at least one document each when
    their fraction is > 0 and there are enough documents (train always keeps one).

    Args:
        pairs: the pairs to split.
        dev / test: fractions of the pairs for the dev and test splits.
        seed: shuffling seed (the same seed and pairs give the same split).

    Returns:
        ``{"train": [...], "dev": [...], "test": [...]}``; each pair's ``metadata["split"]``
        is set too.

    Raises:
        ValueError: fractions outside [0, 1) or summing to 1 or more.
    """
    if not (0 <= dev < 1 and 0 <= test < 1 and dev + test < 1):
        raise ValueError(f"dev and test must be fractions in [0, 1) with dev + test < 1, got {dev}, {test}")
    groups: dict[str, list[QAPair]] = {}
    for p in pairs:
        groups.setdefault(group_key(p), []).append(p)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    total = len(pairs)
    out: dict[str, list[QAPair]] = {s: [] for s in SPLITS}
    wanted = {"test": test * total, "dev": dev * total}
    remaining = len(keys)
    for name in ("test", "dev"):
        if wanted[name] <= 0:
            continue
        while keys and remaining > 1 and (not out[name] or len(out[name]) + len(groups[keys[0]]) / 2 <= wanted[name]):
            key = keys.pop(0)
            remaining -= 1
            out[name].extend(groups[key])
    for key in keys:
        out["train"].extend(groups[key])
    for name, split_pairs in out.items():
        for p in split_pairs:
            p.metadata["split"] = name
    return out
