"""Reproducible numbers as data: run each row's exact CLI command and check its scores (Pyserini 2CR style).

A matrix is a YAML file (``repro/*.yaml``)::

    name: scifact
    description: BEIR SciFact test split (300 queries, 5,183 abstracts)
    cwd: ..                          # commands run here (relative to this file); default: its dir
    conditions:
      - name: bm25
        slow: false                  # slow rows are skipped by --quick
        command: ragkit eval-retrieval ../shared/data/scifact --mode bm25 --out {out}
        output: "{out}/metrics.json" # the JSON the scores are read from
        scores:
          - key: results.bm25.aggregate.ndcg@10   # dotted path; list items by [field=value]
            expected: 0.6807
            tolerance: 0.0005

``{out}`` is the row's own output directory (``<work>/<matrix>/<row>``) and ``{work}`` the
work directory (rows that share ``{work}/...`` reuse each other's indexes). A command that
starts with ``ragkit`` runs as ``python -m ragkit.cli`` with this interpreter, so the check
does not depend on ``PATH``. A row is OK when the command exits 0 and every score is within
its tolerance of the expected value; otherwise FAIL, with the reason.

Run: ``ragkit repro repro/*.yaml [--quick]`` or ``python -m ragkit.experiments.repro repro/*.yaml``.

References: Lin et al., 2022, "Building a Culture of Reproducibility in Academic Research"
(Pyserini's two-click reproductions, 2CR).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["ScoreSpec", "Condition", "Matrix", "RowResult", "load_matrix", "lookup", "run_matrix", "main"]

_SELECTOR = re.compile(r"^(?P<key>[^\[\]]*)\[(?P<field>[^=\]]+)=(?P<value>[^\]]*)\]$")
_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                "TOKENIZERS_PARALLELISM": "false", "RAGAS_DO_NOT_TRACK": "true"}


@dataclass
class ScoreSpec:
    """One checked score: where it is in the output JSON, its expected value and tolerance."""

    key: str
    expected: float
    tolerance: float = 0.0


@dataclass
class Condition:
    """One row: a name, the exact command, the JSON it writes and the scores to check."""

    name: str
    command: str
    output: str
    scores: list[ScoreSpec]
    slow: bool = False
    description: str = ""


@dataclass
class Matrix:
    """A repro file: its conditions and the directory their commands run in."""

    name: str
    conditions: list[Condition]
    cwd: Path
    description: str = ""
    path: Path | None = None


@dataclass
class RowResult:
    """The outcome of one row: ``OK``, ``FAIL`` or ``SKIP``, with each score got and the reason."""

    name: str
    status: str
    command: str
    seconds: float = 0.0
    scores: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


def _require(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise ValueError(f"{where} needs '{key}'")
    return data[key]


def load_matrix(path: str | Path) -> Matrix:
    """Read a repro matrix YAML.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a row misses ``name`` / ``command`` / ``output`` / ``scores``, an unknown key,
            or duplicate row names.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"repro matrix {path} does not exist")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("conditions"), list):
        raise ValueError(f"{path} must be a mapping with a 'conditions' list")
    rows = []
    for i, row in enumerate(data["conditions"]):
        where = f"{path} condition {i}"
        unknown = sorted(set(row) - {"name", "command", "output", "scores", "slow", "description"})
        if unknown:
            raise ValueError(f"{where} has unknown key(s) {unknown}")
        scores = []
        for s in _require(row, "scores", where):
            if set(s) - {"key", "expected", "tolerance"}:
                raise ValueError(f"{where}: a score has keys {sorted(s)}; use key, expected, tolerance")
            scores.append(ScoreSpec(str(_require(s, "key", where)), float(_require(s, "expected", where)),
                                    float(s.get("tolerance", 0.0))))
        rows.append(Condition(name=str(_require(row, "name", where)), command=str(_require(row, "command", where)),
                              output=str(_require(row, "output", where)), scores=scores,
                              slow=bool(row.get("slow", False)), description=str(row.get("description", ""))))
    names = [r.name for r in rows]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: row names must be unique, got {names}")
    cwd = (path.parent / str(data.get("cwd", "."))).resolve()
    return Matrix(name=str(data.get("name", path.stem)), conditions=rows, cwd=cwd,
                  description=str(data.get("description", "")), path=path)


def lookup(data: Any, key: str) -> Any:
    """The value at a dotted ``key`` in nested JSON; ``name[field=value]`` picks a list item.

    Raises:
        KeyError: a part of the path is missing (the message names it).
    """
    node = data
    for part in key.split("."):
        match = _SELECTOR.match(part)
        if match:
            if match["key"]:
                node = _child(node, match["key"], key)
            if not isinstance(node, list):
                raise KeyError(f"{key}: {part!r} selects from a list, found {type(node).__name__}")
            found = [x for x in node if isinstance(x, dict) and str(x.get(match["field"])) == match["value"]]
            if not found:
                raise KeyError(f"{key}: no item with {match['field']}={match['value']!r}")
            node = found[0]
        else:
            node = _child(node, part, key)
    return node


def _child(node: Any, part: str, key: str) -> Any:
    if isinstance(node, dict) and part in node:
        return node[part]
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    raise KeyError(f"{key}: no {part!r} here")


