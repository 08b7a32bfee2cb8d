"""HL7 v2 text read field by field: segments split once, a field's components only when asked.

A general HL7 library builds a tree of every field, repetition, component and subcomponent of a
message; the PCD-01 reader needs about nine fields of each, and at a network's monitor traffic
(hundreds of messages a second) building the tree was two fifths of the listener's CPU. Values
are returned as sent (escape sequences are not decoded), as the general library does.
"""

from dataclasses import dataclass


class NotHL7(ValueError):
    """Text that is not an HL7 v2 message."""


@dataclass(frozen=True)
class Separators:
    """The message's delimiters, from MSH-1 and MSH-2."""

    field: str
    component: str
    repetition: str


class Segment:
    """One segment; fields numbered as HL7 numbers them (MSH-1 is the field separator)."""

    __slots__ = ("_fields", "_separators", "name")

    def __init__(self, text: str, separators: Separators) -> None:
        fields = text.split(separators.field)
        self.name = fields[0]
        if self.name == "MSH":
            fields.insert(1, separators.field)
        self._fields = fields
        self._separators = separators

    def field(self, number: int) -> str:
        """Field `number` as sent ('' when absent)."""
        return self._fields[number] if 0 <= number < len(self._fields) else ""

    def component(self, number: int, index: int) -> str:
        """Component `index` (0-based) of the field's first repetition ('' when absent)."""
        if self.name == "MSH" and number in (1, 2):  # the separators themselves: one value
            return self.field(number) if index == 0 else ""
        first = self.field(number).split(self._separators.repetition, 1)[0]
        parts = first.split(self._separators.component)
        return parts[index] if index < len(parts) else ""


class Message:
    """A parsed message: its segments in order."""

    def __init__(self, text: str) -> None:
        lines = [line for line in text.strip().replace("\r\n", "\r").replace("\n", "\r")
                 .split("\r") if line]
        if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 8:
            raise NotHL7("no MSH segment with its separators")
        header = lines[0]
        self.separators = Separators(field=header[3], component=header[4], repetition=header[5])
        if len({header[3], header[4], header[5]}) < 3:
            raise NotHL7("MSH-1 and MSH-2 do not give distinct separators")
        self.segments_in_order = [Segment(line, self.separators) for line in lines]

    def segment(self, name: str) -> Segment:
        """The first segment of that name (KeyError when there is none)."""
        for segment in self.segments_in_order:
            if segment.name == name:
                return segment
        raise KeyError(name)

    def segments(self, name: str) -> list[Segment]:
        """Every segment of that name, in order (KeyError when there is none)."""
        found = [s for s in self.segments_in_order if s.name == name]
        if not found:
            raise KeyError(name)
        return found
