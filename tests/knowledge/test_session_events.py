"""Session events and scores as typed rules: coded side effects and interventions, and the
MOAA/S and CADSS scales that accept whole numbers in range only; check-in checks by route."""

import pytest

from ketaclinic.knowledge import checkin, session_events


def test_event_codes_by_kind() -> None:
    codes = session_events.event_codes()
    assert codes.system.endswith("/CodeSystem/session-event")
    assert codes.of("side-effect")["nausea"] == "Nausea"
    assert "antiemetic-given" in codes.of("intervention")
    assert not set(codes.side_effects) & set(codes.interventions)


def test_scales_hold_whole_numbers_in_range_only() -> None:
    moass = session_events.scale("moass")
    assert (moass.min, moass.max) == (0, 5) and moass.source
    assert moass.holds(5) and moass.holds(0)
    assert not moass.holds(6) and not moass.holds(2.5) and not moass.holds(-1)
    with pytest.raises(KeyError):
        session_events.scale("gcs")


def test_every_route_has_check_in_checks_and_ids_are_unique() -> None:
    ids = [c.id for c in checkin.checks()]
    assert len(ids) == len(set(ids))
    for route in ("iv", "esketamine", "im", "oral"):
        assert checkin.checks_for(route), route
