"""Tests for ragkit.generator: prompt building, budget packing, citations, "I don't know" decisions.

Deterministic behaviour is tested with FakeLLM; the last test runs the real SmolLM2-135M on a
small corpus made here (marked slow: 8-20 s on a shared 2-core machine).
"""

from __future__ import annotations

import json

import pytest

from ragkit.generator import LLMGenerator, content_words, parse_citations, says_idk
from ragkit.llm import FakeLLM, LLMError
from ragkit.registry import build
from ragkit.types import Answer, Chunk, Hit

REACTOR = Chunk(text="The Zorblat reactor was commissioned in 1987 in Tromsø.", source="docs/reactor.pdf", page=3)
BAKERY = Chunk(text="The Millbrook bakery opened in 1954 and sells rye bread.", source="notes/bakery.md", heading=["Shops", "Bakery"])
CITY = Chunk(
    text="Tromsø is a city in northern Norway with a reactor museum.",
    source="src/city.py",
    start_line=10,
    end_line=24,
    symbol="City.describe",
)
GARDEN = Chunk(text="The botanical garden holds over 3,000 species of ferns.", source="garden.md")
Q = "When was the Zorblat reactor commissioned?"


def hits(*chunks: Chunk, scores: list[float] | None = None) -> list[Hit]:
    scores = scores or [1.0 - 0.1 * i for i in range(len(chunks))]
    return [Hit(chunk_id=c.id, score=s, rank=i + 1, chunk=c) for i, (c, s) in enumerate(zip(chunks, scores))]


def fake_generator(responses, **kwargs) -> LLMGenerator:
    return LLMGenerator(llm={"type": "fake", "responses": responses}, **kwargs)


def last_context_block(prompt: str) -> str:
    """The numbered contexts of the real question (after the few-shot examples)."""
    return prompt.rsplit("Contexts:\n", 1)[1].split("\n\nQuestion:", 1)[0]


# -- prompt and packing --------------------------------------------------------------------


def test_prompt_numbers_contexts_in_rank_order_with_provenance():
    gen = fake_generator(["It was commissioned in 1987 [1]."])
    gen.generate([Q], [hits(REACTOR, CITY, BAKERY)])
    prompt = gen.model.calls[0]
    block = last_context_block(prompt).splitlines()
    assert block == [
        "[1] (docs/reactor.pdf p3) The Zorblat reactor was commissioned in 1987 in Tromsø.",
        "[2] (src/city.py / lines 10-24 / City.describe) Tromsø is a city in northern Norway with a reactor museum.",
        "[3] (notes/bakery.md / Bakery) The Millbrook bakery opened in 1954 and sells rye bread.",
    ]
    assert prompt.rstrip().endswith(f"Question: {Q}")
    assert "cite" in prompt and "I don't know" in prompt


def test_packing_stops_at_budget_and_truncates_the_last_context():
    words = [f"w{i}" for i in range(40)]
    chunks = [Chunk(text=" ".join(f"{c}{w}" for w in words), source=f"{c}.md") for c in "abc"]
    # FakeLLM counts whitespace tokens: a full line costs 2 + 40 tokens + 1 newline = 43.
    gen = fake_generator(["x"], max_context_tokens=110)
    answer = gen.generate([Q], [hits(*chunks)])[0]
    block = last_context_block(gen.model.calls[0])
    lines = block.splitlines()
    assert [line[:3] for line in lines] == ["[1]", "[2]", "[3]"]
    assert lines[2].endswith("…") and "cw19" in lines[2] and "cw20" not in lines[2]
    assert len(block.split()) + len(lines) <= 110
    assert answer.metadata["packed"] == 3 and answer.metadata["truncated"] is True
    assert len(answer.hits) == 3  # every hit given is kept on the answer

    roomy = fake_generator(["x"], max_context_tokens=1000)
    roomy_meta = roomy.generate([Q], [hits(*chunks)])[0].metadata
    assert (roomy_meta["packed"], roomy_meta["truncated"]) == (3, False)


def test_packing_leaves_out_a_context_too_small_to_truncate():
    chunks = [Chunk(text=" ".join(["word"] * 40), source=f"{c}.md") for c in "ab"]
    answer = fake_generator(["x"], max_context_tokens=50).generate([Q], [hits(*chunks)])[0]
    assert answer.metadata["packed"] == 1 and answer.metadata["truncated"] is False


