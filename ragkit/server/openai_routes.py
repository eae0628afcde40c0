"""OpenAI-compatible routes of ``ragkit serve``: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Any OpenAI client can talk to the service (``OpenAI(base_url="http://127.0.0.1:8000/v1",
api_key="unused")``). Two models are listed: ``ragkit`` answers with retrieval and citations
(``/ask`` in ``rag`` mode) and ``ragkit-closed-book`` from the LLM alone. The question is the
last user message; earlier turns are not used (as ``ragkit chat``, each question is answered
on its own). Sampling settings (``temperature`` …) are accepted and ignored: the pipeline's
generator config decides them.

Beyond OpenAI's fields a completion carries ``sources`` (the passages given to the model, as
``/ask`` returns them), ``citations`` and ``answer_id`` (send it to ``POST /feedback``). With
``stream: true`` the reply comes as server-sent events in OpenAI's ``chat.completion.chunk``
format, token pieces as the model generates them, then a last chunk (``finish_reason:
"stop"``) with ``sources``, ``citations``, ``answer_id`` and ``answer`` — the checked answer,
which differs from the streamed text only where the grounding checks replaced the reply
(e.g. by "I don't know.") — and ``data: [DONE]``.

Errors come as OpenAI's ``{"error": {"message", "type", "code"}}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any, AsyncIterator, Awaitable, Callable, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ragkit.pipeline import Pipeline
from ragkit.types import Answer

__all__ = ["openai_router", "MODELS"]

log = logging.getLogger("ragkit.server")

MODELS = {"ragkit": "rag", "ragkit-closed-book": "closed-book"}
"""Model id -> pipeline mode."""

Submit = Callable[..., "asyncio.Future[Any]"]
Record = Callable[[Answer, str], Awaitable[dict[str, Any]]]


class ChatMessage(BaseModel):
    """One message; ``content`` is a string or a list of parts (the text parts are used)."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    """Body of ``POST /v1/chat/completions`` (OpenAI's other fields are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    n: int = 1


class OpenAIError(Exception):
    """A request error answered in OpenAI's error format."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code

    def response(self) -> JSONResponse:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        body = {"error": {"message": self.message, "type": kind, "param": None, "code": self.code}}
        return JSONResponse(body, status_code=self.status)


def _text(message: ChatMessage) -> str:
    if isinstance(message.content, list):
        return "".join(str(part.get("text", "")) for part in message.content if part.get("type") == "text")
    return message.content or ""


def question_of(messages: list[ChatMessage], max_chars: int) -> str:
    """The last user message's text.

    Raises:
        OpenAIError: no user message, an empty one, or one over ``max_chars`` characters.
    """
    users = [m for m in messages if m.role == "user"]
    if not users:
        raise OpenAIError(400, "messages has no user message; send the question as {'role': 'user', 'content': ...}")
    question = _text(users[-1]).strip()
    if not question:
        raise OpenAIError(400, "the last user message is empty; ask something")
    if len(question) > max_chars:
        raise OpenAIError(400, f"the question has {len(question)} characters; the limit is {max_chars}: shorten it",
                          "context_length_exceeded")
    return question


def mode_of(model: str) -> str:
    """The pipeline mode a model id stands for.

    Raises:
        OpenAIError: a model this service does not list.
    """
    if model not in MODELS:
        raise OpenAIError(404, f"model {model!r} is not served here; GET /v1/models lists {', '.join(MODELS)}",
                          "model_not_found")
    return MODELS[model]


def answer_on_model_thread(pipeline: Pipeline, question: str, mode: str, on_text: Callable[[str], None] | None) -> Answer:
    """Answer one question; with ``on_text``, the generator streams its reply to it as it is generated."""
    if on_text is None:
        return pipeline.ask([question], mode=mode)[0]
    with pipeline.component("generator").streaming(on_text):
        return pipeline.ask([question], mode=mode)[0]


def _chunk(completion_id: str, created: int, model: str, delta: dict[str, Any], finish: str | None = None,
           **extra: Any) -> str:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [choice], **extra}
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def openai_router(pipeline: Pipeline, submit: Submit, record: Record, max_question_chars: int) -> APIRouter:
    """The ``/v1`` routes over ``pipeline``.

    Args:
        pipeline: the pipeline that answers.
        submit: ``submit(fn, *args) -> Future``: runs ``fn`` on the service's one model thread,
            raising the service's 429 when too many questions wait.
        record: ``await record(answer, answer_id)`` logs the answer as ``/ask`` does (feedback
            refers to ``answer_id``) and returns ``/ask``'s JSON, for ``sources`` and ``citations``.
        max_question_chars: longer questions are refused.
    """
    router = APIRouter(prefix="/v1")
    started = int(time.time())

    @router.get("/models")
    async def models() -> dict[str, Any]:
        data = [{"id": name, "object": "model", "created": started, "owned_by": "ragkit"} for name in MODELS]
        return {"object": "list", "data": data}

    @router.post("/chat/completions", response_model=None)
    async def chat_completions(body: ChatCompletionRequest) -> JSONResponse | StreamingResponse:
        try:
            mode = mode_of(body.model)
            question = question_of(body.messages, max_question_chars)
            if body.n != 1:
                raise OpenAIError(400, f"n={body.n}: this service returns one choice per request; send n=1")
        except OpenAIError as exc:
            return exc.response()
        answer_id = uuid.uuid4().hex
        completion_id, created = f"chatcmpl-{answer_id}", int(time.time())
        if not body.stream:
            try:
                answer = await submit(answer_on_model_thread, pipeline, question, mode, None)
            except ValueError as exc:  # the pipeline's user errors ("no index: use closed-book" …)
                return OpenAIError(400, str(exc)).response()
            logged = await record(answer, answer_id)
            message = {"role": "assistant", "content": answer.text}
            return JSONResponse({
                "id": completion_id, "object": "chat.completion", "created": created, "model": body.model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
                "sources": logged["sources"], "citations": logged["citations"], "answer_id": answer_id,
            })

        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[str] = asyncio.Queue()

        def on_text(piece: str) -> None:  # called on the model thread
            loop.call_soon_threadsafe(pieces.put_nowait, piece)

        future = submit(answer_on_model_thread, pipeline, question, mode, on_text)
        # a client that hangs up mid-stream leaves the answer unread: mark its error seen (events() re-raises it)
        future.add_done_callback(lambda done: done.cancelled() or done.exception())

        async def events() -> AsyncIterator[str]:
            yield _chunk(completion_id, created, body.model, {"role": "assistant", "content": ""})
            while not future.done():
                getter = asyncio.ensure_future(pieces.get())
                await asyncio.wait({getter, future}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield _chunk(completion_id, created, body.model, {"content": getter.result()})
                else:
                    getter.cancel()
            while not pieces.empty():  # pieces queued before the answer was done
                yield _chunk(completion_id, created, body.model, {"content": pieces.get_nowait()})
            try:
                answer = future.result()
                logged = await record(answer, answer_id)
            except Exception as exc:  # the status line is sent: report in the stream, as OpenAI does
                if not isinstance(exc, ValueError):
                    log.error("POST /v1/chat/completions (stream) failed", exc_info=exc)
                message = str(exc) if isinstance(exc, ValueError) else "internal server error; the server log has the details"
                yield f"data: {json.dumps({'error': {'message': message, 'type': 'server_error', 'code': None}})}\n\n"
                return
            yield _chunk(completion_id, created, body.model, {}, "stop", sources=logged["sources"],
                         citations=logged["citations"], answer_id=answer_id, answer=answer.text)
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return router
