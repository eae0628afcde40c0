"""ragkit.reasoning: the Relevant / Evidence / Answer format round-trips, malformed replies are
rejected, the check catches a wrong passage number and invented evidence, the evidence span is
the gold sentence with the most answer words."""

from __future__ import annotations

import json

import pytest

from ragkit import prompts
from ragkit.reasoning import (
    MAX_EVIDENCE_WORDS, Reasoning, build_target, check, evidence_span, parse, read_reply, reasoning_messages, tuned_mode,
)

PASSAGES = [
    "The blue van was repaired in March. It got new tyres.",
    "Our cat Miso is eight years old. She sleeps on the sofa all day.",
    "The ferry to Vela departs at 09:30 from pier 2.",
]


def test_target_round_trips_through_the_parser():
    target = build_target([2], "Our cat Miso is eight years old.", "Miso is eight years old.")
    assert target == 'Relevant: [2]\nEvidence: "Our cat Miso is eight years old."\nAnswer: Miso is eight years old. [2]'
    assert parse(target) == Reasoning(relevant=(2,), evidence="Our cat Miso is eight years old.", answer="Miso is eight years old. [2]")
    two = parse(build_target([3, 1], 'the "pier" 2', "At pier 2 [3]."))  # quotes inside the span, answer already cited
    assert two == Reasoning(relevant=(3, 1), evidence='the "pier" 2', answer="At pier 2 [3].")
    assert parse("relevant: [1, 3]\nevidence: \u201cx y\u201d\nanswer: z\nmore") == Reasoning((1, 3), "x y", "z\nmore")
    with pytest.raises(ValueError, match="relevant passage"):
        build_target([], "x", "y")


@pytest.mark.parametrize("reply", [
    "Miso is eight years old [2].",  # plain answer
    'Relevant: [2]\nAnswer: Miso is eight [2].',  # no evidence line
    'Relevant: two\nEvidence: "Miso"\nAnswer: eight [2].',  # no passage number
    'Relevant: [2]\nEvidence: Miso is eight\nAnswer: eight [2].',  # unquoted evidence
    'Relevant: [2]\nEvidence: ""\nAnswer: eight [2].',  # empty evidence
    'Relevant: [2]\nEvidence: "Miso"\nAnswer: ',  # empty answer
    'Evidence: "Miso"\nRelevant: [2]\nAnswer: eight [2].',  # out of order
])
def test_malformed_replies_do_not_parse(reply):
    assert parse(reply) is None


def test_check_catches_wrong_passage_and_invented_evidence():
    good = Reasoning((2,), "our cat  MISO is eight years old", "Eight [2].")  # case and spacing differ
    assert check(good, PASSAGES) == {"out_of_range": [], "evidence_in": [2], "evidence_elsewhere": [], "flags": []}
    wrong = check(Reasoning((1,), "Our cat Miso is eight years old", "Eight [1]."), PASSAGES)
    assert wrong["flags"] == ["evidence_not_in_cited_passage"] and wrong["evidence_elsewhere"] == [2]
    invented = check(Reasoning((2,), "Miso is a dog of twelve", "Twelve [2]."), PASSAGES)
    assert invented["flags"] == ["evidence_not_in_cited_passage"] and invented["evidence_elsewhere"] == []
    out = check(Reasoning((5, 3), "departs at 09:30", "At 09:30 [5]."), PASSAGES)
    assert out["flags"] == ["passage_out_of_range"] and out["out_of_range"] == [5] and out["evidence_in"] == [3]


def test_evidence_span_is_the_sentence_with_most_answer_words():
    assert evidence_span(PASSAGES[1], "She sleeps on the sofa.") == "She sleeps on the sofa all day."
    assert evidence_span(PASSAGES[1], "nothing shared") == "Our cat Miso is eight years old."  # tie: the first
    long = " ".join(f"w{i}" for i in range(60)) + " miso eight."
    span = evidence_span(long, "miso eight")
    assert len(span.split()) == MAX_EVIDENCE_WORDS and "miso" in span and span in long
    assert evidence_span("", "x") == ""


def test_read_reply_flags_and_falls_back():
    text, stated, notes = read_reply('Relevant: [2]\nEvidence: "She sleeps on the sofa"\nAnswer: On the sofa [2][3].', PASSAGES)
    assert text == "On the sofa [2][3]." and stated == [2, 3] and notes["reasoning_flags"] == []
    assert notes["reasoning"]["evidence"] == "She sleeps on the sofa" and notes["reasoning"]["evidence_in"] == [2]
    text, stated, notes = read_reply("On the sofa [2].", PASSAGES)
    assert (text, stated, notes) == ("On the sofa [2].", None, {"reasoning": {"raw": "On the sofa [2]."}, "reasoning_flags": ["malformed"]})
    assert read_reply("I don't know.", PASSAGES) == ("I don't know.", None, {})


def test_reasoning_messages_teach_the_format(tmp_path):
    messages = reasoning_messages("Q?", "[1] (a.md) text")
    plain = prompts.rag_messages("Q?", "[1] (a.md) text")
    assert [m["role"] for m in messages] == [m["role"] for m in plain] and messages[-1] == plain[-1]
    shots = [m["content"] for m in messages if m["role"] == "assistant"]
    assert len(shots) == 2 and all(parse(s) is not None for s in shots)
    for (contexts, _, _), shot in zip(prompts.FEW_SHOT, shots):  # each example's evidence is in its stated passage
        lines = [line.split(") ", 1)[1] for line in contexts.splitlines()]
        assert check(parse(shot), lines)["flags"] == []
    (tmp_path / "ragkit-tuning.json").write_text(json.dumps({"kind": "generator", "mode": "rag-reasoning"}))
    assert tuned_mode(str(tmp_path)) == "rag-reasoning" and tuned_mode("smollm2-135m") is None and tuned_mode(None) is None
