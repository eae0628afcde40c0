"""A Milvus collection as a ragkit index: chunks with provenance, dense vectors and built-in BM25.

One collection holds what an index directory holds: every chunk (text and provenance fields),
its embedding (``dense``, inner product on unit vectors) and a sparse BM25 field that Milvus
fills itself (``Function(FunctionType.BM25)``). By default (``terms="ragkit"``) that function
reads ``bm25_text``: the terms ragkit's own analyzer gives the chunk's index text (stemmed,
stopwords removed, identifiers split, as the local BM25 index), space-joined, and queries are
analysed the same way before they are sent; Milvus's ``standard`` tokenizer then only splits on
the spaces, so Milvus scores exactly the terms the local index scores (milvus-lite has no
stemmer filter, and a cluster's stemmer differs in details). ``terms="milvus"`` lets Milvus
analyse the raw ``text`` with ``analyzer`` instead. The collection property
``ragkit.manifest`` is its manifest (ragkit version, embedder id, dimension, analysis, BM25 parameters).

``sync`` updates it as ``Index.build`` updates a directory: chunks are keyed by chunk id and a
content hash; only new or changed chunks are embedded and upserted, and chunks that left the
source are deleted *after* every new chunk is acknowledged, so an interrupted sync never
removes what the previous index answered with. The same client code talks to ``milvus-lite
server`` (tests) and to a Milvus cluster (production): only the URI changes.

Example:
    >>> index = MilvusIndex("http://127.0.0.1:19530", "docs")       # doctest: +SKIP
    >>> index.sync(ChunkStore.load("runs/demo"), Embedder("minilm"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ragkit.indexes.index import IndexMismatchError
from ragkit.indexes.index_text import index_text
from ragkit.indexes.tokenize import STOPWORDS_EN, Analyzer, corpus_split_identifiers
from ragkit.registry import Component, register
from ragkit.types import Chunk

__all__ = [
    "DEFAULT_ANALYZER",
    "TERMS",
    "MilvusIndex",
    "MilvusUnavailableError",
    "MissingCollectionError",
    "content_hash",
    "encode_terms",
]

# pymilvus pings every 10 s even with no call in flight; a gRPC C++ server (milvus-lite) allows one
# ping per 5 min without data and answers more with GOAWAY "too_many_pings", which broke a client
# left idle for a few minutes (a server between queries; CI between test modules). Ping only while a
# call is in flight, and no more often than the server's limit.
KEEPALIVE = {"grpc.keepalive_time_ms": 330_000, "grpc.keepalive_permit_without_calls": False}

DEFAULT_ANALYZER: dict[str, Any] = {
    "tokenizer": "standard",
    "filter": ["lowercase", {"type": "stop", "stop_words": sorted(STOPWORDS_EN)}],
}
"""Word split + lowercase + Lucene's English stopwords: what both milvus-lite and a Milvus cluster
run. ragkit's local BM25 also stems (Snowball English); on a cluster add
``{"type": "stemmer", "language": "english"}`` to ``filter`` (milvus-lite ignores filters it lacks)."""

_VARCHAR = 65535
TERMS = ("ragkit", "milvus")
# bm25_text holds space-joined ragkit terms: the tokenizer only has to split on spaces. Milvus's
# standard tokenizer keeps \w runs (underscores included) and splits on ".", so the dots of dotted
# code terms (os.path.join) are spelled _dot_.
_TERMS_ANALYZER: dict[str, Any] = {"tokenizer": "standard"}
_MANIFEST = "ragkit.manifest"  # the collection property holding the manifest
_PAGE = 1000  # rows per query page / upsert request


class MilvusUnavailableError(ConnectionError):
    """The Milvus server cannot be reached (not started, wrong URI, restarted mid-request)."""


class MissingCollectionError(FileNotFoundError):
    """The collection does not exist on the server (nothing was indexed into it yet)."""


def content_hash(chunk: Chunk) -> str:
    """SHA-256 of everything stored about a chunk: an id whose content changed is re-upserted."""
    return hashlib.sha256(json.dumps(chunk.to_dict(), sort_keys=True).encode("utf-8")).hexdigest()


def encode_terms(terms: Sequence[str]) -> str:
    """ragkit terms as one string that Milvus's standard tokenizer splits back into exactly those terms."""
    return " ".join(t.replace(".", "_dot_") for t in terms)


