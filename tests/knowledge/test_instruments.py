"""Scoring of every instrument at its band edges, domain maxima and refusals."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.knowledge.instruments import AnswersRefused, instrument, instruments, score


def _spread(total: int, items: int, top: int) -> list[int | None]:
    """Answers adding up to `total`, filled item by item."""
    answers: list[int | None] = []
    for _ in range(items):
        answers.append(min(top, total))
        total -= answers[-1]
    assert total == 0
    return answers


@pytest.mark.parametrize(("key", "edges"), [
    ("phq9", [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
              (14, "moderate"), (15, "moderately severe"), (19, "moderately severe"),
              (20, "severe"), (27, "severe")]),
    ("gad7", [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
              (14, "moderate"), (15, "severe"), (21, "severe")]),
    ("pcl5", [(0, "below the probable-PTSD cut-off"), (32, "below the probable-PTSD cut-off"),
              (33, "probable PTSD"), (80, "probable PTSD")]),
])
def test_sum_scored_band_edges(key: str, edges: list[tuple[int, str]]) -> None:
    form = instrument(key)
    top = form.answer_range[1]
    for total, band in edges:
        result = score(key, _spread(total, len(form.items), top))
        assert (result.total, result.band) == (total, band)
        assert len(result.answers) == len(form.items)


def test_phq9_keeps_item_9_beside_the_total() -> None:
    result = score("phq9", [0, 0, 0, 0, 0, 0, 0, 0, 2])
    assert result.total == 2 and result.answers[8] == 2


@pytest.mark.parametrize(("total", "band"), [(0, "none"), (5, "none"), (6, "mild"), (10, "mild"),
                                             (11, "moderate"), (15, "moderate"), (16, "severe"),
                                             (20, "severe"), (21, "very severe"),
                                             (27, "very severe")])
def test_qids16_band_edges(total: int, band: str) -> None:
    # Nine domains; fill domain by domain using the first item of each.
    firsts = [1, 5, 6, 10, 11, 12, 13, 14, 15]
    answers = [0] * 16
    left = total
    for item in firsts:
        answers[item - 1] = min(3, left)
        left -= answers[item - 1]
    result = score("qids16", list(answers))
    assert (result.total, result.band) == (total, band)


def test_qids16_takes_the_highest_item_in_each_multi_item_domain() -> None:
    # Sleep items 1-4 all at 3 count once (3); appetite 6-9 at 1,2,0,1 count 2; psychomotor 15-16: 1,3 -> 3.
    answers = [3, 3, 3, 3, 0, 1, 2, 0, 1, 0, 0, 0, 0, 0, 1, 3]
    assert score("qids16", list(answers)).total == 3 + 2 + 3
    # All items at the maximum: 9 domains x 3 = 27, not 48.
    assert score("qids16", [3] * 16).total == 27


@pytest.mark.parametrize(("answers", "level"), [
    ([0, 0, 0, 0, 0, 0, None], "none"),
    ([1, 0, None, None, None, 0, None], "low"),
    ([0, 1, 0, 0, 0, 0, None], "low"),  # active suicidal thoughts without method: low
    ([1, 1, 1, 0, 0, 0, None], "moderate"),  # a method considered
    ([0, 0, None, None, None, 1, 0], "moderate"),  # behaviour, more than 3 months ago
    ([0, 0, None, None, None, 1, 1], "high"),  # behaviour in the past 3 months: act now
    ([1, 1, 0, 1, 0, 0, None], "high"),  # intent
    ([0, 1, 0, 0, 1, 0, None], "high"),  # a plan
])
def test_cssrs_risk_levels_without_a_total(answers: list[int | None], level: str) -> None:
    result = score("cssrs", answers)
    assert result.risk_level == level and result.total is None


def test_cssrs_skips_items_3_to_5_when_item_2_is_no_and_7_when_6_is_no() -> None:
    assert score("cssrs", [1, 0, None, None, None, 0, None]).answers == (
        1, 0, None, None, None, 0, None)
    with pytest.raises(AnswersRefused, match="only asked when item 2"):
        score("cssrs", [1, 0, 1, None, None, 0, None])
    with pytest.raises(AnswersRefused, match="item 3 is not answered"):
        score("cssrs", [1, 1, None, 0, 0, 0, None])
    with pytest.raises(AnswersRefused, match="item 7 is not answered"):
        score("cssrs", [0, 0, None, None, None, 1, None])


def test_madrs_keeps_its_ten_item_scores() -> None:
    result = score("madrs", [3, 2, 2, 3, 1, 2, 3, 2, 2, 4])
    assert result.total == 24 and result.answers[9] == 4
    with pytest.raises(AnswersRefused) as refused:
        score("madrs", [7] + [0] * 9)
    assert refused.value.field == "answers[0]" and "0 to 6" in refused.value.accepted


@pytest.mark.parametrize(("key", "low", "high"), [("moass", 0, 5), ("cadss", 0, 92),
                                                  ("pain", 0, 10)])
def test_single_value_instruments(key: str, low: int, high: int) -> None:
    assert score(key, [low]).total == low and score(key, [high]).total == high
    with pytest.raises(AnswersRefused) as refused:
        score(key, [high + 1])
    assert refused.value.field == "answers[0]" and f"{low} to {high}" in refused.value.accepted


def test_incomplete_form_is_not_scored() -> None:
    with pytest.raises(AnswersRefused) as refused:
        score("phq9", [1, 1, 1, None, 1, 1, 1, 1, 0])
    assert refused.value.field == "answers[3]" and "incomplete" in refused.value.message
    with pytest.raises(AnswersRefused, match="has 9 answers, 8 given"):
        score("phq9", [1] * 8)


@pytest.mark.parametrize("bad", [4, -1, 2.5, True, "2"])
def test_out_of_range_answer_is_refused_with_the_scale(bad: object) -> None:
    with pytest.raises(AnswersRefused) as refused:
        score("phq9", [0, 0, bad, 0, 0, 0, 0, 0, 0])  # type: ignore[list-item]
    assert refused.value.field == "answers[2]"
    assert refused.value.accepted == "a whole number from 0 to 3"


def test_unknown_instrument_lists_the_known_ones() -> None:
    with pytest.raises(AnswersRefused) as refused:
        score("beck", [1])
    assert "phq9" in refused.value.accepted and refused.value.field == "instrument"


def test_wording_only_where_the_licence_allows() -> None:
    for form in instruments().values():
        if form.wording:
            assert all(item.text for item in form.items), form.key
        else:
            assert all(item.text == "" for item in form.items), form.key
        assert form.licence and form.source


def test_item_codes_come_from_the_code_tables() -> None:
    from ketaclinic.knowledge.codes import reference_codes

    for form in instruments().values():
        for coding in [form.total_code, *(i.code for i in form.items)]:
            if coding.system == "http://loinc.org":
                assert coding.code in reference_codes(), (form.key, coding.code)
            else:
                assert coding.system == "https://ketaclinic.org/CodeSystem/instrument"


@given(st.lists(st.integers(0, 3), min_size=9, max_size=9))
def test_phq9_total_is_the_sum_and_always_banded(answers: list[int]) -> None:
    result = score("phq9", list(answers))
    assert result.total == sum(answers) and result.band is not None
