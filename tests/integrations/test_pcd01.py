"""Reading IHE PCD-01 ORU^R01 monitor messages and answering them."""

import re
from datetime import UTC, datetime

import hl7
import pytest

from ketaclinic.integrations.pcd01 import (
    MLLP_END,
    MLLP_START,
    MessageRejected,
    ack,
    frame,
    parse_oru,
    parse_timestamp,
)

DEVICE = "0123456789ABCDEF^EUI-64"
PCD01 = "\r".join([
    "MSH|^~\\&|AcmeGW^ACDE48234567ABCD^EUI-64|HPC|||20261126140512-0500||ORU^R01^ORU_R01|"
    "MSG0001|P|2.6|||NE|AL||||||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
    "PID|||HPC000012^^^HPC^MR||Garcia^Maria",
    "PV1||O|HPC^Chair 2^1",
    "OBR|1|AB12345^AcmeGW|CD12345^AcmeGW|182777000^monitoring of patient^SNOMED-CT|||"
    "20261126140000-0500",
    f"OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||{DEVICE}",
    "OBX|2|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.0.1.1|186|266016^MDC_DIM_MMHG^MDC|||||R|||"
    f"20261126140500-0500||||{DEVICE}",
    "OBX|3|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.0.1.2|98|266016^MDC_DIM_MMHG^MDC|||||R|||"
    "20261126140500-0500",
    "OBX|4|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.0.2.1|88|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||"
    "20261126140500-0500",
    "OBX|5|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.0.2.2|97|262688^MDC_DIM_PERCENT^MDC|||||R|||"
    "20261126140500-0500",
    "OBX|6|NM|151562^MDC_RESP_RATE^MDC|1.0.3.1|16|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R|||"
    "20261126140500-0500",
    "OBX|7|NM|8310-5^Body temperature^LN||36.8|Cel^^UCUM|||||R",
]) + "\r"


def unreadable(message: str) -> str:
    """The message with none of its vital signs readable: each value sent as '---'."""
    return re.sub(r"(OBX\|\d+\|NM\|[^|]*\|[^|]*\|)[^|]*", r"\1---", message)


def test_a_real_format_pcd01_message() -> None:
    message = parse_oru(PCD01)
    assert (message.control_id, message.sending_application, message.location) == (
        "MSG0001", "AcmeGW", "HPC^Chair 2^1")
    assert message.devices == ["0123456789ABCDEF"]
    values = {r.field: r.value for r in message.readings}
    assert values == {"systolic_mmhg": 186, "diastolic_mmhg": 98, "heart_rate_bpm": 88,
                      "spo2_pct": 97, "respiratory_rate_per_min": 16, "temperature_c": 36.8}
    taken = {r.field: r.taken for r in message.readings}
    assert taken["systolic_mmhg"] == datetime(2026, 11, 26, 19, 5, tzinfo=UTC)
    assert taken["temperature_c"] == datetime(2026, 11, 26, 19, 0, tzinfo=UTC), "falls back to OBR-7"
    [first, second] = message.as_readings()
    assert (second.systolic_mmhg, second.spo2_pct, first.systolic_mmhg) == (186, 97, None)


def test_kilopascal_is_converted_and_newlines_are_tolerated() -> None:
    text = PCD01.replace("|186|266016^MDC_DIM_MMHG^MDC|", "|24.8|kPa^^UCUM|").replace("\r", "\n")
    systolic = next(r for r in parse_oru(text).readings if r.field == "systolic_mmhg")
    assert systolic.value == 186.0


@pytest.mark.parametrize(("text", "code", "reason"), [
    ("hello", "AR", "no MSH segment"),
    (PCD01.replace("ORU^R01^ORU_R01", "ADT^A01^ADT_A01"), "AR", "ADT^A01 is not accepted"),
    (PCD01.replace("|MSG0001|", "||"), "AR", "MSH-10"),
    (unreadable(PCD01), "AE", "OBX 2 (systolic_mmhg): value '---' is not a number; "
                              "OBX 3 (diastolic_mmhg): value '---' is not a number; OBX 4"),
    ("\r".join(PCD01.split("\r")[:5]) + "\r", "AE", "no vital-sign observation"),
])
def test_bad_messages_are_rejected_with_a_reason(text: str, code: str, reason: str) -> None:
    with pytest.raises(MessageRejected) as raised:
        parse_oru(text)
    assert raised.value.code == code and reason in raised.value.reason


@pytest.mark.parametrize(("text", "field", "why"), [
    (PCD01.replace("|97|262688", "|130|262688"), "spo2_pct",
     "OBX 5 (spo2_pct): 130 is outside the possible range (50 to 100 %)"),
    (PCD01.replace("|88|264864", "|abc|264864"), "heart_rate_bpm",
     "OBX 4 (heart_rate_bpm): value 'abc' is not a number"),
    (PCD01.replace("|88|264864", "||264864"), "heart_rate_bpm",
     "OBX 4 (heart_rate_bpm): value '' is not a number"),
    (PCD01.replace("|16|264928^MDC_DIM_RESP_PER_MIN^MDC", "|16|999^MDC_DIM_X^MDC"),
     "respiratory_rate_per_min", "OBX 6 (respiratory_rate_per_min): unit 999/MDC_DIM_X is not "
     "accepted"),
    (PCD01.replace("|36.8|Cel^^UCUM|", "|98.2|degF^^UCUM|"), "temperature_c",
     "OBX 7 (temperature_c): unit degF is not accepted"),
])
def test_an_observation_that_cannot_be_read_is_set_aside_and_the_rest_are_taken(
        text: str, field: str, why: str) -> None:
    message = parse_oru(text)
    read = {r.field for r in message.readings}
    assert field not in read and {"systolic_mmhg", "diastolic_mmhg"} <= read
    assert len(read) == 5 and len(message.set_aside) == 1 and why in message.set_aside[0]


