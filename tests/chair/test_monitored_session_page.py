"""The chair-side page of a session a monitor feeds every second: it lists the newest readings
with a link to all of them, and draws its chart from a bounded number of buckets that keep every
dip and spike, so the page costs about the same at the 40th minute as at the first."""

import re
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from ketaclinic.chair.pages import READINGS_SHOWN
from ketaclinic.clinics.models import Site
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.svg_chart import Bucket
from ketaclinic.knowledge.monitoring import Reading
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.chart import (
    MIN_SPAN,
    REDRAW_AT_LEAST_EVERY_S,
    SERIES,
    SESSION_BUCKETS,
    redraw_every_s,
    session_series,
)
from ketaclinic.treatments.models import TreatmentSession
from ketaclinic.treatments.readings_by_page import READINGS_PAGE
from tests.statements import statements_sent
from tests.treatments.test_ingest import open_session

SECONDS = 900  # fifteen minutes of a monitor at one reading a second


def _rows(page: str) -> list[str]:
    table = page[page.index('id="readings"'):]
    return re.findall(r"<tr><td>([^<]+)</td>", table[:table.index("</table>")])


def test_a_monitored_session_lists_its_newest_readings_and_charts_them_bounded(
        api, web, world, db: Session) -> None:
    session_id = open_session(api, db, world.patients["p_a1"])
    session = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session_id))).scalar_one()
    start = session.checked_in_at + timedelta(minutes=1)
    readings = [Reading(start + timedelta(seconds=i), systolic_mmhg=118.0 + i % 5,
                        diastolic_mmhg=76.0, heart_rate_bpm=70.0 + i % 3, spo2_pct=98.0)
                for i in range(SECONDS)]
    # one dip among hundreds: a bucket keeps its lowest reading, so the chart still shows it
    readings[400] = Reading(readings[400].taken, systolic_mmhg=118.0, diastolic_mmhg=76.0,
                            heart_rate_bpm=70.0, spo2_pct=84.0)
    # the heart rate not yet measured in the first minute: its first stretches have none
    readings[:60] = [Reading(r.taken, systolic_mmhg=r.systolic_mmhg,
                             diastolic_mmhg=r.diastolic_mmhg, spo2_pct=r.spo2_pct)
                     for r in readings[:60]]
    nurse = Actor(username="nurse_a", role="nurse", site_pks=frozenset({session.site_pk}))
    treatments.store_readings(db=db, treatment_session=session, chair_pk=session.chair_pk,
                              readings=readings, source="api", actor=nurse)
    db.flush()
    page = web["nurse_a"].get(f"/treatment-sessions/{session_id}")
    assert page.status_code == 200
    shown = _rows(page.text)
    newest = [r.taken for r in readings[::-1][:READINGS_SHOWN]]
    assert len(shown) == READINGS_SHOWN
    site_zone = ZoneInfo(db.execute(select(Site.time_zone).where(Site.pk == session.site_pk))
                         .scalar_one())
    assert shown == [moment.astimezone(site_zone).strftime("%H:%M:%S") for moment in newest]
    older = re.search(r'id="older-readings">The latest (\d+) of (\d+) readings · '
                      r'<a href="([^"]+)">All readings</a>', page.text)
    assert older is not None and older.groups()[:2] == (str(READINGS_SHOWN), str(SECONDS))
    every = web["nurse_a"].get(older.group(3))
    # the list of every reading comes a page at a time (tests/chair/test_session_readings_pages.py)
    assert every.status_code == 200 and len(_rows(every.text)) == min(READINGS_PAGE, SECONDS)
    assert _rows(every.text)[:READINGS_SHOWN] == shown
    live = web["nurse_a"].get(f"/treatment-sessions/{session_id}/live")
    assert _rows(live.text) == shown

    chart = page.text[page.text.index('<svg id="session-chart"'):]
    chart = chart[:chart.index("</svg>")]
    lines = re.findall(r'<polyline fill="none" stroke-width="1.5" points="([^"]+)"', chart)
    assert len(lines) == 4  # systolic, diastolic, heart rate, SpO2
    assert all(len(points.split()) <= SESSION_BUCKETS for points in lines)
    spo2 = chart[chart.index("<title>SpO2 %</title>"):]
    ranges = [float(y) for y in re.findall(r'y2="([\d.]+)" stroke-width="3"', spo2[:spo2.index(
        "</g>")])]
    assert len(ranges) == 1, "the one bucket holding the dip draws its range"

    whole = api["nurse_a"].get(f"/api/v1/treatment-sessions/{session_id}").json()
    assert whole["reading_count"] == len(whole["readings"]) == SECONDS
    newest_json = api["nurse_a"].get(f"/api/v1/treatment-sessions/{session_id}",
                                     params={"readings_limit": 25}).json()
    assert newest_json["reading_count"] == SECONDS
    assert newest_json["readings"] == whole["readings"][-25:]
    assert newest_json["discharge_missing"] == whole["discharge_missing"]
    assert newest_json["next_reading_due"] == whole["next_reading_due"]
    for bad in ("0", "many"):
        refused = api["nurse_a"].get(f"/api/v1/treatment-sessions/{session_id}",
                                     params={"readings_limit": bad})
        assert refused.status_code == 422 and "readings_limit" in refused.text, refused.text

    series = session_series(db, session.pk)
    assert all(0 < len(series[field]) <= SESSION_BUCKETS for field, _, _ in SERIES)
    # equal stretches of time from the first reading to the last, each holding some readings
    width = (readings[-1].taken - readings[0].taken) / SESSION_BUCKETS
    assert len(series["systolic_mmhg"]) == SESSION_BUCKETS
    for number, bucket in enumerate(series["systolic_mmhg"]):
        assert (readings[0].taken + number * width - timedelta(seconds=1) <= bucket.at
                <= readings[0].taken + (number + 1) * width + timedelta(seconds=1)), number
    for field, _, _ in SERIES:
        values = [v for r in readings if (v := getattr(r, field)) is not None]
        assert min(b.low for b in series[field]) == min(values), field
        assert max(b.high for b in series[field]) == max(values), field
        assert all(b.low <= b.mean <= b.high for b in series[field])
        assert all(readings[0].taken <= b.at <= readings[-1].taken for b in series[field])
        assert [b.at for b in series[field]] == sorted(b.at for b in series[field])
    assert min(b.at for b in series["heart_rate_bpm"]) >= readings[60].taken - width
    assert len(series["heart_rate_bpm"]) < SESSION_BUCKETS


