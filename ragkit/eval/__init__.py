"""Evaluation metrics (a leaf every layer may use): retrieval (trec_eval-exact), answers, ragas, significance, costs."""