def test_packing_budget_shrinks_to_the_model_window(monkeypatch):
    chunks = [Chunk(text=" ".join([f"t{i}"] * 30), source="a.md") for i in range(6)]
    monkeypatch.setattr(FakeLLM, "context_window", property(lambda self: 420))
    gen = fake_generator(["x"], max_new_tokens=100)
    answer = gen.generate([Q], [hits(*chunks)])[0]
    prompt_tokens = sum(len(m.split()) for m in gen.model.calls[0].split("\n"))
    assert 0 < answer.metadata["packed"] < 6
    assert prompt_tokens + 100 <= 420
    monkeypatch.setattr(FakeLLM, "context_window", property(lambda self: 200))
    with pytest.raises(ValueError, match="max_context_tokens"):
        fake_generator(["x"], max_new_tokens=100).generate([Q], [hits(*chunks)])


# -- citations -----------------------------------------------------------------------------


def test_parse_citations_forms():
    assert parse_citations("a [1] b [2, 3][2] c [4;5] [ 6 ] [x] [1]") == [1, 2, 3, 4, 5, 6]
    assert parse_citations("no citations") == []


def test_citations_map_to_chunks_and_out_of_range_are_dropped():
    gen = fake_generator(["It was commissioned in 1987 in Tromsø [1][2] [7]."], cite="model")
    answer = gen.generate([Q], [hits(REACTOR, CITY, BAKERY)])[0]
    assert [c.number for c in answer.citations] == [1, 2]
    assert answer.metadata["citations_out_of_range"] == [7]
    first, second = answer.citations
    assert (first.chunk_id, first.source, first.page) == (REACTOR.id, "docs/reactor.pdf", 3)
    assert (second.source, second.start_line, second.end_line, second.symbol) == ("src/city.py", 10, 24, "City.describe")
    assert answer.text == "It was commissioned in 1987 in Tromsø [1][2] [7]."


def test_auto_drops_citations_that_support_nothing():
    text = "It was commissioned in 1987 [3, 1]."
    auto = fake_generator([text]).generate([Q], [hits(REACTOR, CITY, BAKERY)])[0]
    assert [c.number for c in auto.citations] == [1]
    assert auto.metadata["citations_dropped"] == [3]
    model = fake_generator([text], cite="model").generate([Q], [hits(REACTOR, CITY, BAKERY)])[0]
    assert [c.number for c in model.citations] == [3, 1]


def test_auto_attributes_uncited_answer_to_best_overlapping_context():
    text = "It was commissioned in 1987."
    auto = fake_generator([text]).generate([Q], [hits(BAKERY, CITY, REACTOR)])[0]
    assert [(c.number, c.chunk_id) for c in auto.citations] == [(3, REACTOR.id)]
    assert auto.metadata["citations_attributed"] is True
    assert fake_generator([text], cite="model").generate([Q], [hits(BAKERY, CITY, REACTOR)])[0].citations == []
    off = fake_generator(["In 1987 [3]."], cite="off").generate([Q], [hits(BAKERY, CITY, REACTOR)])[0]
    assert off.citations == [] and off.text == "In 1987 [3]."


# -- "I don't know" ------------------------------------------------------------------------


def test_says_idk_patterns():
    for text in ["I don't know.", "I do not know the answer", "The contexts do not mention it.",
                 "There is no information about that.", "I cannot answer this.", "I don’t know", ""]:
        assert says_idk(text), text
    for text in ["The reactor does not provide heating.", "It was built in 1901 [2]."]:
        assert not says_idk(text), text


def test_model_idk_is_normalised_and_never_cited():
    answer = fake_generator(["The contexts do not contain the answer [1]."]).generate([Q], [hits(REACTOR)])[0]
    assert answer.text == "I don't know."
    assert answer.citations == []
    assert answer.metadata["idk_reason"] == "model"
    assert answer.metadata["model_text"] == "The contexts do not contain the answer [1]."


def test_unsupported_answer_becomes_idk():
    question = "Who designed the Zorblat reactor?"
    answer = fake_generator(["It was designed by John Smith and Ada Byron [1]."]).generate([question], [hits(REACTOR, BAKERY)])[0]
    assert answer.text == "I don't know." and answer.citations == []
    assert answer.metadata["idk_reason"] == "unsupported"
    assert answer.metadata["grounding"]["support"] == 0.0


