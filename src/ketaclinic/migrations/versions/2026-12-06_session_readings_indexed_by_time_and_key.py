"""a session's readings are indexed by session, time and key, the order every reader of the
newest readings asks for (time, then key among readings taken at the same moment), so the
baseline and the newest page are read from the index's end whatever plan the database keeps

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 00:40:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0030'
down_revision: str | None = '0029'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_session_reading_session_time", "session_reading",
                    ["session_pk", "taken_at", "pk"])
    op.drop_index("ix_session_reading_session_taken", table_name="session_reading")


def downgrade() -> None:
    op.create_index("ix_session_reading_session_taken", "session_reading",
                    ["session_pk", "taken_at"])
    op.drop_index("ix_session_reading_session_time", table_name="session_reading")
