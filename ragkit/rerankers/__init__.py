"""Rerankers: cross-encoder, LLM (yes/no, query likelihood), long-context reorder."""