def test_answer_supported_only_by_an_irrelevant_context_becomes_idk():
    question = "What is the population of Tromsø?"
    answer = fake_generator(["It holds over 3,000 species of ferns."]).generate([question], [hits(REACTOR, GARDEN)])[0]
    assert answer.text == "I don't know."
    grounding = answer.metadata["grounding"]
    assert grounding["context"] == 2 and grounding["support"] == 1.0 and grounding["relevance"] == 0.0


def test_a_number_missing_from_the_evidence_becomes_idk():
    answer = fake_generator(["It was commissioned in 1988 in Tromsø."]).generate([Q], [hits(REACTOR)])[0]
    assert answer.text == "I don't know."
    assert answer.metadata["unsupported_numbers"] == ["1988"]


def test_grounded_leading_sentences_are_kept_and_the_ramble_after_them_is_reported():
    reply = "It was commissioned in 1987 [1]. Later it powered 40,000 homes across Finland and Sweden."
    answer = fake_generator([reply]).generate([Q], [hits(REACTOR, BAKERY)])[0]
    assert answer.text == "It was commissioned in 1987 [1]."
    assert [c.number for c in answer.citations] == [1]
    assert answer.metadata["trimmed"] == {"kept_sentences": 1, "of": 2, "support_whole": answer.metadata["trimmed"]["support_whole"],
                                          "dropped": "Later it powered 40,000 homes across Finland and Sweden."}


def test_an_answer_whose_first_sentence_is_unsupported_is_still_refused():
    reply = "It was commissioned in 1988 in Oslo. The reactor was commissioned in 1987 in Tromsø."
    answer = fake_generator([reply]).generate([Q], [hits(REACTOR)])[0]
    assert answer.text == "I don't know." and "trimmed" not in answer.metadata


def test_min_score_and_empty_contexts_answer_idk_without_calling_the_llm():
    gen = fake_generator(["It was commissioned in 1987."], min_score=0.5)
    low, empty, ok = gen.generate([Q, Q, Q], [hits(REACTOR, scores=[0.2]), [], hits(REACTOR, scores=[0.9])])
    assert (low.text, low.metadata["idk_reason"]) == ("I don't know.", "low_score")
    assert (empty.text, empty.metadata["idk_reason"]) == ("I don't know.", "no_contexts")
    assert ok.text == "It was commissioned in 1987." and [c.number for c in ok.citations] == [1]
    assert len(gen.model.calls) == 1


def test_repeated_sentences_are_collapsed():
    answer = fake_generator(["It was in 1987. It was in 1987. It was in 1987."]).generate([Q], [hits(REACTOR)])[0]
    assert answer.text == "It was in 1987."


def test_content_words_drop_stopwords_and_keep_numbers_whole():
    assert content_words("The reactors leave at 07:40, with 3,000 ferns’s") == {"reactor", "leave", "07:40", "3,000", "fern"}


# -- modes, errors, config -----------------------------------------------------------------


def test_closed_book_mode_uses_no_contexts_and_no_citations():
    gen = fake_generator(["Paris [1].", "I'm sorry, I don't know."])
    paris, idk = gen.generate(["What is the capital of France?", "What is my cat called?"])
    assert paris.mode == idk.mode == "closed-book"
    assert paris.text == "Paris [1]." and paris.citations == [] and paris.hits == []
    assert idk.text == "I don't know."
    assert all("Contexts:" not in call for call in gen.model.calls)


def test_one_batched_llm_call_answers_in_order_with_timings():
    gen = fake_generator(["In 1987.", "In 1954."])
    answers = gen.generate([Q, "When did the Millbrook bakery open?"], [hits(REACTOR), hits(BAKERY)])
    assert [a.text for a in answers] == ["In 1987.", "In 1954."]
    assert all(a.timings["generate"] >= 0 for a in answers)
    restored = Answer.from_dict(json.loads(json.dumps(answers[0].to_dict())))
    assert restored == answers[0]


def test_errors_are_clear():
    gen = fake_generator(["x"])
    with pytest.raises(ValueError, match="one list per question"):
        gen.generate([Q, Q], [hits(REACTOR)])
    with pytest.raises(ValueError, match="has no chunk"):
        gen.generate([Q], [[Hit(chunk_id="abc", score=1.0)]])
    with pytest.raises(ValueError, match="cite"):
        LLMGenerator(cite="always")
    with pytest.raises(ValueError, match="min_support"):
        LLMGenerator(min_support=2.0)
    failing = LLMGenerator(llm={"type": "fake", "fail": True})
    with pytest.raises(LLMError):
        failing.generate([Q], [hits(REACTOR)])


