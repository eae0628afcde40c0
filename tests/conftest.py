"""Test-wide settings: never touch a model hub or send telemetry."""

from __future__ import annotations

import os

for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "RAGAS_DO_NOT_TRACK": "true",
}.items():
    os.environ[_key] = _value


# -- real engines for the scale-out tests (ragkit[milvus], ragkit[ray]) -------------------------
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """A real ``milvus-lite server`` on a free loopback port, stopped after the session."""
    from ragkit.indexes.milvus_server import LiteServer

    server = LiteServer(tmp_path_factory.mktemp("milvus") / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ray_local():
    """``ray.init(num_cpus=2)`` for the session (ragkit's Ray calls reuse it), shut down after."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    yield ray
    ray.shutdown()
