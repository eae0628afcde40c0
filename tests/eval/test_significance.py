"""Paired significance tests: agree with scipy's reference implementations on real-shaped data."""

from __future__ import annotations

import numpy as np
import pytest

from ragkit.eval.significance import compare_runs, permutation_test, randomization_test, t_test


def _scores(seed: int, shift: float, n: int = 60) -> tuple[dict[str, float], dict[str, float]]:
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 1, n)
    other = np.clip(base + shift + rng.normal(0, 0.2, n), 0, 1)
    return {f"q{i}": float(v) for i, v in enumerate(other)}, {f"q{i}": float(v) for i, v in enumerate(base)}


def test_randomization_matches_scipy_permutation_test():
    from scipy import stats

    for shift in (0.0, 0.05, 0.15):
        a, b = _scores(1, shift)
        x, y = np.array([a[q] for q in sorted(a)]), np.array([b[q] for q in sorted(a)])
        ref = stats.permutation_test((x, y), lambda u, v: np.mean(u - v), permutation_type="samples",
                                     n_resamples=20_000, random_state=0).pvalue
        ours = randomization_test(a, b, trials=20_000)
        assert ours.p_value == pytest.approx(ref, abs=0.01)
        assert ours.delta == pytest.approx(float(np.mean(x - y)))
    assert randomization_test(*_scores(1, 0.15)).p_value < 0.001


def test_unpaired_permutation_matches_scipy_independent_permutation_test():
    from scipy import stats

    rng = np.random.default_rng(3)
    for shift in (0.0, 0.08, 0.2):
        a, b = rng.uniform(0, 1, 70) + shift, rng.uniform(0, 1, 55)  # different sizes: different queries
        ref = stats.permutation_test((a, b), lambda u, v: np.mean(u) - np.mean(v), permutation_type="independent",
                                     n_resamples=20_000, random_state=0).pvalue
        assert permutation_test(list(a), list(b), trials=20_000) == pytest.approx(ref, abs=0.01)
    assert permutation_test([0.9] * 30, [0.1] * 30, trials=500) == pytest.approx(1 / 501)
    with pytest.raises(ValueError, match="non-empty"):
        permutation_test([], [0.5])


def test_t_test_and_identical_systems():
    from scipy import stats

    a, b = _scores(2, 0.05)
    qs = sorted(a)
    assert t_test(a, b).p_value == pytest.approx(stats.ttest_rel([a[q] for q in qs], [b[q] for q in qs]).pvalue, rel=1e-3)
    same = randomization_test(a, a)
    assert same.p_value == 1.0 and same.delta == 0.0 and t_test(a, a).p_value == 1.0


def test_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="different queries"):
        randomization_test({"q1": 1.0, "q2": 0.0}, {"q1": 1.0, "q3": 0.0})
    with pytest.raises(ValueError, match="at least two"):
        t_test({"q1": 1.0}, {"q1": 0.0})


def test_compare_runs_scores_trec_runs():
    qrels = {f"q{i}": {"rel": 1} for i in range(12)}
    good = {q: {"rel": 2.0, "x": 1.0} for q in qrels}  # relevant doc first everywhere
    bad = {q: {"rel": 1.0, "x": 2.0} for q in qrels}  # relevant doc second everywhere
    out = compare_runs(qrels, {"good": good, "bad": bad}, [("good", "bad")])["good vs bad"]
    assert out["mean_a"] == pytest.approx(1.0) and out["mean_b"] == pytest.approx(1 / np.log2(3))
    assert out["n"] == 12 and out["p_randomization"] < 0.001 and out["p_t"] == 0.0 and set(out) == {"mean_a", "mean_b", "delta", "n", "p_randomization", "p_t"}
