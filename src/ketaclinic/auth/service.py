"""Users, password login with lock-out, two-factor, and login tokens."""

import hashlib
import re
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.auth import actor_cache, credentials, totp
from ketaclinic.auth.models import AccessToken, User
from ketaclinic.auth.passwords import MIN_PASSWORD_LENGTH, hash_password
from ketaclinic.clinics.models import Site
from ketaclinic.contact_details import normal_email
from ketaclinic.errors import Conflict, FieldProblem, InvalidInput, NotFound, invalid
from ketaclinic.field_problems import split_accepted
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Role
from ketaclinic.kernel.reach import can_reach_patient
from ketaclinic.patients.models import Patient, PatientMrn
from ketaclinic.settings import get_settings

TOKEN_WEB = "web"  # noqa: S105 (a kind of token, not a secret)
TOKEN_API = "api"  # noqa: S105 (a kind of token, not a secret)
TOKEN_MFA_PENDING = "mfa-pending"  # noqa: S105 (a kind of token, not a secret)
TOKEN_MFA_ENROL = "mfa-enrol"  # noqa: S105 (a kind of token, not a secret)
HALF_LOGIN_MIN = 10
WEB_LOGIN_MAX_HOURS = 12
# Writing last-seen on every request would turn every read into a write; a minute is precise enough.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def find_user(*, db: Session, username: str) -> User | None:
    """The user with this username (case-insensitive), with their sites loaded."""
    query = (
        select(User)
        .where(User.username == username.strip().lower())
        .options(selectinload(User.sites))
    )
    return db.execute(query).scalar_one_or_none()


def user_of(db: Session, actor: Actor) -> User:
    """The signed-in actor's own user row."""
    return db.execute(select(User).where(User.pk == actor.user_pk)).scalar_one()


def all_users(db: Session) -> Sequence[User]:
    """Every user with their sites, by role then username."""
    return db.execute(select(User).options(selectinload(User.sites))
                      .order_by(User.role, User.username)).scalars().all()


def actor_for(user: User, client: str = "") -> Actor:
    """The acting identity of a user."""
    return Actor(
        username=user.username,
        role=user.role,
        user_pk=user.pk,
        site_pks=frozenset(s.pk for s in user.sites),
        patient_pk=user.patient_pk,
        client=client,
        time_zone=user.sites[0].time_zone if user.sites else "UTC",
    )


def checked_email(value: str) -> str:
    """An email address in normal form, "" for none, or InvalidInput saying what is accepted."""
    try:
        return normal_email(value)
    except ValueError as exc:
        raise InvalidInput([FieldProblem("email", *split_accepted(str(exc)))]) from None


def set_email(*, db: Session, user: User, email: str, actor: Actor) -> User:
    """Change where a user's work is emailed (escalated alerts when on call). Audited."""
    user.email = checked_email(email)
    db.flush()
    audit.record(db=db, actor=actor, action="update", record_type="User", record_id=user.id,
                 detail="email address " + ("set" if user.email else "removed"))
    return user


