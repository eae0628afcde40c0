"""`ragkit ask`, `ragkit chat` and `ragkit serve`: answer questions over an index, once, in a
terminal loop, or as a web service with a chat page and a feedback log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from ragkit.commands.options import RerankOpt

if TYPE_CHECKING:
    from ragkit.pipeline import Pipeline
    from ragkit.types import Answer

console = Console()

_MODES = ("rag", "closed-book")
_EXIT_WORDS = {"exit", "quit", ":q", "/exit", "/quit"}

IndexArg = Annotated[Path, typer.Argument(help="Index directory (`ragkit ingest` + `ragkit index`).")]
ModeOpt = Annotated[str, typer.Option(help="rag (retrieve, then answer with citations) or closed-book.")]
KOpt = Annotated[Optional[int], typer.Option("-k", "--k", help="Passages given to the generator (default: the spec's, else 4).")]
SpecOpt = Annotated[
    Optional[Path],
    typer.Option(help="Pipeline spec (YAML/TOML/JSON) for retriever, reranker, generator …; INDEX overrides its index."),
]


def load_pipeline(index: Path, spec: Path | None = None, k: int | None = None, rerank: str | None = None,
                  follow_promoted: bool = False) -> Pipeline:
    """The pipeline the commands use: ``Pipeline.for_index`` (a spec file, or defaults that fit the index).

    Args:
        index: the index directory.
        spec: a pipeline spec file.
        k: passages per answer.
        rerank: ``--rerank NAME[:ARG]`` (overlays the spec's reranker, as ``ragkit search`` does;
            ``promoted`` follows the index's promoted reranker).
        follow_promoted: with no reranker in the spec or ``--rerank``, use ``promoted`` even
            before anything was promoted, so a long-running server picks up the first promotion
            (until then it serves the first-stage order).
    """
    from ragkit.commands.options import pipeline_spec
    from ragkit.pipeline import Pipeline

    if k is not None and k < 1:
        raise ValueError(f"-k must be at least 1, got {k}")
    config = pipeline_spec(spec, rerank=rerank)
    if follow_promoted and "reranker" not in config:
        config["reranker"] = {"type": "promoted"}
    return Pipeline.for_index(index, config, k)


def _check_mode(mode: str) -> str:
    if mode not in _MODES:
        raise typer.BadParameter(f"--mode must be one of {', '.join(_MODES)}, not {mode!r}")
    return mode


def _lines(start: int | None, end: int | None) -> str:
    if start is None:
        return ""
    return f"{start}-{end if end is not None else start}"


def print_answer(answer: Answer, out: Console | None = None, show_text: bool = True) -> None:
    """Print an answer as a panel, a table of its cited sources and its timings.

    Args:
        answer: a pipeline answer.
        out: the console to print to (default: stdout).
        show_text: print the answer's panel (False: its text was streamed already).
    """
    out = out or console
    title = answer.question if len(answer.question) <= 80 else answer.question[:77] + "…"
    if show_text:
        out.print(Panel(escape(answer.text), title=escape(title), subtitle=answer.mode, title_align="left"))
    reason = answer.metadata.get("idk_reason")
    if reason:
        out.print(f"[dim]no answer: {escape(str(reason))}[/]")
    flags = answer.metadata.get("reasoning_flags")
    if flags:  # the reasoning's stated passages or evidence failed their check (ragkit.reasoning)
        out.print(f"[yellow]reasoning check: {escape(', '.join(flags))}[/]")
    if answer.citations:
        table = Table("#", "file", "page", "lines", "symbol / section", title="sources")
        for c in answer.citations:
            where = c.symbol or (" › ".join(c.heading) if c.heading else "")
            table.add_row(str(c.number), escape(c.source), "" if c.page is None else str(c.page),
                          _lines(c.start_line, c.end_line), escape(where))
        out.print(table)
    elif answer.hits:
        out.print(f"[dim]no source cited; {len(answer.hits)} passage(s) were retrieved[/]")
    parts = [] if show_text else [answer.mode]  # the panel's subtitle names the mode; a streamed reply has none
    parts += [f"{stage} {seconds:.3f} s" for stage, seconds in answer.timings.items()]
    if parts:
        out.print("[dim]" + " · ".join(parts) + "[/]")


def ask_live(pipeline: Pipeline, question: str, mode: str, out: Console | None = None) -> Answer:
    """Answer one question, streaming the model's reply to the terminal as it is generated.

    A spinner shows until the first token. The checked answer is then printed below: its
    sources and timings, and a panel only where the checks changed the streamed text (an
    unsupported answer becomes "I don't know.").

    Returns:
        The pipeline's ``Answer``.
    """
    out = out or console
    streamed: list[str] = []
    status = out.status("thinking", spinner="dots")
    status.start()

    def show(piece: str) -> None:
        if not streamed:
            status.stop()
        streamed.append(piece)
        out.file.write(piece)
        out.file.flush()

    try:
        with pipeline.component("generator").streaming(show):
            answer = pipeline.ask([question], mode=mode)[0]
    finally:
        status.stop()
    if streamed:
        out.file.write("\n")
    print_answer(answer, out, show_text="".join(streamed).strip() != answer.text)
    return answer


def ask_cmd(
    index: IndexArg,
    question: Annotated[str, typer.Argument(help="The question.")],
    mode: ModeOpt = "rag",
    k: KOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON (Answer.to_dict()).")] = False,
    spec: SpecOpt = None,
    rerank: RerankOpt = None,
) -> None:
    """Answer one question from an index, with the sources it cites (the reply streams as it is generated)."""
    _check_mode(mode)
    if not question.strip():
        raise typer.BadParameter("the question is empty; ask something")
    pipeline = load_pipeline(index, spec, k, rerank)
    if as_json:
        answer = pipeline.ask([question], mode=mode)[0]
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
        return
    ask_live(pipeline, question, mode)


def chat_cmd(
    index: IndexArg,
    mode: ModeOpt = "rag",
    k: KOpt = None,
    spec: SpecOpt = None,
    rerank: RerankOpt = None,
) -> None:
    """Ask questions one after another in the terminal (empty line skips; `exit` or Ctrl-D ends).

    Each question is answered on its own (no conversation memory).
    """
    _check_mode(mode)
    pipeline = load_pipeline(index, spec, k, rerank, follow_promoted=True)
    console.print(f"[bold]ragkit chat[/] over {escape(str(index))} ({mode}); `exit` or Ctrl-D to quit")
    while True:
        try:
            line = console.input("[bold cyan]?[/] ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            break
        question = line.strip()
        if not question:
            continue
        if question.lower() in _EXIT_WORDS:
            break
        try:
            ask_live(pipeline, question, mode)
        except ValueError as exc:  # one bad question (too long for the model …) does not end the chat
            console.print(f"[red]error:[/] {escape(str(exc))}")
            continue


API_KEY_ENV = "RAGKIT_API_KEY"


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the service on this machine (``localhost`` or a loopback address)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve beyond loopback
        return False


def serve_cmd(
    index: IndexArg,
    host: Annotated[
        str, typer.Option(help="Interface to bind; beyond loopback an API key is required (--api-key).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    feedback_db: Annotated[
        Optional[Path], typer.Option(help="SQLite answer/feedback log (default: INDEX-feedback.sqlite beside INDEX).")
    ] = None,
    spec: SpecOpt = None,
    rerank: RerankOpt = None,
    k: KOpt = None,
    warmup: Annotated[bool, typer.Option(help="Load the indexes and models before accepting requests.")] = True,
    api_key: Annotated[
        Optional[str],
        typer.Option(envvar=API_KEY_ENV, show_default=False,
                     help=f"Require 'Authorization: Bearer KEY' on the API (16+ characters; prefer the {API_KEY_ENV} env var)."),
    ] = None,
) -> None:
    """Serve a chat page and a JSON API (POST /ask, POST /feedback, GET /health) over an index.

    It also answers OpenAI clients: POST /v1/chat/completions (streamed or not) and GET /v1/models.
    Without a reranker in --spec or --rerank it serves the index's promoted reranker, followed
    live: `ragkit tune reranker --kind bi-encoder` promotions apply from the next question, no
    restart (first-stage order until one is promoted); /health names the model served.
    """
    import uvicorn

    from ragkit.server.app import create_app

    if not api_key and not is_loopback(host):
        raise ValueError(
            f"binding {host} exposes the service beyond this machine: pass --api-key KEY or set {API_KEY_ENV} "
            "(e.g. `export RAGKIT_API_KEY=$(python -c \"import secrets; print(secrets.token_urlsafe(32))\")`)"
        )
    pipeline = load_pipeline(index, spec, k, rerank, follow_promoted=True)
    db = feedback_db or index.parent / f"{index.name}-feedback.sqlite"
    app = create_app(pipeline, db, api_key=api_key or None)
    if warmup:
        with console.status("loading the indexes and models"):
            pipeline.warm_up()
    guard = "API key required" if api_key else "no API key: loopback only"
    console.print(f"[bold]ragkit[/] serving {escape(str(index))} at http://{host}:{port}/  "
                  f"(feedback log: {escape(str(db))}; {guard})")
    uvicorn.run(app, host=host, port=port, log_level="info")
