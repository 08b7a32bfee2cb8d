"""A token is marked seen about once a minute, and requests of one token never wait on each other
for it: the request whose transaction marks it holds its row until that request ends, so the
others, finding it stale too, leave the mark to that one."""

from datetime import timedelta

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.auth import service as auth
from ketaclinic.auth.models import AccessToken, User
from ketaclinic.auth.passwords import hash_password


def _api_token(engine: Engine, seen_ago: timedelta) -> str:
    """A nurse's API token, last seen `seen_ago` before now."""
    with Session(engine) as db:
        user = User(username="nurse_t", display_name="Nurse T", role="nurse",
                    password_hash=hash_password("a long enough password"))
        db.add(user)
        db.flush()
        raw, _ = auth.issue_token(db=db, user=user, kind=auth.TOKEN_API, client="test")
        db.flush()
        db.execute(text("UPDATE access_token SET last_seen_at = :at"),
                   {"at": clock.now() - seen_ago})
        db.commit()
    return raw


def _last_seen(engine: Engine) -> object:
    with Session(engine) as db:
        return db.execute(select(AccessToken.last_seen_at)).scalar_one()


def test_a_stale_token_is_marked_seen_by_the_request_that_finds_it(migrated_engine: Engine) -> None:
    raw = _api_token(migrated_engine, timedelta(minutes=5))
    before = _last_seen(migrated_engine)
    with Session(migrated_engine) as db:
        token = auth.resolve_token(db=db, raw=raw, kinds={auth.TOKEN_API})
        assert token is not None and token.last_seen_at > before
        db.commit()
    assert _last_seen(migrated_engine) > before


def test_requests_of_one_token_do_not_wait_for_the_one_marking_it_seen(
        migrated_postgres: Engine) -> None:
    raw = _api_token(migrated_postgres, timedelta(minutes=5))
    with Session(migrated_postgres) as first, Session(migrated_postgres) as second:
        assert auth.resolve_token(db=first, raw=raw, kinds={auth.TOKEN_API}) is not None
        first.flush()  # the first request's mark is written; its transaction goes on
        # A second request waiting on the first's row lock would wait until the first request
        # ended: it is given a second, then fails.
        second.execute(text("SET LOCAL lock_timeout = '1s'"))
        token = auth.resolve_token(db=second, raw=raw, kinds={auth.TOKEN_API})
        assert token is not None
        second.flush()
        second.commit()
        first.commit()
    assert clock.now() - _last_seen(migrated_postgres) < timedelta(minutes=1)


def test_a_token_seen_within_the_minute_is_not_written(migrated_engine: Engine) -> None:
    raw = _api_token(migrated_engine, timedelta(seconds=10))
    before = _last_seen(migrated_engine)
    with Session(migrated_engine) as db:
        assert auth.resolve_token(db=db, raw=raw, kinds={auth.TOKEN_API}) is not None
        db.commit()
    assert _last_seen(migrated_engine) == before
