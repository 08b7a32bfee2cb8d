"""Reading IHE PCD-01 ORU^R01 messages from bedside monitors, and answering them (HL7 v2 ACK).

The parser is pure: it turns one message into readings or says why it cannot, so that the
listener can store first and acknowledge after (MSA AA), or answer AE/AR with the reason.
"""

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from ketaclinic import clock
from ketaclinic.integrations import hl7_text
from ketaclinic.knowledge import monitor_codes
from ketaclinic.knowledge.monitoring import Reading
from ketaclinic.knowledge.vital_limits import plausible_ranges

MLLP_START = b"\x0b"
MLLP_END = b"\x1c\x0d"
SKIPPED_RESULT_STATUS = frozenset({"X", "D", "W"})  # cannot obtain, deleted, wrong


class MessageRejected(ValueError):
    """A message that cannot be taken: AR (not one we process) or AE (an error in it)."""

    def __init__(self, code: str, reason: str, control_id: str = "",
                 read: "MonitorMessage | None" = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.control_id = control_id
        self.read = read  # what was read before the refusal (where it came from), if anything


@dataclass(frozen=True)
class MonitorReading:
    """One vital-sign value from one OBX, converted to the clinic's unit."""

    field: str
    value: float
    taken: datetime
    device: str
    obx: int
    stamp: str = ""  # the HL7 time it was taken at, as sent
    zoned: bool = True  # whether that time carried its offset (else: read in the default zone)


@dataclass
class MonitorMessage:
    """What a monitor gateway sent: who, where, and the readings."""

    control_id: str
    sending_application: str
    sending_facility: str
    location: str
    devices: list[str] = field(default_factory=list)
    readings: list[MonitorReading] = field(default_factory=list)
    # The vital-sign OBX not read, each with why: the message's other readings are taken.
    set_aside: list[str] = field(default_factory=list)

    def in_zone(self, time_zone: str) -> "MonitorMessage":
        """The message with its times that carried no offset read in this zone (the chair's
        site's): the text is parsed once, and only those times are read again."""
        if all(r.zoned for r in self.readings):
            return self
        readings = [r if r.zoned else replace(r, taken=_parsed(r.stamp, time_zone))
                    for r in self.readings]
        return replace(self, readings=readings)

    def as_readings(self) -> list[Reading]:
        """The values grouped into one Reading per moment, for the alarm logic."""
        by_time: dict[datetime, dict[str, float]] = defaultdict(dict)
        for r in self.readings:
            by_time[r.taken][r.field] = r.value
        return [Reading(taken, **values) for taken, values in sorted(by_time.items())]


# A monitor's message repeats its time in each OBX, and monitors report the same seconds: each
# time is read again in the chair's zone once routed, so most texts have been read just before.
@lru_cache(maxsize=4096)
def parse_timestamp(text: str, default_tz: str = "UTC") -> datetime | None:
    """An HL7 v2 TS/DTM (YYYYMMDD[HHMM[SS[.S+]]][+/-ZZZZ]) as an aware datetime."""
    text = text.strip()
    offset = None
    for sign in ("+", "-"):
        if sign in text[8:]:
            text, zone = text[: text.rindex(sign)], text[text.rindex(sign):]
            if len(zone) != 5 or not zone[1:].isdigit():
                return None
            minutes = int(zone[1:3]) * 60 + int(zone[3:5])
            offset = timezone(timedelta(minutes=minutes if sign == "+" else -minutes))
            break
    whole, _, fraction = text.partition(".")
    if len(whole) not in (8, 10, 12, 14) or not whole.isdigit():
        return None
    padded = whole.ljust(14, "0")
    try:
        moment = datetime(int(padded[:4]), int(padded[4:6]), int(padded[6:8]), int(padded[8:10]),
                          int(padded[10:12]), int(padded[12:14]))
    except ValueError:
        return None
    if fraction.isdigit():
        moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    return moment.replace(tzinfo=offset or ZoneInfo(default_tz)).astimezone(UTC)


def has_offset(text: str) -> bool:
    """Whether an HL7 v2 time carries its UTC offset."""
    return any(sign in text.strip()[8:] for sign in "+-")


def _parsed(text: str, time_zone: str) -> datetime:
    moment = parse_timestamp(text, time_zone)
    assert moment is not None  # it parsed when the message was read
    return moment


def parse_oru(text: str, *, default_tz: str = "UTC") -> MonitorMessage:
    """The readings in one ORU^R01 message; MessageRejected (AR or AE) with the reason if not."""
    cleaned = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r\x0b\x1c")
    if not cleaned.startswith("MSH"):
        raise MessageRejected("AR", "not an HL7 v2 message (no MSH segment)")
    try:
        message = hl7_text.Message(cleaned)
    except hl7_text.NotHL7 as exc:
        raise MessageRejected("AR", f"not a parsable HL7 v2 message: {exc}") from None
    msh = message.segment("MSH")
    control_id = msh.field(10)
    kind = f"{msh.component(9, 0)}^{msh.component(9, 1)}"
    if not control_id:
        raise MessageRejected("AR", "MSH-10 (message control id) is empty")
    if kind != "ORU^R01":
        raise MessageRejected("AR", f"message type {kind} is not accepted (accepted: ORU^R01)",
                              control_id)
    result = MonitorMessage(control_id=control_id,
                            sending_application=msh.component(3, 0),
                            sending_facility=msh.component(4, 0), location="")
    try:
        pv1 = message.segment("PV1")
        result.location = "^".join(p for p in (pv1.component(3, i) for i in range(3)) if p)
    except KeyError:
        pass
    fallback_text = msh.field(7)
    fallback = parse_timestamp(fallback_text, default_tz)
    try:
        observed_text = message.segment("OBR").field(7)
        observed = parse_timestamp(observed_text, default_tz)
        if observed is not None:
            fallback, fallback_text = observed, observed_text
    except KeyError:
        pass
    problems = _read_observations(message, result, (fallback, fallback_text), default_tz)
    if not result.readings:
        raise MessageRejected(
            "AE", "; ".join(problems) or "no vital-sign observation (OBX) the clinic records",
            control_id, result)
    # A monitor sends each module's values in one message: an SpO2 probe's nonsense, or a
    # temperature in a unit not accepted, is no reason to lose the blood pressure beside it
    # (and the alarm it may raise).
    result.set_aside = problems
    return result


def _read_observations(message: hl7_text.Message, result: MonitorMessage,
                       fallback: tuple[datetime | None, str], default_tz: str) -> list[str]:
    mdc, loinc = monitor_codes.fields_by_code()
    ranges = plausible_ranges()
    problems: list[tuple[int, str, str]] = []  # (OBX, field, why it was not read)
    try:
        segments = message.segments("OBX")
    except KeyError:
        return ["the message has no OBX segment"]
    for number, obx in enumerate(segments, start=1):
        code, system = obx.component(3, 0), obx.component(3, 2).upper()
        name = mdc.get(code) if system in ("MDC", "") else None
        name = name or (loinc.get(code) if system in ("LN", "LOINC", "") else None)
        device = obx.component(18, 0)
        if device and device not in result.devices:
            result.devices.append(device)
        if name is None or obx.field(11) in SKIPPED_RESULT_STATUS:
            continue  # device hierarchy, settings and other observations are not vital signs
        raw = obx.field(5).strip()
        try:
            value = float(raw)
        except ValueError:
            problems.append((number, name, f"value {raw!r} is not a number"))
            continue
        units = {obx.component(6, 0), obx.component(6, 1)} - {""}
        factors = monitor_codes.accepted_units(name)
        conversion = next((factors[u] for u in units if u in factors), None)
        if conversion is None:
            problems.append((number, name, f"unit {'/'.join(sorted(units)) or 'missing'} is not "
                                           f"accepted (accepted: {', '.join(factors)})"))
            continue
        value = round(conversion.apply(value), 1)
        if not ranges[name].contains(value):
            problems.append((number, name, f"{value:g} is outside the possible range "
                                           f"({ranges[name].describe()})"))
            continue
        stamp = obx.field(14)
        taken = parse_timestamp(stamp, default_tz)
        if taken is None:
            taken, stamp = fallback
        if taken is None:
            problems.append((number, name, "no observation time (OBX-14, OBR-7 or MSH-7)"))
            continue
        result.readings.append(MonitorReading(name, value, taken, device, number, stamp,
                                              has_offset(stamp)))
    _keep_pressures_whole(result, problems)
    return [f"OBX {number} ({name}): {why}" for number, name, why in problems]


PRESSURE_SIDES = frozenset({"systolic_mmhg", "diastolic_mmhg"})


def _keep_pressures_whole(result: MonitorMessage, problems: list[tuple[int, str, str]]) -> None:
    """A blood pressure is taken whole or not at all: one side not read (a cuff's artefact)
    sets the message's other side aside with it."""
    unread = [number for number, name, _ in problems if name in PRESSURE_SIDES]
    if not unread:
        return
    for reading in [r for r in result.readings if r.field in PRESSURE_SIDES]:
        result.readings.remove(reading)
        problems.append((reading.obx, reading.field,
                         f"set aside with the other side of the blood pressure (OBX {unread[0]})"))
    problems.sort()


def ack(original: str, code: str, *, control_id: str, reason: str = "",
        now: datetime | None = None, sender: tuple[str, str] | None = None) -> str:
    """The HL7 v2 ACK for a message: MSA AA, or AE/AR with the reason in MSA-3 and ERR.
    `sender`: the message's MSH-3 and MSH-4 when already parsed (else read from `original`)."""
    application, facility = sender or ("", "")
    if sender is None:
        try:
            msh = hl7_text.Message(original.strip("\r\n\x0b\x1c")).segment("MSH")
            application, facility = msh.component(3, 0), msh.component(4, 0)
        except hl7_text.NotHL7:  # an unparsable message still gets an answer
            pass
    stamp = (now or clock.now()).strftime("%Y%m%d%H%M%S+0000")
    reason = reason.replace("|", "/").replace("^", " ").replace("~", "-").replace("&", "and")
    reason = reason.replace("\\", "/")[:200]
    lines = [f"MSH|^~\\&|KETACLINIC||{application}|{facility}|{stamp}||ACK^R01^ACK|"
             f"ACK{control_id[:16] or 'UNKNOWN'}|P|2.6",
             f"MSA|{code}|{control_id}" + (f"|{reason}" if reason else "")]
    if code != "AA":
        lines.append(f"ERR||||E|||{reason}")
    elif reason:  # taken, with a warning: observations set aside, or readings held back
        lines.append(f"ERR||||W|||{reason}")
    return "\r".join(lines) + "\r"


def frame(message: str) -> bytes:
    """The message wrapped in MLLP framing."""
    return MLLP_START + message.encode("utf-8") + MLLP_END
