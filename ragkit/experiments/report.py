"""Reports of a ``ragkit compare`` run: ``compare.json``, a Markdown table and a self-contained HTML page.

The HTML page (a jinja2 template, ``templates/report.html.j2``) has no external resources: bar
charts are matplotlib PNGs embedded as ``data:`` URIs. It shows the answer-quality table and
chart, the interpolation / extrapolation split, the costs (training time, latency per answer,
peak memory), ragas' scores with every missing value counted, the tunings, and a per-question
drill-down (question, gold answer, each system's answer with its scores and cited sources).

``render(json_path)`` rebuilds the Markdown and HTML from a saved ``compare.json``.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any, Sequence

from ragkit.indexes.atomic import atomic_write_text

__all__ = ["write_reports", "markdown", "html", "render", "bar_chart", "split_method"]

LABELS = {
    "exact_match": "EM",
    "token_f1": "F1",
    "rouge_l": "ROUGE-L",
    "semantic_similarity": "semantic sim.",
    "citation_precision": "citation prec.",
    "gold_in_context": "gold in context",
    "idk_rate": "IDK rate",
}
_TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table cell (``–`` for a missing value)."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _num(value: Any, digits: int) -> str:
    """A number with ``digits`` decimals (ints too), ``–`` when missing."""
    return fmt(None if value is None else float(value), digits)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def quality_rows(results: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the answer-quality table (one row per system)."""
    metrics = list(results["metrics"]) + ["idk_rate"]
    header = ["system"] + [LABELS.get(m, m) for m in metrics]
    rows = [[s["name"]] + [s["aggregate"].get(m) for m in metrics] for s in results["systems"]]
    return header, rows


