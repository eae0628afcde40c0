"""Ingest speed: ragkit's connectors vs llama-index's PyMuPDFReader + SentenceSplitter / CodeSplitter.

Both sides parse the same files and chunk them with a 256-token budget; the table reports
pages/s for PDFs, files/s (and lines/s) for code, chunk counts, side by side. Fair by
construction (``benchmarks/harness.py``): each system is warmed with its own full pass over the
same files (tokenizers, grammars and the OS file cache loaded for both), then the two systems of
each pair run in alternated rounds; medians and min–max over the rounds, and the load average
before and after, are printed and written to ``benchmarks/results/ingest.json``.

    .venv/bin/python benchmarks/ingest.py [--pdfs 30] [--pages 8] [--code-files 400] [--rounds 5]

PDFs are generated once (text with headings and a table on every page) under
~/.cache/ragkit/bench/pdfs; code is real Python from installed packages (rich, typer, click,
pathspec, jinja2) plus this repository's JS/Go demo files.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
console = Console()

PARAGRAPH = (
    "The inverter converts direct current from the photovoltaic array into alternating current for "
    "the grid. Its maximum power point tracker adjusts the operating voltage every few milliseconds "
    "so that the array delivers as much power as the irradiance allows. "
)


def make_pdfs(out: Path, n_docs: int, pages: int) -> list[Path]:
    import pymupdf

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in range(n_docs):
        path = out / f"doc{d:03d}-{pages}p.pdf"
        paths.append(path)
        if path.exists():
            continue
        html = [f"<h1>Document {d}</h1>"]
        for p in range(pages):
            html.append(f"<h2>Section {p + 1}</h2>")
            html.append("<p>" + PARAGRAPH * 6 + "</p>")
            html.append("<table border='1'><tr><th>Parameter</th><th>Value</th></tr>"
                        + "".join(f"<tr><td>row {r}</td><td>{r * d} W</td></tr>" for r in range(4))
                        + "</table>")
            html.append("<p>" + PARAGRAPH * 4 + "</p>")
        story = pymupdf.Story(html="".join(html))
        writer = pymupdf.DocumentWriter(str(path))
        box = pymupdf.paper_rect("a4")
        more = True
        while more:
            dev = writer.begin_page(box)
            more, _ = story.place(box + (56, 56, -56, -56))
            story.draw(dev)
            writer.end_page()
        writer.close()
    return paths


def code_files(limit: int) -> list[Path]:
    files: list[Path] = []
    for pkg in ("rich", "typer", "click", "pathspec", "jinja2"):
        spec = importlib.util.find_spec(pkg)
        if spec and spec.submodule_search_locations:
            files += sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.py"))
    files += sorted((ROOT / "ragkit" / "demo_corpus" / "src").glob("*"))
    return [f for f in files if f.stat().st_size > 0][:limit]


def ragkit_run(paths: list[Path]) -> tuple[float, int]:
    from ragkit.connectors.dispatch import connector_for

    chunker = {"max_tokens": 256, "overlap_tokens": 32, "tokenizer": "minilm"}
    cache: dict = {}
    t = time.perf_counter()
    n = 0
    for path in paths:
        n += sum(1 for _ in connector_for(path, chunker, cache).parse(path, path.name))
    return time.perf_counter() - t, n


def llama_pdf_run(paths: list[Path]) -> tuple[float, int]:
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.readers.file import PyMuPDFReader

    reader, splitter = PyMuPDFReader(), SentenceSplitter(chunk_size=256, chunk_overlap=32)
    t = time.perf_counter()
    n = 0
    for path in paths:
        n += len(splitter.get_nodes_from_documents(reader.load_data(file_path=path)))
    return time.perf_counter() - t, n


def llama_code_run(paths: list[Path]) -> tuple[float, int]:
    import tree_sitter
    import tree_sitter_go
    import tree_sitter_javascript
    import tree_sitter_python
    from llama_index.core import Document
    from llama_index.core.node_parser import CodeSplitter

    grammars = {".py": ("python", tree_sitter_python), ".js": ("javascript", tree_sitter_javascript),
                ".go": ("go", tree_sitter_go)}
    splitters = {
        ext: CodeSplitter(language=lang, parser=tree_sitter.Parser(tree_sitter.Language(mod.language())),
                          count_mode="token", max_tokens=256)
        for ext, (lang, mod) in grammars.items()
    }
    t = time.perf_counter()
    n = 0
    for path in paths:
        doc = Document(text=path.read_text(encoding="utf-8", errors="replace"))
        n += len(splitters[path.suffix].get_nodes_from_documents([doc]))
    return time.perf_counter() - t, n


def _pass(run, paths: list[Path], amount: int) -> int:
    """One timed pass of ``run`` over ``paths``; the work done is ``amount`` (pages or files)."""
    run(paths)
    return amount


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pdfs", type=int, default=30)
    ap.add_argument("--pages", type=int, default=8)
    ap.add_argument("--code-files", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=5, help="alternated timing rounds per system")
    args = ap.parse_args()

    import pymupdf

    from benchmarks.harness import alternate, load_average, machine
    from ragkit.models import cache_dir

    meta = machine()
    pdfs = make_pdfs(cache_dir() / "bench" / "pdfs", args.pdfs, args.pages)
    n_pages = sum(pymupdf.open(p).page_count for p in pdfs)
    code = code_files(args.code_files)
    n_lines = sum(len(p.read_text(encoding="utf-8", errors="replace").splitlines()) for p in code)

    pairs = (
        ("pdf", pdfs, "pages", n_pages, {"ragkit PdfConnector": ragkit_run,
                                          "llama-index PyMuPDFReader + SentenceSplitter": llama_pdf_run}),
        ("code", code, "files", len(code), {"ragkit code connectors (ast / tree-sitter)": ragkit_run,
                                             "llama-index CodeSplitter (tree-sitter)": llama_code_run}),
    )
    rows = []
    for kind, paths, unit, amount, systems in pairs:
        chunks = {name: fn(paths)[1] for name, fn in systems.items()}  # chunk counts (not timed)
        timed = alternate({name: functools.partial(_pass, fn, paths, amount) for name, fn in systems.items()},
                          args.rounds, unit="per_second")
        for name, t in timed.items():
            rows.append({"kind": kind, "system": name, "unit": unit, "amount": amount, "chunks": chunks[name],
                         **{k: round(v, 3) for k, v in t.items()},
                         "lines_per_second_median": round(n_lines / t["seconds_median"]) if unit == "files" else None})
    meta["load_avg_end"] = load_average()

    table = Table(title=f"Ingest speed ({n_pages} PDF pages in {len(pdfs)} files; {len(code)} code files, "
                        f"{n_lines} lines; 256-token chunks; {args.rounds} alternated rounds, medians "
                        f"\\[min–max]; {meta['cpus']} CPUs, load {meta['load_avg_start']} → {meta['load_avg_end']})")
    for col in ("system", "rate (median)", "min–max", "chunks"):
        table.add_column(col)
    for r in rows:
        rate = f"{r['per_second_median']:.1f} {r['unit']}/s"
        if r["lines_per_second_median"]:
            rate += f" ({r['lines_per_second_median']} lines/s)"
        table.add_row(r["system"], rate, f"{r['per_second_min']:.1f}–{r['per_second_max']:.1f}", str(r["chunks"]))
    console.print(table)
    for a, b in ((0, 1), (2, 3)):
        console.print(f"{rows[a]['system']} / {rows[b]['system']}: "
                      f"{rows[a]['per_second_median'] / rows[b]['per_second_median']:.2f}x (medians)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps({"meta": {**meta, "rounds": args.rounds}, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
