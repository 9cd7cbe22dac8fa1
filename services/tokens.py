"""Officer bearer tokens: HS256 JWTs whose ``jti`` is recorded in the ``tokens`` collection.

Used by the admin page, ``scripts/issue_token.py`` and the API, so all three agree."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import jwt

from domain import rules
from domain.clock import SYSTEM_CLOCK, Clock
from domain.errors import NotFound
from repositories import Repositories
from repositories.tokens import TokenRecord

ALGORITHM = "HS256"
DEFAULT_DAYS = 90
MAX_DAYS = 365
LEEWAY_SECONDS = 30
# Tokens already verified, with their expiry: a phone sends the same token with every request, and
# checking its signature again is a tenth of a request's CPU. Safe to cache: revocation and the
# officer's state are checked in MongoDB on every request; expiry is re-checked on every hit.
VERIFIED_CACHE_SIZE = 4096
_REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti"]


class InvalidToken(Exception):
    """The bearer token cannot be accepted; the message (Spanish) says why."""


@dataclasses.dataclass(frozen=True)
class Claims:
    numero: int
    jti: str


@dataclasses.dataclass(frozen=True)
class IssuedToken:
    token: str
    record: TokenRecord


class TokenService:
    def __init__(self, secret: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self._secret = secret
        self._clock = clock
        self._verified: dict[str, tuple[Claims, float]] = {}

    def encode(self, *, numero: int, jti: str, issued_at: dt.datetime, expires_at: dt.datetime) -> str:
        claims = {"sub": str(numero), "jti": jti, "iat": issued_at, "exp": expires_at}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str) -> Claims:
        """Verify signature, algorithm and times; the token's liveness is checked in MongoDB."""
        cached = self._verified.get(token)
        if cached is not None:
            claims, expires = cached
            if self._clock.timestamp() <= expires + LEEWAY_SECONDS:
                return claims
            del self._verified[token]
            raise InvalidToken("El token expiró.")
        claims, expires = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]  # the oldest entry
        self._verified[token] = (claims, expires)
        return claims

    def _verify(self, token: str) -> tuple[Claims, float]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": _REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.MissingRequiredClaimError as error:
            raise InvalidToken(f"Al token le falta el dato obligatorio '{error.claim}'.") from None
        except jwt.InvalidTokenError:
            raise InvalidToken("El token no es válido.") from None
        return self._check_claims(claims)

    def _check_claims(self, claims: dict[str, object]) -> tuple[Claims, float]:
        """The time claims against our clock (PyJWT would read the system's), then the subject."""
        now = self._clock.timestamp()
        issued_at, expires = claims["iat"], claims["exp"]
        not_before = claims.get("nbf", issued_at)  # without one, valid from when it was issued
        if not all(isinstance(value, (int, float)) for value in (issued_at, expires, not_before)):
            raise InvalidToken("El token no es válido.")
        if expires < now - LEEWAY_SECONDS:
            raise InvalidToken("El token expiró.")
        if issued_at > now + LEEWAY_SECONDS or not_before > now + LEEWAY_SECONDS:
            raise InvalidToken("El token todavía no es válido.")
        subject, jti = claims["sub"], claims["jti"]
        numero = rules.ascii_int(subject) if isinstance(subject, str) else None
        if numero is None or numero > rules.MAX_BADGE_NUMBER or not (isinstance(jti, str) and jti):
            raise InvalidToken("El token no es válido.")
        return Claims(numero=numero, jti=jti), float(expires)

    async def issue(
        self, repos: Repositories, *, numero: int, days: int = DEFAULT_DAYS, label: str = ""
    ) -> IssuedToken:
        """Mint a token for an active officer; NotFound for an unknown or inactive one (the one
        place that rule is checked before a token is made)."""
        if not 1 <= days <= MAX_DAYS:
            raise ValueError(f"days must be between 1 and {MAX_DAYS}")
        oficial = await repos.oficiales.get_by_numero(numero)
        if not oficial.activo:
            raise NotFound(f"El oficial N° {numero} está inactivo: actívelo antes de generar un token.")
        now = self._clock.now().replace(microsecond=0)
        expires = now + dt.timedelta(days=days)
        jti = uuid.uuid4().hex
        record = await repos.tokens.register(
            oficial_id=oficial.id, jti=jti, creado_en=now, expira_en=expires, etiqueta=label.strip()
        )
        return IssuedToken(self.encode(numero=numero, jti=jti, issued_at=now, expires_at=expires), record)

