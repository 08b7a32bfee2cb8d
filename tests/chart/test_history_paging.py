"""A chart's history a page at a time: the lists and the chart page show the newest entries and
lead to older ones, and the trend chart is drawn from a bounded series that keeps the peaks."""

import re
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.patients import chart as trend_chart
from ketaclinic.patients.models import Patient, VitalSigns
from ketaclinic.patients.trend import TREND_BUCKETS, buckets


def _with_readings(db: Session, pid: str, count: int, *, same_time: bool = False) -> list[float]:
    patient = db.execute(select(Patient).where(Patient.id == uuid.UUID(pid))).scalar_one()
    start = clock.now() - timedelta(days=60)
    systolics = []
    for i in range(count):
        # every few readings share a moment: the paging must still give each once
        moment = start + timedelta(hours=(i // 3 if same_time else i))
        systolic = 100.0 + (i * 7) % 60
        systolics.append(systolic)
        db.add(VitalSigns(patient_pk=patient.pk, measured_at=moment, systolic_mmhg=systolic,
                          diastolic_mmhg=70, heart_rate_bpm=70, created_by="nurse_a"))
    db.flush()
    return systolics


def test_the_vitals_list_pages_newest_first_and_the_links_reach_every_reading(
        api, db: Session, world) -> None:
    pid = world.patients["p_a1"]
    _with_readings(db, pid, 23, same_time=True)
    nurse = api["nurse_a"]
    first = nurse.get(f"/api/v1/patients/{pid}/vitals", params={"limit": 10})
    assert first.status_code == 200, first.text
    total = int(first.headers["X-Total-Count"])
    assert total >= 23 and len(first.json()) == 10
    seen, page = [], first
    while True:
        seen += [(e["measured_at"], e["id"]) for e in page.json()]
        link = page.headers.get("Link")
        if not link:
            break
        url = re.fullmatch(r'<([^>]+)>; rel="next"', link)
        assert url is not None, link
        page = nurse.get(url.group(1))
        assert page.status_code == 200
    assert len(seen) == total == len({entry_id for _, entry_id in seen})
    moments = [moment for moment, _ in seen]
    assert moments == sorted(moments, reverse=True)


def test_a_cursor_the_server_did_not_give_is_refused_naming_the_field(api, world) -> None:
    pid = world.patients["p_a1"]
    import base64

    naive = base64.urlsafe_b64encode(b"2026-01-01T00:00:00~5").decode().rstrip("=")
    for cursor in ("not-base64!", "MTIz", "eH5", naive):
        refused = api["nurse_a"].get(f"/api/v1/patients/{pid}/vitals",
                                     params={"before": cursor})
        assert refused.status_code == 422, (cursor, refused.text)
        assert "before" in refused.text
    too_many = api["nurse_a"].get(f"/api/v1/patients/{pid}/vitals", params={"limit": 100_000})
    assert too_many.status_code == 422 and "limit" in too_many.text


def _reading_rows(html: str) -> int:
    section = html[html.index('id="readings"'):]
    return len(re.findall(r'<tr class="[^"]*"><td>', section[:section.index("</table>")]))


def test_the_chart_page_lists_the_newest_readings_and_leads_to_older_ones(
        web, db: Session, world) -> None:
    pid = world.patients["p_a1"]
    _with_readings(db, pid, 45)
    page = web["nurse_a"].get(f"/patients/{pid}")
    assert page.status_code == 200
    assert _reading_rows(page.text) == 20
    older = re.search(r'id="older-readings" href="([^"]+)"', page.text)
    assert older is not None
    second = web["nurse_a"].get(older.group(1).replace("&amp;", "&"))
    assert second.status_code == 200 and "Newest readings" in second.text
    assert _reading_rows(second.text) == 20
    assert 'id="vitals-chart"' in page.text


def test_buckets_are_bounded_and_keep_every_peak() -> None:
    start = clock.now()
    points = [(start + timedelta(minutes=i), 120.0) for i in range(5000)]
    points[1234] = (points[1234][0], 210.0)  # one crisis reading among thousands
    points[4321] = (points[4321][0], 60.0)
    drawn = buckets(points)
    assert len(drawn) <= TREND_BUCKETS
    assert max(b.high for b in drawn) == 210.0 and min(b.low for b in drawn) == 60.0
    assert [b.at for b in drawn] == sorted(b.at for b in drawn)
    few = buckets(points[:7])
    assert [(b.low, b.high) for b in few] == [(120.0, 120.0)] * 7


def test_the_trend_chart_is_drawn_again_only_when_readings_change(
        db: Session, world, monkeypatch) -> None:
    pid = world.patients["p_a1"]
    patient = db.execute(select(Patient).where(Patient.id == uuid.UUID(pid))).scalar_one()
    drawn = []
    real = trend_chart.vitals_svg
    monkeypatch.setattr(trend_chart, "vitals_svg",
                        lambda series, tz: drawn.append(1) or real(series, tz))
    trend_chart._cache.clear()
    first = trend_chart.trend_svg(db, patient, "America/New_York")
    again = trend_chart.trend_svg(db, patient, "America/New_York")
    assert first == again and len(drawn) == 1
    _with_readings(db, pid, 1)
    trend_chart.trend_svg(db, patient, "America/New_York")
    assert len(drawn) == 2
