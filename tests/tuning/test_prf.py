"""PRF encoder tuning: the LoL regulariser, the reformulation loss, training, save/load, interruption."""

from __future__ import annotations

import numpy as np
import pytest

from ragkit.rewriters.lol import PRFQueryEncoder, prf_input, read_prf_config
from ragkit.tuning.prf import PRFTask, PRFTuner, comparative_regularization, reformulation_losses

torch = pytest.importorskip("torch")


def test_regulariser_is_zero_when_deeper_losses_are_not_larger():
    losses = torch.tensor([[2.0, 1.5, 1.5, 0.2], [1.0, 1.0, 1.0, 1.0]])
    assert float(comparative_regularization(losses)) == 0.0


def test_regulariser_hand_computed_when_order_is_violated():
    # pairs (0,1): max(0, 2-1)=1, (0,2): max(0, 0.5-1)=0, (1,2): max(0, 0.5-2)=0 -> mean 1/3
    losses = torch.tensor([[1.0, 2.0, 0.5]], requires_grad=True)
    value = comparative_regularization(losses)
    assert float(value.detach()) == pytest.approx(1 / 3)
    value.backward()  # it pushes the deeper loss down and the shallower one up
    assert losses.grad[0].tolist() == pytest.approx([-1 / 3, 1 / 3, 0.0])


def test_regulariser_of_one_depth_is_zero():
    assert float(comparative_regularization(torch.tensor([[3.0]]))) == 0.0


def test_reformulation_loss_targets_the_hardest_positive_and_masks_the_other():
    docs = torch.eye(3)
    q = torch.tensor([[0.9, 0.1, 0.0]])
    loss = reformulation_losses(q, docs, [[0, 1]], temperature=1.0)
    # target doc 1 (lower score), doc 0 masked: softmax over docs 1 and 2 only
    expected = -torch.log_softmax(torch.tensor([0.1, 0.0]), dim=0)[0]
    assert float(loss[0]) == pytest.approx(float(expected), rel=1e-5)


def test_prf_input_joins_query_and_cut_passages():
    text = prf_input("cats purr", ["a kitten purrs while nursing", "dogs bark"], sep="[SEP]", max_chars=12)
    assert text == "cats purr [SEP] a kitten [SEP] dogs bark"
    assert prf_input("q", []) == "q"


