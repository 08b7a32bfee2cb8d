"""The audit hash chain: each row's SHA-256 covers its content and the previous row's hash."""

import hashlib
import json
from datetime import UTC, datetime

GENESIS_HASH = "0" * 64


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def row_hash(
    *,
    seq: int,
    event_id: str,
    created_at: datetime,
    created_by: str,
    role: str,
    action: str,
    record_type: str,
    record_id: str,
    patient_id: str | None,
    client: str,
    detail: str,
    prev_hash: str,
) -> str:
    """The SHA-256 hex digest of one audit row's content chained to the previous hash."""
    content = [
        seq,
        event_id,
        _timestamp(created_at),
        created_by,
        role,
        action,
        record_type,
        record_id,
        patient_id,
        client,
        detail,
        prev_hash,
    ]
    canonical = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
