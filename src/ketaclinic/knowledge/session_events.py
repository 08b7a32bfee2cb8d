"""What nurses record during a session (session_events.toml) and the scores' scales
(monitoring.toml): coded side effects and interventions, MOAA/S and CADSS ranges."""

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from ketaclinic.knowledge.tables import load_table


@dataclass(frozen=True)
class EventCodes:
    """The project's code system for session events: code -> what a person reads."""

    system: str
    side_effects: dict[str, str]
    interventions: dict[str, str]

    def of(self, kind: str) -> dict[str, str]:
        """The codes of an event kind ('side-effect' or 'intervention')."""
        return self.side_effects if kind == "side-effect" else self.interventions


@dataclass(frozen=True)
class Noted:
    """Something recorded during a session, as the rules read it: a score (kind 'moass' or
    'cadss', with its value), a side effect or an intervention (with its code), and when."""

    at: datetime
    kind: str
    value: float | None = None
    code: str = ""


@dataclass(frozen=True)
class Scale:
    """A score's whole-number range, with its source."""

    name: str
    min: int
    max: int
    source: str

    def holds(self, value: float) -> bool:
        """Whether a score is a whole number in the range."""
        return self.min <= value <= self.max and value % 1 == 0


@cache
def event_codes() -> EventCodes:
    """The coded side effects and interventions."""
    row = load_table("session_events")
    return EventCodes(str(row["system"]), dict(row["side_effects"]), dict(row["interventions"]))


def scale(name: str) -> Scale:
    """A session score's scale ('moass' or 'cadss'); KeyError for another name."""
    row = load_table("monitoring")["scales"][name]
    return Scale(name, int(row["min"]), int(row["max"]), str(row["source"]))
