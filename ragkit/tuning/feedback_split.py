"""Feedback → judgements → train / dev / held-out questions, with every signal weighted and counted.

Signals (weights documented here, used in ``judgements``):

- a source mark (``relevant`` 1 / 0 on a chunk the answer was given): label 1 / 0, weight 1.0;
  the latest mark of a (question, chunk) wins and repeats are counted as duplicates;
- thumbs up on an answer: the chunks it *cited* become relevant, weight 0.5;
- thumbs down: the chunks it cited become not relevant, weight 0.25 (a bad answer may be the
  generator's fault, so it is weaker evidence against the passage);
- an explicit mark always overrides a thumbs-derived label for the same chunk.

Clicks on sources are not logged by the server yet, so they are not used. Judgements on chunks
no longer in the index (re-ingested files) are dropped and counted. Training uses labels of
weight >= 0.5; the held-out qrels use explicit marks only (the evidence users gave directly).
Dev and held-out qrels keep judged non-relevant chunks with label 0: they are the judged set
over which ``ragkit.tuning.promotion`` scores condensed rankings.

The split is by question and by time: questions are ordered by their first feedback, the last
``held_out`` fraction is held out (never trained on, never used for selection), and of the rest
the last ``dev`` fraction picks hyper-parameters. Questions, not rows, are split, so one
question never sits on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ragkit.feedback import FeedbackRecord
from ragkit.tuning.data import QAPair

__all__ = ["Judgement", "FeedbackSplit", "judgements", "split_feedback", "MARK_WEIGHT", "THUMBS_UP_WEIGHT",
           "THUMBS_DOWN_WEIGHT"]

MARK_WEIGHT = 1.0
THUMBS_UP_WEIGHT = 0.5
THUMBS_DOWN_WEIGHT = 0.25


@dataclass(slots=True)
class Judgement:
    """One (question, chunk) label: relevant 1 / 0, its weight, whether a user marked it, first time seen."""

    relevant: int
    weight: float
    explicit: bool
    ts: float


@dataclass
class FeedbackSplit:
    """Train / dev examples, held-out qrels and the counts of what was used, merged or dropped."""

    train: list[QAPair]
    dev: dict[str, dict[str, int]]
    held_out: dict[str, dict[str, int]]
    report: dict[str, Any] = field(default_factory=dict)


def judgements(records: list[FeedbackRecord], answers: dict[str, dict[str, Any]], store: Any
               ) -> tuple[dict[str, dict[str, Judgement]], dict[str, int]]:
    """``{question: {chunk_id: Judgement}}`` from every signal in the log, and the counts.

    Args:
        records: rows from ``ragkit.feedback.read_feedback`` (oldest first).
        answers: ``ragkit.feedback.read_answers`` (for the chunks a rated answer cited).
        store: the index's ``ChunkStore``: judgements on chunks it no longer holds are dropped.
    """
    counts = {"rows": len(records), "marks": 0, "thumbs": 0, "duplicates": 0, "stale_chunks": 0,
              "thumbs_without_citations": 0}
    out: dict[str, dict[str, Judgement]] = {}

    def put(question: str, cid: str, label: int, weight: float, explicit: bool, ts: float) -> None:
        if cid not in store:
            counts["stale_chunks"] += 1
            return
        mine = out.setdefault(question, {})
        old = mine.get(cid)
        if old is not None and old.explicit and not explicit:
            return  # a user's own mark beats what a thumbs rating implies
        if old is not None and (old.relevant, old.explicit) == (label, explicit):
            counts["duplicates"] += 1
        first = old.ts if old is not None else ts
        mine[cid] = Judgement(label, weight, explicit, first)

    for rec in records:
        question = rec.question.strip()
        if not question:
            continue
        if rec.relevant is not None and rec.chunk_id:
            counts["marks"] += 1
            put(question, rec.chunk_id, int(rec.relevant), MARK_WEIGHT, True, rec.ts)
        elif rec.rating in (1, -1):
            counts["thumbs"] += 1
            cited = [c["chunk_id"] for c in answers.get(rec.answer_id or "", {}).get("citations", [])]
            if not cited:
                counts["thumbs_without_citations"] += 1
            for cid in cited:
                label, weight = (1, THUMBS_UP_WEIGHT) if rec.rating == 1 else (0, THUMBS_DOWN_WEIGHT)
                put(question, cid, label, weight, False, rec.ts)
    return out, counts


def split_feedback(judged: dict[str, dict[str, Judgement]], store: Any, held_out: float = 0.3,
                   dev: float = 0.25) -> FeedbackSplit:
    """Split judged questions by time into train examples, dev qrels and held-out qrels.

    Args:
        judged: from ``judgements``.
        store: the index's ``ChunkStore`` (chunk texts for training examples).
        held_out: fraction of questions held out for the promotion decision (the latest ones).
        dev: fraction of the remaining questions used to choose hyper-parameters.

    Raises:
        ValueError: fractions outside (0, 1), or too few questions with a relevant chunk to
            train and to judge (at least 2 held out, 1 dev and 2 train).
    """
    for name, value in (("held_out", held_out), ("dev", dev)):
        if not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be a fraction in (0, 1), got {value}")
    usable = {q: j for q, j in judged.items() if any(x.relevant == 1 for x in j.values())}
    order = sorted(usable, key=lambda q: (min(x.ts for x in usable[q].values()), q))
    n_held = max(2, round(len(order) * held_out))
    rest, held = order[: len(order) - n_held], order[len(order) - n_held :]
    n_dev = max(1, round(len(rest) * dev))
    train_q, dev_q = rest[: len(rest) - n_dev], rest[len(rest) - n_dev :]
    if len(train_q) < 2:
        raise ValueError(
            f"feedback has {len(order)} question(s) with a relevant source; tuning needs at least 5 "
            "(2 to train, 1 to choose settings, 2 to judge the result): collect more feedback first"
        )

    def qrels(questions: list[str], explicit_only: bool) -> dict[str, dict[str, int]]:
        out = {}
        for q in questions:
            labels = {c: j.relevant for c, j in usable[q].items() if j.explicit or not explicit_only}
            if any(labels.values()):
                out[q] = labels  # judged non-relevant chunks kept as 0: the judged set of a condensed list
        return out

    train = []
    for q in train_q:
        negatives = [store.get(c).text for c, j in usable[q].items() if j.relevant == 0 and j.weight >= 0.5]
        for c, j in usable[q].items():
            if j.relevant == 1 and j.weight >= 0.5:
                chunk = store.get(c)
                train.append(QAPair(question=q, chunk_id=c, source=chunk.source, contexts=[chunk.text],
                                    negatives=negatives, metadata={"origin": "feedback", "weight": j.weight}))
    held_qrels = qrels(held, explicit_only=True)
    report = {"questions": len(order), "train_questions": len(train_q), "dev_questions": len(dev_q),
              "held_out_questions": len(held_qrels), "train_examples": len(train),
              "questions_without_relevant_source": len(judged) - len(usable)}
    return FeedbackSplit(train=train, dev=qrels(dev_q, explicit_only=False), held_out=held_qrels, report=report)
