"""The query path: ``Pipeline`` (``core``) and the rewrite stage it runs (``rewrite``)."""

from ragkit.pipeline.core import MODES, Pipeline, default_retriever

__all__ = ["Pipeline", "MODES", "default_retriever"]
