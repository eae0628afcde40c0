"""Experiments above tuning: BEIR evaluation, the RAG-vs-fine-tuning comparison, reproduction matrices, reports."""