def _row(chunk: Chunk, vector: np.ndarray, analyzer: Analyzer | None = None) -> dict[str, Any]:
    """The collection row of ``chunk``; with ``analyzer``, also its ``bm25_text`` (ragkit terms)."""
    terms = {"bm25_text": encode_terms(analyzer(index_text(chunk)))[:_VARCHAR]} if analyzer is not None else {}
    return {
        **terms,
        "id": chunk.id,
        "text": chunk.text[:_VARCHAR],
        "source": chunk.source,
        "kind": chunk.kind,
        "language": chunk.language or "",
        "page": chunk.page,
        "start_line": chunk.start_line,
        "end_line": chunk.end_line,
        "symbol": chunk.symbol or "",
        "heading": list(chunk.heading),
        "metadata": dict(chunk.metadata),
        "content_hash": content_hash(chunk),
        "dense": [float(x) for x in vector],
    }


CHUNK_FIELDS = ["id", "text", "source", "kind", "language", "page", "start_line", "end_line", "symbol",
                "heading", "metadata"]


def chunk_from_row(row: dict[str, Any]) -> Chunk:
    """The Chunk a collection row stores (the inverse of the upserted row)."""
    return Chunk(
        id=row["id"], text=row["text"], source=row["source"], kind=row["kind"],
        language=row["language"] or None, page=row["page"], start_line=row["start_line"],
        end_line=row["end_line"], symbol=row["symbol"] or None, heading=list(row["heading"] or []),
        metadata=dict(row["metadata"] or {}),
    )


