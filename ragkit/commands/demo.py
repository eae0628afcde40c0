"""`ragkit demo`: the main job on the bundled demo corpus — ingest, index, and answer, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ragkit.defaults import DEMO_CORPUS

console = Console()

DEMO_QUESTIONS = [
    "How long is the standard warranty period of the Helios X2?",
    "Which port does the local Modbus TCP server use?",
]


def demo_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Index directory for the demo.")] = Path(".ragkit/demo-index"),
    question: Annotated[
        list[str] | None, typer.Option("--question", "-q", help="Question(s) to ask (default: two samples).")
    ] = None,
) -> None:
    """Build the QA bot over the bundled demo corpus (PDFs, Markdown, code) and answer sample questions."""
    from ragkit.commands.serve import load_pipeline, print_answer
    from ragkit.indexes.index import Index
    from ragkit.ingest import ingest

    console.rule("[bold]1/3 ingest[/] " + str(DEMO_CORPUS))
    report = ingest([DEMO_CORPUS], out)
    console.print(f"{len(report.parsed)} parsed, {len(report.unchanged)} unchanged, "
                  f"{report.chunks_total} chunks, {len(report.failed)} failed -> {out}")
    if report.failed:
        raise ValueError(f"the demo corpus did not ingest cleanly: {report.failed}")
    console.rule("[bold]2/3 index[/] BM25 + FAISS (all-MiniLM-L6-v2)")
    Index.build(out, on_stage=lambda stage: console.print(f"building {stage}"))
    console.rule("[bold]3/3 ask[/] hybrid retrieval + SmolLM2-135M-Instruct, on this CPU")
    pipeline = load_pipeline(out)
    with console.status("answering", spinner="dots"):
        answers = pipeline.ask(question or DEMO_QUESTIONS)
    for answer in answers:
        print_answer(answer)
    console.print(f"\nNext: [bold]ragkit ask {out} \"your question\"[/], [bold]ragkit chat {out}[/] "
                  f"or [bold]ragkit serve {out}[/] (chat page with feedback buttons).")