def create_user(
    *,
    db: Session,
    username: str,
    display_name: str,
    role: str,
    password: str,
    site_codes: list[str],
    patient_id: str | None = None,
    email: str = "",
    actor: Actor,
) -> User:
    """Create a user with one role; staff need sites, a patient user needs a patient record."""
    problems: list[FieldProblem] = []
    username = username.strip().lower()
    if not USERNAME_PATTERN.match(username):
        problems.append(FieldProblem("username", "is not a valid username",
                                     "2 to 64 of a-z, 0-9, '.', '_', '-'"))
    if role not in set(Role):
        problems.append(FieldProblem("role", f"unknown role {role!r}", ", ".join(Role)))
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(FieldProblem("password", "is too short",
                                     f"at least {MIN_PASSWORD_LENGTH} characters"))
    if not display_name.strip():
        problems.append(FieldProblem("display_name", "is required", "a non-empty name"))
    sites = list(db.execute(select(Site).where(Site.code.in_(site_codes))).scalars())
    known_codes = {s.code for s in sites}
    missing = [c for c in site_codes if c not in known_codes]
    all_codes = ", ".join(db.execute(select(Site.code).order_by(Site.code)).scalars())
    if missing:
        problems.append(FieldProblem("sites", f"unknown site {', '.join(missing)}", all_codes))
    elsewhere = [s.code for s in sites if actor.role != "system" and s.pk not in actor.site_pks]
    if elsewhere:  # an administrator adds staff to their own sites only
        problems.append(FieldProblem("sites", f"{', '.join(elsewhere)} is not one of your sites",
                                     ", ".join(sorted(s.code for s in db.execute(select(Site).where(
                                         Site.pk.in_(actor.site_pks))).scalars()))))
    patient: Patient | None = None
    if role == Role.PATIENT:
        if sites:
            problems.append(FieldProblem("sites", "a patient user has no sites", "none"))
        patient = _patient_by_id(db, patient_id) if patient_id else None
        if patient is not None and not can_reach_patient(actor, patient_pk=patient.pk,
                                                         patient_site_pks=patient.site_pks):
            patient = None  # a patient of another site is no patient to this administrator
        if patient is None:
            problems.append(FieldProblem("patient", "a patient user needs an existing patient record",
                                         "a patient id"))
    elif role in set(Role) and not sites:
        problems.append(FieldProblem("sites", "staff belong to at least one site", all_codes))
    try:
        address = checked_email(email)
    except InvalidInput as exc:
        problems += exc.problems
        address = ""
    if problems:
        raise InvalidInput(problems)
    if find_user(db=db, username=username):
        raise Conflict(f"username {username!r} is taken")
    if patient is not None and db.execute(
        select(User.pk).where(User.patient_pk == patient.pk)
    ).first():
        raise Conflict("that patient record already has a user")
    user = User(
        username=username,
        display_name=display_name.strip(),
        role=role,
        password_hash=hash_password(password),
        sites=sites,
        patient_pk=patient.pk if patient else None,
        email=address,
        created_by=actor.username,
    )
    db.add(user)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="User", record_id=user.id,
                 detail=f"role={role}")
    return user


def _patient_by_id(db: Session, patient_id: str) -> Patient | None:
    try:
        key = uuid.UUID(patient_id)
    except ValueError:
        return None
    return db.execute(select(Patient).where(Patient.id == key)).scalar_one_or_none()


def record_login(*, db: Session, user: User, client: str, how: str) -> None:
    """Audit a completed login."""
    audit.record(db=db, actor=actor_for(user, client), action="login", record_type="User",
                 record_id=user.id, detail=how)


def issue_token(*, db: Session, user: User, kind: str, client: str) -> tuple[str, datetime]:
    """A new random token of this kind for the user; only its hash is stored."""
    settings = get_settings()
    now = clock.now()
    lifetime = {
        TOKEN_WEB: timedelta(hours=WEB_LOGIN_MAX_HOURS),
        TOKEN_API: timedelta(minutes=settings.api_token_ttl_min),
        TOKEN_MFA_PENDING: timedelta(minutes=HALF_LOGIN_MIN),
        TOKEN_MFA_ENROL: timedelta(minutes=HALF_LOGIN_MIN),
    }[kind]
    raw = secrets.token_urlsafe(32)
    db.add(AccessToken(token_hash=_digest(raw), user_pk=user.pk, kind=kind,
                       expires_at=now + lifetime, last_seen_at=now, client=client[:100],
                       created_by=user.username))
    db.flush()
    return raw, now + lifetime


def resolve_token(*, db: Session, raw: str, kinds: set[str]) -> AccessToken | None:
    """The live token for this raw value, or None if unknown, expired, idle too long or revoked."""
    if not raw:
        return None
    query = (
        select(AccessToken)
        .where(AccessToken.token_hash == _digest(raw))
        .options(selectinload(AccessToken.user).selectinload(User.sites))
    )
    token = db.execute(query).scalar_one_or_none()
    now = clock.now()
    if token is None or token.kind not in kinds or token.revoked_at is not None:
        return None
    if token.expires_at <= now or not token.user.active:
        return None
    idle_min = {TOKEN_WEB: get_settings().session_idle_timeout_min,
                TOKEN_API: get_settings().api_token_idle_min}.get(token.kind)
    if idle_min is not None and now - token.last_seen_at > timedelta(minutes=idle_min):
        token.revoked_at = now
        return None
    if now - token.last_seen_at > LAST_SEEN_RESOLUTION:
        _touch(db, token, now)
    return token


