"""JWT → `Principal`. One configured algorithm; `none` never; `exp` required."""

from __future__ import annotations

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

SECRET_FILE = "jwt-secret"


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
            raise AuthError(f"invalid token: {exc}") from None
        return principal_from_claims(claims)


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 128:
        raise AuthError("invalid token: 'sub' must be a non-empty string")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise AuthError("invalid token: 'exp' must be a number")

    def text(name: str) -> str | None:
        value = claims.get(name)
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
