"""`ragkit compare` (RAG vs fine-tuning vs both, with a report) and `ragkit repro` (2CR-style checks)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from ragkit.extras import require

console = Console()


def compare_cmd(
    config: Annotated[Path, typer.Argument(help="Compare config (YAML); see docs/compare.md.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output dir (default: runs/compare/<name>).")] = None,
    ragas_llm: Annotated[
        Optional[bool], typer.Option("--ragas-llm/--no-ragas-llm", help="Run ragas' LLM-judged metrics (slow).")
    ] = None,
    judge: Annotated[
        Optional[str], typer.Option(help="Judge for ragas' LLM metrics: a local model (name or dir) for the transformers backend.")
    ] = None,
    max_judged: Annotated[Optional[int], typer.Option(help="Judge at most this many answers per system.")] = None,
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads (default: the config's, else torch's).")] = None,
) -> None:
    """Compare {base, LoRA-tuned} LLM x {closed-book, RAG} (+ tuned retriever / reranker) on held-out questions."""
    require("compare")
    from ragkit.experiments.compare import run_compare
    from ragkit.experiments.compare_config import load_config
    from ragkit.indexes.atomic import atomic_write_text

    cfg = load_config(config)
    if ragas_llm is not None:
        cfg.ragas["llm_metrics"] = ragas_llm
    if judge is not None:
        from ragkit.config import parse_component

        cfg.ragas["judge"] = parse_component("llm", judge)
    if max_judged is not None:
        cfg.ragas["max_samples"] = max_judged
    if threads is not None:
        cfg.threads = threads
    if cfg.threads:  # a process-wide setting: made here, by the process, not inside the library call
        import torch

        torch.set_num_threads(int(cfg.threads))
    out = out or Path("runs") / "compare" / cfg.name
    import json

    atomic_write_text(out / "config.resolved.json", json.dumps(cfg.to_dict(), indent=2, default=str))
    results = run_compare(cfg, out, log=lambda message: console.print(f"[dim]{message}[/]"))
    console.print((out / "compare.md").read_text(encoding="utf-8"), markup=False, highlight=False)
    console.print(f"report: {out / 'report.html'}  ({results['seconds_total']:.0f} s)")


def repro_cmd(
    files: Annotated[list[Path], typer.Argument(help="repro/*.yaml matrices.")],
    quick: Annotated[bool, typer.Option(help="Skip the rows marked slow.")] = False,
    only: Annotated[Optional[list[str]], typer.Option(help="Run only these rows (repeatable).")] = None,
    work: Annotated[Path, typer.Option(help="Where the rows write their outputs.")] = Path("runs/repro"),
    dry_run: Annotated[bool, typer.Option(help="Print the commands without running them.")] = False,
) -> None:
    """Run each row's exact command and check its scores against the expected values (OK / FAIL)."""
    require("compare")
    from ragkit.experiments.repro import load_matrix, run_matrix

    failed = 0
    for path in files:
        matrix = load_matrix(path)
        results = run_matrix(matrix, work=work, quick=quick, only=only, dry_run=dry_run,
                              echo=lambda line: console.print(line, markup=False, highlight=False))
        failed += sum(r.status == "FAIL" for r in results)
    if failed:
        console.print(f"[red]{failed} row(s) FAIL[/]")
        raise typer.Exit(1)
