"""Scale-out engines: Ray Data ingestion and embedding (``ray_engine``), feeding the local index or Milvus."""