def test_a_session_of_few_readings_charts_each_one(api, world, db: Session) -> None:
    session_id = open_session(api, db, world.patients["p_a1"])
    session = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session_id))).scalar_one()
    start = session.checked_in_at + timedelta(minutes=1)
    readings = [Reading(start + timedelta(minutes=5 * i), systolic_mmhg=120.0 + i,
                        diastolic_mmhg=None if i == 2 else 80.0) for i in range(4)]
    nurse = Actor(username="nurse_a", role="nurse", site_pks=frozenset({session.site_pk}))
    treatments.store_readings(db=db, treatment_session=session, chair_pk=session.chair_pk,
                              readings=readings, source="api", actor=nurse)
    series = session_series(db, session.pk)
    assert [(b.at, b.low, b.high) for b in series["systolic_mmhg"]] == [
        (r.taken, r.systolic_mmhg, r.systolic_mmhg) for r in readings]
    assert [b.at for b in series["diastolic_mmhg"]] == [
        r.taken for r in readings if r.diastolic_mmhg is not None]
    assert series["spo2_pct"] == []


def test_another_clinic_cannot_list_a_session_s_readings(api, web, world, db: Session) -> None:
    session_id = open_session(api, db, world.patients["p_a1"])
    assert web["nurse_b"].get(f"/treatment-sessions/{session_id}/readings").status_code == 404


