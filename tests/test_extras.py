"""The lean core and its extras: pyproject agrees with ragkit.extras, the core commands import no extra,
and a command that needs a missing extra says which one in one line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from ragkit.defaults import DEMO_CORPUS
from ragkit.extras import EXTRA_OF, NEEDS, missing_extra_message

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
# every module that only an extra installs (the core commands must run with all of them absent)
EXTRA_MODULES = sorted(EXTRA_OF)

# Run the CLI with the extras' modules made unimportable: ``sys.modules[name] = None`` makes
# ``import name`` raise ModuleNotFoundError and ``importlib.util.find_spec(name)`` return None, which
# is what transformers / sentence-transformers see when a package is not installed.
BLOCKED_CLI = textwrap.dedent("""
    import json, sys
    for name in json.loads(sys.argv[1]):
        sys.modules[name] = None
    sys.argv = ["ragkit", *sys.argv[2:]]
    from ragkit.cli import main
    try:
        main()
    finally:
        print("IMPORTED", json.dumps(sorted({m.split('.')[0] for m, v in sys.modules.items() if v is not None})), file=sys.stderr)
""")


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _expanded(extra: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """The distribution names an extra installs, following ``ragkit[other]`` references."""
    names: set[str] = set()
    for requirement in PROJECT["optional-dependencies"][extra]:
        if _name(requirement) == "ragkit":
            for inner in re.search(r"\[(.*)\]", requirement).group(1).split(","):
                if inner not in seen:
                    names |= _expanded(inner.strip(), seen | {extra})
        else:
            names.add(_name(requirement))
    return names


def test_every_extra_module_is_installed_by_its_extra_and_not_by_the_core():
    core = {_name(r) for r in PROJECT["dependencies"]}
    provided = packages_distributions()
    for module, extra in EXTRA_OF.items():
        assert extra in PROJECT["optional-dependencies"], f"{module}: extra {extra!r} is not in pyproject"
        dists = {d.lower().replace("_", "-") for d in provided.get(module, [])}
        if not dists:  # not installed here (llama_cpp is built on request only): check by name
            dists = {module.replace("_", "-")}
        assert dists & _expanded(extra) or module == "llama_cpp", f"{module} ({dists}) is not installed by [{extra}]"
        assert not dists & core, f"{module} ({dists}) is a core dependency; it belongs to [{extra}] only"


def test_core_is_lean_and_declares_nothing_unused():
    core = {_name(r) for r in PROJECT["dependencies"]}
    for heavy in ("ragas", "llama-index-core", "matplotlib", "datasets", "rank-bm25", "instructor",
                  "langchain-community", "pytrec-eval-terrier", "rapidfuzz", "sacrebleu", "rouge-score"):
        assert heavy not in core
    # the brief's required libraries are still declared (in the core or an extra)
    everything = core | set().union(*(_expanded(e) for e in PROJECT["optional-dependencies"]))
    for required in ("llama-index-core", "sentence-transformers", "faiss-cpu", "rank-bm25", "torch",
                     "transformers", "peft", "pymupdf", "ragas"):
        assert required in everything


def test_missing_extra_message_names_the_extra():
    assert missing_extra_message(ModuleNotFoundError("x", name="llama_index.core")) == (
        "this needs llama_index, from ragkit's 'llama-index' extra: pip install 'ragkit[llama-index]'")
    kept = ModuleNotFoundError("--engine ray needs Ray: pip install 'ragkit[ray]'", name="ray")
    assert missing_extra_message(kept) == str(kept)
    assert missing_extra_message(ModuleNotFoundError("x", name="torch")) is None


def _blocked(args: list[str], tmp_path: Path, blocked: list[str] = EXTRA_MODULES) -> subprocess.CompletedProcess:
    script = tmp_path / "blocked_cli.py"
    script.write_text(BLOCKED_CLI)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, str(script), json.dumps(blocked), *args], capture_output=True, text=True,
                          env=env, timeout=600, cwd=tmp_path)


def _imported(result: subprocess.CompletedProcess) -> set[str]:
    line = next(x for x in result.stderr.splitlines() if x.startswith("IMPORTED "))
    return set(json.loads(line.removeprefix("IMPORTED ")))


def test_core_commands_run_with_every_extra_absent(tmp_path):
    index = tmp_path / "idx"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"retriever": "hybrid", "generator": {"type": "llm", "llm": {
        "type": "fake", "responses": {"warranty": "The standard warranty period of the Helios X2 is 12 years [1]."}}}}))
    steps = [
        ["ingest", str(DEMO_CORPUS), "--out", str(index)],
        ["index", str(index)],
        ["search", str(index), "standard warranty period", "--mode", "hybrid"],
        ["ask", str(index), "How long is the standard warranty period?", "--spec", str(spec), "--json"],
    ]
    for args in steps:
        result = _blocked(args, tmp_path)
        assert result.returncode == 0, (args, result.stderr[-2000:])
        assert not _imported(result) & set(EXTRA_MODULES), args
    answer = json.loads(result.stdout)
    assert "12 years" in answer["text"]
    cited = {c["chunk_id"] for c in answer["citations"]}
    assert cited and all("12 years" in h["chunk"]["text"] for h in answer["hits"] if h["chunk_id"] in cited)


@pytest.mark.parametrize("args, blocked, extra", [
    (["compare", "missing.yaml"], "matplotlib", "compare"),
    (["tune", "reranker", "--feedback", "missing.sqlite", "--index", "idx"], "datasets", "tune"),
    (["eval-retrieval", "missing-dataset"], "pytrec_eval", "eval"),
])
def test_a_command_needing_a_missing_extra_says_which_before_any_work(tmp_path, args, blocked, extra):
    result = _blocked(args, tmp_path, blocked=[blocked])
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert errors == [f"error: this command needs ragkit's '{extra}' extra ({blocked} is missing): "
                      f"pip install 'ragkit[{extra}]'"]
    assert "Traceback" not in result.stderr


def test_needs_lists_only_modules_that_the_extra_installs():
    provided = packages_distributions()
    for extra, modules in NEEDS.items():
        for module in modules:
            dists = {d.lower().replace("_", "-") for d in provided.get(module, [])}
            assert dists & _expanded(extra), f"[{extra}] needs {module} ({dists}) but does not install it"


def test_the_python_api_names_the_missing_extra_too(tmp_path):
    code = ("import sys; sys.modules['trl'] = None\n"
            "import ragkit\n"
            "try:\n"
            "    ragkit.tune_generator('missing.jsonl', 'out')\n"
            "except ModuleNotFoundError as exc:\n"
            "    print('RAISED', exc.name, exc)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == ("RAISED trl this command needs ragkit's 'tune' extra (trl is missing): "
                                     "pip install 'ragkit[tune]'")
    assert not (tmp_path / "out").exists()


def test_the_module_examples_run():
    import doctest

    import ragkit.extras

    result = doctest.testmod(ragkit.extras)
    assert result.attempted >= 3 and result.failed == 0


# Score every non-LLM ragas metric ragkit offers (semantic_similarity aside: it only needs the core's
# sentence-transformers) with the modules given in argv[1] made unimportable.
RAGAS_SCORES = textwrap.dedent("""
    import json, sys
    for name in json.loads(sys.argv[1]):
        sys.modules[name] = None
    from ragkit.eval.ragas import NON_LLM_METRICS, RagasSample, ragas_scores
    passage = "The warranty lasts twelve years."
    sample = RagasSample("How long?", "twelve years", "twelve years", [passage], [passage])
    r = ragas_scores([sample], metrics=[m for m in NON_LLM_METRICS if m != "semantic_similarity"])
    assert not any(r["missing"].values()), r["missing"]
""")


def _installed_by(requirements: set[str]) -> set[str]:
    """The distributions ``pip install`` of these requirement names brings, following installed metadata."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            lines = requires(name) or []
        except PackageNotFoundError:
            continue
        for line in lines:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def test_eval_extra_installs_what_ragas_metrics_import():
    # ragas leaves the backends of its string metrics (rapidfuzz, sacrebleu, rouge-score) to its own
    # [all] extra: a `pip install 'ragkit[eval]'` without them failed on the first string_similarity.
    # Here every installed module that core + [eval] would not install is made unimportable.
    declared = _installed_by({_name(r) for r in PROJECT["dependencies"]} | _expanded("eval"))
    absent = sorted(module for module, dists in packages_distributions().items()
                    if module.isidentifier() and module != "ragkit"
                    and not {d.lower().replace("_", "-") for d in dists} & declared)
    done = subprocess.run([sys.executable, "-c", RAGAS_SCORES, json.dumps(absent)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-1500:]