def _touch(db: Session, token: AccessToken, now: datetime) -> None:
    """Mark the token seen now, unless a request in flight is marking it (its row locked): that
    one's mark will do. Requests of one token that find it stale together (a client's many
    connections, a minute on) would otherwise each wait for the one before to end, and a
    request holds the lock from its first step (reading its caller) to its last; with the
    threads all taken by waiting requests, the first could not take its next step."""
    # the row is not locked beforehand: a skipped touch is one a concurrent request makes
    free = (select(AccessToken.pk).where(AccessToken.pk == token.pk)
            .with_for_update(skip_locked=True).scalar_subquery())
    touched = db.execute(update(AccessToken).where(AccessToken.pk == free)
                         .values(last_seen_at=now, updated_at=now)
                         .execution_options(synchronize_session=False))
    if touched.rowcount:  # type: ignore[attr-defined]
        set_committed_value(token, "last_seen_at", now)


def revoke_token(*, db: Session, raw: str) -> None:
    """End one login (a half-finished two-factor login, say)."""
    token = db.execute(
        select(AccessToken).where(AccessToken.token_hash == _digest(raw))
    ).scalar_one_or_none()
    if token is not None and token.revoked_at is None:
        token.revoked_at = clock.now()
    actor_cache.forget_token(raw)


def revoke_all(*, db: Session, user_pk: int) -> int:
    """End every live login and API token of a user (logout, an administrator's revocation, a
    password change); returns how many."""
    now = clock.now()
    live = db.execute(select(AccessToken).where(AccessToken.user_pk == user_pk,
                                                AccessToken.revoked_at.is_(None))).scalars().all()
    for token in live:
        token.revoked_at = now
    db.flush()
    actor_cache.forget_user(user_pk)
    return len(live)


def start_enrolment(*, db: Session, user: User) -> str:
    """Give the user a new, not yet confirmed TOTP secret and return it."""
    if user.totp_enabled:
        raise Conflict("two-factor login is already set up")
    user.totp_secret = totp.new_secret()
    return user.totp_secret


def confirm_enrolment(*, db: Session, user: User, code: str, client: str) -> None:
    """Turn two-factor on once the user proves their app shows the right code."""
    if not user.totp_secret:
        raise NotFound("no two-factor set-up in progress")
    if not credentials.confirm_code(db=db, user=user, code=code):
        raise invalid("code", "does not match the code your app shows", "the current 6 digits")
    user.totp_enabled = True
    audit.record(db=db, actor=actor_for(user, client), action="mfa-enrol", record_type="User",
                 record_id=user.id)


USER_ACTIONS = ("deactivate", "reactivate", "unlock", "reset-two-factor", "revoke-tokens")
TEMPORARY_PASSWORD_BYTES = 12


def managed_users(db: Session, actor: Actor, users: Sequence[User]) -> list[User]:
    """Those of the users an administrator may manage: users who share a site with them (staff
    where they work, patients where they are registered) and users of no site yet."""
    patient_pks = {user.patient_pk for user in users if user.patient_pk is not None}
    registered: dict[int, set[int]] = {}
    for patient_pk, site_pk in db.execute(select(PatientMrn.patient_pk, PatientMrn.site_pk).where(
            PatientMrn.patient_pk.in_(patient_pks))) if patient_pks else ():
        registered.setdefault(patient_pk, set()).add(site_pk)

    def sites_of(user: User) -> set[int]:
        if user.patient_pk is not None:
            return registered.get(user.patient_pk, set())
        return {site.pk for site in user.sites}

    return [user for user in users if actor.role == "system" or not sites_of(user)
            or actor.site_pks & sites_of(user)]


def managed_user(*, db: Session, user_id: str, actor: Actor) -> User:
    """A user the administrator may manage; NotFound for an unknown one or one of other sites."""
    try:
        key = uuid.UUID(user_id)
    except ValueError:
        raise NotFound("no such user") from None
    user = db.execute(select(User).where(User.id == key)).scalar_one_or_none()
    if user is None or not managed_users(db, actor, [user]):
        raise NotFound("no such user at your sites")
    return user