@register("index", "milvus")
class MilvusIndex(Component):
    """A ragkit index in one Milvus collection.

    Args:
        uri: the server, e.g. ``http://127.0.0.1:19530`` (a Milvus cluster's proxy, or
            ``milvus-lite server``).
        collection: collection name.
        token: ``user:password`` or an API key, for servers that require one.
        terms: ``"ragkit"`` (default): BM25 over ragkit's analyzed terms (``bm25_text``), the same
            terms as the local BM25 index; ``"milvus"``: Milvus analyses the raw text with ``analyzer``.
        ragkit_analyzer: ``ragkit.indexes.tokenize.Analyzer`` settings for ``terms="ragkit"``
            (``None``: the local index's defaults: Snowball English, Lucene stopwords,
            identifiers split, code-aware when the chunks hold code).
        analyzer: Milvus ``analyzer_params`` of the text field for ``terms="milvus"`` (``DEFAULT_ANALYZER``).
        k1, b: BM25 parameters (ragkit's local defaults: 0.9 / 0.4).
        index_type, index_params: the dense ANN index (``FLAT`` exact; ``HNSW`` with
            ``{"M": 16, "efConstruction": 200}`` on a cluster).
        timeout: seconds per request.

    Raises:
        MilvusUnavailableError: on first use, when the server does not answer.
    """

    def __init__(
        self,
        uri: str = "http://127.0.0.1:19530",
        collection: str = "ragkit",
        token: str | None = None,
        terms: str = "ragkit",
        ragkit_analyzer: dict[str, Any] | None = None,
        analyzer: dict[str, Any] | None = None,
        k1: float = 0.9,
        b: float = 0.4,
        index_type: str = "FLAT",
        index_params: dict[str, Any] | None = None,
        timeout: float = 30.0,
    ):
        self.uri = uri
        self.collection = collection
        self.token = token
        if terms not in TERMS:
            raise ValueError(f"terms must be one of {TERMS}, got {terms!r}")
        self.terms = terms
        self.ragkit_analyzer = ragkit_analyzer
        self.analyzer = analyzer
        self.k1 = k1
        self.b = b
        self.index_type = index_type
        self.index_params = index_params
        self.timeout = timeout

    # -- connection ------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The ``pymilvus.MilvusClient`` (connected on first use)."""
        client = self.__dict__.get("_client")
        if client is None:
            from pymilvus import MilvusClient

            with self.errors("connect to"):
                client = MilvusClient(uri=self.uri, token=self.token or "", timeout=self.timeout,
                                      grpc_options=dict(KEEPALIVE))
            self._client = client
        return client

    def errors(self, doing: str) -> Any:
        """A context manager turning pymilvus failures into one-line ragkit errors."""
        return _Translate(self, doing)

    def wait_ready(self, seconds: float = 30.0) -> None:
        """Wait until the server answers (a restarted server, or the client's reconnect backoff).

        Raises:
            MilvusUnavailableError: still unreachable after ``seconds``.
        """
        import time

        deadline = time.monotonic() + seconds
        while True:
            try:
                self.exists()
                return
            except MilvusUnavailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def exists(self) -> bool:
        """True when the collection exists on the server."""
        with self.errors("look up"):
            return bool(self.client.has_collection(self.collection))

    def info(self) -> dict[str, Any]:
        """The collection's manifest: embedder, dimension, analyzer, BM25 parameters.

        Raises:
            MissingCollectionError: no such collection (the message says how to create it).
        """
        if not self.exists():
            raise MissingCollectionError(
                f"Milvus at {self.uri} has no collection {self.collection!r}; index into it with "
                f"`ragkit index DIR --milvus-uri {self.uri} --collection {self.collection}`"
            )
        with self.errors("describe"):
            properties = self.client.describe_collection(self.collection).get("properties") or {}
        try:
            info = json.loads(properties.get(_MANIFEST, "{}"))
        except json.JSONDecodeError:
            info = None
        if not isinstance(info, dict) or "embedder" not in info:
            raise MissingCollectionError(
                f"collection {self.collection!r} at {self.uri} was not written by ragkit (no {_MANIFEST!r} "
                f"property); choose another --collection"
            )
        return info

    def term_analyzer(self) -> Analyzer | None:
        """ragkit's analyzer whose terms the collection's BM25 field holds; None when Milvus analyses the text.

        Collections written before ``bm25_text`` existed have no ``ragkit_terms`` in their manifest: None.
        """
        if "_term_analyzer" not in self.__dict__:
            settings = self.info().get("ragkit_terms")
            self._term_analyzer = Analyzer(**settings) if settings else None
        return self._term_analyzer

    def bm25_query(self, text: str) -> str:
        """The query text to send to the BM25 field: ragkit's terms of ``text``, or ``text`` itself.

        A query with no terms at all (only stopwords) is sent as it is, and matches nothing.
        """
        analyzer = self.term_analyzer()
        if analyzer is None:
            return text
        return encode_terms(analyzer(text)) or text

    def ensure_loaded(self) -> None:
        """Load the collection into memory (a restarted server starts with it released)."""
        with self.errors("load"):
            state = str(self.client.get_load_state(self.collection).get("state", ""))
            if "Loaded" not in state:
                self.client.load_collection(self.collection)

    def check_embedder(self, model_id: str, dimension: int | None = None) -> dict[str, Any]:
        """The manifest, after checking it was built with ``model_id`` (and ``dimension``).

        Raises:
            IndexMismatchError: another embedder or vector size (the message says what to use).
        """
        info = self.info()
        if info["embedder"] != model_id:
            raise IndexMismatchError(
                f"collection {self.collection!r} at {self.uri} holds vectors of embedder "
                f"{info['embedder']!r}, not {model_id!r}; query it with embedder={info['embedder']!r} "
                f"or re-index into a new collection"
            )
        if dimension is not None and int(info["dimension"]) != int(dimension):
            raise IndexMismatchError(
                f"collection {self.collection!r} holds {info['dimension']}-d vectors but embedder "
                f"{model_id!r} makes {dimension}-d ones; re-index into a new collection"
            )
        return info

    # -- creating --------------------------------------------------------------------------
    def create(self, model_id: str, dimension: int, split_identifiers: bool | str = True) -> None:
        """Create the collection (schema, BM25 function, indexes) unless it exists; then check it.

        ``split_identifiers``: the default ragkit analysis's identifier splitting (``"code"`` for
        corpora with code, as ``corpus_split_identifiers`` decides); ``ragkit_analyzer`` overrides it.
        """
        if self.exists():
            self.check_embedder(model_id, dimension)
            return
        from pymilvus import DataType, Function, FunctionType

        from ragkit.version import __version__

        client = self.client
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field("text", DataType.VARCHAR, max_length=_VARCHAR, enable_analyzer=True,
                         analyzer_params=self.analyzer or DEFAULT_ANALYZER)
        for name, length in (("source", 4096), ("kind", 64), ("language", 64), ("symbol", 1024),
                             ("content_hash", 64)):
            schema.add_field(name, DataType.VARCHAR, max_length=length)
        for name in ("page", "start_line", "end_line"):
            schema.add_field(name, DataType.INT64, nullable=True)
        schema.add_field("heading", DataType.JSON)
        schema.add_field("metadata", DataType.JSON)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=int(dimension))
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        ragkit_terms = None
        if self.terms == "ragkit":
            ragkit_terms = Analyzer(**{"split_identifiers": split_identifiers, **(self.ragkit_analyzer or {})}).config()
            schema.add_field("bm25_text", DataType.VARCHAR, max_length=_VARCHAR, enable_analyzer=True,
                             analyzer_params=_TERMS_ANALYZER)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["bm25_text" if ragkit_terms else "text"],
                                     output_field_names=["sparse"]))
        params = client.prepare_index_params()
        params.add_index("dense", index_type=self.index_type, metric_type="IP", params=self.index_params or {})
        params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                         params={"bm25_k1": self.k1, "bm25_b": self.b})
        manifest = {"ragkit_version": __version__, "embedder": model_id, "dimension": int(dimension),
                    "analyzer": _TERMS_ANALYZER if ragkit_terms else self.analyzer or DEFAULT_ANALYZER,
                    "ragkit_terms": ragkit_terms, "k1": self.k1, "b": self.b}
        with self.errors("create"):
            client.create_collection(self.collection, schema=schema, index_params=params,
                                     properties={_MANIFEST: json.dumps(manifest)},
                                     consistency_level="Strong")

    def drop(self) -> None:
        """Delete the collection and everything in it."""
        with self.errors("drop"):
            if self.client.has_collection(self.collection):
                self.client.drop_collection(self.collection)
        self.__dict__.pop("_term_analyzer", None)

    # -- contents --------------------------------------------------------------------------
    def hashes(self) -> dict[str, str]:
        """``{chunk id: content hash}`` of every stored chunk (paged, so it scales past one reply)."""
        self.ensure_loaded()
        out: dict[str, str] = {}
        with self.errors("read"):
            iterator = self.client.query_iterator(self.collection, batch_size=_PAGE, filter="",
                                                  output_fields=["id", "content_hash"])
            try:
                while page := iterator.next():
                    out.update((row["id"], row["content_hash"]) for row in page)
            finally:
                iterator.close()
        return out

    def count(self) -> int:
        """Number of stored chunks."""
        return len(self.hashes())

    def get(self, ids: Sequence[str], vectors: bool = False) -> list[dict[str, Any]]:
        """Stored rows by chunk id, in the order asked (missing ids are left out)."""
        if not ids:
            return []
        self.ensure_loaded()
        fields = CHUNK_FIELDS + (["dense"] if vectors else [])
        rows: dict[str, dict[str, Any]] = {}
        with self.errors("read"):
            for lo in range(0, len(ids), _PAGE):
                for row in self.client.get(self.collection, ids=list(ids[lo : lo + _PAGE]), output_fields=fields):
                    rows[row["id"]] = row
        return [rows[i] for i in ids if i in rows]

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> int:
        """Insert or replace chunks (with their vectors); returns how many the server acknowledged."""
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        done = 0
        analyzer = self.term_analyzer()
        with self.errors("write to"):
            for lo in range(0, len(chunks), _PAGE):
                rows = [_row(c, v, analyzer) for c, v in zip(chunks[lo : lo + _PAGE], vectors[lo : lo + _PAGE])]
                done += int(self.client.upsert(self.collection, rows).get("upsert_count", len(rows)))
        return done

    def delete(self, ids: Iterable[str]) -> int:
        """Delete chunks by id; returns how many ids were sent."""
        ids = list(ids)
        with self.errors("delete from"):
            for lo in range(0, len(ids), _PAGE):
                self.client.delete(self.collection, ids=ids[lo : lo + _PAGE])
        return len(ids)

    def sync(
        self,
        chunks: Iterable[Chunk],
        embed: Callable[[list[Chunk]], Iterable[tuple[list[Chunk], np.ndarray]]] | Any,
        model_id: str | None = None,
        dimension: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, int]:
        """Make the collection hold exactly ``chunks``: upsert new / changed ones, then delete the rest.

        Args:
            chunks: the chunks the index should hold (a ``ChunkStore`` or any iterable).
            embed: an ``Embedder`` (``ragkit.indexes.embed``), or a function taking the chunks to
                embed and yielding ``(chunks, vectors)`` batches (the Ray path streams this way).
            model_id, dimension: the embedder's id and size (read from an ``Embedder``).
            on_progress: called as ``(chunks_written, chunks_to_write)``.

        Returns:
            ``{"upserted", "deleted", "unchanged", "total"}``.

        Raises:
            IndexMismatchError: the collection holds another embedder's vectors.
            MilvusUnavailableError: the server went away; nothing acknowledged before is lost, and
                running ``sync`` again resumes (acknowledged chunks are not re-embedded).
        """
        chunks = list(chunks)
        if model_id is None or dimension is None:
            model_id, dimension = embed.model_id, embed.dimension
        self.create(model_id, dimension, split_identifiers=corpus_split_identifiers(chunks))
        stored = self.hashes()
        wanted = {c.id: c for c in chunks}
        todo = [c for c in chunks if stored.get(c.id) != content_hash(c)]
        batches = embed(todo) if callable(embed) else _embed_batches(embed, todo)
        written = 0
        for part, vectors in batches:
            vectors = np.asarray(vectors, dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[1] != dimension:
                raise IndexMismatchError(f"embedder returned vectors of shape {vectors.shape}, expected (*, {dimension})")
            written += self.upsert(part, vectors)
            if on_progress is not None:
                on_progress(written, len(todo))
        if written != len(todo):
            raise RuntimeError(f"embedding returned {written} of {len(todo)} chunks; nothing was deleted")
        stale = [i for i in stored if i not in wanted]
        self.delete(stale)
        return {"upserted": written, "deleted": len(stale), "unchanged": len(chunks) - len(todo), "total": len(wanted)}


def _embed_batches(embedder: Any, chunks: list[Chunk], batch: int = 256) -> Iterable[tuple[list[Chunk], np.ndarray]]:
    for lo in range(0, len(chunks), batch):
        part = chunks[lo : lo + batch]
        yield part, embedder.encode([index_text(c) for c in part])  # the local dense index's text


class _Translate:
    """``with index.errors("write to"):`` — pymilvus exceptions become one-line ragkit errors."""

    def __init__(self, index: MilvusIndex, doing: str):
        self.index, self.doing = index, doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is None:
            return False
        from pymilvus.exceptions import MilvusException

        if not isinstance(exc, MilvusException):
            return False
        where = f"Milvus at {self.index.uri}"
        message = getattr(exc, "message", str(exc))
        code = getattr(exc, "code", None)
        if code == 2 or "unavailable" in message.lower() or "connect" in message.lower():
            raise MilvusUnavailableError(
                f"cannot {self.doing} {where} ({message}); start it (e.g. `milvus-lite server --data-dir D "
                f"--port P`) or pass the right --milvus-uri / retriever uri"
            ) from None
        if "not exist" in message.lower() or "not found" in message.lower():
            raise MissingCollectionError(
                f"{where} has no collection {self.index.collection!r} ({message}); index into it with "
                f"`ragkit index DIR --milvus-uri {self.index.uri} --collection {self.index.collection}`"
            ) from None
        raise RuntimeError(f"Milvus failed to {self.doing} collection {self.index.collection!r}: {message}") from None
