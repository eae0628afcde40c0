"""Per-language rules for the tree-sitter connector: which syntax nodes are definitions.

Each grammar gets a ``Rules``: its comment and attribute node types and a ``classify``
function that looks at one syntax node and says what it is:

- ``Found``: a definition (function, class, struct, interface, enum, trait, impl, macro), its
  name parts, the node holding its members (``None`` for a leaf) and where its header ends;
- ``Descend``: a node to look inside with the same scope (C preprocessor blocks, Go grouped
  ``type (...)``, a C++ ``namespace`` / Rust ``mod`` / TS ``namespace``, recorded in metadata);
- ``None``: anything else (imports, variables, prototypes …), left to module / class chunks.

A node that wraps a definition (``export``, ``template <…>``, ``typedef struct {…} T;``) is
classified as that definition, so the chunk's range covers the wrapper too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

from tree_sitter import Node

__all__ = ["Found", "Descend", "Rules", "RULES"]


class Found(NamedTuple):
    """A definition: ``kind`` ("function" becomes "method" inside a type), name ``parts``."""

    kind: str
    parts: tuple[str, ...]
    body: Node | None = None  # the node whose children are members; None = no member chunks
    member_scope: tuple[str, ...] | None = None  # scope for members (default: parts)
    head_end: int | None = None  # byte where the header (signature) ends


class Descend(NamedTuple):
    """Look for definitions among ``node``'s children; ``namespace`` names a namespace / mod."""

    node: Node
    namespace: str | None = None


@dataclass(frozen=True)
class Rules:
    """What counts as a definition, comment and attribute in one grammar."""

    classify: Callable[[Node], Found | Descend | None]
    comments: frozenset[str] = frozenset({"comment"})
    attributes: frozenset[str] = frozenset()  # leading siblings that belong to the next item
    line_comment: str = "//"


def _text(node: Node | None) -> str:
    return node.text.decode("utf-8", errors="replace") if node is not None and node.text else ""


def _name(node: Node, field: str = "name") -> str:
    return _text(node.child_by_field_name(field))


def _start(node: Node | None) -> int | None:
    return node.start_byte if node is not None else None


def _first_type_name(node: Node | None) -> str:
    """The first type identifier in ``node`` (``Stack`` in ``*Stack[T]`` or ``Stack<T>``)."""
    if node is None:
        return ""
    if node.type in ("type_identifier", "primitive_type"):
        return _text(node)
    for child in node.named_children:
        found = _first_type_name(child)
        if found:
            return found
    return ""


# -- JavaScript / TypeScript ---------------------------------------------------------------
_JS_FUNCTION_VALUES = frozenset(
    {"arrow_function", "function_expression", "function", "generator_function"}
)
_JS_TYPES = {
    "class_declaration": "class",
    "abstract_class_declaration": "class",
    "class": "class",
    "interface_declaration": "interface",
    "enum_declaration": "enum",
}


def _js(node: Node) -> Found | Descend | None:
    t = node.type
    if t == "export_statement":
        inner = node.child_by_field_name("declaration") or node.child_by_field_name("value")
        found = _js(inner) if inner is not None else None
        if isinstance(found, Found) and not found.parts[0]:
            found = found._replace(parts=("default",))
        return found
    if t in ("function_declaration", "generator_function_declaration", "function_expression",
             "generator_function", "method_definition"):
        body = node.child_by_field_name("body")
        return Found("function", (_name(node),), head_end=_start(body))
    if t in _JS_TYPES:
        body = node.child_by_field_name("body")
        container = body if _JS_TYPES[t] == "class" else None
        return Found(_JS_TYPES[t], (_name(node),), container, head_end=_start(body))
    if t in ("lexical_declaration", "variable_declaration"):
        declarators = [c for c in node.named_children if c.type == "variable_declarator"]
        if len(declarators) == 1:
            value = declarators[0].child_by_field_name("value")
            if value is not None and value.type in _JS_FUNCTION_VALUES:
                body = value.child_by_field_name("body")
                return Found("function", (_name(declarators[0]),), head_end=_start(body))
        return None
    if t in ("public_field_definition", "field_definition"):
        value = node.child_by_field_name("value")
        if value is not None and value.type in _JS_FUNCTION_VALUES:
            name = _name(node) or _name(node, "property")
            return Found("function", (name,), head_end=_start(value.child_by_field_name("body")))
        return None
    if t == "ambient_declaration":  # `declare ...`
        inner = node.named_children[0] if node.named_child_count else None
        return _js(inner) if inner is not None else None
    if t == "expression_statement" and node.named_child_count == 1:
        return _js(node.named_children[0])
    if t in ("internal_module", "module"):  # `namespace X {}` / `declare module "x" {}`
        body = node.child_by_field_name("body")
        return Descend(body, _name(node).strip("'\"")) if body is not None else None
    return None


# -- Java ----------------------------------------------------------------------------------
_JAVA_TYPES = {
    "class_declaration": "class",
    "record_declaration": "class",
    "interface_declaration": "interface",
    "annotation_type_declaration": "interface",
    "enum_declaration": "enum",
}


def _java(node: Node) -> Found | Descend | None:
    t = node.type
    if t in _JAVA_TYPES:
        body = node.child_by_field_name("body")
        return Found(_JAVA_TYPES[t], (_name(node),), body, head_end=_start(body))
    if t in ("method_declaration", "constructor_declaration", "compact_constructor_declaration"):
        return Found("function", (_name(node),), head_end=_start(node.child_by_field_name("body")))
    if t == "enum_body_declarations":
        return Descend(node)
    return None


