"""`ragkit` command line: a thin layer, one API call per command.

Heavy libraries are imported inside the command modules' functions, so `ragkit --help`
answers quickly.
"""

from __future__ import annotations

import typer

from ragkit.commands.ingest import ingest_cmd, inspect_cmd

app = typer.Typer(
    name="ragkit",
    help="Retrieval-augmented generation where every stage can be tuned and measured.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command("ingest")(ingest_cmd)
app.command("inspect")(inspect_cmd)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
