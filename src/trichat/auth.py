"""JWT → `Principal`. One configured algorithm; `none` never; `exp` required."""

from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from trichat.config import Settings
from trichat.errors import AuthError, ConfigError
from trichat.models import Principal
from trichat.protocol.values import has_nul

log = logging.getLogger("trichat.auth")
SECRET_FILE = "jwt-secret"
MAX_EXP = 2**53 - 1  # seconds: the largest integer every JSON client reads exactly


@dataclass(frozen=True, slots=True)
class Verifier:
    key: Any
    algorithm: str
    issuer: str | None
    audience: str | None

    def verify(self, token: str) -> Principal:
        """Check signature, expiry and (when configured) issuer and audience."""
        options = {"require": ["exp", "sub"], "verify_aud": self.audience is not None}
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                issuer=self.issuer,
                audience=self.audience,
                options=options,
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.PyJWTError as exc:
            log.debug("token refused: %r", exc)  # PyJWT's words stay in the log
            raise AuthError(f"invalid token: {_reason(exc)}") from None
        return principal_from_claims(claims)


def _reason(exc: Exception) -> str:
    """Our sentence for a PyJWT refusal (subclasses before their bases)."""
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"claim {exc.claim!r} is required"
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "refused"


_REASONS: list[tuple[type[Exception], str]] = [
    (jwt.InvalidSignatureError, "the signature does not match"),
    (jwt.InvalidAlgorithmError, "this algorithm is not accepted"),
    (jwt.DecodeError, "not a well-formed JWT"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.ImmatureSignatureError, "not valid yet (nbf)"),
    (jwt.InvalidIssuedAtError, "'iat' is not a valid time"),
]


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """The one place claims are bounded: out of range or unstorable is a bad token."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 0 < len(sub) <= 128 or has_nul(sub):
        raise AuthError("invalid token: 'sub' must be a string of 1..128 characters")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or not 0 < exp <= MAX_EXP:
        raise AuthError(f"invalid token: 'exp' must be a time in 1..{MAX_EXP}")

    def text(name: str) -> str | None:
        value = claims.get(name)
        if isinstance(value, str) and has_nul(value):
            raise AuthError(f"invalid token: {name!r} must not contain NUL")
        return value[:256] if isinstance(value, str) and value else None

    return Principal(
        user_id=sub,
        username=text("username") or sub,
        display_name=text("display_name"),
        avatar_url=text("avatar_url"),
        is_admin=claims.get("role") == "admin",
        exp=int(exp),
    )


def load_or_create_secret(data_dir: Path) -> str:
    """The embedded default: a random HS256 secret kept in the data folder."""
    path = data_dir / SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass  # first start: create it below
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


def _public_key(text: str) -> tuple[Any, str]:
    pem = text if "-----BEGIN" in text else Path(text).read_text()
    try:
        key = load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise ConfigError(f"TRICHAT_JWT_PUBLIC_KEY is not a PEM public key: {exc}") from None
    if isinstance(key, rsa.RSAPublicKey):
        return key, "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key, "ES256"
    raise ConfigError("TRICHAT_JWT_PUBLIC_KEY must be an RSA or EC (P-256) public key")


def signing_secret(settings: Settings) -> str:
    """The HS256 secret in force: configured, or the embedded one."""
    if settings.jwt_public_key:
        raise ConfigError(
            "trichat token cannot sign: TRICHAT_JWT_PUBLIC_KEY is set (tokens come from "
            "the holder of the private key)"
        )
    return settings.jwt_secret or load_or_create_secret(settings.data_dir)


def make_verifier(settings: Settings) -> Verifier:
    if settings.jwt_public_key:
        try:
            key, algorithm = _public_key(settings.jwt_public_key)
        except OSError as exc:
            raise ConfigError(f"TRICHAT_JWT_PUBLIC_KEY cannot be read: {exc}") from None
    else:
        key, algorithm = signing_secret(settings), "HS256"
    return Verifier(key, algorithm, settings.jwt_issuer, settings.jwt_audience)


def mint(
    secret: str,
    user_id: str,
    *,
    username: str | None = None,
    display_name: str | None = None,
    admin: bool = False,
    ttl: float = 3600.0,
    issuer: str | None = None,
    audience: str | None = None,
    now: float | None = None,
) -> str:
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": user_id, "iat": issued, "exp": issued + int(ttl)}
    if username:
        claims["username"] = username
    if display_name:
        claims["display_name"] = display_name
    if admin:
        claims["role"] = "admin"
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")
