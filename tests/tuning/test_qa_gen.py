"""QA generation with a FakeLLM: questions parsed, answered from their chunk, provenance kept."""

from __future__ import annotations

import pytest

from ragkit.llm import FakeLLM, LLMError
from ragkit.tuning.qa_gen import generate_qa, parse_questions
from ragkit.types import Chunk

PUMP = Chunk(text="The Helios X2 pump moves up to 40 litres of water per minute at a pressure of 3 bar. " * 2,
             source="docs/manual.pdf", page=2)
WARRANTY = Chunk(text="The warranty covers the pump for two years from the date of purchase, parts and labour. " * 2,
                 source="docs/warranty.pdf", page=1)


def test_parse_questions_strips_numbering_and_splits():
    reply = (
        "1. How much water does the pump move?\n2) What pressure?\n- Is the pump loud?\n"
        "Q3: Which pump is this? What bar does it reach?\nHow much water does the pump move?"
    )
    assert parse_questions(reply, 5) == [
        "How much water does the pump move?",
        "Is the pump loud?",
        "Which pump is this?",
        "What bar does it reach?",
    ]  # "What pressure?" has too few words; the repeat is dropped
    assert parse_questions(reply, 2) == ["How much water does the pump move?", "Is the pump loud?"]


def test_generate_qa_asks_then_answers_from_the_chunk():
    llm = FakeLLM(responses={
        "Question: How much water does the pump move per minute?": "Up to 40 litres of water per minute.",
        "Question: How long is the warranty period?": "Two years from the date of purchase.",
        "Answer the question using only the text": "",  # any other answer prompt
        "40 litres": "1. How much water does the pump move per minute?",
        "warranty covers": "1. How long is the warranty period?\n2. What does the warranty cover exactly?",
    }, default="")
    seen = []
    pairs = generate_qa([PUMP, WARRANTY, Chunk(text="too short", source="x.md")], llm, questions_per_chunk=2,
                        progress=lambda done, total: seen.append((done, total)))
    by_q = {p.question: p for p in pairs}
    assert by_q["How much water does the pump move per minute?"].answer == "Up to 40 litres of water per minute."
    assert by_q["How long is the warranty period?"].chunk_id == WARRANTY.id
    assert by_q["What does the warranty cover exactly?"].answer == ""  # the fake has no answer for it
    assert all(p.contexts == [PUMP.text] for p in pairs if p.source == "docs/manual.pdf")
    assert seen[-1] == (2, 2)  # the short chunk is skipped
    assert len(pairs) == 3


def test_max_chunks_samples_and_llm_errors_propagate():
    llm = FakeLLM(default="What is this text about?")
    assert len({p.chunk_id for p in generate_qa([PUMP, WARRANTY], llm, max_chunks=1)}) == 1
    with pytest.raises(LLMError):
        generate_qa([PUMP], FakeLLM(fail=True))
    with pytest.raises(ValueError, match="questions_per_chunk"):
        generate_qa([PUMP], llm, questions_per_chunk=0)


class Constrained(FakeLLM):
    """A fake backend that says it constrains decoding (its chat_json is plain chat)."""

    supports_json_schema = True


def test_structured_questions_are_read_from_json_and_a_broken_reply_from_its_lines():
    from ragkit.tuning.qa_gen import parse_json_questions, questions_schema

    llm = Constrained(responses={  # the first key found in a prompt answers it
        "Question: How much water": "Up to 40 litres of water per minute.",
        "Question: How long": "Two years.",
        "40 litres": '{"questions": ["How much water does the pump move per minute?", "Which pump?"]}',
        "warranty covers": '1. How long is the warranty period?',  # not JSON: read as lines
    }, default="")
    pairs = generate_qa([PUMP, WARRANTY], llm, questions_per_chunk=2, structured=True)
    got = {(p.question, p.metadata["questions_from"]) for p in pairs}
    assert got == {("How much water does the pump move per minute?", "json"),  # "Which pump?": too few words
                   ("How long is the warranty period?", "lines")}
    schema = questions_schema(3)
    assert schema["properties"]["questions"]["maxItems"] == 3 and schema["required"] == ["questions"]
    assert parse_json_questions('{"questions": "not a list"}', 2) is None
    assert parse_json_questions('{"questions": ["What does the pump move?"]}', 2) == ["What does the pump move?"]


def test_structured_needs_a_backend_that_constrains_and_is_opt_in():
    llm = Constrained(responses={"Question:": "40 litres.",
                                 "Reply with JSON only": '{"questions": ["How much water does the pump move?"]}'},
                      default="")
    assert [p.metadata["questions_from"] for p in generate_qa([PUMP], llm, questions_per_chunk=1, structured=True)] == ["json"]
    llm = Constrained(responses={"Question:": "40 litres.", "one question per line": "What does the pump move?"},
                      default="")
    assert [p.metadata["questions_from"] for p in generate_qa([PUMP], llm, questions_per_chunk=1)] == ["lines"]
    plain = FakeLLM(default="What does the pump move?")  # cannot constrain: the line prompt, asked or not
    assert [p.metadata["questions_from"] for p in generate_qa([PUMP], plain, questions_per_chunk=1,
                                                              structured=True)] == ["lines"]
