"""The repro matrix runner: rows run their exact command, scores are checked OK / FAIL, slow rows skip."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
import yaml

from ragkit.experiments.repro import _argv, load_matrix, lookup, main, run_matrix

ROOT = Path(__file__).resolve().parents[2]


def _writer(payload: str) -> str:
    """A command that writes ``payload`` (JSON) to ``{out}/result.json``."""
    code = f"import pathlib, sys; p = pathlib.Path(sys.argv[1]); p.mkdir(parents=True, exist_ok=True); (p / 'result.json').write_text({payload!r})"
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)} {{out}}"


def _matrix(tmp_path: Path) -> Path:
    rows = [
        {"name": "good", "command": _writer('{"results": {"bm25": {"ndcg@10": 0.6807}}}'), "output": "{out}/result.json",
         "scores": [{"key": "results.bm25.ndcg@10", "expected": 0.6805, "tolerance": 0.0005}]},
        {"name": "drifted", "command": _writer('{"results": {"bm25": {"ndcg@10": 0.70}}}'), "output": "{out}/result.json",
         "scores": [{"key": "results.bm25.ndcg@10", "expected": 0.68, "tolerance": 0.001}]},
        {"name": "crashes", "command": f"{shlex.quote(sys.executable)} -c 'raise SystemExit(3)'", "output": "{out}/x.json",
         "scores": [{"key": "a", "expected": 1}]},
        {"name": "missing-key", "command": _writer('{"systems": [{"id": "a", "f1": 0.5}]}'), "output": "{out}/result.json",
         "scores": [{"key": "systems[id=a].f1", "expected": 0.5}, {"key": "systems[id=b].f1", "expected": 0.5}]},
        {"name": "slow-one", "slow": True, "command": _writer('{"v": 1}'), "output": "{out}/result.json",
         "scores": [{"key": "v", "expected": 1}]},
    ]
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"name": "unit", "description": "test rows", "conditions": rows}), encoding="utf-8")
    return path


def test_rows_are_checked_against_expected_scores(tmp_path):
    lines: list[str] = []
    results = run_matrix(load_matrix(_matrix(tmp_path)), work=tmp_path / "work", quick=True, echo=lines.append)
    status = {r.name: r.status for r in results}
    assert status == {"good": "OK", "drifted": "FAIL", "crashes": "FAIL", "missing-key": "FAIL", "slow-one": "SKIP"}
    by_name = {r.name: r for r in results}
    assert by_name["good"].scores[0]["got"] == pytest.approx(0.6807)
    assert "got 0.7" in by_name["drifted"].message
    assert "exit status 3" in by_name["crashes"].message
    assert by_name["missing-key"].scores[0]["ok"] and "id='b'" in by_name["missing-key"].message
    assert lines[0] == "unit: test rows"
    assert lines[1].startswith("[OK] good  ndcg@10 0.6807 (expected 0.6805 ± 0.0005)")
    assert (tmp_path / "work" / "unit" / "good" / "result.json").is_file()


def test_slow_rows_run_without_quick_and_only_selects(tmp_path):
    results = run_matrix(load_matrix(_matrix(tmp_path)), work=tmp_path / "w", only=["slow-one"], echo=lambda _l: None)
    assert [(r.name, r.status) for r in results] == [("slow-one", "OK")]
    with pytest.raises(ValueError, match="no row"):
        run_matrix(load_matrix(_matrix(tmp_path)), only=["nope"], echo=lambda _l: None)


def test_dry_run_prints_commands_and_runs_nothing(tmp_path):
    lines: list[str] = []
    results = run_matrix(load_matrix(_matrix(tmp_path)), work=tmp_path / "w", dry_run=True, echo=lines.append)
    assert {r.status for r in results} == {"SKIP"}
    assert not (tmp_path / "w").exists()
    assert any(str((tmp_path / "w" / "unit" / "good").resolve()) in line for line in lines)


def test_main_exit_status(tmp_path):
    path = _matrix(tmp_path)
    assert main([str(path), "--only", "good", "--work", str(tmp_path / "w")]) == 0
    assert main([str(path), "--only", "drifted", "--work", str(tmp_path / "w")]) == 1


def test_lookup_paths():
    data = {"results": {"bm25": {"ndcg@10": 0.5}}, "systems": [{"id": "x", "a": {"b": 1}}, {"id": "y"}], "l": [3, 4]}
    assert lookup(data, "results.bm25.ndcg@10") == 0.5
    assert lookup(data, "systems[id=x].a.b") == 1
    assert lookup(data, "l.1") == 4
    with pytest.raises(KeyError, match="no 'nope'"):
        lookup(data, "results.nope")


def test_ragkit_commands_run_with_this_interpreter():
    assert _argv("ragkit eval-retrieval data --mode bm25") == [sys.executable, "-m", "ragkit.cli", "eval-retrieval",
                                                              "data", "--mode", "bm25"]
    assert _argv("python -c 'print(1)'") == ["python", "-c", "print(1)"]


def test_bad_matrices(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"conditions": [{"name": "a", "command": "x", "output": "y"}]}))
    with pytest.raises(ValueError, match="needs 'scores'"):
        load_matrix(bad)
    bad.write_text(yaml.safe_dump({"name": "not a matrix"}))
    with pytest.raises(ValueError, match="'conditions' list"):
        load_matrix(bad)


def test_shipped_matrices_load():
    for path in sorted((ROOT / "repro").glob("*.yaml")):
        matrix = load_matrix(path)
        assert matrix.conditions and all(r.scores for r in matrix.conditions)
        assert all(r.command.startswith("ragkit ") for r in matrix.conditions)
    scifact = load_matrix(ROOT / "repro" / "scifact.yaml")
    assert "bm25" in [r.name for r in scifact.conditions if not r.slow]  # the --quick row (BM25 only, ~1 min)
