"""JSON-schema-constrained decoding: the pieces each backend needs to emit only schema-valid JSON.

- transformers: lm-format-enforcer's ``TokenEnforcer`` (its ``JsonSchemaParser`` walks the schema
  character by character; the enforcer turns that into the allowed next tokens), passed to
  ``generate`` as ``prefix_allowed_tokens_fn``. lm-format-enforcer's own transformers glue does
  not import on transformers 5 (``transformers.tokenization_utils`` is gone), so the tokenizer
  table is built here, after its ``build_token_enforcer_tokenizer_data``.
- llama.cpp: a GBNF grammar from the schema (``LlamaGrammar.from_json_schema``).
- OpenAI-compatible servers: ``response_format: {"type": "json_schema", ...}`` in the request.

A backend that can constrain sets ``LLM.supports_json_schema``; ``LLM.chat_json`` is the one
entry point callers use (the ragas judge, QA-pair generation, GenQR keyword lists).

References: lm-format-enforcer (github.com/noamgat/lm-format-enforcer); llama.cpp GBNF grammars.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

__all__ = ["TokenTable", "prefix_allowed_tokens", "llama_grammar", "openai_response_format", "bounded", "map_schema",
           "string_list_schema", "read_string_list"]

MAX_WHITESPACE = 2
"""Consecutive whitespace characters the enforcer allows (a small model otherwise pads JSON with newlines).

lm-format-enforcer applies its ``max_consecutive_whitespaces`` per character, yet still admits a
single token that is itself a longer run (SmolLM2 has 68 such tokens: ``"\n           "``, tabs);
a judge reply padded that way ran out of its token budget before the JSON closed. ``TokenTable``
leaves those tokens out of the enforcer's view of the tokenizer, as it leaves out special tokens,
so they are never allowed (single whitespace tokens and EOS remain)."""


def map_schema(schema: Any, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    """A copy of the JSON schema ``schema`` with ``fn`` applied to every object node, innermost first.

    ``fn`` gets a fresh dict (its children already mapped) and returns the node to keep; lists and
    scalars are copied as they are. ``schema`` is not changed.
    """
    if isinstance(schema, list):
        return [map_schema(x, fn) for x in schema]
    if not isinstance(schema, dict):
        return schema
    return fn({k: map_schema(v, fn) for k, v in schema.items()})


def string_list_schema(key: str, max_items: int, max_length: int, min_length: int = 1) -> dict[str, Any]:
    """The schema of ``{key: [1..max_items strings of min_length..max_length characters]}`` and nothing else."""
    item = {"type": "string", "minLength": min_length, "maxLength": max_length}
    return {"type": "object", "properties": {key: {"type": "array", "items": item, "minItems": 1, "maxItems": max_items}},
            "required": [key], "additionalProperties": False}


def read_string_list(reply: str, key: str) -> list[str] | None:
    """The list of strings under ``key`` in a JSON reply (``string_list_schema``), or None when it is not one."""
    try:
        data = json.loads(reply)
    except (json.JSONDecodeError, TypeError):
        return None
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        return None
    return items


def bounded(schema: dict[str, Any], max_string: int, max_items: int) -> dict[str, Any]:
    """``schema`` with every string capped at ``max_string`` characters and every array at ``max_items``.

    A constrained reply is valid JSON only if it closes before the token budget runs out; a small
    model left free inside a string or a list runs on until it is cut. Existing (tighter) caps are
    kept. Returns a new dict; ``schema`` is not changed.
    """
    def cap(node: dict[str, Any]) -> dict[str, Any]:
        if node.get("type") == "string" and "enum" not in node and "const" not in node:
            node["maxLength"] = min(node.get("maxLength", max_string), max_string)
        if node.get("type") == "array":
            node["maxItems"] = min(node.get("maxItems", max_items), max_items)
        return node

    return map_schema(schema, cap)


class TokenTable:
    """lm-format-enforcer's view of one Hugging Face tokenizer (built once per LLM, ~1 s for 49k tokens).

    Args:
        tokenizer: a ``transformers`` tokenizer.
        max_whitespace: leave out tokens holding a longer whitespace run (see ``MAX_WHITESPACE``);
            ``None`` keeps every regular token.
    """

    def __init__(self, tokenizer: Any, max_whitespace: int | None = MAX_WHITESPACE):
        from lmformatenforcer.tokenenforcer import TokenEnforcerTokenizerData

        special = set(tokenizer.all_special_ids)
        zero = tokenizer.encode("0", add_special_tokens=False)[-1]
        regular = []
        run = re.compile(r"\s{%d,}" % (max_whitespace + 1)) if max_whitespace is not None else None
        long_whitespace = set()
        for token in range(len(tokenizer)):
            if token in special:
                continue
            # decoded after "0", minus that "0": keeps the leading space a word-start token carries
            after_zero = tokenizer.decode([zero, token])[1:]
            if run is not None and run.search(after_zero):
                long_whitespace.add(token)
                continue
            regular.append((token, after_zero, len(after_zero) > len(tokenizer.decode([token]))))
        self.long_whitespace = frozenset(long_whitespace)
        """The tokens left out for holding a whitespace run longer than ``max_whitespace``."""

        def decode(ids: list[int]) -> str:
            return tokenizer.decode(ids).rstrip("\ufffd")

        self.data = TokenEnforcerTokenizerData(regular, decode, tokenizer.eos_token_id, False, len(tokenizer))


def prefix_allowed_tokens(table: TokenTable, schema: dict[str, Any]) -> Callable[[int, Any], list[int]]:
    """A ``generate(prefix_allowed_tokens_fn=...)`` callback that admits only JSON valid for ``schema``.

    One callback serves a whole (left-padded) batch: the enforcer keys its state on each row's
    token sequence, whose first sight is taken as that row's prompt.
    """
    from lmformatenforcer import CharacterLevelParserConfig, JsonSchemaParser
    from lmformatenforcer.tokenenforcer import TokenEnforcer

    config = CharacterLevelParserConfig(max_consecutive_whitespaces=MAX_WHITESPACE)
    enforcer = TokenEnforcer(table.data, JsonSchemaParser(schema, config=config))

    def allowed(batch_id: int, sent: Any) -> list[int]:
        return enforcer.get_allowed_tokens(sent.tolist()).allowed_tokens

    return allowed


def llama_grammar(schema: dict[str, Any]) -> Any:
    """A llama.cpp grammar for ``schema``."""
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)


def openai_response_format(schema: dict[str, Any]) -> dict[str, Any]:
    """The chat-completions ``response_format`` that asks a server for JSON valid for ``schema``."""
    name = str(schema.get("title") or "reply")
    return {"type": "json_schema", "json_schema": {"name": "".join(c for c in name if c.isalnum() or c in "_-")[:64]
                                                   or "reply", "schema": schema, "strict": False}}
