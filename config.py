"""Settings read once from the environment (12-factor), with safe development defaults.

Production (``APP_ENV=production``) refuses to start with a missing or weak secret. Development
generates strong secrets once and keeps them under ``DATA_DIR`` so cookies and tokens survive a
restart.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse

MIN_SECRET_LENGTH = 32
MIN_SECRET_DISTINCT_CHARACTERS = 12  # "aaaa…" or "changeme" repeated is long, not strong
_TRUE = {"1", "true", "yes", "on"}


class ConfigError(Exception):
    """The environment describes a configuration the server must not start with."""


@dataclasses.dataclass(frozen=True)
class Settings:
    app_env: str = "development"
    port: int = 8888
    port_file: Path | None = None  # where the bound port is written (for PORT=0: tests, supervisors)
    mongodb_uri: str | None = None
    mongodb_db: str = "transito"
    cookie_secret: str = ""
    jwt_secret: str = ""
    data_dir: Path = Path("data")
    app_timezone: str = "America/Santiago"
    infraction_max_age_days: int = 90
    report_rate_limit: str = "60/minute"
    login_rate_limit_user: str = "5/15minutes"  # failed logins for one user name from one client address
    login_rate_limit_client: str = "20/15minutes"  # failed logins from one client address, any user name
    login_slowdown_user: str = "10/15minutes"  # failed logins for one user name from anywhere, before delays
    trust_proxy: bool = False
    trusted_proxy_hops: int = 1
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    http_body_timeout_seconds: int = 30
    http_idle_timeout_seconds: int = 60
    consultas_retention_days: int = 90
    evidence_max_bytes: int = 5 * 1024 * 1024
    evidence_max_photos: int = 5
    evidence_window_hours: int = 24
    workers: int = 1
    admin_username: str | None = None
    admin_password: str | None = None
    log_level: str = "INFO"
    metrics_token: str | None = None

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.app_timezone)

    @property
    def embedded_db(self) -> bool:
        return self.mongodb_uri is None


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be <= {maximum}, got {value}")
    return value


def _persisted_secrets(data_dir: Path) -> dict[str, str]:
    """Strong random secrets generated on first use and kept in DATA_DIR (mode 0600)."""
    path = data_dir / "secrets.json"
    if path.exists():
        stored = json.loads(path.read_text())
    else:
        stored = {}
    changed = False
    for key in ("COOKIE_SECRET", "JWT_SECRET"):
        if len(stored.get(key, "")) < MIN_SECRET_LENGTH:
            stored[key] = secrets.token_urlsafe(48)
            changed = True
    if changed:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle)
    return stored


def _secrets(env: dict[str, str], *, production: bool, data_dir: Path) -> tuple[str, str]:
    """COOKIE_SECRET and JWT_SECRET: given, or generated once and kept in DATA_DIR where allowed."""
    cookie_secret = env.get("COOKIE_SECRET", "")
    jwt_secret = env.get("JWT_SECRET", "")
    generate = not production or env.get("GENERATE_SECRETS", "").lower() in _TRUE
    if generate and (not cookie_secret or not jwt_secret):
        stored = _persisted_secrets(data_dir)
        cookie_secret = cookie_secret or stored["COOKIE_SECRET"]
        jwt_secret = jwt_secret or stored["JWT_SECRET"]
    for name, value in (("COOKIE_SECRET", cookie_secret), ("JWT_SECRET", jwt_secret)):
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(f"{name} is missing or shorter than {MIN_SECRET_LENGTH} characters")
        if production and len(set(value)) < MIN_SECRET_DISTINCT_CHARACTERS:
            raise ConfigError(f"{name} is too repetitive to be a secret: generate one, e.g. with `openssl rand -base64 48`")
    if cookie_secret == jwt_secret:
        raise ConfigError("COOKIE_SECRET and JWT_SECRET must differ")
    return cookie_secret, jwt_secret


def _rate(env: dict[str, str], name: str, default: str) -> str:
    """A rate such as "60/minute" or "5/15minutes" (the ``limits`` notation), checked at start-up."""
    value = env.get(name) or default
    try:
        parse(value)
    except ValueError:
        raise ConfigError(f"{name} must be a rate such as 60/minute or 5/15minutes, got {value!r}") from None
    return value


def _zone(env: dict[str, str]) -> str:
    timezone = env.get("APP_TIMEZONE") or "America/Santiago"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"APP_TIMEZONE is not a known time zone: {timezone!r}") from None
    return timezone


def _limits(env: dict[str, str]) -> dict[str, object]:
    """Rate limits, timeouts and retention periods."""
    return {
        "infraction_max_age_days": _int(env, "INFRACTION_MAX_AGE_DAYS", 90, minimum=1),
        "report_rate_limit": _rate(env, "REPORT_RATE_LIMIT", "60/minute"),
        "login_rate_limit_user": _rate(env, "LOGIN_RATE_LIMIT_USER", "5/15minutes"),
        "login_rate_limit_client": _rate(env, "LOGIN_RATE_LIMIT_CLIENT", "20/15minutes"),
        "login_slowdown_user": _rate(env, "LOGIN_SLOWDOWN_USER", "10/15minutes"),
        "session_idle_minutes": _int(env, "SESSION_IDLE_MINUTES", 30, minimum=1),
        "session_max_hours": _int(env, "SESSION_MAX_HOURS", 12, minimum=1),
        "http_body_timeout_seconds": _int(env, "HTTP_BODY_TIMEOUT_SECONDS", 30, minimum=1),
        "http_idle_timeout_seconds": _int(env, "HTTP_IDLE_TIMEOUT_SECONDS", 60, minimum=1),
        "consultas_retention_days": _int(env, "CONSULTAS_RETENTION_DAYS", 90, minimum=1),
        "evidence_max_bytes": _int(env, "EVIDENCE_MAX_BYTES", 5 * 1024 * 1024, minimum=1024, maximum=15 * 1024 * 1024),
        "evidence_max_photos": _int(env, "EVIDENCE_MAX_PHOTOS", 5, minimum=1, maximum=20),
        "evidence_window_hours": _int(env, "EVIDENCE_WINDOW_HOURS", 24, minimum=1),
    }


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build the settings from ``env`` (default: ``os.environ``); raise ConfigError if unsafe."""
    env = dict(os.environ if env is None else env)
    app_env = env.get("APP_ENV", "development").strip().lower() or "development"
    if app_env not in ("development", "production"):
        raise ConfigError(f"APP_ENV must be 'development' or 'production', got {app_env!r}")
    production = app_env == "production"
    data_dir = Path(env.get("DATA_DIR") or "data")
    mongodb_uri = env.get("MONGODB_URI") or None
    if production and mongodb_uri is None and env.get("EMBEDDED_DB", "").lower() not in _TRUE:
        raise ConfigError(
            "MONGODB_URI is required in production "
            "(set EMBEDDED_DB=1 to run the embedded database on purpose, as the single-container image does)"
        )
    cookie_secret, jwt_secret = _secrets(env, production=production, data_dir=data_dir)
    workers = _int(env, "WORKERS", 1)
    metrics_token = env.get("METRICS_TOKEN") or None
    if production and metrics_token is not None and len(metrics_token) < MIN_SECRET_LENGTH:
        raise ConfigError(f"METRICS_TOKEN is shorter than {MIN_SECRET_LENGTH} characters")
    return Settings(
        app_env=app_env,
        port=_int(env, "PORT", 8888, maximum=65535),
        port_file=Path(env["PORT_FILE"]) if env.get("PORT_FILE") else None,
        mongodb_uri=mongodb_uri,
        mongodb_db=env.get("MONGODB_DB") or "transito",
        cookie_secret=cookie_secret,
        jwt_secret=jwt_secret,
        data_dir=data_dir,
        app_timezone=_zone(env),
        trust_proxy=env.get("TRUST_PROXY", "").lower() in _TRUE,
        trusted_proxy_hops=_int(env, "TRUSTED_PROXY_HOPS", 1, minimum=1, maximum=10),
        workers=workers if workers > 0 else (os.cpu_count() or 1),
        admin_username=env.get("ADMIN_USERNAME") or None,
        admin_password=env.get("ADMIN_PASSWORD") or None,
        log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
        metrics_token=metrics_token,
        **_limits(env),  # type: ignore[arg-type]
    )
