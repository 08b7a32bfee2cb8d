"""the keys of the tables written at every reading (readings, their tally parts, monitor
messages) and of the columns pointing at them are 64-bit on PostgreSQL, and so are their
sequences: at a network's monitor peak (about 120 readings a second) 32-bit keys run out after
about 500 ten-hour days, and every reading after that would be refused. SQLite's integer keys are
64-bit rowids already: nothing changes there.

On PostgreSQL the upgrade rewrites the three tables (and session_alarm) with them locked, so it
takes time in proportion to the readings stored.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06 11:30:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0031'
down_revision: str | None = '0030'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each table's columns widened, and the tables whose key's sequence is widened with it.
_WIDENED = {
    "monitor_message": ("pk",),
    "session_reading": ("pk", "message_pk"),
    "session_reading_tally": ("pk",),
    "session_alarm": ("reading_pk",),
}
_SEQUENCED = ("monitor_message", "session_reading", "session_reading_tally")


def _retype(kind: str) -> None:
    """Every widened column, and every sequence keying one, made `kind` (PostgreSQL)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _SEQUENCED:
        # The sequence's name from the catalogue, schema-qualified and quoted where needed.
        op.execute(f"DO $$ BEGIN EXECUTE format('ALTER SEQUENCE %s AS {kind}', "
                   f"pg_get_serial_sequence('{table}', 'pk')); END $$")
    for table, columns in _WIDENED.items():
        op.execute(f"ALTER TABLE {table} "
                   + ", ".join(f"ALTER COLUMN {column} TYPE {kind}" for column in columns))


def upgrade() -> None:
    _retype("bigint")


def downgrade() -> None:
    # Refused by PostgreSQL once a key past 2^31 - 1 is stored or given: nothing is cut short.
    _retype("integer")
