"""Is system A better than system B on these queries? Paired tests over per-query scores.

Both tests pair the two systems' scores query by query (same qrels, same metric):

- ``randomization_test``: Fisher's paired randomization (permutation) test — flip the sign of
  each query's difference at random and count how often the mean difference is at least as
  large as the observed one (two-sided). Smucker, Allan & Carterette (2007), "A Comparison of
  Statistical Significance Tests for Information Retrieval Evaluation", recommend it for IR.
- ``t_test``: the paired Student's t-test (scipy), the common companion.

``permutation_test`` is the unpaired counterpart, for two sets of *different* queries (e.g. an
interpolation and an extrapolation test set): shuffle the set labels and count how often the
difference of the means is at least the observed one.

Per-query scores come from ``ragkit.eval.retrieval.evaluate(...)["per_query"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

__all__ = ["PairedTest", "per_query_scores", "randomization_test", "t_test", "permutation_test", "compare_runs"]


@dataclass(frozen=True, slots=True)
class PairedTest:
    """Mean of A, mean of B, mean difference A - B, the p-value and the queries compared."""

    mean_a: float
    mean_b: float
    delta: float
    p_value: float
    n: int
    test: str

    def to_dict(self) -> dict[str, Any]:
        return {"mean_a": round(self.mean_a, 6), "mean_b": round(self.mean_b, 6), "delta": round(self.delta, 6),
                "p_value": float(f"{self.p_value:.4g}"), "n": self.n, "test": self.test}


def per_query_scores(result: Mapping[str, Any], metric: str) -> dict[str, float]:
    """``{query_id: score}`` of one metric from ``evaluate(...)``'s ``per_query`` list."""
    return {row["query_id"]: float(row[metric]) for row in result["per_query"]}


def _paired(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[Any, Any]:
    import numpy as np

    if set(a) != set(b):
        raise ValueError(
            f"the two systems were scored on different queries ({len(set(a) ^ set(b))} differ); "
            "evaluate both against the same qrels"
        )
    if len(a) < 2:
        raise ValueError("a paired test needs at least two queries")
    qids = sorted(a)
    return np.array([a[q] for q in qids]), np.array([b[q] for q in qids])


def randomization_test(a: Mapping[str, float], b: Mapping[str, float], trials: int = 10_000, seed: int = 0) -> PairedTest:
    """Two-sided paired randomization test of mean(a) vs mean(b) (sign flips of the differences).

    The p-value counts the observed assignment too, so it is never 0: (hits + 1) / (trials + 1).

    Raises:
        ValueError: the systems cover different queries, or fewer than two queries.
    """
    import numpy as np

    x, y = _paired(a, b)
    diff = x - y
    observed = abs(diff.mean())
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, trials, 1000):
        signs = rng.choice((-1.0, 1.0), size=(min(1000, trials - start), len(diff)))
        hits += int((np.abs((signs * diff).mean(axis=1)) >= observed - 1e-12).sum())
    return PairedTest(float(x.mean()), float(y.mean()), float(diff.mean()), (hits + 1) / (trials + 1), len(diff),
                      "paired randomization")


def permutation_test(a: Sequence[float], b: Sequence[float], trials: int = 10_000, seed: int = 0) -> float:
    """Two-sided p-value of mean(a) - mean(b) under shuffled set labels (unpaired: different queries).

    Counts the observed labelling too, so the p-value is never 0: (hits + 1) / (trials + 1).

    Raises:
        ValueError: either set is empty.
    """
    import numpy as np

    if not len(a) or not len(b):
        raise ValueError(f"permutation_test needs two non-empty sets, got {len(a)} and {len(b)} scores")
    x, n = np.asarray([*a, *b], dtype=float), len(a)
    observed = abs(x[:n].mean() - x[n:].mean())
    rng = np.random.default_rng(seed)
    hits = sum(abs(p[:n].mean() - p[n:].mean()) >= observed - 1e-12 for p in (rng.permutation(x) for _ in range(trials)))
    return (int(hits) + 1) / (trials + 1)


def t_test(a: Mapping[str, float], b: Mapping[str, float]) -> PairedTest:
    """Two-sided paired t-test of ``a`` vs ``b`` (p = 1 when identical, 0 for a constant non-zero difference).

    Raises:
        ValueError: the systems cover different queries, or fewer than two queries.
    """
    import numpy as np
    from scipy import stats

    x, y = _paired(a, b)
    diff = x - y
    if not diff.any():
        p = 1.0
    elif np.ptp(diff) == 0:  # the same non-zero difference on every query: no variance, certain
        p = 0.0
    else:
        p = float(stats.ttest_rel(x, y).pvalue)
    return PairedTest(float(x.mean()), float(y.mean()), float(diff.mean()), p, len(diff), "paired t-test")


def compare_runs(
    qrels: Mapping[str, Mapping[str, int]],
    runs: Mapping[str, Mapping[str, Mapping[str, float]]],
    pairs: Sequence[tuple[str, str]],
    metric: str = "ndcg@10",
) -> dict[str, dict[str, Any]]:
    """Randomization and t-test p-values for each ``(a, b)`` pair of named runs on ``metric``.

    Returns:
        ``{"a vs b": {"mean_a", "mean_b", "delta", "p_randomization", "p_t", "n"}}``.
    """
    from ragkit.eval.retrieval import evaluate

    scores = {name: per_query_scores(evaluate(qrels, runs[name], (metric,)), metric) for name in {n for p in pairs for n in p}}
    out: dict[str, dict[str, Any]] = {}
    for a, b in pairs:
        perm, t = randomization_test(scores[a], scores[b]).to_dict(), t_test(scores[a], scores[b]).to_dict()
        row = {k: perm[k] for k in ("mean_a", "mean_b", "delta", "n")}
        out[f"{a} vs {b}"] = {**row, "p_randomization": perm["p_value"], "p_t": t["p_value"]}
    return out
