"""The demo's course histories produce the cards they should: responder, non-responder, late
responder, relapse (with a suggested interval) and a course still in induction."""

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.courses.models import Course
from ketaclinic.db import make_engine
from ketaclinic.demo.histories import STORIES
from ketaclinic.measures import trajectory
from ketaclinic.measures.models import MeasureAlert
from tests.cli_helpers import run_cli
from tests.conftest import BACKENDS, drop_postgres_database, fresh_database_url


@pytest.fixture(scope="module", params=BACKENDS)
def views(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[dict[str, trajectory.CourseView], Session]]:
    url = fresh_database_url(request.param, tmp_path_factory.mktemp("demo"))
    for args in (("db", "upgrade"), ("demo", "--patients", "14")):
        result = run_cli(url, *args)
        assert result.returncode == 0, result.stderr
    engine = make_engine(url)
    with Session(engine) as db:
        courses = db.execute(select(Course).order_by(Course.pk)).scalars().all()
        by_story = {}
        # The stories are told first; the demo's current weeks add courses after them.
        for story, course in zip(STORIES, courses[:len(STORIES)], strict=True):
            by_story[story.name] = trajectory.course_view(db, course, "America/New_York")
        yield by_story, db
    engine.dispose()
    if request.param == "postgresql":
        drop_postgres_database(url)


def test_every_story_has_a_course(views) -> None:
    found, _ = views
    assert set(found) == {"responder", "non-responder", "late responder", "relapse", "in induction"}


def test_end_of_induction_cards(views) -> None:
    found, _ = views
    assert found["responder"].card.state == "responder"
    assert found["non-responder"].card.state == "non-responder"
    assert "extension" in found["non-responder"].card.advice
    assert found["late responder"].card.state == "partial"
    assert found["in induction"].card is None and found["in induction"].phase == "induction"


def test_late_responder_is_recognised_after_the_extension(views) -> None:
    found, _ = views
    late = found["late responder"]
    assert late.decision.decision == "extend" and late.late_responder
    assert not found["responder"].late_responder


def test_relapse_is_flagged_with_an_interval_shorter_than_the_benefit(views) -> None:
    found, _ = views
    flag = found["relapse"].relapse
    assert flag is not None and flag.relapsed.total > found["relapse"].lines.response_at_or_below
    assert flag.benefit_days == 20 and flag.suggested_interval_days == 15
    assert flag.last_session is not None and flag.evidence[0].total == 18
    for name in ("responder", "late responder", "non-responder", "in induction"):
        assert found[name].relapse is None, name


def test_charts_render_with_bands_lines_and_sessions(views) -> None:
    found, _ = views
    for name, view in found.items():
        svg = trajectory.chart_svg(view)
        assert svg.startswith("<svg") and 'aria-label="PHQ-9 trajectory"' in svg, name
        assert "response line" in svg and "remission line" in svg
        assert "moderately severe" in svg


def test_the_non_responders_item_9_answer_is_an_open_alert(views) -> None:
    _, db = views
    rules = db.execute(select(MeasureAlert.rule).where(MeasureAlert.closed_at.is_(None))).scalars()
    assert "phq9-item9" in set(rules)
