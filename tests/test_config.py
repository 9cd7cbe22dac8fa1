"""Configuration from the environment: production refuses unsafe settings, development (and
GENERATE_SECRETS=1) generates strong secrets once and keeps them under DATA_DIR."""

from __future__ import annotations

import json
import os
import stat

import pytest

from config import MIN_SECRET_LENGTH, ConfigError, load_settings

STRONG_COOKIE = "c0Ok1e-S3cret-abcdefghijklmnopqrstuv"[:MIN_SECRET_LENGTH]
STRONG_JWT = "jWt-S3cret-0123456789-ABCDEFGHIJKLMNOP"[:MIN_SECRET_LENGTH]


def production(tmp_path, **env: str) -> dict[str, str]:
    values = {
        "APP_ENV": "production",
        "MONGODB_URI": "mongodb://db.internal:27017",
        "COOKIE_SECRET": STRONG_COOKIE,
        "JWT_SECRET": STRONG_JWT,
        "DATA_DIR": str(tmp_path),
    }
    values.update(env)
    return {k: v for k, v in values.items() if v is not None}


def test_defaults(tmp_path):
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    assert settings.app_env == "development" and not settings.production
    assert (settings.port, settings.mongodb_db, settings.workers) == (8888, "transito", 1)
    assert settings.embedded_db and settings.mongodb_uri is None
    assert settings.zone.key == "America/Santiago"
    assert settings.login_rate_limit_user == "5/15minutes"


def test_production_with_strong_secrets_starts(tmp_path):
    settings = load_settings(production(tmp_path, PORT="9000", MONGODB_DB="registro"))
    assert settings.production and not settings.embedded_db
    assert (settings.port, settings.mongodb_db, settings.cookie_secret) == (9000, "registro", STRONG_COOKIE)
    assert list(tmp_path.iterdir()) == []  # nothing generated or written


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"COOKIE_SECRET": None}, "COOKIE_SECRET"),
        ({"JWT_SECRET": None}, "JWT_SECRET"),
        ({"COOKIE_SECRET": ""}, "COOKIE_SECRET"),
        ({"COOKIE_SECRET": "x" * (MIN_SECRET_LENGTH - 1)}, "COOKIE_SECRET"),
        ({"JWT_SECRET": "short"}, "JWT_SECRET"),
        ({"COOKIE_SECRET": "changeme" * 5}, "COOKIE_SECRET is too repetitive"),
        ({"JWT_SECRET": "j" * 64}, "JWT_SECRET is too repetitive"),
        ({"JWT_SECRET": STRONG_COOKIE}, "must differ"),
        ({"MONGODB_URI": None}, "MONGODB_URI"),
        ({"MONGODB_URI": ""}, "MONGODB_URI"),
    ],
)
def test_production_refuses_unsafe_settings(tmp_path, env, named):
    with pytest.raises(ConfigError, match=named):
        load_settings(production(tmp_path, **env))
    assert not (tmp_path / "secrets.json").exists()


def test_production_embedded_database_only_on_purpose(tmp_path):
    settings = load_settings(production(tmp_path, MONGODB_URI=None, EMBEDDED_DB="1"))
    assert settings.embedded_db


def test_production_generate_secrets_persists_strong_secrets_privately_and_reuses_them(tmp_path):
    env = production(tmp_path / "data", COOKIE_SECRET=None, JWT_SECRET=None, GENERATE_SECRETS="1")
    first = load_settings(env)
    path = tmp_path / "data" / "secrets.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first.cookie_secret) >= MIN_SECRET_LENGTH and len(first.jwt_secret) >= MIN_SECRET_LENGTH
    assert first.cookie_secret != first.jwt_secret
    assert json.loads(path.read_text()) == {"COOKIE_SECRET": first.cookie_secret, "JWT_SECRET": first.jwt_secret}
    second = load_settings(env)
    assert (second.cookie_secret, second.jwt_secret) == (first.cookie_secret, first.jwt_secret)
    # A secret given in the environment wins over the stored one.
    given = load_settings({**env, "JWT_SECRET": STRONG_JWT})
    assert (given.cookie_secret, given.jwt_secret) == (first.cookie_secret, STRONG_JWT)


def test_development_generates_secrets_once_and_reuses_them(tmp_path):
    first = load_settings({"DATA_DIR": str(tmp_path)})
    second = load_settings({"DATA_DIR": str(tmp_path)})
    assert first.cookie_secret == second.cookie_secret and first.jwt_secret == second.jwt_secret
    assert len(first.cookie_secret) >= MIN_SECRET_LENGTH
    assert stat.S_IMODE(os.stat(tmp_path / "secrets.json").st_mode) == 0o600
    assert load_settings({"DATA_DIR": str(tmp_path / "other")}).cookie_secret != first.cookie_secret


def test_weak_stored_secrets_are_replaced(tmp_path):
    (tmp_path / "secrets.json").write_text(json.dumps({"COOKIE_SECRET": "weak", "JWT_SECRET": "weak"}))
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    assert len(settings.cookie_secret) >= MIN_SECRET_LENGTH and settings.cookie_secret != settings.jwt_secret


@pytest.mark.parametrize("zone", ["America/Buenos_Aires", "UTC", "Europe/Madrid"])
def test_app_timezone(tmp_path, zone):
    assert load_settings({"DATA_DIR": str(tmp_path), "APP_TIMEZONE": zone}).zone.key == zone


@pytest.mark.parametrize("zone", ["Marte/Olympus", "../../etc/passwd", "not a zone"])
def test_unknown_app_timezone_is_refused(tmp_path, zone):
    with pytest.raises(ConfigError, match="APP_TIMEZONE"):
        load_settings({"DATA_DIR": str(tmp_path), "APP_TIMEZONE": zone})


def test_workers(tmp_path):
    env = {"DATA_DIR": str(tmp_path)}
    assert load_settings({**env, "WORKERS": "3"}).workers == 3
    assert load_settings({**env, "WORKERS": "0"}).workers == (os.cpu_count() or 1)
    for bad in ("-1", "dos"):
        with pytest.raises(ConfigError, match="WORKERS"):
            load_settings({**env, "WORKERS": bad})


@pytest.mark.parametrize(("name", "value"), [("PORT", "ochenta"), ("PORT", "-5"), ("PORT", "70000"), ("APP_ENV", "staging"), ("INFRACTION_MAX_AGE_DAYS", "0")])
def test_malformed_values_are_refused(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({"DATA_DIR": str(tmp_path), name: value})
