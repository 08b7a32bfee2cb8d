"""The key ketaclinic signs OpenID Connect id tokens with (ES256), derived from the secret key so
every server process of a deployment signs alike, and its public half as a JWK Set."""

from functools import cache
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.jwk import ECKey, KeySet

from ketaclinic.settings import get_settings

ALGORITHM = "ES256"
# The order of the P-256 group: a private scalar is 1 .. ORDER - 1.
P256_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)


@cache
def _key(secret_key: str) -> ECKey:
    seed = HKDF(algorithm=hashes.SHA256(), length=48, salt=b"ketaclinic-id-token-key",
                info=b"openid-connect-es256").derive(secret_key.encode("utf-8"))
    scalar = int.from_bytes(seed, "big") % (P256_ORDER - 1) + 1
    private = ec.derive_private_key(scalar, ec.SECP256R1())
    key = ECKey.import_key(private)
    key.ensure_kid()
    return key


def private_key() -> ECKey:
    """The signing key (its kid is its thumbprint)."""
    return _key(get_settings().secret_key)


def public_jwks() -> dict[str, Any]:
    """The public JWK Set clients verify id tokens with."""
    key = private_key()
    public = key.as_dict(private=False)
    return {"keys": [{**public, "use": "sig", "alg": ALGORITHM, "kid": key.kid}]}


def key_set() -> KeySet:
    """The signing key as a KeySet."""
    return KeySet([private_key()])
