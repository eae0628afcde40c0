"""Hard-negative mining: BM25, dense and retriever-backed; positives and same-source passages skipped."""

from __future__ import annotations

import numpy as np
import pytest

from ragkit.tuning.data import QAPair
from ragkit.tuning.negatives import mine_hard_negatives
from ragkit.types import Chunk, Hit

CHUNKS = [
    Chunk(text="The pump moves water at three bar pressure.", source="manual.md", start_line=1, end_line=1),
    Chunk(text="Pump pressure is checked by the sensor every minute.", source="manual.md", start_line=2, end_line=2),
    Chunk(text="Water pressure pump valve, the pump pressure valve.", source="service.md", start_line=1, end_line=1),
    Chunk(text="The warranty lasts two years.", source="warranty.md", start_line=1, end_line=1),
    Chunk(text="Apples are red or green fruit.", source="fruit.md", start_line=1, end_line=1),
]
PAIR = QAPair(question="What pressure does the pump water reach?", chunk_id=CHUNKS[0].id, source="manual.md",
              contexts=[CHUNKS[0].text])


def test_bm25_mining_skips_positive_and_same_source():
    [mined] = mine_hard_negatives([PAIR], CHUNKS, n=2, method="bm25")
    assert mined.negatives[0] == CHUNKS[2].text  # the lexically closest other document
    assert CHUNKS[0].text not in mined.negatives and CHUNKS[1].text not in mined.negatives
    assert len(mined.negatives) == 2 and PAIR.negatives == []  # input untouched
    [same] = mine_hard_negatives([PAIR], CHUNKS, n=1, exclude_same_source=False)
    assert same.negatives == [CHUNKS[1].text] or same.negatives == [CHUNKS[2].text]


def test_dense_mining_and_existing_negatives_count():
    vecs = {c.text: v for c, v in zip(CHUNKS, np.eye(5))}
    vecs[CHUNKS[4].text] = np.array([0.9, 0, 0, 0, 0.1])  # the fruit text is "close" to the positive

    def embed(texts):
        return np.array([vecs.get(t, np.array([1.0, 0, 0, 0, 0])) for t in texts])

    pair = QAPair(question=PAIR.question, chunk_id=PAIR.chunk_id, source=PAIR.source, contexts=PAIR.contexts,
                  negatives=["given negative"])
    [mined] = mine_hard_negatives([pair], {c.id: c.text for c in CHUNKS}, n=2, method="dense", embed=embed)
    assert mined.negatives == ["given negative", CHUNKS[4].text]


def test_retriever_backed_mining_and_errors():
    class FakeRetriever:
        def retrieve(self, texts, k=10):
            return [[Hit(chunk_id=c.id, score=1.0) for c in reversed(CHUNKS)][:k] for _ in texts]

    [mined] = mine_hard_negatives([PAIR], CHUNKS, n=1, retriever=FakeRetriever(), skip_top=1)
    assert mined.negatives == [CHUNKS[3].text]  # fruit skipped by skip_top, warranty next
    with pytest.raises(ValueError, match="unknown hard-negative method"):
        mine_hard_negatives([PAIR], CHUNKS, method="splade")
    with pytest.raises(ValueError, match="empty corpus"):
        mine_hard_negatives([PAIR], [])


@pytest.mark.slow
def test_dense_mining_gives_sentence_transformers_mine_hard_negatives_where_they_do_the_same_job(tmp_path):
    """sentence-transformers' miner is dense-only and knows no sources; with same-source exclusion off, ragkit's
    dense miner must pick exactly its negatives. ragkit keeps its own for BM25 mining and the same-source guard."""
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives as st_mine

    from ragkit.defaults import DEMO_CORPUS
    from ragkit.indexes.store import ChunkStore
    from ragkit.ingest import ingest
    from ragkit.models import load_sentence_transformer

    ingest([DEMO_CORPUS], tmp_path / "idx")
    chunks = [c for c in ChunkStore.load(tmp_path / "idx") if len(c.text.split()) >= 8]
    texts = list(dict.fromkeys(c.text for c in chunks))
    by_text = {c.text: c for c in chunks}
    questions = {"How long is the standard warranty period?": "12 years", "Which port does Modbus TCP use?": "502",
                 "How often does the app update?": "5 minutes", "What batteries work with the X2?": "LFP"}
    pairs = []
    for q, needle in questions.items():
        positive = next(t for t in texts if needle in t)
        pairs.append(QAPair(question=q, chunk_id=by_text[positive].id, source=by_text[positive].source, contexts=[positive]))
    model = load_sentence_transformer("minilm", "cpu")
    embed = lambda xs: model.encode(xs, normalize_embeddings=True, batch_size=64)  # noqa: E731
    ours = mine_hard_negatives(pairs, {by_text[t].id: t for t in texts}, n=3, method="dense", depth=30,
                               exclude_same_source=False, embed=embed)
    theirs = st_mine(Dataset.from_dict({"anchor": [p.question for p in pairs], "positive": [p.contexts[0] for p in pairs]}),
                     model, corpus=texts, num_negatives=3, range_max=30, sampling_strategy="top",
                     output_format="n-tuple", verbose=False)
    assert len(theirs) == len(pairs)
    for pair, row in zip(ours, theirs):
        assert len(pair.negatives) == 3 and pair.negatives == [row[f"negative_{i}"] for i in (1, 2, 3)], pair.question
    # what sentence-transformers cannot do: skip the positive's own document (neighbouring chunks answer too)
    guarded = mine_hard_negatives(pairs, [by_text[t] for t in texts], n=3, method="dense", depth=30, embed=embed)
    assert [g.negatives for g in guarded] != [p.negatives for p in ours]
    assert all(by_text[t].source != g.source for g in guarded for t in g.negatives)
