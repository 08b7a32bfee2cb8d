"""Application settings, read from the environment with the KETACLINIC_ prefix."""

from datetime import datetime
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "placeholder", "dev", "development", "please-change"}
)
DEMO_SECRET_KEY = "demo-only-secret-key-not-for-real-patients"  # noqa: S105 (refused outside demo)
MIN_SECRET_LENGTH = 32


class SettingsError(ValueError):
    """Raised when the settings cannot start a safe server."""


def describe_invalid(exc: ValidationError) -> str:
    """One line naming each setting a ValidationError of Settings refused, what it was given and
    what it accepts (pydantic's message says which values)."""
    return "; ".join(
        f"{Settings.model_config.get('env_prefix', '')}{'_'.join(map(str, e['loc'])).upper()}: "
        f"{e['msg']} (given {e['input']!r})" for e in exc.errors())

def networks_of(text: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """Comma-separated addresses and CIDR blocks as networks; ValueError naming the first that
    is neither."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            networks.append(ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not an address or a network (accepted: addresses and "
                             "CIDR blocks separated by commas, e.g. 10.20.0.0/16, 192.168.1.7)"
                             ) from None
    return tuple(networks)


# 9999-12-31T23:59:59Z, the last moment a datetime holds.
LAST_UNIX_SECOND = 253_402_300_799


class Settings(BaseSettings):
    """Every setting the app reads; one instance per process."""

    model_config = SettingsConfigDict(env_prefix="KETACLINIC_", extra="ignore")

    database_url: str = "sqlite:///./ketaclinic.db"
    secret_key: str = ""
    demo: bool = False
    session_idle_timeout_min: int = Field(default=15, ge=1, le=24 * 60)
    api_token_ttl_min: int = Field(default=60, ge=1, le=24 * 60)
    # An API token unused this long stops working (like an idle web login).
    api_token_idle_min: int = Field(default=30, ge=1, le=24 * 60)
    lockout_failed_attempts: int = Field(default=5, ge=1, le=100)
    lockout_min: int = Field(default=15, ge=1, le=24 * 60)
    # Failed credential checks from one client address within the window before it must wait.
    address_max_failures: int = Field(default=20, ge=1, le=10_000)
    address_window_min: int = Field(default=15, ge=1, le=24 * 60)
    cookie_secure: bool = True
    require_mfa_roles: tuple[str, ...] = ("admin", "prescriber")
    # Outgoing email (questionnaire links, alert notices); no host: nothing is sent and staff
    # see the link to pass on themselves.
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    mail_from: str = "ketaclinic@localhost"
    # The address patients reach the app at, for links in email (no trailing slash).
    public_url: str = "http://127.0.0.1:8000"
    # The largest request body accepted, by kind of route (bytes), and how deep JSON may nest.
    body_limit_bytes: int = Field(default=1_000_000, ge=1_000, le=100_000_000)
    fhir_body_limit_bytes: int = Field(default=50_000_000, ge=1_000, le=1_000_000_000)
    json_max_depth: int = Field(default=64, ge=8, le=1_000)
    # Fernet keys for secrets kept encrypted at rest (two-factor seeds), comma-separated: the
    # first encrypts, every one decrypts. Empty: a key derived from SECRET_KEY.
    data_keys: str = ""
    # Where phone numbers written without a +country code are dialled (ISO 3166 region code).
    phone_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    # How long an emergency ("break-glass") access to a record outside one's sites lasts.
    emergency_access_min: int = Field(default=60, ge=5, le=24 * 60)
    # Seconds between the demo server's own worker passes (reminders, alert escalation notices).
    worker_interval_s: float = Field(default=60, ge=0.5, le=3600)
    # PostgreSQL connections each server process keeps open and uses at most (beyond them a
    # request waits for one; overflow ones are opened under load and closed after use), and the
    # longest one statement may run before the database cancels it.
    db_pool_size: int = Field(default=20, ge=1, le=200)
    db_max_overflow: int = Field(default=0, ge=0, le=200)
    db_statement_timeout_ms: int = Field(default=30_000, ge=100, le=3_600_000)
    # One line of JSON per request on standard output; off unless asked for (the audit trail,
    # not the access log, records who read or changed a record).
    access_log: bool = False
    # Seconds a server process remembers who a login or API token is (0: it reads them on every
    # request); revocations in the same process take effect at once, in others within this.
    token_cache_s: float = Field(default=5, ge=0, le=60)
    # The key that seals the audit trail and the controlled-substance ledger (HMAC-SHA256); kept
    # out of the database. Empty: derived from SECRET_KEY.
    audit_key: str = ""
    # The MLLP listener stores the messages of all its connections in groups: one transaction and
    # one sync for up to this many messages, gathered for at most this long after the first.
    mllp_group_max_messages: int = Field(default=500, ge=1, le=10_000)
    mllp_group_wait_ms: float = Field(default=5, ge=0, le=1000)
    # The networks monitor gateways may reach the MLLP listener from (comma-separated addresses
    # or CIDR blocks): a connection from anywhere else is closed unread, since whoever can send
    # the listener a message can put readings on the patient in a chair. The default admits
    # this host alone; a clinic lists its gateways' network.
    mllp_allowed_peers: str = "127.0.0.0/8, ::1"
    # How often a server process and the worker seal newly committed audit and ledger rows into
    # their chains (0: never; tests seal by hand).
    audit_seal_every_s: float = Field(default=1.0, ge=0, le=3600)
    # How often a server process folds the reading tallies of open sessions that have gathered
    # many parts (ketaclinic.treatments.tally_folding); 0: only at discharge.
    tally_fold_every_s: float = Field(default=5.0, ge=0, le=3600)
    # On SQLite, how often a thread of each server process and of the monitor listener looks
    # whether the write-ahead log is due to be copied back into the database
    # (wal_checkpoints.py); 0: the commit that takes it past SQLite's threshold does it, as
    # SQLite does by default.
    sqlite_checkpoint_every_s: float = Field(default=0.05, ge=0, le=60)
    # Where the worker appends an anchor of both chains' heads (a file outside the database, for
    # instance on another host's mount), and how often. Empty: no scheduled anchors.
    audit_anchor_file: str = ""
    audit_anchor_every_s: float = Field(default=3600, ge=10, le=7 * 24 * 3600)
    # How old an unsealed audit or ledger row may be before `verify` calls it stale.
    audit_seal_grace_s: float = Field(default=300, ge=5, le=7 * 24 * 3600)
    # Registered clients' signed JWTs (CDS Hooks calls, backend-service assertions): the longest
    # lifetime accepted (CDS Hooks 2.0 and SMART Backend Services: at most five minutes) and the
    # clock difference tolerated between their servers and this one.
    client_jwt_max_lifetime_s: int = Field(default=300, ge=30, le=3600)
    client_jwt_leeway_s: int = Field(default=30, ge=0, le=300)
    # Whether a client's JWK Set may be fetched from its registered URL (outbound calls), and
    # how long a fetched set is kept before it is fetched again.
    client_jwks_fetch: bool = False
    client_jwks_cache_s: float = Field(default=300, ge=0, le=86_400)
    # Lifetimes of OAuth access tokens: a backend service's (SMART Backend Services: at most
    # five minutes) and an app's acting for a user.
    oauth_system_token_s: int = Field(default=300, ge=30, le=300)
    oauth_user_token_s: int = Field(default=3600, ge=60, le=24 * 3600)
    # How long an authorization code may wait for its exchange, and how long an app's refresh
    # token lasts unless the user revokes the app first (My account).
    oauth_code_s: int = Field(default=60, ge=10, le=600)
    oauth_refresh_s: int = Field(default=90 * 24 * 3600, ge=3600, le=365 * 24 * 3600)
    # Demos and tests only: start the clinic's clock at this moment (ISO 8601 with an offset);
    # it runs on from there. Never set for real patients.
    clock_at: datetime | None = None
    # With `clock_at`: the real time (Unix seconds) at which the clock read that moment. Without
    # it the clock reads `clock_at` at the process's first read, so a process started by another
    # runs behind its parent by its own start-up; with it, the two agree.
    clock_at_real_time: float | None = Field(default=None, ge=0, le=LAST_UNIX_SECOND,
                                             allow_inf_nan=False)

    @model_validator(mode="after")
    def _clock_at_is_complete(self) -> "Settings":
        if self.clock_at is not None and self.clock_at.utcoffset() is None:
            raise SettingsError("KETACLINIC_CLOCK_AT needs a UTC offset, e.g. 2027-03-13T23:50:00-05:00")
        if self.clock_at_real_time is not None and self.clock_at is None:
            raise SettingsError("KETACLINIC_CLOCK_AT_REAL_TIME is the real time at which the "
                                "clock read KETACLINIC_CLOCK_AT: set both or neither")
        return self

    @field_validator("mllp_allowed_peers")
    @classmethod
    def _peers_are_networks(cls, value: str) -> str:
        networks_of(value)
        return value

    @property
    def mllp_peer_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """The networks monitor gateways may connect from."""
        return networks_of(self.mllp_allowed_peers)

    @model_validator(mode="after")
    def _demo_gets_a_fixed_key(self) -> "Settings":
        if self.demo and not self.secret_key:
            self.secret_key = DEMO_SECRET_KEY
        return self

    def check_safe_to_serve(self) -> None:
        """Refuse a missing or placeholder secret key unless in demo mode."""
        if self.demo:
            return
        key = self.secret_key.strip()
        if key.lower() in PLACEHOLDER_SECRETS or key == DEMO_SECRET_KEY:
            raise SettingsError(
                "KETACLINIC_SECRET_KEY is missing or a placeholder; set a random key of at least "
                f"{MIN_SECRET_LENGTH} characters (or run with KETACLINIC_DEMO=1 for the demo)"
            )
        if len(key) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"KETACLINIC_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters long"
            )

    def mfa_required_for(self, role: str) -> bool:
        """Whether users of this role must use TOTP two-factor login."""
        return not self.demo and role in self.require_mfa_roles


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()
