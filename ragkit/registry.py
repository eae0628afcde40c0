"""Components registered by short name, and configs derived from their constructors.

A component stores each ``__init__`` argument as ``self.<same name>``; its config is then
derived (``to_config``), never hand-maintained, and ``build(kind, config)`` makes it again.
Configs hold registered names, never import paths.

Third-party packages add components through the ``ragkit.components`` entry-point group, one
entry point per component, named ``KIND.NAME`` and pointing at the class (or at a module whose
import registers ``NAME`` with ``@register``). In a plug-in's ``pyproject.toml``::

    [project.entry-points."ragkit.components"]
    "rewriter.acronyms" = "ragkit_acronyms:AcronymRewriter"

The entry point is imported on demand: when a config names a component no built-in module
registers (``build("rewriter", "acronyms")``); ``available`` lists the plug-ins' names without
importing them. Built-in names cannot be taken over by a plug-in.

Example:
    >>> @register("retriever", "bm25")
    ... class BM25Retriever(Component):
    ...     def __init__(self, index: str, k1: float = 0.9):
    ...         self.index, self.k1 = index, k1
    >>> build("retriever", {"type": "bm25", "index": "idx"}).to_config()
    {'type': 'bm25', 'index': 'idx', 'k1': 0.9}
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import types
from typing import Any, Callable, TypeVar

__all__ = ["Component", "register", "alias", "build", "get", "available", "KINDS", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "ragkit.components"
"""The entry-point group of third-party components; entry point names are ``KIND.NAME``."""

T = TypeVar("T")

# kind -> the modules whose import registers that kind's built-in components (imported lazily,
# so `ragkit --help` never pays for torch).
KINDS: dict[str, tuple[str, ...]] = {
    "connector": (
        "ragkit.connectors.pdf",
        "ragkit.connectors.code",
        "ragkit.connectors.treesitter",
        "ragkit.connectors.lines",
        "ragkit.connectors.text",
    ),
    "retriever": (
        "ragkit.retrievers.bm25",
        "ragkit.retrievers.dense",
        "ragkit.retrievers.hybrid",
        "ragkit.retrievers.milvus",
    ),
    # index backends beyond the local directory (ragkit[milvus])
    "index": ("ragkit.indexes.milvus",),
    "rewriter": (
        "ragkit.rewriters.genqr",
        "ragkit.rewriters.prf",
        "ragkit.rewriters.hyde",
        "ragkit.rewriters.multi_query",
        "ragkit.rewriters.lol",
    ),
    "reranker": (
        "ragkit.rerankers.cross_encoder",
        "ragkit.rerankers.bi_encoder",
        "ragkit.rerankers.promoted",
        "ragkit.rerankers.llm",
        "ragkit.rerankers.reorder",
        "ragkit.rerankers.chain",
    ),
    "llm": ("ragkit.llm",),
    "generator": ("ragkit.generator",),
    # a tuner's config is its ragkit-tuning.json "hyper_parameters": build("tuner", it) retrains alike
    "tuner": ("ragkit.tuning.retriever", "ragkit.tuning.reranker", "ragkit.tuning.generator", "ragkit.tuning.prf"),
}

_REGISTRY: dict[str, dict[str, type]] = {}
# kind -> alias -> (registered name, preset arguments): one class, several well-known settings
_ALIASES: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {}


class Component:
    """Base for configurable components: the constructor is the config."""

    registered_kind: str = ""
    registered_name: str = ""

    def to_config(self) -> dict[str, Any]:
        """The JSON-able config that rebuilds this component with ``build``."""
        config: dict[str, Any] = {"type": self.registered_name}
        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if not hasattr(self, name):
                raise AttributeError(
                    f"{type(self).__name__}.__init__ takes {name!r} but does not store it as "
                    f"self.{name}; store every constructor argument so its config can be derived"
                )
            config[name] = getattr(self, name)
        return config

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_config().items() if k != "type")
        return f"{type(self).__name__}({args})"


def register(kind: str, name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: make ``cls`` buildable as ``{"type": name, ...}`` for ``kind``."""

    def deco(cls: type[T]) -> type[T]:
        table = _REGISTRY.setdefault(kind, {})
        if name in table and table[name] is not cls:
            raise ValueError(f"{kind} {name!r} is registered twice ({table[name]} and {cls})")
        table[name] = cls
        cls.registered_kind = kind  # type: ignore[attr-defined]
        cls.registered_name = name  # type: ignore[attr-defined]
        return cls

    return deco


