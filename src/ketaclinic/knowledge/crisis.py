"""What a person at risk is told, and whom to contact when the clinic has set no contacts."""

from functools import cache
from typing import Any

from ketaclinic.knowledge.tables import load_table


@cache
def _table() -> dict[str, Any]:
    return load_table("crisis")


def fallback_contacts() -> list[str]:
    """The national crisis line and emergency number (crisis.toml), for a network with none."""
    return list(_table()["fallback_contacts"])


def act_now() -> str:
    """What a person at high risk is told: call 988 or 911 now."""
    return str(_table()["act_now"])


def reach_out() -> str:
    """What anyone whose answers suggest suicidal thoughts is told."""
    return str(_table()["reach_out"])