def test_the_chart_is_a_part_of_its_own_redrawn_at_most_once_a_stretch(
        api, web, world, db: Session) -> None:
    # The live part (alarms, newest readings) is fetched at every change; the chart groups
    # every reading of the session, so the page fetches it at most once a stretch.
    session_id = open_session(api, db, world.patients["p_a1"])
    session = db.execute(select(TreatmentSession).where(
        TreatmentSession.id == uuid.UUID(session_id))).scalar_one()
    nurse = Actor(username="nurse_a", role="nurse", site_pks=frozenset({session.site_pk}))
    treatments.store_readings(db=db, treatment_session=session, chair_pk=session.chair_pk,
                              source="api", actor=nurse, readings=[Reading(
                                  session.checked_in_at + timedelta(minutes=m),
                                  systolic_mmhg=120.0, diastolic_mmhg=80.0) for m in (1, 2)])
    page = web["nurse_a"].get(f"/treatment-sessions/{session_id}")
    every = MIN_SPAN.total_seconds() / SESSION_BUCKETS
    assert (f'data-live="/treatment-sessions/{session_id}/chart" data-stream="/treatment-sessions/'
            f'{session_id}/stream?drawn=') in page.text and f'data-every="{every:g}"' in page.text
    assert '<svg id="session-chart"' in page.text
    live = web["nurse_a"].get(f"/treatment-sessions/{session_id}/live")
    assert live.status_code == 200 and "session-chart" not in live.text
    chart = web["nurse_a"].get(f"/treatment-sessions/{session_id}/chart")
    assert chart.status_code == 200 and '<svg id="session-chart"' in chart.text
    assert web["nurse_b"].get(f"/treatment-sessions/{session_id}/chart").status_code == 404
    assert web["nurse_a"].get("/treatment-sessions/not-a-session/chart").status_code == 404
    two_hours = {"heart_rate_bpm": [Bucket(session.checked_in_at + timedelta(minutes=m), 70.0,
                                           70.0, 70.0) for m in (0, 120)]}
    assert redraw_every_s(two_hours) == REDRAW_AT_LEAST_EVERY_S  # a stretch is 30 s by then
    assert redraw_every_s({}) == every



def test_the_live_part_reads_only_what_it_shows(api, web, world, db: Session) -> None:
    # It is fetched at every reading a monitor sends, by every open page: the dose, stock,
    # check-in checks, addenda and the chair's unmatched readings are the whole page's, drawn
    # once.
    session_id = open_session(api, db, world.patients["p_a1"])
    api["nurse_a"].post(f"/api/v1/treatment-sessions/{session_id}/vitals",
                        json={"readings": [{"systolic_mmhg": 191, "diastolic_mmhg": 80}]})
    statements: list[str] = []

    def listener(_conn, _cursor, statement, *_rest) -> None:
        statements.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", listener)
    try:
        live = web["nurse_a"].get(f"/treatment-sessions/{session_id}/live")
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert live.status_code == 200 and "Systolic BP" in live.text and "alarming" in live.text
    read = " ".join(statements)
    for table in ("rule_override", "inventory", "course", "chair "):
        assert f"FROM {table}" not in read and f"JOIN {table}" not in read, table


def test_the_whole_page_reads_the_clinic_s_rule_set_once(api, web, world, db: Session) -> None:
    """The dose panel and the unmatched-readings offer take the rule set the page's judgement
    (discharge, the pre-dose check, the observation's end) was made on, not a read of their own."""
    session_id = open_session(api, db, world.patients["p_a1"])
    with statements_sent(db.get_bind()) as sent:
        page = web["nurse_a"].get(f"/treatment-sessions/{session_id}")
    assert page.status_code == 200
    assert sum("FROM rule_override" in statement for statement in sent) == 1