def test_a_temperature_in_fahrenheit_is_read_in_celsius() -> None:
    for unit in ("266560^MDC_DIM_FAHR^MDC", "[degF]^^UCUM"):
        message = parse_oru(PCD01.replace("|36.8|Cel^^UCUM|", f"|98.6|{unit}|"))
        assert [r.value for r in message.readings if r.field == "temperature_c"] == [37.0]


def test_a_blood_pressure_is_taken_whole_or_not_at_all() -> None:
    message = parse_oru(PCD01.replace("|186|266016", "|20|266016"))
    assert {r.field for r in message.readings} == {
        "heart_rate_bpm", "spo2_pct", "respiratory_rate_per_min", "temperature_c"}
    assert message.set_aside == [
        "OBX 2 (systolic_mmhg): 20 is outside the possible range (40 to 300 mmHg)",
        "OBX 3 (diastolic_mmhg): set aside with the other side of the blood pressure (OBX 2)"]


def test_acknowledgements() -> None:
    accepted = ack(PCD01, "AA", control_id="MSG0001", now=datetime(2026, 11, 26, tzinfo=UTC))
    parsed = hl7.parse(accepted)
    assert str(parsed.segment("MSA")) == "MSA|AA|MSG0001"
    msh = parsed.segment("MSH")
    assert str(msh[9]) == "ACK^R01^ACK" and str(msh[5]) == "AcmeGW"
    refused = hl7.parse(ack(PCD01, "AE", control_id="MSG0001", reason="OBX 5: spo2_pct 130|x"))
    assert str(refused.segment("MSA")) == "MSA|AE|MSG0001|OBX 5: spo2_pct 130/x"
    assert "spo2_pct 130" in str(refused.segment("ERR"))
    assert str(hl7.parse(ack("garbage", "AR", control_id="")).segment("MSA")[1]) == "AR"
    warned = hl7.parse(ack(PCD01, "AA", control_id="MSG0001", reason="observations set aside: "
                           "OBX 5 (spo2_pct): 130 is outside the possible range"))
    assert str(warned.segment("MSA")[1]) == "AA"
    err = warned.segment("ERR")
    assert str(err[4]) == "W" and "OBX 5 (spo2_pct): 130" in str(err[7])
    with pytest.raises(KeyError):
        parsed.segment("ERR")


def test_framing_and_timestamps() -> None:
    framed = frame("MSH|x\r")
    assert framed.startswith(MLLP_START) and framed.endswith(MLLP_END)
    assert parse_timestamp("20261126140500.25+0100") == datetime(2026, 11, 26, 13, 5, 0, 250000,
                                                                 tzinfo=UTC)
    assert parse_timestamp("202611261405", "America/New_York") == datetime(2026, 11, 26, 19, 5,
                                                                           tzinfo=UTC)
    assert parse_timestamp("yesterday") is None and parse_timestamp("20261399") is None


@pytest.mark.parametrize(("code", "field", "value", "unit"), [
    # Respiratory rate by its method: monitors send the impedance rate (Mindray), capnography's
    # or the pleth's, not the method-free code alone.
    ("151578^MDC_TTHOR_RESP_RATE", "respiratory_rate_per_min", "8", "264928^MDC_DIM_RESP_PER_MIN"),
    ("151594^MDC_CO2_RESP_RATE", "respiratory_rate_per_min", "8", "264928^MDC_DIM_RESP_PER_MIN"),
    ("151570^MDC_AWAY_RESP_RATE", "respiratory_rate_per_min", "8", "264928^MDC_DIM_RESP_PER_MIN"),
    ("151658^MDC_PULS_OXIM_PLETH_RESP_RATE", "respiratory_rate_per_min", "8",
     "264928^MDC_DIM_RESP_PER_MIN"),
    ("149546^MDC_PULS_RATE_NON_INV", "heart_rate_bpm", "131", "264864^MDC_DIM_BEAT_PER_MIN"),
    ("188452^MDC_TEMP_AXILLA", "temperature_c", "38.9", "268192^MDC_DIM_DEGC"),
    ("188424^MDC_TEMP_ORAL", "temperature_c", "38.9", "268192^MDC_DIM_DEGC"),
])
def test_a_vital_sign_under_its_method_s_code_is_read(code: str, field: str, value: str,
                                                       unit: str) -> None:
    """A respiratory rate of 8 sent as the impedance rate (151578) was dropped as 'not a vital
    sign': the respiratory-rate alarm (below 10) could never fire for that monitor."""
    text = PCD01.replace("151562^MDC_RESP_RATE^MDC|1.0.3.1|16|264928^MDC_DIM_RESP_PER_MIN^MDC|",
                         f"{code}^MDC|1.0.3.1|{value}|{unit}^MDC|")
    read = [r.value for r in parse_oru(text).readings if r.field == field]
    assert float(value) in read


def test_a_skin_temperature_is_not_a_body_temperature() -> None:
    text = PCD01.replace("151562^MDC_RESP_RATE^MDC|1.0.3.1|16|264928^MDC_DIM_RESP_PER_MIN^MDC|",
                         "150388^MDC_TEMP_SKIN^MDC|1.0.3.1|33.1|268192^MDC_DIM_DEGC^MDC|")
    assert 33.1 not in [r.value for r in parse_oru(text).readings]
