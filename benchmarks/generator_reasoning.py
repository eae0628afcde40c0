"""Generator LoRA with intermediate reasoning: ``rag`` vs ``rag-reasoning`` on the demo QA pairs.

Jin et al., 2024 ("Long-Context LLMs Meet RAG") tune the generator to first name the relevant
passages and then answer. Here both LoRA runs start from the same base (SmolLM2-135M-Instruct),
train on the same pairs (the cached ``make-qa`` pairs of ``benchmarks/generator_lora.py``, split by
document exactly as there), with the same distractors, positions, steps and seed; only the
target format differs (``ragkit.reasoning``). On held-out pairs (documents never trained on) and
on the training pairs it reports, for the base model (prompted in each format) and each LoRA:

- answer token-F1 and containment of the gold answer (citations and the reasoning preamble
  removed: the text a user would see);
- citation precision (share of the cited / stated passages that are the gold passage) and gold
  recall (the gold passage is cited);
- for the reasoning format: well-formed replies, and evidence found in a named passage;
- paired randomization and t-tests (``ragkit.eval.significance``), rag vs rag-reasoning LoRA.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/generator_reasoning.py

Results go to ``benchmarks/results/generator_reasoning.json``; ``--readme`` prints the README (``benchmarks/readme.py`` writes it)
table from that file without training.

``--data code-qa`` runs the same comparison on the hand-written code QA sets of
``benchmarks/code_qa.py``: train on the 52 dateutil questions, hold out the 24 tenacity ones (another
library: nothing of it is trained on). Each question's gold passage is its gold chunk, its
distractor the best-ranked other chunk of the shipped hybrid retriever (what RAG would put beside
it), each shown with its index header (path · language · symbol). Results go to
``generator_reasoning_code.json``; the training questions are not re-scored (CPU time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rich.console import Console  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
OUT = RESULTS / "generator_reasoning.json"
OUT_CODE = RESULTS / "generator_reasoning_code.json"
console = Console(width=150)
_CITES = re.compile(r"\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]")


def _score(output: str, gold_answer: str, gold: int, fmt: str, symbol: str | None = None) -> dict:
    """Per-question scores of one reply (see the module docstring)."""
    from ragkit import reasoning
    from ragkit.eval.answers import normalize_answer, token_f1
    from ragkit.generator import parse_citations

    parsed = reasoning.parse(output) if fmt == "rag-reasoning" else None
    text = parsed.answer if parsed else output
    cited = list(parsed.relevant) if parsed else parse_citations(output)
    answer = _CITES.sub("", text).strip()
    row = {
        "token_f1": token_f1(answer, gold_answer),
        "contains": float(bool(normalize_answer(gold_answer)) and normalize_answer(gold_answer) in normalize_answer(answer)),
        "cite_precision": (cited.count(gold) / len(cited)) if cited else 0.0,
        "cite_recall": float(gold in cited),
    }
    if symbol is not None:  # a code question: identifier-token F1 and whether the gold symbol is named
        from ragkit.eval.code_answers import code_token_f1, names_symbol

        row["code_f1"] = code_token_f1(answer, gold_answer)
        row["names_symbol"] = names_symbol(answer, symbol)
    if fmt == "rag-reasoning":
        row["well_formed"] = float(parsed is not None)
    return row


def _evaluate(ref: str, chats: list, fmt: str, golds: list[int], pairs: list, max_new_tokens: int) -> dict:
    from ragkit import reasoning
    from ragkit.models import load_causal_lm
    from ragkit.tuning.generator import generate_answers

    model, tok = load_causal_lm(ref)
    outputs = generate_answers(model, tok, [m for m, _ in chats], max_new_tokens)
    rows = []
    for out, (messages, _), gold, pair in zip(outputs, chats, golds, pairs):
        row = _score(out, pair.answer, gold, fmt, pair.metadata.get("symbol"))
        if fmt == "rag-reasoning":
            parsed = reasoning.parse(out)
            passages = re.findall(r"^\[\d+\] \([^)]*\) (.*)$", messages[-1]["content"], re.MULTILINE)
            row["evidence_ok"] = float(parsed is not None and not reasoning.check(parsed, passages)["flags"])
        rows.append(row)
    means = {k: round(sum(r[k] for r in rows) / len(rows), 4) for k in rows[0]}
    return {"means": means, "n": len(rows), "per_question": rows, "outputs": outputs}


def _readme(results: dict) -> str:
    """The README table, from the results JSON."""
    code = results.get("data") == "code-qa"
    extra_head, extra_rule = (" code token-F1 | names gold symbol |", "---:|---:|") if code else ("", "")
    lines = ["| questions | model | prompt/target | n | token-F1 | contains gold |" + extra_head
             + " citation precision | gold cited | well-formed | evidence ok |",
             "|---|---|---|---:|---:|---:|" + extra_rule + "---:|---:|---:|---:|"]
    splits = [s for s in ("held_out", "train") if s in results]
    for split in splits:
        for name, run in results[split]["runs"].items():
            m = run["means"]
            model, fmt = name.split(" / ")
            extra = f"{m['code_f1']:.3f} | {m['names_symbol']:.2f} | " if code else ""
            lines.append(f"| {split.replace('_', '-')} | {model} | {fmt} | {run['n']} | {m['token_f1']:.3f} | {m['contains']:.2f} | "
                         f"{extra}{m['cite_precision']:.2f} | {m['cite_recall']:.2f} | {m.get('well_formed', float('nan')):.2f} | "
                         f"{m.get('evidence_ok', float('nan')):.2f} |".replace("nan", "–"))
    for split in splits:
        for metric, t in results[split]["tests"].items():
            lines.append(f"\n{split} {metric}, rag-reasoning LoRA − rag LoRA: Δ {t['randomization']['delta']:+.3f}, "
                         f"randomization p = {t['randomization']['p_value']}, t-test p = {t['t_test']['p_value']} (n = {t['randomization']['n']})")
    return "\n".join(lines)


def code_qa_pairs(work: Path, distractors: int) -> tuple[list, list]:
    """(train, test) QAPairs from the code QA sets: dateutil's dev + test questions, tenacity's."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from code_qa import DATA, SETS, build, is_gold, load_questions

    from ragkit.indexes.index_text import index_text
    from ragkit.indexes.store import ChunkStore
    from ragkit.pipeline import Pipeline
    from ragkit.tuning.data import QAPair

    out: dict[str, list] = {"dateutil": [], "tenacity": []}
    indexes = {lib: build(lib, work / "code-qa")[0] for lib in out}
    for lib, file in SETS.values():
        questions = load_questions(DATA / file)
        chunks = list(ChunkStore.load(indexes[lib]))
        hits, _ = Pipeline.for_index(indexes[lib], {"retriever": "hybrid"}).retrieve([q["question"] for q in questions], k=10)
        for q, hs in zip(questions, hits):
            gold = min((c for c in chunks if is_gold(c, q, lib)), key=lambda c: c.metadata.get("part", 0))
            others = [index_text(h.chunk) for h in hs if not is_gold(h.chunk, q, lib)][:distractors]
            out[lib].append(QAPair(question=q["question"], answer=q["answer"], chunk_id=gold.id, source=gold.source,
                                   contexts=[index_text(gold)], negatives=others,
                                   metadata={"id": q["id"], "symbol": q["symbol"]}))
    return out["dateutil"], out["tenacity"]


