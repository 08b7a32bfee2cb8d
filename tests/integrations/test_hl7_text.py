"""The field-by-field HL7 v2 reader gives what a general HL7 library gives for every field,
repetition and component of generated messages (python-hl7 as the reference)."""

import hl7
import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from ketaclinic.integrations.hl7_text import Message, NotHL7

TEXT = st.text(alphabet="ABCxyz019 .-+:/", max_size=6)
COMPONENTS = st.lists(st.lists(TEXT, min_size=1, max_size=2).map("&".join), min_size=1,
                      max_size=3).map("^".join)
FIELDS = st.lists(COMPONENTS, min_size=1, max_size=2).map("~".join)
SEGMENT = st.tuples(st.sampled_from(["PID", "PV1", "OBR", "OBX", "ZZZ"]),
                    st.lists(FIELDS, max_size=8)).map(lambda s: "|".join([s[0], *s[1]]))


def reference_component(segment: hl7.Segment, number: int, index: int) -> str:
    """Component `index` of the field's first repetition, read from python-hl7's tree."""
    try:
        value = segment[number]
    except IndexError:
        return ""
    if isinstance(value, hl7.Field) and len(value) and isinstance(value[0], hl7.Repetition):
        value = value[0]
    try:
        part = value[index]
    except (IndexError, TypeError):
        return "" if index else str(value or "")
    return str(part or "")


@settings(max_examples=300, deadline=None)
@given(header=st.lists(FIELDS, min_size=8, max_size=12), body=st.lists(SEGMENT, max_size=6))
def test_every_field_and_component_matches_the_general_library(header, body) -> None:
    text = "\r".join(["|".join(["MSH", "^~\\&", *header]), *body]) + "\r"
    ours, theirs = Message(text), hl7.parse(text)
    assert [s.name for s in ours.segments_in_order] == [str(s[0]) for s in theirs]
    for mine, reference in zip(ours.segments_in_order, theirs, strict=True):
        for number in range(len(reference) + 2):
            expected = str(reference[number]) if number < len(reference) else ""
            assert mine.field(number) == expected
            for index in range(4 if number else 0):  # field 0 is the segment's name
                assert mine.component(number, index) == reference_component(reference, number,
                                                                            index)


@pytest.mark.parametrize("text", ["", "PID|1", "MSH", "MSH|^^^^|x"])
def test_text_without_a_header_and_its_separators_is_refused(text: str) -> None:
    with pytest.raises(NotHL7):
        Message(text)
