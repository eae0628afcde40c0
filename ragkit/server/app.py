"""The chat service: ``POST /ask``, ``POST /feedback``, ``GET /health`` and a chat page at ``/``.

It also speaks OpenAI's chat-completions API (``POST /v1/chat/completions``, ``GET /v1/models``;
``ragkit.server.openai_routes``), answered on the same model thread as ``/ask``.

``create_app(pipeline, feedback_db)`` builds a FastAPI app around one ``Pipeline``. Model calls
are not thread-safe, so every ``/ask`` runs on one dedicated worker thread (a single-thread
executor): asks are answered one at a time, in arrival order, off the event loop, while
``/feedback`` and ``/health`` (no I/O) stay fast. At most ``max_pending`` asks wait; beyond that
``/ask`` answers 429. Answers and feedback are written by one writer thread in group commits
(``server/writer.py``); a request is answered only once its rows are committed.

Guards (``server/guards.py``): bodies over 256 KiB get 413 (counted as received, chunked or
not), an optional API key is required on every path but the page's shell, and every response
carries a Content-Security-Policy and the usual hardening headers. There are no docs pages and
no ``/openapi.json``.

Every error reaches the client as ``{"error": "<message>"}`` with a 4xx status (bad input) or
a short 500 (anything unexpected, logged with its traceback on the server only).

Example:
    >>> app = create_app(Pipeline(index="runs/demo", retriever="bm25"), Path("runs/feedback.sqlite"))  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, AsyncIterator, Literal, Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from starlette.exceptions import HTTPException

from ragkit.feedback import AnswerWrite, FeedbackLog, FeedbackWrite, UnknownAnswerError
from ragkit.pipeline import Pipeline
from ragkit.server.guards import ApiKey, BodyLimit, SecurityHeaders, check_key
from ragkit.server.openai_routes import openai_router
from ragkit.server.writer import FeedbackWriter, WriterClosedError
from ragkit.types import Answer

__all__ = ["create_app", "answer_payload", "MAX_QUESTION_CHARS", "STATIC_DIR"]

log = logging.getLogger("ragkit.server")

STATIC_DIR = Path(__file__).parent / "static"
MAX_QUESTION_CHARS = 4000
MAX_BODY_BYTES = 256 * 1024
SNIPPET_CHARS = 240
_SURROGATE = re.compile("[\ud800-\udfff]")


def _unicode_text(value: str) -> str:
    found = _SURROGATE.search(value)
    if found:
        raise ValueError(
            f"text has a lone UTF-16 surrogate (U+{ord(found.group()):04X} at position {found.start()}); send valid Unicode"
        )
    return value


def _thumbs(value: int) -> int:
    if value not in (1, -1):
        raise ValueError("rating must be 1 (thumbs up) or -1 (thumbs down)")
    return value


Text = Annotated[StrictStr, AfterValidator(_unicode_text)]
Thumbs = Annotated[StrictInt, AfterValidator(_thumbs)]  # StrictInt: true / 1.0 / "1" are refused


class AskRequest(BaseModel):
    """Body of ``POST /ask``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    question: Text
    mode: Literal["rag", "closed-book"] = "rag"


class SourceMark(BaseModel):
    """One relevance mark on a source of an answer."""

    model_config = ConfigDict(extra="forbid", strict=True)
    chunk_id: Text
    relevant: StrictBool


class FeedbackRequest(BaseModel):
    """Body of ``POST /feedback``: a thumbs rating and/or source marks for one answer."""

    model_config = ConfigDict(extra="forbid", strict=True)
    answer_id: Text
    rating: Optional[Thumbs] = None
    sources: list[SourceMark] = Field(default_factory=list, max_length=100)


def _lines(start: int | None, end: int | None) -> str | None:
    if start is None:
        return None
    return f"{start}-{end if end is not None else start}"


