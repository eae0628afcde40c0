"""JSON-schema-constrained decoding on the real bundled SmolLM2-135M (transformers and llama.cpp)."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from ragkit.llm import FakeLLM, TransformersLLM
from ragkit.llm.structured import bounded
from ragkit.registry import build


class Verdict(BaseModel):
    reason: str
    verdict: int


SCHEMA = Verdict.model_json_schema()
CONVS = [
    [{"role": "user", "content": "Is the statement 'water is wet' supported? Reply as JSON with a reason "
                                 "and verdict 1 (yes) or 0 (no)."}],
    [{"role": "user", "content": "Give a verdict on: the moon is made of cheese."}],  # no format asked for
]


@pytest.fixture(scope="module")
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_transformers_replies_parse_under_the_schema_in_a_padded_batch(one_thread):
    llm = TransformersLLM(max_new_tokens=48)
    assert llm.supports_json_schema
    replies = llm.chat_json(CONVS, SCHEMA)
    for reply in replies:
        Verdict.model_validate(json.loads(reply))  # raises unless valid for the schema
    # a list of free strings runs on past a small budget unless the schema caps it
    class Statements(BaseModel):
        statements: list[str]

    capped = bounded(Statements.model_json_schema(), max_string=30, max_items=2)
    ask = [[{"role": "user", "content": "List every fact you know about the Moon as JSON statements."}]]
    statements = Statements.model_validate(json.loads(llm.chat_json(ask, capped, max_new_tokens=40)[0])).statements
    assert 1 <= len(statements) <= 2 and all(len(x) <= 30 for x in statements)
    # the second prompt never mentions JSON: unconstrained, the model answers in prose
    with pytest.raises(json.JSONDecodeError):
        json.loads(llm.chat([CONVS[1]], max_new_tokens=48)[0])


@pytest.mark.slow
def test_llama_cpp_replies_parse_under_the_grammar():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install 'ragkit[llama]'")
    llm = build("llm", {"type": "llama-cpp", "max_new_tokens": 48, "n_threads": 1})
    assert llm.supports_json_schema
    for reply in llm.chat_json(CONVS, SCHEMA):
        Verdict.model_validate(json.loads(reply))


def test_a_backend_without_constraints_falls_back_to_chat():
    llm = FakeLLM(default="not json")
    assert not llm.supports_json_schema
    assert llm.chat_json(CONVS[:1], SCHEMA) == llm.chat(CONVS[:1]) == ["not json"]


def test_bounded_caps_strings_and_lists_everywhere_and_keeps_tighter_caps():
    schema = {"type": "object", "$defs": {"S": {"type": "object", "properties": {
        "reason": {"type": "string"}, "tag": {"type": "string", "enum": ["a", "b"]},
        "short": {"type": "string", "maxLength": 5}}}},
        "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/S"}},
                       "few": {"type": "array", "maxItems": 1, "items": {"type": "integer"}}}}
    out = bounded(schema, max_string=100, max_items=3)
    props = out["$defs"]["S"]["properties"]
    assert props["reason"]["maxLength"] == 100 and "maxLength" not in props["tag"] and props["short"]["maxLength"] == 5
    assert out["properties"]["items"]["maxItems"] == 3 and out["properties"]["few"]["maxItems"] == 1
    assert "maxLength" not in schema["$defs"]["S"]["properties"]["reason"]  # the input is untouched


def test_long_whitespace_tokens_are_not_allowed_where_the_enforcer_would_admit_them():
    """lm-format-enforcer caps whitespace per character but admits one token that is a longer run."""
    import torch
    from lmformatenforcer import CharacterLevelParserConfig, JsonSchemaParser
    from lmformatenforcer.tokenenforcer import TokenEnforcer
    from transformers import AutoTokenizer

    from ragkit.llm.structured import MAX_WHITESPACE, TokenTable, prefix_allowed_tokens
    from ragkit.models import resolve

    tok = AutoTokenizer.from_pretrained(resolve("smollm2-135m"))
    table = TokenTable(tok)
    schema = {"type": "object", "properties": {"verdict": {"type": "integer", "enum": [0, 1]}}, "required": ["verdict"]}
    sent = tok.encode("Reply: {", add_special_tokens=False)
    config = CharacterLevelParserConfig(max_consecutive_whitespaces=MAX_WHITESPACE)
    every_token = TokenTable(tok, max_whitespace=None).data  # the library's view of the whole tokenizer
    theirs = TokenEnforcer(every_token, JsonSchemaParser(schema, config=config)).get_allowed_tokens(sent).allowed_tokens
    assert set(theirs) & table.long_whitespace, "the library admits long whitespace tokens here (the reason for the filter)"
    ours = prefix_allowed_tokens(table, schema)(0, torch.tensor(sent))
    assert ours and not set(ours) & table.long_whitespace
    assert set(ours) <= set(theirs)
    assert all(len(tok.decode([t])) - len(tok.decode([t]).lstrip()) <= MAX_WHITESPACE for t in ours)
