"""The chat service: a FastAPI app (``app.create_app``), its chat page and the feedback log."""
