"""Shared fixtures: a migrated, seeded database per backend and one rolled-back transaction per test."""

import os
import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

# Settings are read once per process: fix them before the app is imported.
os.environ["KETACLINIC_SECRET_KEY"] = "test-" + secrets.token_hex(24)
os.environ["KETACLINIC_DEMO"] = "0"
# In-process apps share the test's one connection: no sealer or tally folder thread may use it
# (tests seal and fold by hand); servers started as processes seal and fold as they do in a
# clinic (tests/server_helpers.py).
os.environ["KETACLINIC_AUDIT_SEAL_EVERY_S"] = "0"
os.environ["KETACLINIC_TALLY_FOLD_EVERY_S"] = "0"
# Tests change users, tokens and grants in rolled-back transactions the cache would not hear of;
# tests/auth/test_actor_cache.py turns it on.
os.environ["KETACLINIC_TOKEN_CACHE_S"] = "0"
os.environ.pop("KETACLINIC_DATABASE_URL", None)

import psycopg
import pyotp
import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from ketaclinic import clock, migrate
from ketaclinic import db as dbmod
from ketaclinic.app import create_app
from ketaclinic.auth import service as auth
from ketaclinic.auth import totp
from ketaclinic.clinics.models import Chair, Network, Site
from ketaclinic.errors import DomainError
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients import schemas
from ketaclinic.patients import service as patients
from ketaclinic.settings import get_settings

PG_URL = os.environ.get("KETACLINIC_TEST_POSTGRES_URL", "")
# Put every test at this moment (ISO 8601 with an offset), e.g. the night before a daylight-saving
# change: KETACLINIC_TEST_MOMENT=2027-03-13T23:50:00-05:00. Unset: the real now.
TEST_MOMENT = os.environ.get("KETACLINIC_TEST_MOMENT", "").strip()
# What session fixtures create is stamped this long before the moment the tests start at.
SEED_LEAD = timedelta(minutes=5)
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
PASSWORD = "correct-horse-battery"
BASE_URL = "https://testserver"
_backend_counts: dict[str, int] = {}


@dataclass
class TestUser:
    """A seeded login."""

    username: str
    role: str
    totp_secret: str | None = None


@dataclass
class World:
    """What the seed created: sites, users by key, patients by key (ids as strings)."""

    backend: str
    url: str
    users: dict[str, TestUser] = field(default_factory=dict)
    patients: dict[str, str] = field(default_factory=dict)


