"""TOTP two-factor codes and their enrolment QR code."""

import hmac

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


def matching_step(secret: str, code: str) -> int | None:
    """The 30-second step the six-digit code belongs to, now or one step either side (clock
    drift), or None when it matches none of them."""
    digits = "".join(ch for ch in code if ch.isdigit())
    if len(digits) != 6:
        return None
    generator = pyotp.TOTP(secret)
    now_step = generator.timecode(clock.now())
    for step in (now_step - 1, now_step, now_step + 1):
        if hmac.compare_digest(generator.generate_otp(step), digits):
            return step
    return None


def current_code(secret: str) -> str:
    """The code an authenticator would show now (demo and tests)."""
    return pyotp.TOTP(secret).at(clock.now())
