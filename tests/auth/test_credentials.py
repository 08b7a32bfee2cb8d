"""One credential check at every door: two-factor where the role requires it (also right after a
reset), each code once, seeds encrypted at rest, failures that count and are audited even when
the request is refused, a rate limit per address, and the same answer for unknown accounts."""

import pyotp
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit.models import AuditEvent
from ketaclinic.auth import credentials
from ketaclinic.auth import service as auth
from ketaclinic.auth.models import CredentialAttempt, User
from ketaclinic.clinics.models import Site
from ketaclinic.kernel.actor import Actor
from ketaclinic.settings import get_settings
from tests.conftest import PASSWORD, totp_now

SYSTEM = Actor(username="seed", role="system")
TOKEN = "/api/v1/auth/token"


def token(client, username: str, password: str = PASSWORD, code: str = ""):
    return client.post(TOKEN, data={"username": username, "password": password, "totp": code})


def test_a_role_that_requires_two_factor_gets_no_token_before_setting_it_up(anon, db: Session,
                                                                          api) -> None:
    auth.create_user(db=db, username="newdoc", display_name="New Doc", role="prescriber",
                     password=PASSWORD, site_codes=["A"], actor=SYSTEM)
    db.flush()
    refused = token(anon, "newdoc")
    assert refused.status_code == 401 and "Two-factor login is required" in refused.json()["detail"]
    # After an administrator resets a prescriber's two-factor, the gap does not reopen.
    prescriber = db.execute(select(User).where(User.username == "prescriber")).scalar_one()
    auth.administer(db=db, user_id=str(prescriber.id), action="reset-two-factor",
                    actor=admin_of_every_site(db))
    db.flush()
    assert token(anon, "prescriber").status_code == 401
    assert api["nurse_a"].get("/api/v1/me").status_code == 200  # roles without the rule: fine


def test_each_code_works_once(anon, world, db: Session) -> None:
    user = world.users["prescriber"]
    step = pyotp.TOTP(user.totp_secret).timecode(clock.now())
    code = pyotp.TOTP(user.totp_secret).generate_otp(step)
    assert token(anon, "prescriber", code=code).status_code == 200
    again = token(anon, "prescriber", code=code)
    assert again.status_code == 401 and again.json()["detail"] == (
        "The two-factor code is wrong or was already used: enter the next code your "
        "authenticator app shows.")
    earlier = pyotp.TOTP(user.totp_secret).generate_otp(step - 1)
    assert token(anon, "prescriber", code=earlier).status_code == 401  # an older step
    later = pyotp.TOTP(user.totp_secret).generate_otp(step + 1)
    assert token(anon, "prescriber", code=later).status_code == 200


def test_two_factor_seeds_are_stored_encrypted(db: Session, world) -> None:
    stored = db.execute(text("SELECT totp_secret FROM app_user WHERE username = 'prescriber'")
                        ).scalar_one()
    assert stored.startswith("gAAAAA") and world.users["prescriber"].totp_secret not in stored
    user = db.execute(select(User).where(User.username == "prescriber")).scalar_one()
    assert user.totp_secret == world.users["prescriber"].totp_secret


def test_witness_guessing_locks_the_witness_and_every_failure_is_kept(api, world, db: Session
                                                                      ) -> None:
    from ketaclinic.treatments.models import TreatmentSession
    from tests.inventory.helpers import sessions
    from tests.inventory.test_session_link import INV, received_vial

    vial = received_vial(api, db, "guess")
    [session_pk] = sessions(db, 1)
    session_id = str(db.execute(select(TreatmentSession.id).where(
        TreatmentSession.pk == session_pk)).scalar_one())
    movement = {"container_id": vial, "session_id": session_id}
    assert api["nurse_a"].post(f"{INV}/draws", json={**movement, "quantity_mg": "50"}
                               ).status_code == 201
    limit = get_settings().lockout_failed_attempts
    body = {**movement, "quantity_mg": "15"}
    for attempt in range(limit + 1):
        refused = api["nurse_a"].post(f"{INV}/wastes", json={
            **body, "witness": {"username": "nurse_b", "password": f"guess-{attempt}"}})
        assert refused.status_code == 403
    right = api["nurse_a"].post(f"{INV}/wastes", json={
        **body, "witness": {"username": "nurse_b", "password": PASSWORD}})
    assert right.status_code == 403 and "Too many failed attempts" in right.json()["detail"]
    failures = db.execute(select(func.count()).select_from(CredentialAttempt).where(
        CredentialAttempt.username == "nurse_b", CredentialAttempt.ok.is_(False))).scalar_one()
    assert failures == limit + 2  # every refused request's failure survived its rollback
    audited = db.execute(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "login-failed", AuditEvent.created_by == "nurse_b")).scalar_one()
    assert audited == limit + 2


