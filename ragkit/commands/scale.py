"""The scale-out halves of `ragkit ingest` and `ragkit index`: ``--engine ray`` and ``--milvus-uri``.

``ingest_cmd`` / ``index_cmd`` hand over here when asked for Ray or Milvus, so the local commands
stay as they are. Each function shows a progress bar and prints one summary line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from rich.console import Console

console = Console()

ENGINES = ("local", "ray")


def check_engine(engine: str) -> None:
    """Raise ``ValueError`` for an engine that is not ``local`` or ``ray``."""
    if engine not in ENGINES:
        raise ValueError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")


class _Bar:
    """A rich progress bar fed by ``(stage, done, total)`` callbacks."""

    def __enter__(self) -> Callable[[str, int, int], None]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=True)
        self.progress.__enter__()
        self.tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in self.tasks:
                self.tasks[stage] = self.progress.add_task(stage, total=total)
            self.progress.update(self.tasks[stage], completed=done, total=total)

        return update

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)


def ray_ingest_cmd(paths: list[Path], out: Path, address: Optional[str], workers: int, **chunking: Any) -> Any:
    """`ragkit ingest --engine ray`: parse on Ray workers; returns the IngestReport."""
    from ragkit.scale.ray_engine import ray_ingest

    with _Bar() as bar:
        return ray_ingest(paths, out, workers=workers, address=address, on_progress=bar, **chunking)


def index_scaled(
    directory: Path, embedder: str, engine: str, address: Optional[str], workers: int, milvus_uri: Optional[str],
    collection: Optional[str], rebuild: bool, batch_size: int, device: Optional[str],
) -> None:
    """`ragkit index --engine ray` and/or `--milvus-uri`: embed (on Ray or here) into the index or Milvus."""
    milvus = None
    if milvus_uri:
        milvus = {"uri": milvus_uri, "collection": collection or directory.resolve().name}
    elif collection:
        raise ValueError("--collection needs --milvus-uri (the Milvus server to write to)")
    if engine == "ray":
        from ragkit.scale.ray_engine import ray_index

        with _Bar() as bar:
            result = ray_index(directory, embedder=embedder, workers=workers, address=address, batch_size=batch_size,
                               device=device, rebuild=rebuild, milvus=milvus, on_progress=bar)
        console.print(f"[green]indexed[/] {result['embedded']} chunk(s) embedded on Ray ({workers} worker(s)) "
                      f"into {result['target']}")
        return
    from ragkit.indexes.embed import Embedder
    from ragkit.indexes.milvus import MilvusIndex
    from ragkit.indexes.store import ChunkStore

    target = MilvusIndex(**milvus)  # type: ignore[arg-type]
    if rebuild:
        target.drop()
    emb = Embedder(embedder, batch_size=batch_size, device=device, show_progress=False)
    with _Bar() as bar:
        counts = target.sync(ChunkStore.load(directory), emb, on_progress=lambda d, t: bar("embed", d, t))
    console.print(f"[green]indexed[/] {counts['total']} chunk(s) in {target.uri} collection {target.collection!r}: "
                  f"+{counts['upserted']} upserted, -{counts['deleted']} deleted, {counts['unchanged']} unchanged")