def reset_password(*, db: Session, user_id: str, actor: Actor) -> tuple[User, str]:
    """An administrator's reset: a temporary password (returned to show once, never stored in
    clear), every login ended, and a new password to be chosen at the next login. Audited."""
    user = managed_user(db=db, user_id=user_id, actor=actor)
    temporary = secrets.token_urlsafe(TEMPORARY_PASSWORD_BYTES)
    user.password_hash = hash_password(temporary)
    user.must_change_password = True
    revoke_all(db=db, user_pk=user.pk)
    audit.record(db=db, actor=actor, action="update", record_type="User", record_id=user.id,
                 detail="reset-password")
    return user, temporary


def change_password(*, db: Session, user: User, current: str, new: str, client: str) -> None:
    """Change one's own password, proving the current one; every login then ends."""
    problems = []
    if not credentials.confirm_password(db=db, user=user, password=current, address=client):
        problems.append(FieldProblem("current_password", "is not your current password",
                                     "the password you log in with"))
    if len(new) < MIN_PASSWORD_LENGTH:
        problems.append(FieldProblem("new_password", "is too short",
                                     f"at least {MIN_PASSWORD_LENGTH} characters"))
    elif new == current:
        problems.append(FieldProblem("new_password", "is the same as the current one",
                                     "a different password"))
    if problems:
        # A wrong current password counts towards the lockout, so the refusal keeps it.
        raise InvalidInput(problems).keeping_changes()
    user.password_hash = hash_password(new)
    user.must_change_password = False
    revoke_all(db=db, user_pk=user.pk)
    audit.record(db=db, actor=actor_for(user, client), action="password-change",
                 record_type="User", record_id=user.id)


# Recorded on the audit trail when a portal account closes because its patient has died.
CLOSED_AT_DEATH = "deactivate: the patient is recorded as deceased"
# Who closes those found by the worker's sweep (a death sent by an EHR or imported).
ACCOUNT_SWEEPER = Actor(username="accounts", role="system", client="worker")


def close_accounts_of_deceased(*, db: Session, actor: Actor = ACCOUNT_SWEEPER,
                               patient_pk: int | None = None) -> list[User]:
    """Deactivate the portal account of every patient recorded as deceased (only this
    patient's when `patient_pk` is given) and end its logins; audited. Taking the death back
    does not reopen it: an administrator reactivates it."""
    found = select(User).join(Patient, Patient.pk == User.patient_pk).where(
        Patient.deceased.is_(True), User.active.is_(True))
    if patient_pk is not None:
        found = found.where(User.patient_pk == patient_pk)
    users = list(db.execute(found.with_for_update(of=User, skip_locked=True)).scalars())
    for user in users:
        user.active = False
        revoke_all(db=db, user_pk=user.pk)
        audit.record(db=db, actor=actor, action="update", record_type="User",
                     record_id=user.id, detail=CLOSED_AT_DEATH)
    return users


def administer(*, db: Session, user_id: str, action: str, actor: Actor) -> User:
    """Deactivate, reactivate or unlock a user, or clear their two-factor set-up; audited."""
    if action not in USER_ACTIONS:
        raise invalid("action", f"unknown action {action!r}", ", ".join(USER_ACTIONS))
    user = managed_user(db=db, user_id=user_id, actor=actor)
    if user.pk == actor.user_pk and action == "deactivate":
        raise Conflict("you cannot deactivate your own account")
    if action in ("deactivate", "reactivate"):
        user.active = action == "reactivate"
    if action in ("deactivate", "reset-two-factor", "revoke-tokens"):
        revoke_all(db=db, user_pk=user.pk)
    if action == "unlock":
        credentials.unlock(db=db, user=user, actor=actor)
    if action == "reset-two-factor":
        user.totp_enabled = False
        user.totp_secret = None
    db.flush()
    actor_cache.forget_user(user.pk)
    audit.record(db=db, actor=actor, action="update", record_type="User", record_id=user.id,
                 detail=action)
    return user
