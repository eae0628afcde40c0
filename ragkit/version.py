"""The ragkit version, in a ground-layer module so that any layer can record it (``ragkit.__version__`` re-exports it)."""

__version__ = "0.1.0"
