"""What `ketaclinic audit verify` and `ketaclinic inventory verify` share: the anchor to check
against, a progress bar over the chain, and one line of outcome."""

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import anchors, sealing
from ketaclinic.cli_support import console, err_console, fail, progress_bar
from ketaclinic.db import session_factory
from ketaclinic.settings import get_settings

Verify = Callable[[Session, sealing.Anchor | None, Callable[[int], None]], sealing.ChainReport]


def anchor_of(path: Path | None, chain: str) -> sealing.Anchor | None:
    """The last anchor of the chain in the file given, or in the configured anchor file once the
    worker has written one (a file given that cannot be read is an error)."""
    configured = get_settings().audit_anchor_file
    if path is None and configured and Path(configured).exists():
        path = Path(configured)
    if path is None:
        err_console.print(f"no anchor given: rows cut from the end of the {chain} chain cannot "
                          "be told from a chain that ended there (take anchors with `ketaclinic "
                          "audit anchor --to FILE`, check with --anchor FILE)", markup=False)
        return None
    try:
        return anchors.last(path, chain)
    except anchors.AnchorUnreadable as exc:
        fail(f"--anchor: {exc}")


def verify_chain(table: sealing.SealedTable, verify: Verify, anchor: sealing.Anchor | None
                 ) -> sealing.ChainReport:
    """Run a chain's verification under a progress bar; exit 1 naming the first bad row."""
    with session_factory()() as db:
        total = db.execute(select(func.count()).select_from(table.model)).scalar_one()
        with progress_bar() as progress:
            task = progress.add_task(f"verifying {table.chain} chain", total=total)
            report = verify(db, anchor, lambda done: progress.update(task, completed=done))
            progress.update(task, completed=total)
    if not report.ok:
        where = f" at row seq={report.bad_ref} id={report.bad_name}" if report.bad_ref else ""
        fail(f"{table.chain} chain broken{where}: {report.reason}", code=1)
    return report


def print_intact(report: sealing.ChainReport, anchor: sealing.Anchor | None) -> None:
    """The outcome of a chain that verified, with its unsealed tail and how old it is."""
    console.print(f"{report.chain} chain intact: {report.rows_checked} rows sealed, head "
                  f"{report.head.pos} {report.head.mac}", markup=False)
    if anchor is not None:
        console.print(f"matches the anchor taken {anchor.taken_at.isoformat(timespec='seconds')} "
                      f"(link {anchor.pos})", markup=False)
    age = sealing.unsealed_age_s(report, clock.now())
    if report.unsealed:
        console.print(f"unsealed: {report.unsealed} rows, the oldest written {age:.0f} s ago",
                      markup=False)
    if age > get_settings().audit_seal_grace_s:
        err_console.print(f"warning: rows have waited {age:.0f} s for their seal; is a server "
                          "or `ketaclinic worker` running? (`ketaclinic audit seal` seals now)",
                          markup=False)