def create_postgres_database(base_url: str) -> str:
    """A fresh, empty database on the server of base_url; returns its URL."""
    name = f"ketaclinic_test_{uuid.uuid4().hex[:12]}"
    url = make_url(base_url)
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(db_url: str) -> None:
    """Drop a database made by create_postgres_database."""
    url = make_url(db_url)
    admin = url.set(database=make_url(PG_URL).database)
    with psycopg.connect(_libpq(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')


def _libpq(url: object) -> str:
    u = make_url(str(url)) if not hasattr(url, "drivername") else url
    return u.set(drivername="postgresql").render_as_string(hide_password=False)  # type: ignore[union-attr]


def fresh_database_url(backend: str, tmp_dir: object) -> str:
    """A URL for an empty database of the backend (file SQLite or a new PostgreSQL database)."""
    if backend == "postgresql":
        return create_postgres_database(PG_URL)
    return f"sqlite:///{tmp_dir}/ketaclinic-{uuid.uuid4().hex[:8]}.db"


def moment_of_tests() -> datetime | None:
    """The moment every test starts at (KETACLINIC_TEST_MOMENT), or None for the real now."""
    if not TEST_MOMENT:
        return None
    moment = datetime.fromisoformat(TEST_MOMENT)
    if moment.utcoffset() is None:
        raise pytest.UsageError("KETACLINIC_TEST_MOMENT needs a UTC offset, e.g. "
                                "2027-03-13T23:50:00-05:00")
    return moment


def seed_time() -> AbstractContextManager[object]:
    """Session fixtures create their records a little before the tests' moment."""
    moment = moment_of_tests()
    return time_machine.travel(moment - SEED_LEAD, tick=False) if moment else nullcontext()


@pytest.fixture(scope="session", autouse=True)
def session_clock() -> Iterator[None]:
    """Between tests (and in browser tests, whose server runs on from its start) the clock runs
    from a little before the tests' moment."""
    moment = moment_of_tests()
    if moment is None:
        yield
        return
    with time_machine.travel(moment - SEED_LEAD, tick=True):
        yield


@pytest.fixture(autouse=True)
def clinic_clock(request: pytest.FixtureRequest) -> Iterator[time_machine.Traveller | None]:
    """The clinic's clock in this test: it starts at the tests' moment and runs on; a test moves
    it with `clinic_clock.shift(...)` or `.move_to(...)`. Browser tests share the clock of the
    server they drive, which runs on from the session's start, so they get None."""
    if request.node.get_closest_marker("e2e"):
        yield None
        return
    with time_machine.travel(moment_of_tests() or clock.now(), tick=True) as traveller:
        yield traveller


def _seed(db: Session, world: World) -> None:
    network = Network(name="Test network", crisis_contacts=["Test crisis line: call 000 000"])
    site_a = Site(network=network, code="A", name="Site A", time_zone="America/New_York")
    site_b = Site(network=network, code="B", name="Site B", time_zone="America/Los_Angeles")
    site_a.chairs = [Chair(name="A1"), Chair(name="A2")]
    site_b.chairs = [Chair(name="B1")]
    db.add_all([site_a, site_b])
    db.flush()
    system = Actor(username="seed", role="system", site_pks=frozenset({site_a.pk, site_b.pk}))
    for key, site in (("p_a1", "A"), ("p_a2", "A"), ("p_b1", "B")):
        patient = patients.register(db=db, actor=system, data=schemas.PatientIn(
            family_name=f"Test{key.upper()}", given_name="Pat", birth_date=date(1980, 5, 17),
            sex="female", site=site))
        world.patients[key] = str(patient.id)
        patients.add_entry(db=db, patient_id=str(patient.id), kind="conditions", actor=system,
                           data=schemas.ConditionIn(system="snomed", code="36474008",
                                                    display="MDD recurrent severe"))
        patients.add_entry(db=db, patient_id=str(patient.id), kind="vitals", actor=system,
                           data=schemas.VitalsIn(systolic_mmhg=122, diastolic_mmhg=78,
                                                 heart_rate_bpm=70, weight_kg=70))
    specs = [
        ("admin", "admin", ["A", "B"], None, True),
        ("prescriber", "prescriber", ["A", "B"], None, True),
        ("nurse_a", "nurse", ["A"], None, False),
        ("nurse_b", "nurse", ["B"], None, False),
        ("frontdesk", "front_desk", ["A"], None, False),
        ("patient_a1", "patient", [], world.patients["p_a1"], False),
    ]
    for username, role, sites, patient_id, mfa in specs:
        user = auth.create_user(db=db, username=username, display_name=username, role=role,
                                password=PASSWORD, site_codes=sites, patient_id=patient_id,
                                actor=system)
        secret = None
        if mfa:
            secret = user.totp_secret = totp.new_secret()
            user.totp_enabled = True
        world.users[username] = TestUser(username, role, secret)


@pytest.fixture(scope="session", params=BACKENDS)
def world_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[World, Engine]]:
    """A migrated, seeded database for one backend, shared by the session's tests."""
    backend = request.param
    url = fresh_database_url(backend, tmp_path_factory.mktemp(backend))
    engine = dbmod.make_engine(url)
    migrate.upgrade(engine)
    world = World(backend=backend, url=url)
    with seed_time(), Session(engine) as db:
        _seed(db, world)
        db.commit()
    yield world, engine
    engine.dispose()
    if backend == "postgresql":
        drop_postgres_database(url)


@pytest.fixture
def world(world_engine: tuple[World, Engine]) -> World:
    """The seeded world of the current backend."""
    return world_engine[0]


@pytest.fixture
def db(world_engine: tuple[World, Engine]) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test; the app uses it too."""
    world, engine = world_engine
    _backend_counts[world.backend] = _backend_counts.get(world.backend, 0) + 1
    connection = engine.connect()
    outer = connection.begin()
    factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint",
                           expire_on_commit=False)
    previous = dbmod.use_session_factory(factory)
    session = factory()
    try:
        yield session
    finally:
        session.close()
        if previous is not None:
            dbmod.use_session_factory(previous)
        outer.rollback()
        connection.close()


@pytest.fixture(scope="session")
def app() -> object:
    """One app instance for the whole run."""
    return create_app()


@pytest.fixture
def anon(app: object, db: Session) -> TestClient:
    """A client with no login."""
    return TestClient(app, base_url=BASE_URL)  # type: ignore[arg-type]


_steps_given: dict[str, int] = {}


@pytest.fixture(autouse=True)
def fresh_two_factor_codes() -> Iterator[None]:
    """Each test starts with no two-factor code handed out (its database starts afresh too)."""
    _steps_given.clear()
    yield


def totp_now(user: TestUser) -> str:
    """A two-factor code the user's app would accept now and that was not used before in this
    test (each code works once): the current one, else the next step's. '' without TOTP."""
    if not user.totp_secret:
        return ""
    generator = pyotp.TOTP(user.totp_secret)
    step = max(generator.timecode(clock.now()), _steps_given.get(user.totp_secret, -1) + 1)
    _steps_given[user.totp_secret] = step
    return generator.generate_otp(step)


def api_token(client: TestClient, user: TestUser) -> str:
    """A bearer token for the user."""
    response = client.post("/api/v1/auth/token", data={
        "username": user.username, "password": PASSWORD, "totp": totp_now(user)})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def csrf_of(html: str) -> str:
    """The CSRF token in a page's first form."""
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


def web_login(client: TestClient, user: TestUser) -> TestClient:
    """Log the client in through the login page (and the two-factor step if the user has one)."""
    page = client.get("/login")
    response = client.post("/login", data={"username": user.username, "password": PASSWORD,
                                           "csrf_token": csrf_of(page.text), "next": ""},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    if response.headers["location"].startswith("/login/mfa"):
        page = client.get(response.headers["location"])
        response = client.post("/login/mfa", data={"code": totp_now(user), "next": "",
                                                   "csrf_token": csrf_of(page.text)},
                               follow_redirects=False)
        assert response.status_code == 303, response.text
    return client


class LoggedInClients:
    """Clients per seeded username, logged in on first use by `log_in(client, user)`."""

    def __init__(self, app: object, world: World,
                 log_in: Callable[[TestClient, TestUser], None]) -> None:
        self._app = app
        self._world = world
        self._log_in = log_in
        self._clients: dict[str, TestClient] = {}

    def __getitem__(self, username: str) -> TestClient:
        if username not in self._clients:
            client = TestClient(self._app, base_url=BASE_URL)  # type: ignore[arg-type]
            self._log_in(client, self._world.users[username])
            self._clients[username] = client
        return self._clients[username]


def _bearer_log_in(client: TestClient, user: TestUser) -> None:
    client.headers["Authorization"] = f"Bearer {api_token(client, user)}"


@pytest.fixture
def api(app: object, db: Session, world: World) -> LoggedInClients:
    """Bearer-token API clients per seeded user."""
    return LoggedInClients(app, world, _bearer_log_in)


@pytest.fixture
def web(app: object, db: Session, world: World) -> LoggedInClients:
    """Browser-like clients logged in through the pages, per seeded user."""
    return LoggedInClients(app, world, web_login)


# What a library says about itself, never shown to a person in a refusal.
LIBRARY_INTERNALS = re.compile(r"function-(after|before|wrap|plain)\[|literal\[|constrained-str|"
                               r"Value error, |Assertion failed, |pydantic|Traceback \(most|"
                               r"sqlalchemy\.|psycopg\.")
QUOTED_INPUT = re.compile(r"'(?:[^'\\]|\\.)*'")


def shows_library_internals(detail: str) -> bool:
    """Whether a refusal's text carries library internals (what the user typed, echoed in quotes,
    is theirs and is not scanned)."""
    return bool(LIBRARY_INTERNALS.search(QUOTED_INPUT.sub("''", detail)))


@pytest.fixture(autouse=True)
def refusals_read_for_people(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every refusal a test provokes (on a page, in the API, from a service) reads for a person:
    no library internals in its text."""
    leaked: list[str] = []
    original = DomainError.__init__

    def recording(self: DomainError, detail: str) -> None:
        if shows_library_internals(detail):
            leaked.append(detail)
        original(self, detail)

    monkeypatch.setattr(DomainError, "__init__", recording)
    yield
    assert leaked == [], f"refusals showing library internals: {leaked}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A parallel worker hands its per-backend counts to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["backend_counts"] = dict(_backend_counts)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """The controller adds up the workers' per-backend counts."""
    for name, count in getattr(node, "workeroutput", {}).get("backend_counts", {}).items():
        _backend_counts[name] = _backend_counts.get(name, 0) + count


def pytest_terminal_summary(terminalreporter: object, exitstatus: int, config: object) -> None:
    """Say which database backends the database tests ran on."""
    if _backend_counts:
        parts = ", ".join(f"{name}: {count} tests" for name, count in sorted(_backend_counts.items()))
        terminalreporter.write_line(f"database backends exercised: {parts}")  # type: ignore[attr-defined]


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A new, empty database on each backend (for migrations)."""
    url = fresh_database_url(request.param, tmp_path)
    yield url
    if request.param == "postgresql":
        drop_postgres_database(url)


@pytest.fixture()
def migrated_engine(empty_database: str) -> Iterator[Engine]:
    """An engine on a new, migrated database of each back end (as a new clinic's, no rows)."""
    engine = dbmod.make_engine(empty_database)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture()
def migrated_postgres(request: pytest.FixtureRequest, empty_database: str) -> Engine:
    """`migrated_engine` on PostgreSQL alone, for what only PostgreSQL shows: two writers at
    once, or a statement only it runs (skipped on SQLite, before migrating)."""
    if not empty_database.startswith("postgresql"):
        pytest.skip("PostgreSQL only: two writers at once, or a statement only it runs")
    engine: Engine = request.getfixturevalue("migrated_engine")
    return engine


@pytest.fixture()
def one_connection_postgres(empty_database: str, monkeypatch: pytest.MonkeyPatch
                            ) -> Iterator[Engine]:
    """The app's engine on a new PostgreSQL database, its pool keeping one connection, for what
    a lost connection does (skipped on SQLite, whose file does not drop connections)."""
    monkeypatch.setenv("KETACLINIC_DB_POOL_SIZE", "1")
    get_settings.cache_clear()
    engine = dbmod.make_engine(empty_database)
    try:
        if engine.dialect.name != "postgresql":
            pytest.skip("a SQLite file does not drop connections")
        yield engine
    finally:
        engine.dispose()
        get_settings.cache_clear()


@pytest.fixture()
def seeded_postgres(migrated_postgres: Engine) -> Engine:
    """`migrated_postgres` with the demo clinic seeded, as of a working morning."""
    from ketaclinic.demo import seed as demo_seed
    from tests.demo.moments import working_morning

    with Session(migrated_postgres) as db, time_machine.travel(working_morning(), tick=False):
        demo_seed.seed(db, patients_count=8)
        db.commit()
    return migrated_postgres
