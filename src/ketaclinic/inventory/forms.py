"""The witness fields of a ledger form (a second person types their own credentials)."""

from typing import Any

from ketaclinic.inventory import schemas
from ketaclinic.web.forms import validate


def witness_of(form: Any, prefix: str = "witness") -> schemas.WitnessIn | None:
    """The witness typed on a form under a prefix, or None when the username is blank."""
    if not str(form.get(f"{prefix}_username", "")).strip():
        return None
    return validate(schemas.WitnessIn, {"username": str(form.get(f"{prefix}_username", "")),
                                        "password": str(form.get(f"{prefix}_password", "")),
                                        "totp_code": str(form.get(f"{prefix}_totp", ""))})
