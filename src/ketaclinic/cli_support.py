"""What every `ketaclinic` command module prints with: the console, one-line failures, tables
that stay whole in a pipe, progress bars, and the clock warning."""

import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ketaclinic import clock

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def print_table(table: Table) -> None:
    """A table for a person at a terminal; tab-separated lines, nothing cut, when the output goes
    to a file or another program."""
    if console.is_terminal:
        console.print(table)
        return
    rows = [[str(c.header) for c in table.columns]]
    rows += [[str(cell) for cell in cells] for cells in zip(*(c.cells for c in table.columns),
                                                             strict=True)]
    sys.stdout.write("".join("\t".join(v.replace("\t", " ").replace("\n", " ") for v in row)
                             + "\n" for row in rows))


def warn_if_clock_set() -> None:
    """Say so on stderr when the clock was started at another moment (demos and tests only)."""
    if clock.is_shifted():
        err_console.print(f"warning: the clock was set to another moment (KETACLINIC_CLOCK_AT): "
                          f"it reads {clock.now().isoformat(timespec='seconds')}; never set this "
                          "for real patients", markup=False, highlight=False)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one line to stderr and exit non-zero."""
    err_console.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(code)


def progress_bar() -> Progress:
    """A progress bar on stderr for long commands."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err_console, transient=False)