@pytest.mark.parametrize("kwargs", [{"depths": [3, 1]}, {"depths": []}, {"lambda_cr": -1}, {"max_steps": 0},
                                    {"epochs": 0}, {"batch_size": 0}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        PRFTuner(**kwargs)


def _task(model_dir):
    from sentence_transformers import SentenceTransformer

    texts = {"d0": "the cat sat on the mat", "d1": "a red apple is a fruit", "d2": "the car engine battery",
             "d3": "water pump valve pressure", "d4": "the dog is fast"}
    model = SentenceTransformer(str(model_dir), device="cpu")
    ids = list(texts)
    vectors = model.encode([texts[i] for i in ids], normalize_embeddings=True)
    queries = {"q0": "what cat sat", "q1": "which fruit is red", "q2": "car battery charge", "q3": "pump pressure"}
    qrels = {"q0": {"d0": 1}, "q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1, "d2": 1}}
    return PRFTask(queries=queries, qrels=qrels, doc_ids=ids, doc_texts=texts, doc_vectors=vectors)


def test_fit_writes_an_encoder_that_round_trips(tiny_st_dir, tmp_path):
    task = _task(tiny_st_dir)
    tuner = PRFTuner(base=str(tiny_st_dir), depths=[0, 1, 2], epochs=1.5, batch_size=3, learning_rate=1e-3,
                     device="cpu", progress=False)
    result = tuner.fit(task, tmp_path / "prf")
    assert read_prf_config(tmp_path / "prf")["depths"] == [0, 1, 2]
    record = result.record
    # 4 queries, batches of 3: 2 steps an epoch, 1.5 epochs -> 3 steps
    assert record["kind"] == "prf" and record["train_steps"] == 3 and record["epochs_run"] == 1.5
    assert list(record["loss_by_depth"]) == ["0", "1", "2"] and len(record["loss_by_depth_history"]) == 3
    assert record["n_train"] == 4 and record["skipped"]["no_relevant_judgement"] == 0
    assert not [p for p in tmp_path.iterdir() if p.name != "prf"]  # no temp dirs left beside it

    from ragkit.types import Chunk, Hit

    hits = [[Hit(chunk_id="d1", score=1.0, rank=1, chunk=Chunk(text=task.doc_texts["d1"], source="d1"))]]
    rewriter = PRFQueryEncoder(model=str(tmp_path / "prf"), fb_docs=1, device="cpu")
    rewrite = rewriter.rewrite(["which fruit is red"], hits)[0]
    # the saved model, loaded again, gives the vector the trained one gives for the same input
    from sentence_transformers import SentenceTransformer

    again = SentenceTransformer(str(tmp_path / "prf"), device="cpu")
    sep = read_prf_config(tmp_path / "prf")["sep"]
    expected = again.encode([prf_input("which fruit is red", [task.doc_texts["d1"]], sep, 300)], normalize_embeddings=True)[0]
    assert np.allclose(rewrite.vector, expected, atol=1e-5)
    assert rewrite.metadata["feedback"] == ["d1"]
    base = SentenceTransformer(str(tiny_st_dir), device="cpu").encode([prf_input("which fruit is red", [task.doc_texts["d1"]], sep, 300)], normalize_embeddings=True)[0]
    assert not np.allclose(expected, base, atol=1e-4)  # training changed the weights


def test_interrupted_training_leaves_the_previous_output(tiny_st_dir, tmp_path, monkeypatch):
    out = tmp_path / "prf"
    out.mkdir()
    (out / "keep.txt").write_text("old")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(PRFTuner, "_train", boom)
    with pytest.raises(KeyboardInterrupt):
        PRFTuner(base=str(tiny_st_dir), depths=[0, 1], max_steps=1, device="cpu", progress=False).fit(_task(tiny_st_dir), out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["prf"]


def test_lol_refuses_a_bm25_retriever():
    from ragkit.retrievers.bm25 import BM25Retriever

    with pytest.raises(ValueError, match="dense or hybrid"):
        PRFQueryEncoder(model="x").check_searcher(BM25Retriever("nowhere"))


def test_skipped_queries_are_counted_by_reason(tiny_st_dir):
    task = _task(tiny_st_dir)
    task.queries.update({"q4": "no judgement at all", "q5": "judged outside the index", "q6": "judged irrelevant"})
    task.qrels.update({"q5": {"gone": 1}, "q6": {"d4": 0}, "q9": {"d0": 1}})
    task.qrels["q3"]["also-gone"] = 1
    kept, skipped = PRFTuner(device="cpu").usable_queries(task)
    assert kept == ["q0", "q1", "q2", "q3"]
    assert skipped["no_relevant_judgement"] == 2 and skipped["relevant_documents_not_in_index"] == 1
    assert skipped["qrels_without_query_text"] == 1 and skipped["relevant_judgements_not_in_index"] == 2
    assert skipped["examples"]["no_relevant_judgement"] == ["q4", "q6"]


def test_no_usable_query_is_an_error_that_says_why(tiny_st_dir, tmp_path):
    task = _task(tiny_st_dir)
    task.qrels = {q: {"gone": 1} for q in task.queries}
    with pytest.raises(ValueError, match="relevant_documents_not_in_index': 4"):
        PRFTuner(base=str(tiny_st_dir), device="cpu", progress=False).fit(task, tmp_path / "prf")
    assert not (tmp_path / "prf").exists()


@pytest.mark.parametrize("epochs, max_steps, expected", [(1, None, 3), (2, None, 6), (0.5, None, 2), (3, 4, 4)])
def test_steps_follow_epochs_and_the_cap(epochs, max_steps, expected):
    tuner = PRFTuner(epochs=epochs, max_steps=max_steps, batch_size=4)
    assert tuner.total_steps(10) == expected
    batches = tuner._batches(10)
    assert len(batches) == expected and all(len(b) <= 4 for b in batches)
    if max_steps is None and epochs >= 1:  # every query is seen once per full epoch
        assert sorted(i for b in batches[:3] for i in b) == list(range(10))


def test_one_forward_pass_per_depth(tiny_st_dir, tmp_path, monkeypatch):
    calls = []
    original = PRFTuner._encode

    def counting(self, model, texts):
        calls.append(len(texts))
        return original(self, model, texts)

    monkeypatch.setattr(PRFTuner, "_encode", counting)
    PRFTuner(base=str(tiny_st_dir), depths=[0, 1, 3], epochs=2, batch_size=4, device="cpu",
             progress=False).fit(_task(tiny_st_dir), tmp_path / "prf")
    assert calls == [4, 4, 4] * 2  # 2 steps x 3 depths, each over the 4 queries of the batch
