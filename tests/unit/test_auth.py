from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from trichat.auth import load_or_create_secret, make_verifier, mint
from trichat.config import Settings
from trichat.errors import AuthError, ConfigError

SECRET = "unit-test-secret-with-enough-length-for-hs256"


def verifier(**kw: object):  # type: ignore[no-untyped-def]
    return make_verifier(Settings(jwt_secret=SECRET, **kw))  # type: ignore[arg-type]


def test_claims_become_a_principal() -> None:
    token = mint(SECRET, "u1", username="alice", display_name="Alice A", admin=True)
    p = verifier().verify(token)
    assert (p.user_id, p.username, p.display_name, p.is_admin) == ("u1", "alice", "Alice A", True)
    assert verifier().verify(mint(SECRET, "u2")).username == "u2"  # defaults to sub


@pytest.mark.parametrize(
    "token",
    [
        mint(SECRET, "u", ttl=-5),
        mint("another-secret-with-enough-length-for-hs256", "u"),
        jwt.encode({"sub": "u"}, SECRET, algorithm="HS256"),
        jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256"),
        jwt.encode({"sub": "u", "exp": int(time.time()) + 60}, None, algorithm="none"),
        "x.y.z",
    ],
    ids=["expired", "wrong-key", "no-exp", "no-sub", "alg-none", "garbage"],
)
def test_refused(token: str) -> None:
    with pytest.raises(AuthError):
        verifier().verify(token)


def test_issuer_audience() -> None:
    v = verifier(jwt_issuer="iss", jwt_audience="aud")
    v.verify(mint(SECRET, "u", issuer="iss", audience="aud"))
    with pytest.raises(AuthError):
        v.verify(mint(SECRET, "u", issuer="other", audience="aud"))
    with pytest.raises(AuthError):
        v.verify(mint(SECRET, "u", issuer="iss"))
    # not configured: an aud claim is not a reason to refuse
    verifier().verify(mint(SECRET, "u", audience="whatever"))


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_public_key_algorithms(kind: str, tmp_path: Path) -> None:
    if kind == "rsa":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        alg = "RS256"
    else:
        private = ec.generate_private_key(ec.SECP256R1())
        alg = "ES256"
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    path = tmp_path / "key.pem"
    path.write_text(pem)
    claims = {"sub": "u", "exp": int(time.time()) + 60}
    for key_setting in (pem, str(path)):
        v = make_verifier(Settings(jwt_public_key=key_setting))
        assert v.algorithm == alg
        assert v.verify(jwt.encode(claims, private, algorithm=alg)).user_id == "u"
        with pytest.raises(AuthError):  # an HS256 token is not accepted
            v.verify(jwt.encode(claims, "x" * 40, algorithm="HS256"))


def test_bad_public_key() -> None:
    with pytest.raises(ConfigError):
        make_verifier(Settings(jwt_public_key="-----BEGIN PUBLIC KEY-----\nnope\n"))


def test_embedded_secret_is_created_once(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path / "d")
    assert load_or_create_secret(tmp_path / "d") == first
    assert (tmp_path / "d" / "jwt-secret").stat().st_mode & 0o777 == 0o600
