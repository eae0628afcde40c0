"""Connectors: turn files (PDF, source code, text) into Chunks with provenance."""
