"""Calibrate the grounding check on answerable and unanswerable cases built from real chunks.

Code: the 28 dateutil questions of ``benchmarks/data/code_qa_dateutil.jsonl`` over the index
that ``benchmarks/code_qa.py --work DIR`` leaves in ``DIR/index``. Answerable: the gold answer
with the gold chunk plus three other chunks of its file as contexts. Unanswerable: the same
answer with the gold chunk left out (the model answered without evidence). Documents: the demo
FAQ (``ragkit/demo_corpus/notes/faq.md``), hand-written paraphrased answers, same construction.

Prints wrong "I don't know" (answerable refused) and correct refusals (unanswerable refused)
for the old rule and a grid; the chosen rule minimises wrong refusals at a correct-refusal rate
no lower than the old rule's.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/grounding_calibration.py --index DIR/index
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAQ = [
    ("What battery chemistry should I buy for the X2?", "LFP (lithium iron phosphate) at 48 V using the Pylontech CAN protocol [1]."),
    ("Can I use lead-acid?", "No, they are not supported [1]."),
    ("How fast does backup take over during an outage?", "Within 20 milliseconds [1]."),
    ("How frequently is data refreshed in the app?", "Every 5 minutes; live mode streams every 2 seconds [1]."),
    ("Which port does local access use?", "Modbus TCP on port 502 [1]."),
    ("How noisy is the 8K model?", "35 dB(A) at one metre [1]."),
]


def cases(index_dir: Path):
    from ragkit.connectors.text import TextConnector
    from ragkit.indexes.store import ChunkStore

    sys_path = ROOT / "benchmarks"
    import sys

    sys.path.insert(0, str(sys_path))
    from code_qa import is_gold, load_questions

    store = list(ChunkStore.load(index_dir))
    out = []
    for q in load_questions(ROOT / "benchmarks" / "data" / "code_qa_dateutil.jsonl"):
        gold = [c for c in store if is_gold(c, q, "dateutil")]
        others = [c for c in store if c.source == f"dateutil/{q['file']}" and c not in gold][:3]
        if not gold:
            continue
        answer = f"{q['answer']} [1]"
        out.append(("code", True, q["question"], answer, [gold[0]] + others))
        out.append(("code", False, q["question"], answer, others))
    faq = list(TextConnector(tokenizer="whitespace").parse(ROOT / "ragkit/demo_corpus/notes/faq.md", "faq.md"))
    from ragkit.generator import content_words

    for question, answer in FAQ:
        words = content_words(answer)
        gold = max(faq, key=lambda c: len(words & content_words(c.text)))
        others = [c for c in faq if c is not gold][:3]
        out.append(("docs", True, question, answer, [gold] + others))
        out.append(("docs", False, question, answer, others))
    return out


def rates(all_cases, **rule):
    from ragkit.generator import check_grounding

    res = {}
    for kind in ("code", "docs"):
        ans = [c for c in all_cases if c[0] == kind and c[1]]
        una = [c for c in all_cases if c[0] == kind and not c[1]]
        refused = lambda c: not check_grounding(c[2], c[3], [x.text for x in c[4]], [x.language is not None for x in c[4]], **rule)["grounded"]  # noqa: E731
        res[kind] = {
            "wrong_idk": round(sum(map(refused, ans)) / len(ans), 3),
            "correct_refusal": round(sum(map(refused, una)) / len(una), 3),
            "n": len(ans) + len(una),
        }
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", required=True, type=Path)
    args = ap.parse_args()
    all_cases = cases(args.index)
    old = {"min_support": 0.5, "min_relevance": 0.6, "min_relevance_code": 0.6, "exact_identifiers": False}
    base = rates(all_cases, **old)
    grid = []
    for s, r, rc, ex in itertools.product((0.3, 0.4, 0.5, 0.6, 0.7), (0.0, 0.2, 0.4, 0.6), (0.0, 0.2, 0.6), (False, True)):
        rule = {"min_support": s, "min_relevance": r, "min_relevance_code": rc, "exact_identifiers": ex}
        got = rates(all_cases, **rule)
        ok = all(got[k]["correct_refusal"] >= base[k]["correct_refusal"] for k in got)
        grid.append((ok, got["code"]["wrong_idk"] + got["docs"]["wrong_idk"], rule, got))
    chosen = min((g for g in grid if g[0]), key=lambda g: (g[1], -g[2]["min_support"]))
    default = {"min_support": 0.5, "min_relevance": 0.6, "min_relevance_code": 0.0, "exact_identifiers": True}
    result = {"old": {"rule": old, **base}, "new_default": {"rule": default, **rates(all_cases, **default)},
              "best_on_grid": {"rule": chosen[2], **chosen[3]}}
    out = ROOT / "benchmarks" / "results" / "grounding_calibration.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
