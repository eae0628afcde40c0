"""`ragkit tune prf`: train a dense PRF query encoder, with the LoL regulariser or without it (the ablation).

One call into ``ragkit.api.tune_prf``; heavy libraries are imported inside the function. The
result is used as ``ragkit search INDEX "…" --mode dense|hybrid --rewrite lol:OUT``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from ragkit.extras import require

console = Console()


def _depths(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"--depths takes comma-separated integers such as 0,1,3,5, got {text!r}") from None


def tune_prf_cmd(
    index: Annotated[Path, typer.Option(help="Index whose dense vectors the encoder points into (its chunks are the documents).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output encoder dir (written atomically; use as --rewrite lol:OUT).")],
    data: Annotated[Optional[Path], typer.Option(
        help="BEIR-format dataset dir (or SciFact's release) whose --split queries and qrels train it; "
             "the index must hold its corpus (chunk id = document id).")] = None,
    split: Annotated[str, typer.Option(help="Dataset split to train on.")] = "train",
    max_queries: Annotated[Optional[int], typer.Option(help="Keep the first N dataset queries.")] = None,
    train: Annotated[Optional[Path], typer.Option(help="QA pairs (JSONL, `ragkit make-qa`): relevant document = source chunk.")] = None,
    base: Annotated[Optional[str], typer.Option(help="Base encoder (default: the index's embedder).")] = None,
    lambda_cr: Annotated[float, typer.Option(help="Weight of the LoL comparative regulariser; 0 trains the no-LoL ablation.")] = 1.0,
    depths: Annotated[str, typer.Option(help="Feedback depths trained together, ascending (0 = the query alone).")] = "0,1,3,5",
    epochs: Annotated[float, typer.Option(help="Passes over the training queries.")] = 1.0,
    max_steps: Annotated[Optional[int], typer.Option(help="Stop after this many optimiser steps.")] = None,
    batch_size: Annotated[int, typer.Option(help="Queries per step (each encoded once per depth).")] = 8,
    learning_rate: Annotated[float, typer.Option()] = 2e-5,
    temperature: Annotated[float, typer.Option(help="Softmax temperature of the reformulation loss.")] = 0.05,
    max_chars: Annotated[int, typer.Option(help="Characters kept of each feedback passage.")] = 300,
    seed: Annotated[int, typer.Option()] = 0,
    device: Annotated[Optional[str], typer.Option(help="cpu or cuda (default: cuda when available).")] = None,
) -> None:
    """Train a PRF query encoder (query + top-k feedback passages -> one vector) against a frozen index."""
    require("tune")
    from ragkit.api import tune_prf

    if data is None and train is None:
        raise typer.BadParameter("give training queries: --data DATASET (BEIR format) and/or --train QA.jsonl")
    settings = {"base": base} if base else {}
    result = tune_prf(out, index=index, data=data, split=split, train=train, max_queries=max_queries,
                      lambda_cr=lambda_cr, depths=_depths(depths), epochs=epochs, max_steps=max_steps,
                      batch_size=batch_size, learning_rate=learning_rate, temperature=temperature,
                      max_chars=max_chars, seed=seed, device=device, **settings)
    record = result.record
    table = Table("depth", "loss (last epoch)", title=f"prf {'LoL λ=' + str(lambda_cr) if lambda_cr else 'no LoL'}")
    for depth, loss in record["loss_by_depth"].items():
        table.add_row(depth, f"{loss:.4f}")
    console.print(table)
    skipped = {k: v for k, v in record["skipped"].items() if k != "examples" and v}
    console.print(f"trained on {record['n_train']} queries, {record['train_steps']} steps ({record['epochs_run']} epochs); "
                  f"skipped: {skipped or 'none'}")
    console.print(f"[green]saved[/] {result.out_dir} ({result.wall_time_s:.0f} s); "
                  f"search with --mode dense|hybrid --rewrite lol:{result.out_dir}")
