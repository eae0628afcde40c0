"""Fine-tuning: training data (synthetic QA, hard negatives, feedback), retriever, reranker, generator.

Modules: ``data`` (QA pairs, JSONL import, splits by document), ``qa_gen`` / ``qa_filter``
(LLM-generated QA pairs and their filtering), ``negatives`` (hard-negative mining),
``feedback`` (the QA bot's feedback log), ``retriever``, ``reranker``, ``car`` (context-aware
query rewriting), ``generator`` (LoRA SFT), ``prf`` / ``prf_data`` (a dense PRF query encoder,
with or without LoL, and its training queries), ``evaluate`` (before/after metrics) and ``run``
(atomic output dirs and ``ragkit-tuning.json``).
"""