def _fill(text: str, values: dict[str, str]) -> str:
    """``text`` with ``{out}`` / ``{work}`` replaced (other braces, e.g. JSON in a command, are kept)."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _argv(command: str) -> list[str]:
    argv = shlex.split(command)
    if argv and argv[0] == "ragkit":
        return [sys.executable, "-m", "ragkit.cli", *argv[1:]]
    return argv


def run_condition(matrix: Matrix, row: Condition, work: Path, dry_run: bool = False) -> RowResult:
    """Run one row's command (its output goes to ``<out>/command.log``) and check its scores."""
    out = (work / matrix.name / row.name).resolve()
    fill = {"out": str(out), "work": str(work.resolve())}
    command = _fill(row.command, fill)
    result = RowResult(row.name, "OK", command)
    if dry_run:
        result.status, result.message = "SKIP", "dry run"
        return result
    out.mkdir(parents=True, exist_ok=True)
    env = {**_OFFLINE_ENV, **os.environ}
    started = time.perf_counter()
    with (out / "command.log").open("w", encoding="utf-8") as log:
        proc = subprocess.run(_argv(command), cwd=matrix.cwd, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    result.seconds = time.perf_counter() - started
    if proc.returncode != 0:
        tail = (out / "command.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        result.status, result.message = "FAIL", f"exit status {proc.returncode}: " + " / ".join(tail)
        return result
    output = Path(_fill(row.output, fill))
    output = output if output.is_absolute() else matrix.cwd / output
    try:
        data = json.loads(output.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        result.status, result.message = "FAIL", f"cannot read {output}: {exc}"
        return result
    for spec in row.scores:
        entry: dict[str, Any] = {"key": spec.key, "expected": spec.expected, "tolerance": spec.tolerance}
        try:
            got = float(lookup(data, spec.key))
        except (KeyError, TypeError, ValueError) as exc:
            entry.update(got=None, ok=False, error=str(exc))
        else:
            entry.update(got=got, ok=abs(got - spec.expected) <= spec.tolerance + 1e-12)
        result.scores.append(entry)
    if not all(e["ok"] for e in result.scores):
        result.status = "FAIL"
        result.message = "; ".join(f"{e['key']}: got {e['got']}" + (f" ({e['error']})" if e.get("error") else "")
                                   for e in result.scores if not e["ok"])
    return result


def _label(key: str) -> str:
    """A score's short name: the last path part, or the system and metric for ``x[id=..].y.z`` keys."""
    match = re.search(r"\[[^=\]]+=([^\]]+)\]", key)
    last = key.rsplit(".", 1)[-1]
    return f"{match.group(1)}:{last}" if match else last


def _describe(r: RowResult) -> str:
    scores = "  ".join(
        f"{_label(e['key'])} {e['got']:.4f} (expected {e['expected']:.4f} ± {e['tolerance']:g})"
        if e.get("got") is not None else f"{e['key']}: missing" for e in r.scores
    )
    tail = f"  {r.seconds:.1f} s" if r.seconds else ""
    return f"[{r.status}] {r.name}  {scores}{tail}" + (f"\n       {r.message}" if r.message and r.status != "OK" else "")


def run_matrix(matrix: Matrix, work: str | Path = "runs/repro", quick: bool = False, only: Sequence[str] | None = None,
               dry_run: bool = False, echo: Callable[[str], None] = print) -> list[RowResult]:
    """Run (or, with ``dry_run``, list) the matrix's rows in order and report OK / FAIL / SKIP per row.

    Args:
        matrix: from ``load_matrix``.
        work: work directory for the rows' outputs.
        quick: skip rows marked ``slow``.
        only: run only rows with these names.
        dry_run: print the commands, run nothing.
        echo: where lines go (``print`` or a rich console's ``print``).

    Raises:
        ValueError: ``only`` names a row that does not exist.
    """
    work = Path(work)
    names = {r.name for r in matrix.conditions}
    if only:
        missing = sorted(set(only) - names)
        if missing:
            raise ValueError(f"no row(s) {missing} in {matrix.path}; rows: {sorted(names)}")
    echo(f"{matrix.name}: {matrix.description}".rstrip(": "))
    results = []
    for row in matrix.conditions:
        if only and row.name not in only:
            continue
        if quick and row.slow:
            results.append(RowResult(row.name, "SKIP", row.command, message="slow (run without --quick)"))
            echo(f"[SKIP] {row.name}  slow (run without --quick)")
            continue
        if dry_run:
            fill = {"out": str((work / matrix.name / row.name).resolve()), "work": str(work.resolve())}
            echo(f"       {row.name}: {_fill(row.command, fill)}")
        result = run_condition(matrix, row, work, dry_run)
        results.append(result)
        if not dry_run:
            echo(_describe(result))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ragkit.experiments.repro FILE... [--quick] [--only ROW] [--work DIR] [--dry-run]``; exit 1 on any FAIL."""
    parser = argparse.ArgumentParser(prog="python -m ragkit.experiments.repro", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--quick", action="store_true", help="skip rows marked slow")
    parser.add_argument("--only", action="append", help="run only this row (repeatable)")
    parser.add_argument("--work", type=Path, default=Path("runs/repro"))
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.files:
        results = run_matrix(load_matrix(path), args.work, args.quick, args.only, args.dry_run)
        failed += sum(r.status == "FAIL" for r in results)
    if failed:
        print(f"{failed} row(s) FAIL")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
