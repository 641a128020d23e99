"""Bearer-token authentication and role checks for every service's HTTP API.

Tokens are JWTs verified against an OIDC issuer's JWKS (production: the council's Entra ID) or
against a local public key (``make run``). Claims used:
  ``sub``         who the person is (audited)
  ``role``        one of :class:`Role` (or ``roles``: the first known one, as Entra app roles)
  ``la``          the local authority (tenant) the person works for
  ``school_urn``  for school staff: their school; they see only that school's children
A missing, expired or forged token is 401, and so is one whose ``la`` the deployment does not
serve (``tenancy``); a valid token with the wrong role or tenant is 403.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from eps_chassis.tenancy import EVERY_LOCAL_AUTHORITY, LocalAuthorities

ALGORITHMS = ["ES256", "RS256"]


class Role(StrEnum):
    EP = "ep"
    SENIOR_EP = "senior_ep"
    PRINCIPAL_EP = "principal_ep"
    SENCO = "senco"
    SCHOOL_BUSINESS_MANAGER = "school_business_manager"
    COORDINATOR = "coordinator"
    FINANCE = "finance"
    ADMIN = "admin"
    SERVICE = "service"  # another service of the platform, as itself (the keys service's callers)
    DATA_PROTECTION = "data_protection"  # the LA's data-protection officer (subject access)


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: Role
    tenant: str
    school_urn: str | None = None

    @property
    def actor(self) -> str:
        # another service names itself (service:<name>), as it does on its events
        if self.role is Role.SERVICE and self.subject.startswith("service:"):
            return self.subject
        return f"user:{self.subject}"

    @property
    def is_school_staff(self) -> bool:
        return self.role in (Role.SENCO, Role.SCHOOL_BUSINESS_MANAGER)


@dataclass(frozen=True, slots=True)
class Claimed:
    """Who a refused token says its bearer is, when that can be believed: its signature, issuer
    and audience hold, and it was refused for another reason (expired, an LA not served here).
    The audit log records such a refusal under these names."""

    subject: str
    role: str | None
    tenant: str | None

    @property
    def actor(self) -> str:
        return f"user:{self.subject}"


class AuthError(Exception):
    """A token is refused; ``claimed`` is who it names, when that can be believed."""

    def __init__(self, reason: str, claimed: Claimed | None = None) -> None:
        super().__init__(reason)
        self.claimed = claimed


class TokenVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        public_key: Any | None = None,
        jwks_url: str | None = None,
        local_authorities: LocalAuthorities = EVERY_LOCAL_AUTHORITY,
        jwks_cooldown_s: float = 30.0,
    ) -> None:
        if (public_key is None) == (jwks_url is None):
            raise ValueError("configure exactly one of a public key or a JWKS URL")
        self.issuer = issuer
        self.audience = audience
        self.local_authorities = local_authorities  # a token of any other LA is refused
        self._key: Any = public_key
        # the issuer's key set, cached for 5 minutes; a token naming a key id it lacks fetches
        # it again (at most every jwks_cooldown_s, so made-up key ids cannot flood the issuer)
        self._jwks = (
            jwt.PyJWKClient(jwks_url, lifespan=300, cooldown_duration=jwks_cooldown_s, timeout=10)
            if jwks_url
            else None
        )
        self._fetching = asyncio.Lock()

    @classmethod
    def from_public_key_file(
        cls,
        path: Path,
        issuer: str,
        audience: str,
        local_authorities: LocalAuthorities = EVERY_LOCAL_AUTHORITY,
    ) -> TokenVerifier:
        return cls(
            issuer=issuer,
            audience=audience,
            public_key=path.read_bytes(),
            local_authorities=local_authorities,
        )

    async def authenticate(self, token: str) -> Principal:
        """The principal a token names, verified; the issuer's keys are fetched off the event
        loop (the fast track shares it), and only when not cached or a key id is new."""
        return self.verify(token, key=await self._signing_key(token))

    async def _signing_key(self, token: str) -> Any:
        if self._jwks is None:
            return self._key
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise AuthError(str(exc)) from exc
        cached = self._jwks.jwk_set_cache.get() if self._jwks.jwk_set_cache else None
        known = next((k for k in cached.keys if k.key_id == kid), None) if cached else None
        if known is not None:
            return known.key
        async with self._fetching:  # one fetch at a time; the rest then find it cached
            try:
                return (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key
            except jwt.PyJWTError as exc:
                raise AuthError(str(exc)) from exc

    def verify(self, token: str, key: Any = None) -> Principal:
        """The principal a token names, verified against ``key`` (by default the configured
        key, or the issuer's key set fetched here: blocking, so the HTTP door uses
        :meth:`authenticate`)."""
        try:
            if key is None:
                key = self._jwks.get_signing_key_from_jwt(token).key if self._jwks else self._key
            claims = self._decode(token, key)
        except jwt.ExpiredSignatureError as exc:  # signed by the issuer: who it was is known
            raise AuthError(str(exc), _claimed(self._decode(token, key, expired=True))) from exc
        except jwt.PyJWTError as exc:
            raise AuthError(str(exc)) from exc
        role = _role_from(claims)
        tenant = claims.get("la")
        if role is None or not isinstance(tenant, str):
            raise AuthError(
                "token lacks a known role or the local authority (la) claim", _claimed(claims)
            )
        if tenant not in self.local_authorities:
            raise AuthError(self.local_authorities.refusal(tenant, field="la"), _claimed(claims))
        school = claims.get("school_urn")
        return Principal(
            subject=str(claims["sub"]),
            role=role,
            tenant=tenant,
            school_urn=school if isinstance(school, str) else None,
        )

    def _decode(self, token: str, key: Any, *, expired: bool = False) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            audience=self.audience,
            issuer=self.issuer,
            options={"require": ["exp", "sub", "iss", "aud"], "verify_exp": not expired},
        )
        return claims


def _claimed(claims: dict[str, Any]) -> Claimed:
    role, tenant = _role_from(claims), claims.get("la")
    return Claimed(
        subject=str(claims.get("sub")),
        role=str(role) if role else None,
        tenant=tenant if isinstance(tenant, str) else None,
    )


def _role_from(claims: dict[str, Any]) -> Role | None:
    candidates = [claims.get("role"), *(claims.get("roles") or [])]
    for value in candidates:
        if isinstance(value, str) and value in Role._value2member_map_:
            return Role(value)
    return None


_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> Principal:
    """The caller, from the bearer token (401 without a valid one). It is kept on the request
    (``request.state.principal``, or ``claimed`` for a refused token whose bearer is known), so
    that a refusal of what they ask is audited under their name (``eps_chassis.http``)."""
    if credentials is None:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        principal = await verifier.authenticate(credentials.credentials)
    except AuthError as exc:
        request.state.claimed = exc.claimed
        raise HTTPException(
            401, f"invalid token: {exc}", headers={"WWW-Authenticate": "Bearer"}
        ) from exc
    request.state.principal = principal
    structlog.contextvars.bind_contextvars(tenant=principal.tenant, actor=principal.actor)
    return principal


def require_roles(*roles: Role) -> Any:
    """FastAPI dependency: the caller must hold one of ``roles`` (403 otherwise, audited by the
    HTTP layer with who asked and why it was refused). A route lists it before its body, so
    that nobody's body is read before they are known to be allowed (``eps_chassis.openapi``
    checks every route's order when the service is built)."""

    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in roles:
            raise HTTPException(
                403, f"role {principal.role} may not do this; allowed: {', '.join(roles)}"
            )
        return principal

    check.allowed_roles = roles  # type: ignore[attr-defined]  # documented in OpenAPI
    return Depends(check)


