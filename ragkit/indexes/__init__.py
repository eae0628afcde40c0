"""Index directory: chunk store, BM25 (sparse) and FAISS (dense) indexes, fusion."""
