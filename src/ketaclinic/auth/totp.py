"""TOTP two-factor codes and their enrolment QR code."""

import pyotp
import segno

from ketaclinic import clock

ISSUER = "ketaclinic"


def new_secret() -> str:
    """A fresh base32 TOTP secret."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app reads."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code."""
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff")


def verify_code(secret: str, code: str) -> bool:
    """Whether the six-digit code is valid now (one step of clock drift allowed)."""
    digits = "".join(ch for ch in code if ch.isdigit())
    return len(digits) == 6 and pyotp.TOTP(secret).verify(digits, for_time=clock.now(),
                                                            valid_window=1)


def current_code(secret: str) -> str:
    """The code an authenticator would show now (demo and tests)."""
    return pyotp.TOTP(secret).at(clock.now())