def _tests(a: dict, b: dict, metrics: tuple[str, ...]) -> dict:
    """Paired tests of run a vs run b per metric (randomization and t-test)."""
    from ragkit.eval.significance import randomization_test, t_test

    tests = {}
    for metric in metrics:
        sa = {str(i): r[metric] for i, r in enumerate(a["per_question"])}
        sb = {str(i): r[metric] for i, r in enumerate(b["per_question"])}
        tests[metric] = {"randomization": randomization_test(sa, sb).to_dict(), "t_test": t_test(sa, sb).to_dict()}
    return tests


def rescore_code(results: dict) -> dict:
    """Score the saved held-out replies of a ``--data code-qa`` run again (code metrics added), no training."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from code_qa import DATA, SETS, load_questions

    questions = load_questions(DATA / SETS["tenacity"][1])
    held = results["held_out"]
    for name, run in held["runs"].items():
        fmt = name.split(" / ")[1]
        rows = []
        for out, old, q, gold in zip(run["outputs"], run["per_question"], questions, held["gold_passage"]):
            row = _score(out, q["answer"], gold, fmt, q["symbol"])
            if "evidence_ok" in old:
                row["evidence_ok"] = old["evidence_ok"]
            rows.append(row)
        run["per_question"] = rows
        run["means"] = {k: round(sum(r[k] for r in rows) / len(rows), 4) for k in rows[0]}
    held["tests"] = _tests(held["runs"]["LoRA rag-reasoning / rag-reasoning"], held["runs"]["LoRA rag / rag"],
                           ("token_f1", "cite_precision", "code_f1", "names_symbol"))
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache" / "ragkit" / "bench" / "generator-reasoning")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--learning-rate", type=float, default=1e-3)
    ap.add_argument("--distractors", type=int, default=1)
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--test", type=float, default=0.25, help="fraction of pairs (by document) held out, as generator_lora.py")
    ap.add_argument("--smoke", action="store_true", help="1 step, 2 questions, 8 tokens; writes nothing to results/")
    ap.add_argument("--readme", action="store_true", help="print the README table from the results JSON and exit")
    ap.add_argument("--rescore", action="store_true",
                    help="code-qa: score the saved replies again (code metrics), without training, then print the table")
    ap.add_argument("--data", choices=("demo", "code-qa"), default="demo",
                    help="demo: the cached make-qa pairs of the demo corpus; code-qa: the hand-written code QA sets")
    args = ap.parse_args()
    out_file = OUT if args.data == "demo" else OUT_CODE
    if args.rescore:
        out_file.write_text(json.dumps(rescore_code(json.loads(out_file.read_text())), indent=2))
        args.readme = True
    if args.readme:
        print(_readme(json.loads(out_file.read_text())))
        return

    from ragkit import reasoning
    from ragkit.generator import parse_citations
    from ragkit.models import resolve
    from ragkit.tuning.data import read_qa_jsonl, split_by_document
    from ragkit.tuning.generator import GeneratorTuner
    from ragkit.tuning.qa_filter import filter_qa

    if args.data == "demo":
        pairs, _ = filter_qa(read_qa_jsonl(RESULTS / "generator_lora_qa.jsonl"), min_support=0.6)  # as generator_lora.py --reuse-qa
        splits = split_by_document(pairs, dev=0.0, test=args.test, seed=0)
        train, test = splits["train"], splits["test"]
    else:
        train, test = code_qa_pairs(args.work, args.distractors)
    if args.smoke:
        args.epochs, args.batch_size, args.max_new_tokens = 0.1, 1, 8
    settings = dict(base="smollm2-135m", distractors=args.distractors, epochs=args.epochs, batch_size=args.batch_size,
                    learning_rate=args.learning_rate, max_length=args.max_length, lora_rank=16, lora_alpha=32,
                    max_new_tokens=args.max_new_tokens, seed=0)
    results: dict = {"machine": f"CPU {platform.machine()}, {os.cpu_count()} cores", "settings": settings,
                     "data": args.data,
                     "splits": {"train": len(train), "test": len(test), "test_sources": sorted({p.source for p in test})}}
    tuners = {fmt: GeneratorTuner(mode=fmt, **settings) for fmt in ("rag", "rag-reasoning")}
    refs = {}
    for fmt, tuner in tuners.items():
        console.print(f"training {fmt} LoRA on {len(train)} pairs")
        rec = tuner.fit(train, args.work / args.data / fmt).record
        refs[fmt] = str(args.work / args.data / fmt)
        results[f"training_{fmt}"] = {k: rec[k] for k in ("train_time_s", "wall_time_s", "train_loss_first", "train_loss_last", "train_steps")}
    splits_to_score = [("held_out", test[: 2 if args.smoke else None])]
    if args.data == "demo":
        splits_to_score.append(("train", train[: 2 if args.smoke else None]))
    for split, split_pairs in splits_to_score:
        chats = {fmt: t.examples(split_pairs, pool=[p.positive for p in train + test if p.positive]) for fmt, t in tuners.items()}
        golds = [parse_citations(a)[-1] for _, a in chats["rag"]]
        assert golds == [reasoning.parse(a).relevant[0] for _, a in chats["rag-reasoning"]], "formats saw different passages"
        runs = {}
        systems = [("base", "rag"), ("base", "rag-reasoning")] if split == "held_out" else []  # the base: held-out only (CPU time)
        for model, fmt in systems + [("LoRA rag", "rag"), ("LoRA rag-reasoning", "rag-reasoning")]:
            ref = resolve("smollm2-135m") if model == "base" else refs[fmt]
            console.print(f"{split}: {model} / {fmt}")
            runs[f"{model} / {fmt}"] = _evaluate(ref, chats[fmt], fmt, golds, split_pairs, args.max_new_tokens)
        tests = _tests(runs["LoRA rag-reasoning / rag-reasoning"], runs["LoRA rag / rag"],
                       ("token_f1", "cite_precision") + (("code_f1", "names_symbol") if args.data == "code-qa" else ()))
        results[split] = {"runs": runs, "tests": tests, "questions": [p.question for p in split_pairs],
                          "gold_answers": [p.answer for p in split_pairs], "gold_passage": golds}
    out = args.work / "smoke.json" if args.smoke else out_file
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    console.print(_readme(results))


if __name__ == "__main__":
    main()