def test_use_llm_injects_a_built_llm():
    shared = FakeLLM(responses=["It was commissioned in 1987."])
    gen = LLMGenerator()  # its transformers config is never built
    gen.use_llm(shared)
    assert gen.generate([Q], [hits(REACTOR)])[0].text == "It was commissioned in 1987."
    assert len(shared.calls) == 1


def test_config_round_trips_and_llm_is_lazy():
    gen = LLMGenerator(max_context_tokens=512, min_score=0.1)
    config = gen.to_config()
    assert config["llm"] == {"type": "transformers", "model": "smollm2-135m"}
    assert gen._llm is None  # nothing loaded by construction
    assert build("generator", config).to_config() == config


# -- the real SmolLM2-135M -----------------------------------------------------------------

CORPUS = [
    Chunk(text="The Millbrook bakery opened in 1954 and is famous for its rye bread and cinnamon buns.", source="bakery.md"),
    Chunk(text="The Zorblat reactor was commissioned in 1987 in Tromsø. It produces 40 megawatts for the northern grid.", source="reactor.md", start_line=3, end_line=4),
    Chunk(text="The Kessel bridge spans the Orla river. It was built from granite between 1901 and 1906.", source="bridge.md"),
    Chunk(text="The botanical garden holds over 3,000 species of ferns, most of them collected in New Zealand.", source="garden.md"),
    Chunk(text="The night train to Lindau leaves at 22:15 from platform 4 and arrives at 07:40.", source="train.md"),
    Chunk(text="The city library lends telescopes to members. Loans last two weeks and can be renewed once.", source="library.md"),
]


