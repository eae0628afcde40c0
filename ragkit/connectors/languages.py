"""Which language a file is in, which grammar parses it, and which connector ingests it.

Languages are recognised by file extension (a few well-known file names too);
``ragkit.connectors.dispatch.connector_for`` builds the connector that ``connector_name`` picks. The tree-sitter
grammars come from the per-language PyPI wheels (``tree-sitter-javascript`` …), which bundle
their compiled grammar: nothing is downloaded at run time (``tree-sitter-language-pack`` >= 1.0
downloads grammars on first use, so ragkit never uses it).

Example:
    >>> language_of("src/app.tsx"), connector_name("notes/intro.md"), connector_name("a.rs")
    ('typescript', 'text', 'tree-sitter')
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

__all__ = [
    "EXTENSIONS",
    "FILENAMES",
    "TREE_SITTER_LANGUAGES",
    "language_of",
    "grammar_of",
    "load_grammar",
    "connector_name",
]

# extension (lower case) -> language name recorded in Chunk.language
EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "typescript",
    ".java": "java",
    ".go": "go",
    ".rs": "rust",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp",
    ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp", ".h++": "cpp",
    # recognised for Chunk.language only; chunked by line windows
    ".sh": "bash", ".bash": "bash", ".zsh": "bash",
    ".rb": "ruby", ".php": "php", ".kt": "kotlin", ".kts": "kotlin", ".swift": "swift",
    ".scala": "scala", ".cs": "csharp", ".lua": "lua", ".r": "r", ".jl": "julia",
    ".pl": "perl", ".pm": "perl", ".sql": "sql", ".proto": "protobuf",
    ".html": "html", ".htm": "html", ".css": "css", ".scss": "scss", ".xml": "xml",
    ".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml",
    ".ini": "ini", ".cfg": "ini",
}

# whole file names (no useful extension) -> language
FILENAMES: dict[str, str] = {
    "Makefile": "make", "GNUmakefile": "make", "Dockerfile": "dockerfile",
    "CMakeLists.txt": "cmake", "Jenkinsfile": "groovy",
}

# languages the tree-sitter connector parses; grammar name -> (module, function)
TREE_SITTER_LANGUAGES = frozenset({"javascript", "typescript", "java", "go", "rust", "c", "cpp"})
_GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "java": ("tree_sitter_java", "language"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
}
_PIP_NAMES = {"tsx": "tree-sitter-typescript"}

_PDF = frozenset({".pdf"})
_TEXT = frozenset({".txt", ".md", ".markdown", ".rst"})


def language_of(path: str | Path) -> str | None:
    """The language of ``path`` from its extension or file name, or ``None`` when unknown."""
    p = Path(path)
    if p.name in FILENAMES:
        return FILENAMES[p.name]
    return EXTENSIONS.get(p.suffix.lower())


def grammar_of(path: str | Path) -> str | None:
    """The tree-sitter grammar for ``path`` (``"tsx"`` for .tsx files), or ``None``."""
    language = language_of(path)
    if language not in TREE_SITTER_LANGUAGES:
        return None
    if Path(path).suffix.lower() == ".tsx":
        return "tsx"
    return language


@functools.lru_cache(maxsize=None)
def load_grammar(name: str):
    """The ``tree_sitter.Language`` for a grammar name (``"rust"``, ``"tsx"`` …), cached.

    Raises:
        KeyError: no such grammar.
        ModuleNotFoundError: the grammar wheel is missing; the message names the pip package.
    """
    import tree_sitter

    try:
        module_name, function = _GRAMMARS[name]
    except KeyError:
        raise KeyError(f"no tree-sitter grammar {name!r}; known: {sorted(_GRAMMARS)}") from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        pip_name = _PIP_NAMES.get(name, module_name.replace("_", "-"))
        raise ModuleNotFoundError(
            f"the {name} grammar needs `pip install {pip_name}`", name=module_name
        ) from exc
    return tree_sitter.Language(getattr(module, function)())


def connector_name(path: str | Path) -> str:
    """The registered name of the connector for ``path``, chosen by extension.

    ``.pdf`` -> ``"pdf"``; ``.txt .md .markdown .rst`` -> ``"text"``; ``.py .pyi`` -> ``"python"``;
    JavaScript, TypeScript, Java, Go, Rust, C, C++ -> ``"tree-sitter"``; anything else ->
    ``"lines"`` (line windows; binary files raise ``ParseError`` there).
    """
    suffix = Path(path).suffix.lower()
    if suffix in _PDF:
        return "pdf"
    if Path(path).name in FILENAMES:
        return "lines"
    if suffix in _TEXT:
        return "text"
    language = language_of(path)
    if language == "python":
        return "python"
    if language in TREE_SITTER_LANGUAGES:
        return "tree-sitter"
    return "lines"
