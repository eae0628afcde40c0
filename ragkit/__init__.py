"""ragkit: retrieval-augmented generation where every stage can be tuned and measured."""

__version__ = "0.1.0"
