"""The one credential check behind every door where a person proves who they are: the login page,
the API token, a witness and a second counter at the controlled-substance cabinet.

- Every check runs the password hash, known user or not, so timing does not reveal who exists,
  and a failure reads the same for real and unknown accounts.
- Failures count per account (a lock-out, also for names that do not exist) and per client
  address (a rate limit, 429 with Retry-After); they are recorded and audited even when the
  request that carried them is refused and rolled back.
- A role that must use two-factor gets no token, witness or login without it, also in the window
  after an administrator reset it; each code is accepted once.
- A lock-out set off by someone guessing does not stop the real user: the right password with a
  valid two-factor code in the same step still signs in.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.auth import totp
from ketaclinic.auth.models import CredentialAttempt, User
from ketaclinic.auth.passwords import verify_password
from ketaclinic.db import keep_after_rollback
from ketaclinic.errors import RateLimited
from ketaclinic.kernel.actor import Actor
from ketaclinic.settings import get_settings

WRONG = "Username or password is wrong."
LOCKED = "Too many failed attempts: try again in {minutes} min, or sign in with your two-factor code."
# Said the same to the token API (field totp), a witness (totp_code) and the web login (code):
# no field name, and a code used once already (by signing in moments ago) is named as a cause.
CODE_WRONG = ("The two-factor code is wrong or was already used: enter the next code your "
              "authenticator app shows.")
MUST_CHANGE = "Your password was reset: log in on the web and choose a new one first."
NEEDS_MFA = ("Two-factor login is required for your role ({role}) and is not set up: log in on "
             "the web to set it up first.")

# What the caller must do next on the web after a right password.
DONE, ASK_CODE, ENROL = "", "code", "enrol"


@dataclass(frozen=True)
class Outcome:
    """A person who proved who they are (with what is still to do on the web), or why not."""

    user: User | None
    message: str = ""
    next_step: str = DONE


def _normal(username: str) -> str:
    return "".join(ch for ch in username if ch.isprintable()).strip().lower()[:150]


def _since_last_success(db: Session, username: str, since: datetime) -> int:
    last_ok = db.execute(select(func.max(CredentialAttempt.at)).where(
        CredentialAttempt.username == username, CredentialAttempt.ok.is_(True))).scalar_one()
    start = max(since, last_ok) if last_ok else since
    return int(db.execute(select(func.count()).select_from(CredentialAttempt).where(
        CredentialAttempt.username == username, CredentialAttempt.ok.is_(False),
        CredentialAttempt.at > start)).scalar_one())


def _guard_address(db: Session, address: str, now: datetime) -> None:
    """Refuse a client address with too many recent failures (before any hashing)."""
    settings = get_settings()
    since = now - timedelta(minutes=settings.address_window_min)
    recent = db.execute(select(CredentialAttempt.at).where(
        CredentialAttempt.address == address, CredentialAttempt.ok.is_(False),
        CredentialAttempt.at > since).order_by(CredentialAttempt.at.desc())
        .limit(settings.address_max_failures)).scalars().all()
    if len(recent) >= settings.address_max_failures:
        wait = int((recent[-1] - since).total_seconds()) + 1
        raise RateLimited(f"Too many failed sign-ins from this address: try again in "
                          f"{wait // 60 + 1} min.", retry_after_s=max(wait, 1))


def _locked_minutes(db: Session, username: str, now: datetime) -> int | None:
    """Minutes left of an account's lock-out (known user or not), or None."""
    settings = get_settings()
    window = timedelta(minutes=settings.lockout_min)
    if _since_last_success(db, username, now - window) < settings.lockout_failed_attempts:
        return None
    newest = db.execute(select(func.max(CredentialAttempt.at)).where(
        CredentialAttempt.username == username, CredentialAttempt.ok.is_(False))).scalar_one()
    return max(1, int((newest + window - now).total_seconds() // 60) + 1)


def _fail(db: Session, *, username: str, address: str, purpose: str, reason: str,
          user: User | None, now: datetime) -> None:
    """Record and audit a failure, in this transaction and again if it is rolled back."""
    role = user.role if user else ""
    record_id = user.id if user else ""
    user_pk = user.pk if user else None

    def write(target: Session) -> None:
        target.add(CredentialAttempt(username=username or "(blank)", address=address[:100],
                                     purpose=purpose, ok=False, reason=reason[:100], at=now))
        target.flush()
        audit.record(db=target, actor=Actor(username=username or "(blank)", role=role,
                                            client=address), action="login-failed",
                     record_type="User", record_id=record_id, detail=f"{purpose}: {reason}")
        held = target.get(User, user_pk) if user_pk is not None else None
        minutes = _locked_minutes(target, username, now) if held is not None else None
        if held is not None and minutes is not None:  # shown on the administrator's user list
            held.locked_until = now + timedelta(minutes=get_settings().lockout_min)

    write(db)
    db.flush()
    keep_after_rollback(db, write)


def _succeed(db: Session, *, username: str, address: str, purpose: str, now: datetime) -> None:
    db.add(CredentialAttempt(username=username, address=address[:100], purpose=purpose, ok=True,
                             at=now))
    db.execute(update(User).where(User.username == username).values(locked_until=None))
    db.flush()


def unlock(*, db: Session, user: User, actor: Actor) -> None:
    """End a lock-out now (an administrator's action): earlier failures no longer count."""
    _succeed(db, username=user.username, address=actor.client, purpose="unlocked by admin",
             now=clock.now())


def _use_code(user: User, code: str) -> bool:
    """Whether the code matches the user's seed now and was not used before (its 30-second step
    is newer than the last one accepted); it then counts as used."""
    if not user.totp_secret:
        return False
    step = totp.matching_step(user.totp_secret, code)
    if step is None or step <= user.totp_last_step:
        return False
    user.totp_last_step = step
    return True


def _code_ok(db: Session, user: User, code: str) -> bool:
    """A login code: two-factor must be on, and the code new."""
    return user.totp_enabled and _use_code(user, code)


def check(*, db: Session, username: str, password: str, address: str, purpose: str,
          code: str | None = None) -> Outcome:
    """Check a password, and the two-factor code when one is given in the same step (API token,
    witness, second counter; `code=None` on the web login page, which asks for it next).

    Raises RateLimited for a client address with too many recent failures.
    """
    now = clock.now()
    name = _normal(username)
    _guard_address(db, address, now)
    user = db.execute(select(User).where(User.username == name)).scalar_one_or_none()
    known = user is not None and user.active
    # The hash always runs (a dummy one for unknown or inactive users): same time either way.
    password_ok = verify_password(user.password_hash if known and user else None, password) \
        and known
    locked = _locked_minutes(db, name, now)
    if not password_ok:
        _fail(db, username=name, address=address, purpose=purpose, reason="bad credentials",
              user=user, now=now)
        return Outcome(None, LOCKED.format(minutes=locked) if locked else WRONG)
    assert user is not None
    if user.must_change_password and code is not None:  # only the web lets them choose one
        _fail(db, username=name, address=address, purpose=purpose,
              reason="password reset, not yet changed", user=user, now=now)
        return Outcome(None, MUST_CHANGE)
    required = get_settings().mfa_required_for(user.role)
    if code is None:  # the web: the code (or setting it up) is the next step
        if locked:  # the same answer as a wrong password: only password and code together pass
            _fail(db, username=name, address=address, purpose=purpose, reason="locked",
                  user=user, now=now)
            return Outcome(None, LOCKED.format(minutes=locked))
        if user.totp_enabled:
            return Outcome(user, next_step=ASK_CODE)
        if required:
            return Outcome(user, next_step=ENROL)
        _succeed(db, username=name, address=address, purpose=purpose, now=now)
        return Outcome(user)
    if not user.totp_enabled:
        if required:
            _fail(db, username=name, address=address, purpose=purpose,
                  reason="two-factor required, not set up", user=user, now=now)
            return Outcome(None, NEEDS_MFA.format(role=user.role))
        if locked:
            _fail(db, username=name, address=address, purpose=purpose, reason="locked",
                  user=user, now=now)
            return Outcome(None, LOCKED.format(minutes=locked))
        _succeed(db, username=name, address=address, purpose=purpose, now=now)
        return Outcome(user)
    if not _code_ok(db, user, code):
        _fail(db, username=name, address=address, purpose=purpose, reason="bad two-factor code",
              user=user, now=now)
        return Outcome(None, LOCKED.format(minutes=locked) if locked else CODE_WRONG)
    _succeed(db, username=name, address=address, purpose=purpose, now=now)
    return Outcome(user)


def confirm_password(*, db: Session, user: User, password: str, address: str) -> bool:
    """A logged-in user's current password, asked again before changing it (a wrong one counts
    toward the lock-out like any other)."""
    now = clock.now()
    _guard_address(db, address, now)
    if verify_password(user.password_hash, password):
        return True
    _fail(db, username=user.username, address=address, purpose="password change",
          reason="bad current password", user=user, now=now)
    return False


def check_code(*, db: Session, user: User, code: str, address: str, purpose: str) -> bool:
    """The web login's second step: the two-factor code of a user whose password was right."""
    now = clock.now()
    _guard_address(db, address, now)
    if _code_ok(db, user, code):
        _succeed(db, username=user.username, address=address, purpose=purpose, now=now)
        return True
    _fail(db, username=user.username, address=address, purpose=purpose,
          reason="bad two-factor code", user=user, now=now)
    return False


def confirm_code(*, db: Session, user: User, code: str) -> bool:
    """Whether a code from a secret being set up is right (enrolment); it then counts as used."""
    return _use_code(user, code)