# -- Go ------------------------------------------------------------------------------------
def _go(node: Node) -> Found | Descend | None:
    t = node.type
    if t == "function_declaration":
        return Found("function", (_name(node),), head_end=_start(node.child_by_field_name("body")))
    if t == "method_declaration":
        params = node.child_by_field_name("receiver")
        param = params.named_children[0] if params is not None and params.named_child_count else None
        receiver = _first_type_name(param.child_by_field_name("type") if param is not None else None)
        parts = (receiver, _name(node)) if receiver else (_name(node),)
        return Found("method", parts, head_end=_start(node.child_by_field_name("body")))
    if t == "type_declaration":
        specs = [c for c in node.named_children if c.type == "type_spec"]
        return _go(specs[0]) if len(specs) == 1 else Descend(node)
    if t == "type_spec":
        kind = {"struct_type": "struct", "interface_type": "interface"}.get(
            getattr(node.child_by_field_name("type"), "type", "")
        )
        type_node = node.child_by_field_name("type")
        return Found(kind, (_name(node),), head_end=_start(type_node)) if kind else None
    return None


# -- Rust ----------------------------------------------------------------------------------
def _rust(node: Node) -> Found | Descend | None:
    t = node.type
    body = node.child_by_field_name("body")
    if t == "function_item":
        return Found("function", (_name(node),), head_end=_start(body))
    if t in ("struct_item", "union_item", "enum_item"):
        return Found("enum" if t == "enum_item" else "struct", (_name(node),), head_end=_start(body))
    if t == "trait_item":
        return Found("trait", (_name(node),), body, head_end=_start(body))
    if t == "impl_item":
        type_name = _first_type_name(node.child_by_field_name("type")) or "?"
        trait = node.child_by_field_name("trait")
        label = f"impl {_text(trait)} for {type_name}" if trait is not None else f"impl {type_name}"
        return Found("impl", (label,), body, (type_name,), head_end=_start(body))
    if t == "macro_definition":
        return Found("macro", (_name(node),))
    if t == "mod_item" and body is not None:
        return Descend(body, _name(node))
    return None


# -- C / C++ -------------------------------------------------------------------------------
_C_TYPES = {
    "struct_specifier": "struct",
    "union_specifier": "struct",
    "enum_specifier": "enum",
    "class_specifier": "class",
}
_C_NAMES = frozenset(
    {"identifier", "field_identifier", "type_identifier", "namespace_identifier",
     "destructor_name", "operator_name", "primitive_type"}
)


def _c_name_parts(node: Node | None) -> tuple[str, ...]:
    """``("Matrix", "operator*")`` for ``Matrix::operator*``; template arguments dropped."""
    if node is None:
        return ()
    if node.type == "qualified_identifier":
        return _c_name_parts(node.child_by_field_name("scope")) + _c_name_parts(
            node.child_by_field_name("name")
        )
    if node.type in ("template_type", "template_function", "template_method"):
        return _c_name_parts(node.child_by_field_name("name"))
    return (_text(node),)


def _c_function(node: Node) -> Found | None:
    declarator = node.child_by_field_name("declarator")
    while declarator is not None and declarator.type != "function_declarator":
        inner = declarator.child_by_field_name("declarator")
        if inner is None:
            inner = next((c for c in declarator.named_children if c.type != "type_qualifier"), None)
        declarator = inner
    if declarator is None:
        return None
    parts = _c_name_parts(declarator.child_by_field_name("declarator"))
    if not parts or not parts[-1]:
        return None
    body = node.child_by_field_name("body")
    # an out-of-class definition `A::f` is a method of A
    return Found("method" if len(parts) > 1 else "function", parts, head_end=_start(body))


def _c(node: Node) -> Found | Descend | None:
    t = node.type
    if t == "function_definition":
        return _c_function(node)
    if t in _C_TYPES:
        body = node.child_by_field_name("body")
        if body is None:
            return None
        members = body if t != "enum_specifier" else None
        name = _c_name_parts(node.child_by_field_name("name")) or ("",)
        return Found(_C_TYPES[t], name, members, head_end=_start(body))
    if t in ("type_definition", "declaration", "field_declaration"):
        inner = node.child_by_field_name("type")
        found = _c(inner) if inner is not None and inner.type in _C_TYPES else None
        if isinstance(found, Found) and not found.parts[-1]:
            alias = _text(node.child_by_field_name("declarator")) or "<anonymous>"
            found = found._replace(parts=(alias,))
        return found
    if t == "template_declaration":
        inner = next(
            (c for c in reversed(node.named_children) if c.type != "template_parameter_list"), None
        )
        return _c(inner) if inner is not None else None
    if t in ("preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif", "preproc_elifdef"):
        return Descend(node)
    if t == "linkage_specification":
        body = node.child_by_field_name("body")
        return Descend(body) if body is not None else None
    if t == "namespace_definition":
        body = node.child_by_field_name("body")
        return Descend(body, _name(node) or None) if body is not None else None
    return None


RULES: dict[str, Rules] = {
    "javascript": Rules(_js, attributes=frozenset({"decorator"})),
    "typescript": Rules(_js, attributes=frozenset({"decorator"})),
    "tsx": Rules(_js, attributes=frozenset({"decorator"})),
    "java": Rules(_java, comments=frozenset({"line_comment", "block_comment"})),
    "go": Rules(_go),
    "rust": Rules(
        _rust,
        comments=frozenset({"line_comment", "block_comment"}),
        attributes=frozenset({"attribute_item"}),
    ),
    "c": Rules(_c),
    "cpp": Rules(_c),
}
