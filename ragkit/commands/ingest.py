"""`ragkit ingest` and `ragkit inspect`: build a chunk store from files, and summarise one."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()


_SHOWN = 20  # skipped files listed on the terminal; all of them go to --report


def ingest_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to ingest.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Index directory (created or updated).")],
    max_tokens: Annotated[int, typer.Option(help="Token budget per chunk (embedder tokenizer).")] = 256,
    overlap_tokens: Annotated[int, typer.Option(help="Tokens shared by consecutive chunks.")] = 32,
    tokenizer: Annotated[str, typer.Option(help="Model whose tokenizer measures chunk length.")] = "minilm",
    max_mb: Annotated[float, typer.Option(help="Skip files larger than this many MiB.")] = 20.0,
    file_timeout: Annotated[
        float, typer.Option(help="Seconds one file may take to parse before it is stopped and reported (0: no limit).")
    ] = 120.0,
    report_file: Annotated[
        Optional[Path], typer.Option("--report", help="Write the full report (every skipped / failed file) as JSON here.")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with status 1 unless every file was ingested in full.")
    ] = False,
    engine: Annotated[str, typer.Option(help="local (this process) or ray (Ray Data workers; ragkit[ray]).")] = "local",
    address: Annotated[Optional[str], typer.Option(help="Ray cluster address (auto); default: a local Ray.")] = None,
    workers: Annotated[int, typer.Option(help="Ray parse workers (--engine ray).")] = 2,
) -> None:
    """Parse PDFs, source code and text under PATHS into the chunk store of an index directory."""
    from ragkit.commands.scale import check_engine, ray_ingest_cmd

    check_engine(engine)
    if file_timeout < 0:
        raise ValueError(f"--file-timeout must be 0 (no limit) or a number of seconds, got {file_timeout}")
    if engine == "ray":
        report = ray_ingest_cmd(paths, out, address, workers, max_tokens=max_tokens, overlap_tokens=overlap_tokens,
                                tokenizer=tokenizer, max_bytes=int(max_mb * 1024 * 1024))
    else:
        report = _ingest_local(paths, out, max_tokens, overlap_tokens, tokenizer, max_mb, file_timeout)
    if report_file is not None and hasattr(report, "to_dict"):
        report_file.parent.mkdir(parents=True, exist_ok=True)
        report_file.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    _print_report(report, out, report_file)
    if strict and not report.complete():
        typer.secho(
            f"error: --strict: {len(report.failed)} failed, {len(report.skipped)} skipped, "
            f"{len(report.warnings)} reduced (see above); the index was still updated with the rest",
            fg="red", err=True,
        )
        raise typer.Exit(1)


def _ingest_local(paths: list[Path], out: Path, max_tokens: int, overlap_tokens: int, tokenizer: str, max_mb: float,
                  file_timeout: float) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ragkit.ingest import ingest

    with Progress(
        TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=console, transient=True,
    ) as progress:
        task = progress.add_task("", total=None)

        def on_file(source: str, total: int) -> None:
            progress.update(task, total=total, advance=1, description=source[-60:])

        return ingest(
            paths, out, max_tokens=max_tokens, overlap_tokens=overlap_tokens, tokenizer=tokenizer,
            max_bytes=int(max_mb * 1024 * 1024), on_file=on_file, file_timeout=file_timeout or None,
        )


def _print_report(report: Any, out: Path, report_file: Optional[Path]) -> None:
    console.print(
        f"[green]ingested[/] {len(report.parsed)} file(s), {len(report.unchanged)} unchanged, "
        f"{len(report.removed)} removed; chunks +{report.chunks_added} -{report.chunks_removed} "
        f"= {report.chunks_total} in {out}"
    )
    for path in getattr(report, "cleaned", []):
        console.print(f"[dim]removed {path}, left by an interrupted run[/]")
    for source, messages in report.warnings.items():
        for msg in messages:
            console.print(f"[yellow]warning[/] {source}: {msg}")
    if report.skipped:
        console.print(f"[yellow]skipped {len(report.skipped)} file(s):[/]")
        for path, why in list(report.skipped.items())[:_SHOWN]:
            console.print(f"  {path}: {why}")
        if len(report.skipped) > _SHOWN:
            more = "; all of them with --report FILE" if report_file is None else f"; all in {report_file}"
            console.print(f"  … and {len(report.skipped) - _SHOWN} more{more}")
    if report.failed:
        table = Table("file", "why it failed", title=f"{len(report.failed)} file(s) failed", title_style="red")
        for source, reason in report.failed.items():
            table.add_row(source, reason)
        console.print(table)


def inspect_cmd(
    directory: Annotated[Path, typer.Argument(help="Index directory written by `ragkit ingest`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Summarise an index directory: files, chunks by kind and language, failures, indexes."""
    from ragkit.indexes.manifest import read_manifest
    from ragkit.indexes.store import ChunkStore

    from ragkit.indexes.generations import current_generation, generation_path

    path = generation_path(directory)
    manifest = read_manifest(path, name=directory)
    store = ChunkStore.load(path)
    kinds = collections.Counter(c.kind for c in store)
    languages = collections.Counter(c.language or "-" for c in store)
    exts = collections.Counter(Path(s).suffix or "(none)" for s in store.sources)
    summary = {
        "directory": str(directory),
        "ragkit_version": manifest.get("ragkit_version"),
        "generation": current_generation(directory),
        "files": len(store.sources),
        "chunks": len(store),
        "kinds": dict(kinds.most_common()),
        "languages": dict(languages.most_common()),
        "extensions": dict(exts.most_common()),
        "failures": store.failures,
        "chunker": manifest.get("chunker"),
        "indexes": {k: manifest[k] for k in ("bm25", "dense") if k in manifest},
    }
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    console.print(f"[bold]{directory}[/]: {summary['files']} files, {summary['chunks']} chunks "
                  f"(ragkit {summary['ragkit_version']}, chunker {summary['chunker']})")
    for title, counts in (("kind", kinds), ("language", languages), ("extension", exts)):
        table = Table(title, "count")
        for key, n in counts.most_common():
            table.add_row(str(key), str(n))
        console.print(table)
    for name, info in summary["indexes"].items():
        console.print(f"[bold]{name}[/] index: {info}")
    if store.failures:
        table = Table("file", "why it failed", title="failures", title_style="red")
        for source, reason in store.failures.items():
            table.add_row(source, reason)
        console.print(table)
