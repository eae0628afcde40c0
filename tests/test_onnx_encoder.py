"""OnnxSentenceEncoder (ONNX Runtime + tokenizers) reproduces the transformers encoder, imports no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from ragkit import models
from ragkit.onnx_encoder import OnnxSentenceEncoder, export_onnx
from ragkit.sentence_encoder import SentenceEncoder

from tests.test_sentence_encoder import _demo_texts


def test_onnx_equals_transformers_and_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    path = models.resolve("minilm")
    texts = _demo_texts()
    onnx = OnnxSentenceEncoder(path).encode(texts, batch_size=16, normalize_embeddings=True)
    torch_vectors = SentenceEncoder(path).encode(texts, batch_size=16)
    st = SentenceTransformer(path, device="cpu").encode(texts, batch_size=16, convert_to_numpy=True, normalize_embeddings=True)
    np.testing.assert_allclose(onnx, torch_vectors, atol=1e-5)
    np.testing.assert_allclose(onnx, st, atol=1e-5)
    assert export_onnx(path) == export_onnx(path)  # cached: exported once


def test_query_encoding_imports_neither_torch_nor_transformers(tmp_path):
    export_onnx(models.resolve("minilm"))  # the one-time export (needs torch) happens here
    code = (
        "import sys, json\n"
        "from ragkit.indexes.embed import Embedder\n"
        "v = Embedder('minilm').encode_queries(['warranty period'])\n"
        "print(json.dumps({'shape': list(v.shape), 'heavy': sorted(m for m in ('torch', 'transformers', "
        "'sentence_transformers') if m in sys.modules)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"shape": [1, 384], "heavy": []}