def cost_rows(results: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the cost table."""
    header = ["system", "train s", "load s", "latency / answer s", "peak RSS MiB", "RSS added MiB"]
    rows = [[s["name"], _num(c["train_seconds"], 1), _num(c["load_seconds"], 2), _num(c["latency_per_answer_s"], 3),
             _num(c["peak_rss_mb"], 0), _num(c["rss_added_mb"], 0)]
            for s in results["systems"] for c in [s["costs"]]]
    return header, rows


def split_rows(results: dict[str, Any], metric: str = "token_f1") -> tuple[list[str], list[list[Any]]] | None:
    """Header and rows of ``metric`` on interpolation vs extrapolation questions (``None``: no split)."""
    split = results.get("similarity_split")
    if not split:
        return None
    counts = split["counts"]
    header = ["system"] + [f"{lab} (n={counts.get(lab, 0)})" for lab in ("interpolation", "extrapolation")]
    rows = [[s["name"]] + [(s["by_split"].get(lab) or {}).get(metric) for lab in ("interpolation", "extrapolation")]
            for s in results["systems"]]
    return header, rows


def split_method(split: dict[str, Any]) -> str:
    """One line saying how the held-out questions were labelled interpolation / extrapolation."""
    if split.get("method", "nearest") == "nearest":
        return f"interpolation: nearest training question cosine ≥ {split['threshold']:.3f}"
    return (f"resampled as in Zhan et al. 2022 (ReSTTest): questions clustered into {split['buckets']}, cluster "
            f"{split['fold']} held out; its held-out questions are extrapolation and its {split['n_train_removed']} "
            f"training questions were removed before tuning")


def ragas_rows(results: dict[str, Any]) -> tuple[list[str], list[list[Any]], list[list[Any]]] | None:
    """(header, score rows, failure rows) of the ragas tables (``None``: ragas was off).

    Failure rows are ``[system, metric, reason, count]`` for every value that could not be
    computed; ``not_applicable`` (e.g. contexts of a closed-book answer) is left out.
    """
    systems = [s for s in results["systems"] if s.get("ragas")]
    if not systems:
        return None
    metrics = systems[0]["ragas"]["metrics"]
    header = ["system"] + metrics
    rows = [[s["name"]] + [s["ragas"]["aggregate"].get(m) for m in metrics] for s in systems]
    missing = []
    for s in systems:
        for m in metrics:
            for reason, count in sorted(s["ragas"]["missing"].get(m, {}).items()):
                if reason != "not_applicable":
                    missing.append([s["name"], m, reason, count])
    return header, rows, missing


def tuning_rows(results: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the tunings table."""
    header = ["tuning", "source", "model", "train pairs", "train s", "peak RSS MiB", "loss first → last"]
    rows = []
    for kind, t in results["tuning"].items():
        r = t.get("record") or {}
        loss = r.get("train_loss")
        if "train_loss_first" in r:
            loss = f"{r['train_loss_first']:.3f} → {r['train_loss_last']:.3f}"
        rows.append([kind, t["source"], t["model"] or json.dumps(t["llm"]), r.get("n_train"),
                     _num(t["train_seconds"], 1), _num((t.get("cost") or {}).get("peak_rss_mb"), 0), loss])
    return header, rows


def markdown(results: dict[str, Any]) -> str:
    """The Markdown report: quality, interpolation/extrapolation, costs, ragas and tunings tables."""
    qa = results["qa"]
    parts = [
        f"# ragkit compare: {results['name']}",
        f"{qa['n_test']} held-out questions ({qa['split']['by']} split; {qa['n_train']} training pairs; "
        f"QA source: {qa['source']}). Created {results['created']}; total {results['seconds_total']:.0f} s.",
        "## Answer quality",
        _table(*quality_rows(results)),
    ]
    split = split_rows(results)
    if split:
        parts += [f"## Interpolation vs extrapolation (token F1; {split_method(results['similarity_split'])})", _table(*split)]
    parts += ["## Cost", _table(*cost_rows(results))]
    ragas = ragas_rows(results)
    if ragas:
        header, rows, missing = ragas
        judge = next((s["ragas"].get("judge") for s in results["systems"] if s.get("ragas")), None)
        parts += ["## ragas", f"Judge: {judge or 'none (non-LLM metrics only)'}", _table(header, rows)]
        parts += ["Missing values, counted and never averaged in (metrics that do not apply, such as the "
                  "contexts of a closed-book answer, are not listed):",
                  _table(["system", "metric", "reason", "count"], missing) if missing else "none"]
    if results["tuning"]:
        parts += ["## Tunings", _table(*tuning_rows(results))]
    if results.get("notes"):
        parts += ["## Notes", "\n".join(f"- {n}" for n in results["notes"])]
    return "\n\n".join(parts) + "\n"


def bar_chart(title: str, groups: Sequence[str], series: dict[str, Sequence[float | None]], ylabel: str = "",
              ylim: tuple[float, float] | None = None) -> str:
    """A grouped bar chart as a ``data:image/png;base64,...`` URI (missing values drawn as 0, marked "–").

    Args:
        title: chart title.
        groups: x-axis groups (e.g. metrics).
        series: one bar series per label (e.g. per system), one value per group.
        ylabel: y-axis label.
        ylim: y-axis limits.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 1.3 * len(groups) + 2), 3.6), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    n = max(1, len(series))
    width = 0.8 / n
    for i, (label, values) in enumerate(series.items()):
        xs = [g + (i - (n - 1) / 2) * width for g in range(len(groups))]
        heights = [0.0 if v is None else float(v) for v in values]
        bars = ax.bar(xs, heights, width, label=label)
        for bar, v in zip(bars, values):
            if v is None:
                ax.annotate("–", (bar.get_x() + bar.get_width() / 2, 0), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=8)
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def charts(results: dict[str, Any]) -> list[dict[str, str]]:
    """The report's charts: ``[{"title", "uri"}]``."""
    systems = results["systems"]
    if not systems:
        return []
    metrics = list(results["metrics"])
    out = [{"title": "Answer quality", "uri": bar_chart(
        "Answer quality on held-out questions", [LABELS.get(m, m) for m in metrics],
        {s["name"]: [s["aggregate"].get(m) for m in metrics] for s in systems}, "score", (0, 1))}]
    split = split_rows(results)
    if split:
        header, rows = split
        out.append({"title": "Interpolation vs extrapolation", "uri": bar_chart(
            "Token F1: questions near / far from the training questions", header[1:],
            {row[0]: row[1:] for row in rows}, "token F1", (0, 1))})
    out.append({"title": "Latency per answer", "uri": bar_chart(
        "Latency per answer (s) and training time (min)", ["latency / answer (s)", "training (min)"],
        {s["name"]: [s["costs"]["latency_per_answer_s"], s["costs"]["train_seconds"] / 60] for s in systems}, "")})
    out.append({"title": "Peak memory", "uri": bar_chart(
        "Peak resident memory while answering (MiB)", ["peak RSS"],
        {s["name"]: [s["costs"]["peak_rss_mb"]] for s in systems}, "MiB")})
    ragas = ragas_rows(results)
    if ragas:
        header, rows, _ = ragas
        out.append({"title": "ragas", "uri": bar_chart(
            "ragas metrics", header[1:], {row[0]: row[1:] for row in rows}, "score", (0, 1))})
    return out


def html(results: dict[str, Any]) -> str:
    """The self-contained HTML report."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATE_DIR)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = fmt
    split = split_rows(results)
    ragas = ragas_rows(results)
    return env.get_template("report.html.j2").render(
        r=results, labels=LABELS, charts=charts(results), quality=quality_rows(results), costs=cost_rows(results),
        split=split, split_method=split_method(results["similarity_split"]) if split else None, ragas=ragas, tuning=tuning_rows(results) if results["tuning"] else None,
        judge=next((s["ragas"].get("judge") for s in results["systems"] if s.get("ragas")), None),
        systems={s["id"]: s for s in results["systems"]},
    )


def write_reports(results: dict[str, Any], out: str | Path) -> None:
    """Write ``compare.json``, ``compare.md`` and ``report.html`` into ``out``."""
    out = Path(out)
    atomic_write_text(out / "compare.json", json.dumps(results, indent=1, ensure_ascii=False, default=str))
    atomic_write_text(out / "compare.md", markdown(results))
    atomic_write_text(out / "report.html", html(results))


def render(json_path: str | Path, out: str | Path | None = None) -> Path:
    """Rebuild ``compare.md`` and ``report.html`` from a saved ``compare.json`` (next to it by default).

    Returns:
        The HTML report's path.
    """
    json_path = Path(json_path)
    results = json.loads(json_path.read_text(encoding="utf-8"))
    out = Path(out) if out is not None else json_path.parent
    atomic_write_text(out / "compare.md", markdown(results))
    atomic_write_text(out / "report.html", html(results))
    return out / "report.html"
