"""What Python's special method names mean, in words, for the contextual header of a method chunk.

``rrulebase.__contains__`` answers "is this datetime one of the occurrences?" but shares no word
with that question; neither BM25 nor a small embedder knows the data model. The header of a
chunk whose symbol ends in a special method name gets its meaning from this table (the Python
language reference, "Data model" § 3.3).
"""

from __future__ import annotations

__all__ = ["DUNDER_MEANINGS", "dunder_meaning"]

DUNDER_MEANINGS = {
    "__init__": "constructor: initialise a new instance",
    "__new__": "create a new instance",
    "__call__": "call an instance like a function: obj(args)",
    "__contains__": "membership test: item in obj",
    "__iter__": "iterate: for item in obj",
    "__next__": "next item of an iterator",
    "__len__": "length: len(obj)",
    "__getitem__": "index or slice: obj[key]",
    "__setitem__": "assign an item: obj[key] = value",
    "__delitem__": "delete an item: del obj[key]",
    "__eq__": "equality: obj == other",
    "__ne__": "inequality: obj != other",
    "__lt__": "less than: obj < other",
    "__le__": "less than or equal: obj <= other",
    "__gt__": "greater than: obj > other",
    "__ge__": "greater than or equal: obj >= other",
    "__hash__": "hash value: hash(obj)",
    "__bool__": "truth value: bool(obj)",
    "__repr__": "developer string representation: repr(obj)",
    "__str__": "string conversion: str(obj)",
    "__format__": "formatting: format(obj, spec)",
    "__add__": "addition: obj + other",
    "__radd__": "addition from the right: other + obj",
    "__sub__": "subtraction: obj - other",
    "__rsub__": "subtraction from the right: other - obj",
    "__mul__": "multiplication: obj * other",
    "__rmul__": "multiplication from the right: other * obj",
    "__truediv__": "division: obj / other",
    "__floordiv__": "floor division: obj // other",
    "__mod__": "modulo: obj % other",
    "__neg__": "negation: -obj",
    "__pos__": "unary plus: +obj",
    "__abs__": "absolute value: abs(obj)",
    "__enter__": "enter a with block (context manager)",
    "__exit__": "leave a with block (context manager)",
    "__getattr__": "attribute lookup fallback: obj.name",
    "__setattr__": "attribute assignment: obj.name = value",
    "__dir__": "list attributes: dir(obj)",
    "__reduce__": "pickling support",
    "__reduce_ex__": "pickling support",
    "__getstate__": "pickling: the state to save",
    "__setstate__": "unpickling: restore the saved state",
    "__copy__": "shallow copy: copy.copy(obj)",
    "__deepcopy__": "deep copy: copy.deepcopy(obj)",
    "__del__": "finaliser when the instance is garbage collected",
    "__await__": "await obj",
    "__aiter__": "async iteration: async for item in obj",
    "__anext__": "next item of an async iterator",
    "__aenter__": "enter an async with block",
    "__aexit__": "leave an async with block",
}


def dunder_meaning(symbol: str | None) -> str | None:
    """The meaning of the special method a qualified symbol names (``"A.__len__"``), or ``None``.

    >>> dunder_meaning("rrulebase.__contains__")
    'membership test: item in obj'
    >>> dunder_meaning("rrule.replace") is None
    True
    """
    if not symbol:
        return None
    return DUNDER_MEANINGS.get(symbol.rsplit(".", 1)[-1])
