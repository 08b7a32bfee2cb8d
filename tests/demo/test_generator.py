"""The demo generator is deterministic, varied and speaks only codes from codes.md."""

from datetime import UTC, date, datetime

from ketaclinic.demo.generator import generate
from ketaclinic.knowledge.codes import known_codes

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


def test_same_seed_same_patients() -> None:
    assert generate(30, 7, TODAY, NOW) == generate(30, 7, TODAY, NOW)
    assert generate(30, 7, TODAY, NOW) != generate(30, 8, TODAY, NOW)


def test_histories_are_varied_and_plausible() -> None:
    people = generate(50, 20261126, TODAY, NOW)
    assert len({(p.given_name, p.family_name) for p in people}) > 35
    assert {p.sex for p in people} == {"female", "male"}
    assert {p.site_index for p in people} == {0, 1}
    conditions = {c.concept.display for p in people for c in p.conditions}
    assert len(conditions) >= 8
    assert any(c.clinical_status == "resolved" for p in people for c in p.conditions)
    assert sum(bool(p.medications) for p in people) >= 10
    for p in people:
        assert p.vitals and all(v.measured_at <= NOW for v in p.vitals)
        assert all(20 <= v.weight_kg <= 350 and 40 <= v.systolic <= 300 for v in p.vitals)
        assert all(c.abatement is None or c.abatement >= c.onset for c in p.conditions)
        assert 18 <= (TODAY - p.birth_date).days // 365 <= 80


def test_every_emitted_code_is_in_the_codes_table() -> None:
    known = known_codes()
    for p in generate(200, 1, TODAY, NOW):
        for concept in [c.concept for c in p.conditions] + [m.concept for m in p.medications] + [
            a[0] for a in p.allergies
        ]:
            assert (concept.system, concept.code) in known