def answer_payload(answer: Answer, answer_id: str) -> dict[str, Any]:
    """The JSON the server returns for an answer.

    Args:
        answer: a pipeline answer.
        answer_id: the id under which the answer is logged (feedback refers to it).

    Returns:
        ``{"id", "question", "answer", "mode", "citations", "sources", "timings", "metadata"}``;
        each source is a hit the answer was given, numbered as the model saw it:
        ``{"number", "chunk_id", "file", "page", "lines", "symbol", "heading", "location",
        "score", "cited", "snippet", "text"}``.
    """
    cited = {c.chunk_id for c in answer.citations}
    sources = []
    for number, hit in enumerate(answer.hits, start=1):
        chunk = hit.chunk
        text = chunk.text if chunk is not None else ""
        snippet = " ".join(text.split())
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " …"
        sources.append({
            "number": number,
            "chunk_id": hit.chunk_id,
            "file": chunk.source if chunk else None,
            "page": chunk.page if chunk else None,
            "lines": _lines(chunk.start_line, chunk.end_line) if chunk else None,
            "symbol": chunk.symbol if chunk else None,
            "heading": list(chunk.heading) if chunk else [],
            "location": chunk.location if chunk else hit.chunk_id,
            "score": float(hit.score),
            "cited": hit.chunk_id in cited,
            "snippet": snippet,
            "text": text,
        })
    citations = [{**c.to_dict(), "lines": _lines(c.start_line, c.end_line)} for c in answer.citations]
    metadata = {k: v for k, v in answer.metadata.items() if k in ("idk_reason", "citations_attributed", "grounding", "reasoning", "reasoning_flags")}
    return {
        "id": answer_id,
        "question": answer.question,
        "answer": answer.text,
        "mode": answer.mode,
        "citations": citations,
        "sources": sources,
        "timings": {k: round(v, 4) for k, v in answer.timings.items()},
        "metadata": metadata,
    }


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _validation_message(exc: RequestValidationError) -> tuple[int, str]:
    """(status, message) for a body that failed validation: 400 for broken JSON, else 422."""
    errors = exc.errors()
    for err in errors:
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx", {}).get("error", "")
            return 400, f"request body is not valid JSON ({ctx}); send a JSON object".replace(" ()", "")
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        if loc:
            parts.append(f"{loc}: {err.get('msg', 'invalid').removeprefix('Value error, ')}")
        elif err.get("type") == "missing":
            parts.append("the body is empty; send a JSON object")
        else:
            parts.append("the body must be a JSON object (with Content-Type: application/json)")
    return 422, "invalid request: " + "; ".join(parts)


def _stage_type(config: Any) -> str | None:
    if config is None or isinstance(config, str):
        return config
    return config.get("type") if isinstance(config, dict) else type(config).__name__


async def _promoted(pipeline: Pipeline) -> dict[str, Any]:
    """The promoted reranker served now, read at request time (``{}`` for another reranker).

    A pointer that moved is loaded first, off the event loop (``PromotedReranker.refresh``
    loads fully before it swaps, so asks meanwhile keep the old model or wait for the new one).
    """
    if _stage_type(pipeline.reranker) != "promoted":
        return {}
    reranker = pipeline.component("reranker")
    await asyncio.to_thread(reranker.refresh)
    state = reranker.describe()
    return {"promoted_reranker": state["promoted"], "promoted_reranker_error": state["load_error"]}


def _describe(pipeline: Pipeline) -> dict[str, Any]:
    """What /health shows: the index's name and each stage's type (no paths, URLs or settings)."""
    generator = pipeline.generator or {"type": "llm"}
    llm = generator.get("llm") if isinstance(generator, dict) else None
    return {
        "index": None if pipeline.index is None else Path(pipeline.index).name,
        "pipeline": {
            "rewriter": _stage_type(pipeline.rewriter),
            "retriever": _stage_type(pipeline.retriever) if pipeline.index is not None else None,
            "reranker": _stage_type(pipeline.reranker),
            "generator": _stage_type(generator),
            "llm": _stage_type(llm) if llm is not None else None,
            "k": pipeline.k,
        },
    }


def _check_pipeline(pipeline: Pipeline) -> None:
    """Fail at startup, not at the first question, on a missing index or a bad stage config."""
    if pipeline.index is not None:
        from ragkit.indexes.index import Index

        index = Path(pipeline.index)
        if not index.is_dir():
            raise FileNotFoundError(
                f"index directory {index} does not exist; build it with "
                f"`ragkit ingest DOCS --out {index}` then `ragkit index {index}`"
            )
        Index.open(index)  # raises on a directory that is not a readable ragkit index
        pipeline.component("retriever")
    for stage in ("rewriter", "reranker", "generator"):
        pipeline.component(stage)


