"""`ragkit` command line: a thin layer, one API call per command.

Heavy libraries are imported inside the command modules' functions, so `ragkit --help`
answers quickly. Errors caused by the user's input (a missing path, a wrong index, a model
that is not installed) print one clear line and exit with status 2, without a traceback.
"""

from __future__ import annotations

import functools
from typing import Annotated, Callable

import typer

from ragkit.commands.compare import compare_cmd, repro_cmd
from ragkit.commands.demo import demo_cmd
from ragkit.commands.index import eval_retrieval_cmd, index_cmd, search_cmd
from ragkit.commands.ingest import ingest_cmd, inspect_cmd
from ragkit.commands.serve import ask_cmd, chat_cmd, serve_cmd
from ragkit.commands.tune import make_qa_cmd, tune_generator_cmd, tune_reranker_cmd, tune_retriever_cmd
from ragkit.commands.tune_prf import tune_prf_cmd
from ragkit.extras import missing_extra_message
from ragkit.indexes.lock import IndexLockedError

app = typer.Typer(
    name="ragkit",
    help="Retrieval-augmented generation where every stage can be tuned and measured.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _global_options(
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Show the model libraries' own progress bars and messages (Loading weights …).")] = False,
) -> None:
    """Retrieval-augmented generation where every stage can be tuned and measured."""
    from ragkit.commands.quiet import set_library_output

    set_library_output(verbose)


tune_app = typer.Typer(help="Fine-tune the retriever, the reranker or the generator.", no_args_is_help=True)
app.add_typer(tune_app, name="tune")

# Exceptions that mean "the input is wrong": shown as a message, not a stack trace.
# ConnectionError: an index server (Milvus) that does not answer.
USER_ERRORS: tuple[type[BaseException], ...] = (
    FileNotFoundError, NotADirectoryError, ValueError, KeyError, IndexLockedError, ConnectionError,
)


def friendly(command: Callable) -> Callable:
    """Wrap a command so user errors print ``error: <message>`` and exit with status 2.

    A library that only an extra installs (``ragkit[eval]`` …) and that is missing is a user
    error too: the line names the extra. Any other missing module is a broken install and raises.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            typer.secho(f"error: {message}", fg="red", err=True)
            raise typer.Exit(2) from None
        except ModuleNotFoundError as exc:
            message = missing_extra_message(exc)
            if message is None:
                raise
            typer.secho(f"error: {message}", fg="red", err=True)
            raise typer.Exit(2) from None

    return wrapper


def _register(name: str, command: Callable, group: typer.Typer = app) -> None:
    group.command(name)(friendly(command))


_register("demo", demo_cmd)
_register("ingest", ingest_cmd)
_register("inspect", inspect_cmd)
_register("index", index_cmd)
_register("search", search_cmd)
_register("eval-retrieval", eval_retrieval_cmd)
_register("ask", ask_cmd)
_register("chat", chat_cmd)
_register("serve", serve_cmd)
_register("make-qa", make_qa_cmd)
_register("compare", compare_cmd)
_register("repro", repro_cmd)
_register("retriever", tune_retriever_cmd, tune_app)
_register("reranker", tune_reranker_cmd, tune_app)
_register("generator", tune_generator_cmd, tune_app)
_register("prf", tune_prf_cmd, tune_app)


def exit_on_sigterm() -> None:
    """Turn SIGTERM (``kill``, ``docker stop``, job schedulers) into ``SystemExit(143)``.

    Python's default SIGTERM action ends the process without unwinding, so ``atomic_dir`` could
    not remove its temp dir; as an exception, every ``finally`` runs and the previous index or
    model directory stays as it was, with no litter beside it.
    """
    import signal

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main() -> None:
    exit_on_sigterm()
    app()


if __name__ == "__main__":
    main()
