"""Evaluation: retrieval metrics (trec_eval-exact), answer metrics, comparisons, reports."""
