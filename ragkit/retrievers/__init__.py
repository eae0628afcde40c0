"""Retrievers over an index directory: bm25, dense, hybrid (fusion), with metadata filters."""
