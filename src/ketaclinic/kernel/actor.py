"""Who is acting: the identity every service receives and every audit row records."""

import getpass
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    """A logged-in user (or the command line) acting on records."""

    username: str
    role: str
    user_pk: int | None = None
    site_pks: frozenset[int] = field(default_factory=frozenset)
    patient_pk: int | None = None
    client: str = ""
    # Records opened by emergency ("break-glass") access, for the time it lasts.
    emergency_patient_pks: frozenset[int] = field(default_factory=frozenset)
    # The zone times are shown in on the user's pages: their (first) site's.
    time_zone: str = "UTC"
    # An OAuth token's scopes (SMART on FHIR): the FHIR interactions it opens, within what the
    # role allows. None: not limited by scopes (a login or ketaclinic API token).
    scopes: frozenset[str] | None = None
    # The patient an app was launched for (SMART `launch/patient`) when the token's scopes are
    # patient scopes: the only record it reaches.
    patient_context_pk: int | None = None

    @property
    def is_patient(self) -> bool:
        """Whether this actor is a patient using the portal."""
        return self.role == "patient"

    @property
    def confined_to(self) -> int | None:
        """The one patient record this actor reaches, if it reaches only one: a patient's own,
        or the patient an app acting for staff was launched for."""
        return self.patient_pk if self.is_patient else self.patient_context_pk


def cli_actor() -> Actor:
    """The operator running a command on the server, recorded as cli:<os user>."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor(username=f"cli:{who}", role="system", client="cli")