def test_an_attacker_s_lock_out_does_not_stop_the_real_user_with_two_factor(anon, world) -> None:
    for attempt in range(get_settings().lockout_failed_attempts):
        assert token(anon, "prescriber", password=f"guess-{attempt}").status_code == 401
    locked = token(anon, "prescriber", code=totp_now(world.users["prescriber"]),
                   password="guess-again")
    assert locked.status_code == 401 and "Too many failed attempts" in locked.json()["detail"]
    assert token(anon, "prescriber", code=totp_now(world.users["prescriber"])).status_code == 200


def test_unknown_accounts_read_the_same_and_run_the_hash(anon, monkeypatch) -> None:
    from ketaclinic.auth import passwords

    hashed: list[bool] = []
    real = passwords.verify_password
    monkeypatch.setattr(credentials, "verify_password",
                        lambda h, p: hashed.append(h is None) or real(h, p))
    unknown = token(anon, "nobody-here", password="guess")
    known = token(anon, "nurse_a", password="guess")
    assert unknown.json()["detail"] == known.json()["detail"] == credentials.WRONG
    assert hashed == [True, False]  # the dummy hash ran for the unknown name
    for _ in range(get_settings().lockout_failed_attempts):
        token(anon, "nobody-here", password="guess")
        token(anon, "nurse_a", password="guess")
    assert "Too many failed attempts" in token(anon, "nobody-here").json()["detail"]
    assert "Too many failed attempts" in token(anon, "nurse_a").json()["detail"]


def test_one_address_guessing_many_names_is_slowed_with_429(anon) -> None:
    for n in range(get_settings().address_max_failures):
        assert token(anon, f"name-{n}", password="guess").status_code == 401
    limited = token(anon, "nurse_a")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins from this address" in limited.json()["detail"]


def test_an_administrator_unlocks_an_account(anon, api, db: Session) -> None:
    for attempt in range(get_settings().lockout_failed_attempts):
        token(anon, "nurse_a", password=f"guess-{attempt}")
    user = db.execute(select(User).where(User.username == "nurse_a")).scalar_one()
    db.refresh(user)
    assert user.locked_until is not None and token(anon, "nurse_a").status_code == 401
    auth.administer(db=db, user_id=str(user.id), action="unlock",
                    actor=admin_of_every_site(db))
    db.flush()
    assert token(anon, "nurse_a").status_code == 200


def test_keys_rotate_re_encrypts_with_the_new_key(tmp_path) -> None:
    from cryptography.fernet import Fernet

    from ketaclinic import migrate
    from ketaclinic.clinics import service as clinics
    from ketaclinic.db import make_engine
    from ketaclinic.encryption import derived_key
    from tests.cli_helpers import run_cli

    url = f"sqlite:///{tmp_path}/keys.db"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with Session(engine) as db:  # stored with the key derived from the secret key
        site = clinics.create_site(db=db, code="K", name="K", address="", time_zone="UTC",
                                   chairs=0, network_name="N", actor=SYSTEM)
        user = auth.create_user(db=db, username="doc", display_name="Doc", role="nurse",
                                password=PASSWORD, site_codes=[site.code], actor=SYSTEM)
        user.totp_secret = "JBSWY3DPEHPK3PXP"
        db.commit()
    engine.dispose()
    new = Fernet.generate_key().decode()
    old = derived_key(get_settings().secret_key).decode()
    done = run_cli(url, "keys", "rotate", extra_env={"KETACLINIC_DATA_KEYS": f"{new},{old}"})
    assert done.returncode == 0 and "re-encrypted 1 two-factor seeds" in done.stdout, done.stderr
    engine = make_engine(url)
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT totp_secret FROM app_user")).scalar_one()
    engine.dispose()
    assert Fernet(new.encode()).decrypt(stored.encode()) == b"JBSWY3DPEHPK3PXP"
    wrong = run_cli(url, "keys", "rotate", extra_env={
        "KETACLINIC_DATA_KEYS": Fernet.generate_key().decode()})
    assert wrong.returncode == 2 and wrong.stderr.startswith("error: KETACLINIC_DATA_KEYS")


def admin_of_every_site(db: Session) -> Actor:
    """The seeded administrator, who works at both sites."""
    return Actor(username="admin", role="admin",
                 site_pks=frozenset(db.execute(select(Site.pk)).scalars()))