# --- local keys and tokens for `make run` and the tests -------------------------------------


def ensure_local_keys(directory: Path) -> tuple[Path, Path]:
    """Create (once) an EC P-256 key pair for signing local tokens; returns (private, public)."""
    directory.mkdir(parents=True, exist_ok=True)
    private, public = directory / "signing-key.pem", directory / "signing-key.pub.pem"
    if not private.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        private.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        private.chmod(0o600)
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return private, public


def issue_token(
    private_key_pem: bytes,
    *,
    subject: str,
    role: Role | str,
    tenant: str,
    school_urn: str | None = None,
    issuer: str = "eps-local",
    audience: str = "eps-api",
    ttl_s: int = 8 * 3600,
    now: float | None = None,
) -> str:
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "role": str(role),
        "la": tenant,
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + ttl_s,
    }
    if school_urn:
        claims["school_urn"] = school_urn
    return jwt.encode(claims, private_key_pem, algorithm="ES256")


def main() -> None:
    parser = argparse.ArgumentParser(description="Issue a local development token")
    parser.add_argument("--keys", type=Path, default=Path("var/local/auth"))
    parser.add_argument("--role", required=True, choices=[r.value for r in Role])
    parser.add_argument("--la", default="leicester-city", help="local authority (tenant)")
    parser.add_argument("--sub", default=None, help="subject (defaults to the role)")
    parser.add_argument("--school-urn", default=None)
    args = parser.parse_args()
    private, _ = ensure_local_keys(args.keys)
    print(
        issue_token(
            private.read_bytes(),
            subject=args.sub or f"local-{args.role}",
            role=args.role,
            tenant=args.la,
            school_urn=args.school_urn,
        )
    )


if __name__ == "__main__":
    main()