@pytest.fixture(scope="module")
def one_thread():
    """Run the real model on one torch thread: on this 2-core, shared machine two threads spin
    against other processes and run ~5x slower; restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow  # ~8-20 s on this shared 2-core machine, prompt prefill of 3 x ~450 tokens
def test_smollm2_answers_with_citation_and_abstains_when_unanswerable(one_thread):
    gen = LLMGenerator(max_new_tokens=48)  # one-sentence answers; caps a runaway loop
    questions = [Q, "Who designed the Zorblat reactor?", "What is the population of Tromsø?"]
    answers = gen.generate(questions, [hits(*CORPUS)] * 3)  # the fact is in context [2], not [1]
    fact = answers[0]
    assert "1987" in fact.text, fact.metadata
    assert [c.chunk_id for c in fact.citations] == [CORPUS[1].id]
    assert (fact.citations[0].number, fact.citations[0].start_line) == (2, 3)
    for unanswerable in answers[1:]:
        assert unanswerable.text == "I don't know.", unanswerable.metadata
        assert unanswerable.citations == []
    assert all(a.timings["generate"] > 0 for a in answers)


def test_grounding_keeps_code_answer_with_low_question_overlap(tmp_path):
    import shutil

    dateutil = pytest.importorskip("dateutil")
    from ragkit.connectors.code import PythonConnector
    from ragkit.generator import check_grounding

    shutil.copy(f"{dateutil.__path__[0]}/utils.py", tmp_path / "utils.py")
    chunks = list(PythonConnector(tokenizer="whitespace").parse(tmp_path / "utils.py", "dateutil/utils.py"))
    gold = next(c for c in chunks if c.symbol == "within_delta")
    question = "How can I check that two datetimes differ by no more than a tolerance?"
    answer = "Call within_delta(dt1, dt2, delta) [1]."
    old = check_grounding(question, answer, [gold.text], [True], min_relevance_code=0.6, exact_identifiers=False)
    assert not old["grounded"] and old["relevance"] < 0.6  # what the old rule refused
    assert check_grounding(question, answer, [gold.text], [True])["grounded"]
    wrong = check_grounding(question, "Call within_tolerance(dt1, dt2, delta) [1].", [gold.text], [True])
    assert not wrong["grounded"] and "within_tolerance" in wrong["missing"]


def test_grounding_refuses_unsupported_number(tmp_path):
    dateutil = pytest.importorskip("dateutil")
    from ragkit.connectors.code import PythonConnector
    from ragkit.generator import check_grounding

    chunks = PythonConnector(tokenizer="whitespace").chunks(
        open(f"{dateutil.__path__[0]}/easter.py").read(), "dateutil/easter.py"
    )
    ctx = next(c for c in chunks if c.symbol == "EASTER_ORTHODOX")
    q = "Which number selects the Orthodox method when computing Easter?"
    assert check_grounding(q, "EASTER_ORTHODOX is 2 [1].", [ctx.text], [True])["grounded"]
    bad = check_grounding(q, "EASTER_ORTHODOX is 4 [1].", [ctx.text], [True])
    assert not bad["grounded"] and bad["missing"] == ["4"]


# -- intermediate reasoning (ragkit.reasoning format) ------------------------------------------


def _reasoned(reply: str, *chunks: Chunk) -> tuple[Answer, str]:
    gen = fake_generator([reply], reasoning=True)
    answer = gen.generate([Q], [hits(*chunks)])[0]
    return answer, gen.model.calls[0]


def test_reasoning_reply_becomes_a_cited_answer_without_its_preamble():
    answer, prompt = _reasoned('Relevant: [1]\nEvidence: "was commissioned in 1987"\nAnswer: It was commissioned in 1987 [1].',
                               REACTOR, BAKERY)
    assert "Relevant:" in prompt and "Evidence:" in prompt  # asked for the format, with examples
    assert answer.text == "It was commissioned in 1987 [1]." and [c.number for c in answer.citations] == [1]
    assert answer.citations[0].source == "docs/reactor.pdf" and answer.metadata["reasoning_flags"] == []
    assert answer.metadata["reasoning"]["relevant"] == [1] and answer.metadata["reasoning"]["evidence_in"] == [1]


def test_reasoning_wrong_passage_and_invented_evidence_are_flagged_not_dropped():
    wrong, _ = _reasoned('Relevant: [2]\nEvidence: "was commissioned in 1987"\nAnswer: It was commissioned in 1987 [2].',
                         REACTOR, BAKERY)
    assert [c.number for c in wrong.citations] == [2]  # kept as stated, and flagged
    assert wrong.metadata["reasoning_flags"] == ["evidence_not_in_cited_passage"]
    assert wrong.metadata["reasoning"]["evidence_elsewhere"] == [1]
    invented, _ = _reasoned('Relevant: [1]\nEvidence: "opened by the mayor in 1987"\nAnswer: It was commissioned in 1987 [1].',
                            REACTOR, BAKERY)
    assert invented.metadata["reasoning_flags"] == ["evidence_not_in_cited_passage"]
    assert invented.metadata["reasoning"]["evidence_elsewhere"] == []
    out, _ = _reasoned('Relevant: [4]\nEvidence: "commissioned in 1987"\nAnswer: It was commissioned in 1987 [4].', REACTOR, BAKERY)
    assert out.citations == [] and out.metadata["reasoning"]["out_of_range"] == [4]
    assert out.metadata["reasoning_flags"] == ["passage_out_of_range", "evidence_not_in_cited_passage"]


def test_malformed_reasoning_falls_back_to_plain_citations_and_is_flagged():
    answer, _ = _reasoned("It was commissioned in 1987 [1].", REACTOR, BAKERY)
    assert answer.text == "It was commissioned in 1987 [1]." and [c.number for c in answer.citations] == [1]
    assert answer.metadata["reasoning_flags"] == ["malformed"]
    assert answer.metadata["reasoning"] == {"raw": "It was commissioned in 1987 [1]."}


def test_reasoning_switches_on_for_a_rag_reasoning_model_dir(tmp_path):
    assert fake_generator(["x"]).reasoning is False
    (tmp_path / "ragkit-tuning.json").write_text(json.dumps({"kind": "generator", "mode": "rag-reasoning"}))
    assert LLMGenerator(llm={"type": "transformers", "model": str(tmp_path)}).reasoning is True
    assert LLMGenerator(llm={"type": "transformers", "model": str(tmp_path)}, reasoning=False).reasoning is False
    (tmp_path / "ragkit-tuning.json").write_text(json.dumps({"kind": "generator", "mode": "rag"}))
    assert LLMGenerator(llm={"type": "transformers", "model": str(tmp_path)}).reasoning is False