def create_app(
    pipeline: Pipeline,
    feedback_db: str | Path,
    max_question_chars: int = MAX_QUESTION_CHARS,
    max_pending: int = 64,
    api_key: str | None = None,
) -> FastAPI:
    """Build the chat service for ``pipeline``, logging answers and feedback to ``feedback_db``.

    Args:
        pipeline: the pipeline that answers (models load on the first ``/ask``).
        feedback_db: SQLite file for the answer and feedback log (created when missing).
        max_question_chars: longer questions are refused with 422.
        max_pending: asks allowed to wait for the model; more are refused with 429.
        api_key: when set, every request but the page's shell (``/``, ``/static/``) must send
            ``Authorization: Bearer <api_key>`` (or ``X-API-Key``); others get 401.

    Returns:
        The FastAPI app (serve it with uvicorn). More routes can be added to it
        (``app.include_router``); the guards apply to them too.

    Raises:
        FileNotFoundError / ValueError: the pipeline's index directory is missing or is not a
            ragkit index, a stage config names an unknown component, ``feedback_db`` is
            not a usable SQLite file, or ``api_key`` is shorter than 16 characters.
    """
    if api_key is not None:
        check_key(api_key)
    _check_pipeline(pipeline)
    feedback = FeedbackLog(feedback_db)
    writer = FeedbackWriter(feedback)
    state: dict[str, Any] = {"executor": None, "pending": 0}

    def executor() -> ThreadPoolExecutor:
        if state["executor"] is None:
            state["executor"] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragkit-generate")
        return state["executor"]

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        executor()
        yield
        if state["executor"] is not None:
            state["executor"].shutdown(wait=False, cancel_futures=True)
            state["executor"] = None
        writer.close()
        feedback.close()

    app = FastAPI(title="ragkit", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.pipeline = pipeline
    app.state.feedback = feedback
    app.state.writer = writer

    @app.exception_handler(RequestValidationError)
    async def _on_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(*_validation_message(exc))

    @app.exception_handler(HTTPException)
    async def _on_http(_request: Request, exc: HTTPException) -> JSONResponse:
        detail = str(exc.detail)
        if isinstance(exc.__cause__, UnicodeDecodeError):  # FastAPI's "error parsing the body"
            detail = "request body is not valid UTF-8; send JSON encoded as UTF-8"
        return JSONResponse({"error": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(WriterClosedError)
    async def _on_closed(_request: Request, exc: WriterClosedError) -> JSONResponse:
        return _error(503, str(exc))

    @app.exception_handler(Exception)
    async def _on_crash(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal server error; the server log has the details")

    # Added innermost first: a request meets SecurityHeaders, then ApiKey, then BodyLimit.
    too_large = f"request body over {MAX_BODY_BYTES // 1024} KiB; questions are limited to {max_question_chars} characters"
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, message=too_large)
    if api_key is not None:
        app.add_middleware(ApiKey, key=api_key)
    app.add_middleware(SecurityHeaders)

    summary = _describe(pipeline)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        # a promoted reranker says, as of now, which model it serves and since when
        pipeline_now = {**summary["pipeline"], **await _promoted(pipeline)}
        return {"status": "ok", **summary, "pipeline": pipeline_now, "asks_pending": state["pending"]}

    def answer_one(question: str, mode: str, queued_at: float) -> tuple[Answer, float]:
        waited = time.perf_counter() - queued_at
        return pipeline.ask([question], mode=mode)[0], waited

    @app.post("/ask")
    async def ask(body: AskRequest) -> dict[str, Any]:
        t0 = time.perf_counter()
        question = body.question.strip()
        if not question:
            raise HTTPException(422, "question is empty; ask something")
        if len(question) > max_question_chars:
            raise HTTPException(
                422, f"question has {len(question)} characters; the limit is {max_question_chars}: shorten it"
            )
        if state["pending"] >= max_pending:
            raise HTTPException(429, f"{state['pending']} questions are already waiting; retry in a moment")
        state["pending"] += 1
        try:
            loop = asyncio.get_running_loop()
            answer, waited = await loop.run_in_executor(executor(), answer_one, question, body.mode, t0)
        except ValueError as exc:  # the pipeline's user errors ("no index: use closed-book" …)
            raise HTTPException(422, str(exc)) from exc
        finally:
            state["pending"] -= 1
        answer_id = uuid.uuid4().hex
        payload = answer_payload(answer, answer_id)
        await writer.submit(AnswerWrite(answer_id, answer.question, answer.text, answer.mode,
                                        payload["citations"], payload["sources"]))
        payload["timings"]["queue"] = round(waited, 4)
        payload["timings"]["request"] = round(time.perf_counter() - t0, 4)
        return payload

    @app.post("/feedback")
    async def post_feedback(body: FeedbackRequest) -> dict[str, Any]:
        marks = tuple((m.chunk_id, m.relevant) for m in body.sources)
        try:
            ids = await writer.submit(FeedbackWrite(body.answer_id, body.rating, marks))
        except UnknownAnswerError as exc:
            raise HTTPException(404, str(exc.args[0])) from exc
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        return {"ok": True, "answer_id": body.answer_id, "rows": len(ids), "ids": ids}

    def submit(fn: Any, *args: Any) -> asyncio.Future:
        """Run ``fn(*args)`` on the model thread, counted as a waiting ask (429 beyond ``max_pending``)."""
        if state["pending"] >= max_pending:
            raise HTTPException(429, f"{state['pending']} questions are already waiting; retry in a moment")
        state["pending"] += 1
        future = asyncio.get_running_loop().run_in_executor(executor(), fn, *args)
        future.add_done_callback(lambda _done: state.update(pending=state["pending"] - 1))
        return future

    async def record(answer: Answer, answer_id: str) -> dict[str, Any]:
        """Log an answer of the /v1 routes as /ask logs its answers; return /ask's JSON for it."""
        payload = answer_payload(answer, answer_id)
        await writer.submit(AnswerWrite(answer_id, answer.question, answer.text, answer.mode,
                                        payload["citations"], payload["sources"]))
        return payload

    app.include_router(openai_router(pipeline, submit, record, max_question_chars))

    @app.get("/", include_in_schema=False)
    async def index_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