def alias(kind: str, name: str, target: str, **preset: Any) -> None:
    """Make ``name`` build ``target`` with ``preset`` arguments (a config's own arguments win).

    One class serves several published settings (``genqr-fusion`` is ``genqr`` with
    ``fusion=True``) without a subclass per setting.

    Raises:
        ValueError: ``name`` is already registered or aliased to something else.
    """
    table = _ALIASES.setdefault(kind, {})
    if name in _REGISTRY.get(kind, {}) or table.get(name, (target, preset)) != (target, preset):
        raise ValueError(f"{kind} {name!r} is registered twice")
    table[name] = (target, dict(preset))


def _resolve(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with an alias ``type`` replaced by its target and preset arguments."""
    target = _ALIASES.get(kind, {}).get(config.get("type"))
    if target is None:
        return config
    name, preset = target
    return {**preset, **config, "type": name}


def _load_builtins(kind: str) -> None:
    for module in KINDS.get(kind, ()):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            # Only a missing *ragkit* module (a component kind not built yet) is tolerated;
            # a missing third-party dependency is a real error and propagates.
            if exc.name != module and not (exc.name and module.startswith(exc.name + ".")):
                raise


def _plugins(kind: str) -> dict[str, list[importlib.metadata.EntryPoint]]:
    """Installed ``ragkit.components`` entry points of ``kind``, by component name (read, not imported)."""
    found: dict[str, list[importlib.metadata.EntryPoint]] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        ep_kind, _, name = ep.name.partition(".")
        if ep_kind == kind and name:
            found.setdefault(name, []).append(ep)
    return found


def _distribution(ep: importlib.metadata.EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else "an unknown package"


def _load_plugin(kind: str, name: str) -> None:
    """Import the entry point ``KIND.NAME`` (if one is installed) and register what it points at.

    Raises:
        ImportError: the plug-in fails to import, or two packages provide the same name.
        TypeError: it points at something that is not a class, nor a module registering ``name``.
    """
    eps = _plugins(kind).get(name)
    if not eps:
        return
    if len({ep.value for ep in eps}) > 1:
        packages = ", ".join(f"{_distribution(ep)} ({ep.value})" for ep in eps)
        raise ImportError(f"{kind} {name!r} is provided by several packages: {packages}; uninstall all but one")
    ep = eps[0]
    try:
        target = ep.load()
    except Exception as exc:
        raise ImportError(
            f"{kind} {name!r} from package {_distribution(ep)} ({ep.value}) failed to import: {exc}"
        ) from exc
    if isinstance(target, types.ModuleType):
        if name not in _REGISTRY.get(kind, {}):
            raise TypeError(f"entry point {ep.name} = {ep.value} imported a module that registers no {kind} {name!r}")
        return
    if not isinstance(target, type):
        raise TypeError(f"entry point {ep.name} = {ep.value} must name a class, got {type(target).__name__}")
    registered = _REGISTRY.get(kind, {}).get(name)
    if registered is not target:
        register(kind, name)(target)


def get(kind: str, name: str) -> type:
    """The class registered as ``name`` for ``kind`` (built-in, or a plug-in's entry point); a clear error lists the choices."""
    _load_builtins(kind)
    name = _resolve(kind, {"type": name})["type"]
    if name not in _REGISTRY.get(kind, {}):
        _load_plugin(kind, name)
    try:
        return _REGISTRY[kind][name]
    except KeyError:
        choices = ", ".join(available(kind)) or "none"
        raise KeyError(f"no {kind} named {name!r}; available: {choices}") from None


def available(kind: str) -> list[str]:
    """Registered names for ``kind`` and the names installed plug-ins provide, sorted."""
    _load_builtins(kind)
    return sorted({*_REGISTRY.get(kind, {}), *_ALIASES.get(kind, {}), *_plugins(kind)})


def build(kind: str, config: str | dict[str, Any]) -> Any:
    """Make a component from ``"name"`` or ``{"type": name, **init_args}``.

    Raises:
        KeyError: no such name for that kind.
        TypeError: an argument the component's constructor does not take (typos are errors).
    """
    if isinstance(config, str):
        config = {"type": config}
    _load_builtins(kind)
    config = _resolve(kind, dict(config))
    try:
        name = config.pop("type")
    except KeyError:
        raise ValueError(f"a {kind} config needs a 'type' key, got {sorted(config)}") from None
    cls = get(kind, name)
    params = inspect.signature(cls.__init__).parameters
    unknown = [k for k in config if k not in params]
    if unknown:
        accepted = [p for p in params if p != "self"]
        raise TypeError(f"{kind} {name!r} takes no argument(s) {unknown}; it takes {accepted}")
    return cls(**config)
