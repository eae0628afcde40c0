"""Ingest: which files are read (``walk``), parsing under a time budget (``worker``), the commit (``core``)."""

from ragkit.ingest.core import ingest
from ragkit.ingest.report import IngestReport
from ragkit.ingest.walk import DEFAULT_MAX_BYTES, walk

__all__ = ["DEFAULT_MAX_BYTES", "IngestReport", "ingest", "walk"]
