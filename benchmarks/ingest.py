"""Ingest speed: ragkit's connectors vs llama-index's PyMuPDFReader + SentenceSplitter / CodeSplitter.

Both sides parse the same files and chunk them with a 256-token budget; the table reports
pages/s for PDFs, files/s (and lines/s) for code, chunk counts and wall time, side by side.

    .venv/bin/python benchmarks/ingest.py [--pdfs 30] [--pages 8] [--code-files 400]

PDFs are generated once (text with headings and a table on every page) under
~/.cache/ragkit/bench/pdfs; code is real Python from installed packages (rich, typer, click,
pathspec, jinja2) plus this repository's JS/Go demo files.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pdfs", type=int, default=30)
    ap.add_argument("--pages", type=int, default=8)
    ap.add_argument("--code-files", type=int, default=400)
    args = ap.parse_args()

    import pymupdf

    from ragkit.models import cache_dir

    pdfs = make_pdfs(cache_dir() / "bench" / "pdfs", args.pdfs, args.pages)
    n_pages = sum(pymupdf.open(p).page_count for p in pdfs)
    code = code_files(args.code_files)
    n_lines = sum(len(p.read_text(encoding="utf-8", errors="replace").splitlines()) for p in code)
    ragkit_run(pdfs[:1] + code[:3])  # warm-up: tokenizer and grammars load once

    rows = []
    for name, fn, paths, unit, amount in (
        ("ragkit PdfConnector", ragkit_run, pdfs, "pages", n_pages),
        ("llama-index PyMuPDFReader + SentenceSplitter", llama_pdf_run, pdfs, "pages", n_pages),
        ("ragkit code connectors (ast / tree-sitter)", ragkit_run, code, "files", len(code)),
        ("llama-index CodeSplitter (tree-sitter)", llama_code_run, code, "files", len(code)),
    ):
        seconds, chunks = fn(paths)
        rows.append({"system": name, "unit": unit, "amount": amount, "seconds": round(seconds, 3),
                     "per_second": round(amount / seconds, 1), "chunks": chunks,
                     "lines_per_second": round(n_lines / seconds) if unit == "files" else None})

    table = Table(title=f"Ingest speed ({n_pages} PDF pages in {len(pdfs)} files; {len(code)} code files, "
                        f"{n_lines} lines; 256-token chunks; {os.cpu_count()} CPUs)")
    for col in ("system", "rate", "wall s", "chunks"):
        table.add_column(col)
    for r in rows:
        rate = f"{r['per_second']} {r['unit']}/s" + (f" ({r['lines_per_second']} lines/s)" if r["lines_per_second"] else "")
        table.add_row(r["system"], rate, str(r["seconds"]), str(r["chunks"]))
    console.print(table)
    for a, b in ((0, 1), (2, 3)):
        console.print(f"{rows[a]['system']} / {rows[b]['system']}: "
                      f"{rows[a]['per_second'] / rows[b]['per_second']:.2f}x")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
