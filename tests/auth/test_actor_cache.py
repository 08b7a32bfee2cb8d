"""With the token cache on, a token seen seconds ago is not read again, and yet every revocation
in this process (logout, an administrator's revocation or deactivation) takes effect at once."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.auth import actor_cache
from ketaclinic.auth import service as auth
from ketaclinic.auth.models import User
from ketaclinic.settings import get_settings
from tests.conftest import BASE_URL, api_token, csrf_of, web_login


@pytest.fixture(autouse=True)
def cache_on(monkeypatch) -> Iterator[None]:
    monkeypatch.setattr(get_settings(), "token_cache_s", 5)
    actor_cache.clear()
    yield
    actor_cache.clear()


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Each time a token is read from the database."""
    seen: list[str] = []
    real = auth.resolve_token

    def counting(**kwargs):
        seen.append(kwargs["raw"][:6])
        return real(**kwargs)

    monkeypatch.setattr(auth, "resolve_token", counting)
    return seen


def test_a_token_seen_seconds_ago_is_not_read_again_until_its_entry_lapses(
        api, reads, clinic_clock) -> None:
    client = api["nurse_a"]
    for _ in range(3):
        assert client.get("/api/v1/me").json()["username"] == "nurse_a"
    assert len(reads) == 1
    clinic_clock.shift(timedelta(seconds=6))
    assert client.get("/api/v1/me").status_code == 200
    assert len(reads) == 2


def test_logout_revocation_and_deactivation_end_a_cached_token_at_once(
        app, db: Session, world, web, reads) -> None:
    client = TestClient(app, base_url=BASE_URL)
    client.headers["Authorization"] = f"Bearer {api_token(client, world.users['nurse_a'])}"
    assert client.get("/api/v1/me").status_code == 200
    browser = web_login(TestClient(app, base_url=BASE_URL), world.users["nurse_a"])
    browser.post("/logout", data={"csrf_token": csrf_of(browser.get("/account").text)})
    assert client.get("/api/v1/me").status_code == 401
    nurse = db.execute(select(User).where(User.username == "nurse_a")).scalar_one()
    for action in ("revoke-tokens", "deactivate"):
        client.headers["Authorization"] = f"Bearer {api_token(client, world.users['nurse_a'])}"
        assert client.get("/api/v1/me").status_code == 200
        assert client.get("/api/v1/me").status_code == 200  # now from the cache
        users = web["admin"].get("/admin/users")
        web["admin"].post(f"/admin/users/{nurse.id}/{action}",
                          data={"csrf_token": csrf_of(users.text)})
        assert client.get("/api/v1/me").status_code == 401, action


def test_a_known_token_acts_from_each_address_it_calls_from() -> None:
    from datetime import UTC, datetime

    from ketaclinic.kernel.actor import Actor

    known = actor_cache.Known(Actor(username="nurse_a", role="nurse"), False,
                              datetime(2026, 1, 1, tzinfo=UTC))
    first = known.acting_from("10.0.0.5")
    assert first.client == "10.0.0.5" and known.acting_from("10.0.0.5") is first
    assert known.acting_from("10.0.0.6").client == "10.0.0.6"
    for n in range(actor_cache.ADDRESSES_KEPT + 2):  # a bounded memory of addresses
        assert known.acting_from(f"10.0.1.{n}").client == f"10.0.1.{n}"
    assert len(known._from) <= actor_cache.ADDRESSES_KEPT
    assert known.actor.client == ""
