"""Which alerts a scored form raises: suicide risk graded by the Columbia triage, item thresholds
that escalate faster at higher answers, and rises between measures."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.knowledge.alert_rules import alert_rules, alerts_for
from ketaclinic.knowledge.instruments import score
from ketaclinic.knowledge.ruleset import default_ruleset


def fired(instrument: str, answers: list[int | None], previous: int | None = None
          ) -> list[tuple[str, str]]:
    return [(r.name, r.severity)
            for r in alerts_for(score(instrument, answers), previous, default_ruleset())]


@pytest.mark.parametrize(("answers", "expected"), [
    ([0, 0, None, None, None, 0, None], []),
    ([1, 0, None, None, None, 0, None], [("cssrs-low", "same-day")]),
    ([0, 1, 0, 0, 0, 0, None], [("cssrs-low", "same-day")]),  # item 2: active thoughts
    ([1, 1, 1, 0, 0, 0, None], [("cssrs-moderate", "same-day")]),
    ([0, 0, None, None, None, 1, 0], [("cssrs-moderate", "same-day")]),
    ([0, 0, None, None, None, 1, 1], [("cssrs-high", "immediate")]),
    ([1, 1, 1, 1, 1, 1, 1], [("cssrs-high", "immediate")]),
])
def test_cssrs_follows_the_columbia_triage(answers: list[int | None],
                                           expected: list[tuple[str, str]]) -> None:
    assert fired("cssrs", answers) == expected


@pytest.mark.parametrize(("item9", "expected"), [
    (0, []), (1, [("phq9-item9", "same-day")]), (2, [("phq9-item9-frequent", "immediate")]),
    (3, [("phq9-item9-frequent", "immediate")]),
])
def test_phq9_item9_at_two_or_three_is_more_urgent_than_at_one(item9: int, expected: list) -> None:
    assert fired("phq9", [0] * 8 + [item9]) == expected


def test_qids_item12_and_madrs_item10_raise_suicide_alerts() -> None:
    assert fired("qids16", [0] * 11 + [1] + [0] * 4) == [("qids16-item12", "same-day")]
    assert fired("qids16", [0] * 11 + [3] + [0] * 4) == [("qids16-item12-frequent", "immediate")]
    assert fired("madrs", [0] * 9 + [1]) == []
    assert fired("madrs", [0] * 9 + [2]) == [("madrs-item10", "same-day")]
    assert fired("madrs", [0] * 9 + [6]) == [("madrs-item10-frequent", "immediate")]


def test_a_rise_since_the_previous_measure() -> None:
    assert fired("phq9", [2, 2, 2, 1, 1, 1, 0, 0, 0], previous=4) == [("phq9-rise", "review")]
    assert fired("phq9", [2, 2, 2, 1, 1, 1, 0, 0, 0], previous=5) == []


def test_every_suicide_rule_shows_crisis_contacts_and_every_rule_is_sourced() -> None:
    for rule in alert_rules():
        assert rule.source and rule.message
        if rule.instrument == "cssrs" or rule.item is not None:
            assert rule.crisis, rule.name


@given(st.lists(st.integers(0, 3), min_size=9, max_size=9), st.one_of(st.none(), st.integers(0, 27)))
def test_phq9_alerts_are_exactly_what_the_answers_say(answers: list[int], previous: int | None
                                                      ) -> None:
    names = {name for name, _ in fired("phq9", list(answers), previous)}
    assert ("phq9-item9" in names) == (answers[8] == 1)
    assert ("phq9-item9-frequent" in names) == (answers[8] >= 2)
    assert ("phq9-rise" in names) == (previous is not None and sum(answers) - previous >= 5)


@given(st.lists(st.integers(0, 1), min_size=7, max_size=7))
def test_cssrs_raises_one_alert_at_the_highest_level_reached(raw: list[int]) -> None:
    answers: list[int | None] = list(raw)
    if not answers[1]:
        answers[2] = answers[3] = answers[4] = None
    if not answers[5]:
        answers[6] = None
    result = fired("cssrs", answers)
    high = any(answers[i] for i in (3, 4, 6))
    moderate = any(answers[i] for i in (2, 5))
    low = any(answers[i] for i in (0, 1))
    expected = "cssrs-high" if high else "cssrs-moderate" if moderate else "cssrs-low" if low \
        else None
    assert [name for name, _ in result] == ([expected] if expected else [])
