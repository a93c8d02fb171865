"""Settings in one place: the environment first, then `.streamlit/secrets.toml`, then defaults."""

from __future__ import annotations

import math
import os
import tomllib
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_COOKIE_KEY = "change-me"
MIN_COOKIE_KEY_LENGTH = 32
# Keys published somewhere (ours, streamlit-authenticator's, tutorials'): never a secret.
def key_looks_guessable(key: str) -> bool:
    """Whether a secret of MIN_COOKIE_KEY_LENGTH+ characters is plainly not random: fewer than 96
    bits by its characters' frequencies (Shannon entropy x length: "a" * 40 has 0, a 32-digit hex
    key from secrets.token_hex(16) about 120), or a short piece repeated (under 90 % of its
    three-character pieces different: "CHANGE-ME-CHANGE-ME-CHANGE-ME-CHANGE-ME" has 27 %)."""
    if not key:
        return True
    n = len(key)
    bits = -n * sum(c / n * math.log2(c / n) for c in Counter(key).values())
    trigrams = [key[i:i + 3] for i in range(n - 2)]
    return bits < 96 or len(set(trigrams)) < 0.9 * len(trigrams)


KNOWN_DEFAULT_KEYS = frozenset({DEFAULT_COOKIE_KEY, "some_key", "", "changeme", "secret"})


class SettingsError(ValueError):
    """Settings Hearth refuses to run with, with a one-line reason naming the variable."""


def _secrets_toml() -> dict[str, object]:
    """Top-level keys of .streamlit/secrets.toml, so the CLI sees what the app sees. Raises
    SettingsError when a Hearth setting sits under a [section], where nothing reads it."""
    path = Path(os.environ.get("HEARTH_SECRETS_FILE", PROJECT_ROOT / ".streamlit" / "secrets.toml"))
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    misplaced = [f"{k} (under [{section}])" for section, v in data.items() if isinstance(v, dict)
                 for k in v if str(k).upper().startswith("HEARTH_") or str(k).upper() == "DATABASE_URL"]
    if misplaced:
        # Read nowhere: HEARTH_ENV = "production" under a [section] left the app in demo mode,
        # which makes the demo logins.
        raise SettingsError(f"Hearth refuses to start: {', '.join(misplaced)} in {path} is read by nothing: Hearth "
                            "reads only the keys above the first [section]; move them there")
    return {k: v for k, v in data.items() if not isinstance(v, dict)}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'data' / 'hearth.db'}", alias="DATABASE_URL"
    )
    env: Literal["demo", "production"] = Field(default="demo", alias="HEARTH_ENV")
    cookie_key: str = Field(default=DEFAULT_COOKIE_KEY, alias="HEARTH_COOKIE_KEY")
    cookie_expiry_days: float = Field(default=1.0, alias="HEARTH_COOKIE_EXPIRY_DAYS")
    horizon_days: int = Field(default=90, alias="HEARTH_HORIZON_DAYS")

    smtp_host: str | None = Field(default=None, alias="HEARTH_SMTP_HOST")
    smtp_port: int = Field(default=25, alias="HEARTH_SMTP_PORT")
    smtp_user: str | None = Field(default=None, alias="HEARTH_SMTP_USER")
    smtp_password: str | None = Field(default=None, alias="HEARTH_SMTP_PASSWORD")
    smtp_from: str = Field(default="Hearth Home <care@hearth.example>", alias="HEARTH_SMTP_FROM")
    smtp_tls: Literal["none", "starttls", "ssl"] = Field(default="none", alias="HEARTH_SMTP_TLS")
    webhook_url: str | None = Field(default=None, alias="HEARTH_WEBHOOK_URL")
    outbox_dir: str = Field(default=str(PROJECT_ROOT / "data" / "outbox"), alias="HEARTH_OUTBOX_DIR")
    frequency_cap_days: int = Field(default=14, alias="HEARTH_FREQUENCY_CAP_DAYS")
    point_value: float = Field(default=0.01, alias="HEARTH_POINT_VALUE")
    # Money on screen, in exports and emails: an ISO 4217 code and the locale for its symbol and
    # thousands separators (core/formatting.py).
    currency: str = Field(default="EUR", alias="HEARTH_CURRENCY")
    locale: str = Field(default="en_IE", alias="HEARTH_LOCALE")
    points_expiry_months: int = Field(default=12, ge=0, alias="HEARTH_POINTS_EXPIRY_MONTHS")
    postal_address: str = Field(
        default="Hearth Home Ltd, 1 Market Street, Springfield", alias="HEARTH_POSTAL_ADDRESS"
    )
    max_upload_mb: int = Field(default=50, alias="HEARTH_MAX_UPLOAD_MB")
    # Loyalty tiers by points earned in the last 12 months: "Name:threshold" pairs, lowest first.
    loyalty_tiers: str = Field(default="Bronze:0,Silver:400,Gold:1000", alias="HEARTH_LOYALTY_TIERS")
    # Health score bands (design.md): healthy at and above the first, at risk below the second.
    health_band_healthy: float = Field(default=70, alias="HEARTH_HEALTH_BAND_HEALTHY")
    health_band_watch: float = Field(default=40, alias="HEARTH_HEALTH_BAND_WATCH")
    # Memory for figures kept between requests, per app process (core.readcache).
    read_cache_mb: int = Field(default=512, ge=1, alias="HEARTH_READ_CACHE_MB")
    # The app starts the columnar reads of the large tables when it starts (ui.first_start);
    # off: a first screen reads them itself (to time a truly cold first load).
    read_ahead: bool = Field(default=True, alias="HEARTH_READ_AHEAD")
    # Where large reads and the ledger's history are kept on disk between processes, keyed by
    # data generation (core.analytics.diskcopy): empty for $XDG_CACHE_HOME/hearth, "off" for none.
    disk_cache_dir: str = Field(default="", alias="HEARTH_DISK_CACHE_DIR")
    disk_cache_mb: int = Field(default=4096, ge=0, alias="HEARTH_DISK_CACHE_MB")
    # The app runs the outreach delivery worker itself (a thread) so the quick start sends what
    # it queues. Unset: on in demo mode, off in production (run `python -m core outreach deliver`).
    app_delivery_worker: bool | None = Field(default=None, alias="HEARTH_APP_DELIVERY_WORKER")

    @property
    def is_production(self) -> bool:
        """HEARTH_ENV is ``production`` (defaults that are unsafe there are refused)."""
        return self.env == "production"

    def secret_problems(self) -> list[str]:
        """Why the secrets are unfit for production (a default or short cookie key); empty if fit.

        The cookie key signs login cookies and offer codes, so a published default would let
        anyone forge a login."""
        key = self.cookie_key or ""
        if key in KNOWN_DEFAULT_KEYS or key.strip().lower() in KNOWN_DEFAULT_KEYS:
            return ["HEARTH_COOKIE_KEY is a default value; set a random secret of 32+ characters"]
        if len(key.strip()) < MIN_COOKIE_KEY_LENGTH:
            return [f"HEARTH_COOKIE_KEY is shorter than {MIN_COOKIE_KEY_LENGTH} characters (spaces around it "
                    "not counted)"]
        if key_looks_guessable(key.strip()):
            return ["HEARTH_COOKIE_KEY is too easy to guess (a character or a short piece repeated, or too few "
                    "different characters); set a random secret, e.g. the output of "
                    "python -c 'import secrets; print(secrets.token_urlsafe(48))'"]
        return []

    @model_validator(mode="after")
    def _refuse_unfit_production_secrets(self) -> Settings:
        # Here, not in app.py, so every entry point (the app, the command line, the delivery
        # worker) refuses alike: none of them can even build production settings with a default key.
        problems = self.secret_problems() if self.is_production else []
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _refuse_a_shared_disk_cache(self) -> Settings:
        # Files in it become figures: a directory another user may write to would let them
        # plant one. Checked here so the app, the command line and the worker refuse alike.
        path = disk_cache_path(self)
        if path is None:
            return self
        if not path.is_absolute():
            raise ValueError(f"HEARTH_DISK_CACHE_DIR must be an absolute path, not {self.disk_cache_dir!r}")
        if path.exists():
            st = path.stat()
            if not path.is_dir():
                raise ValueError(f"HEARTH_DISK_CACHE_DIR {str(path)!r} is not a directory")
            if hasattr(os, "getuid") and st.st_uid != os.getuid():
                raise ValueError(f"HEARTH_DISK_CACHE_DIR {str(path)!r} belongs to another user")
            if st.st_mode & 0o022:
                raise ValueError(f"HEARTH_DISK_CACHE_DIR {str(path)!r} is writable by other users "
                                 f"(chmod 700 it, or choose another directory)")
        return self

    @property
    def runs_app_worker(self) -> bool:
        """Whether the app process runs the outreach delivery worker: HEARTH_APP_DELIVERY_WORKER when set,
        otherwise everywhere but production (where `python -m core outreach deliver` runs on its own)."""
        return (not self.is_production) if self.app_delivery_worker is None else self.app_delivery_worker


def disk_cache_path(settings: Settings) -> Path | None:
    """The directory of core.analytics.diskcopy: HEARTH_DISK_CACHE_DIR, by default
    ``$XDG_CACHE_HOME/hearth`` (``~/.cache/hearth``); None when it is ``off``."""
    value = settings.disk_cache_dir.strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hearth"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings. Tests call `get_settings.cache_clear()` after changing the env.

    Raises SettingsError (a one-line reason) for a value that is not valid or, in production,
    a default or short HEARTH_COOKIE_KEY: the app, the command line and the worker refuse alike.
    """
    file_values = _secrets_toml()
    merged = {k: v for k, v in file_values.items() if k not in os.environ}
    try:
        return Settings(**merged)
    except ValidationError as exc:
        raise SettingsError("Hearth refuses to start: " + "; ".join(_reason(e) for e in exc.errors())) from None


def _reason(error: dict) -> str:
    """One validation error in words: ours as written, pydantic's with the variable's name."""
    if error.get("type") == "value_error" and not error.get("loc"):
        return str(error["ctx"]["error"])
    return f"{'.'.join(str(p) for p in error.get('loc', ()))}: {error['msg']}"


def resolve_horizon(horizon_days: int | None = None) -> int:
    """The activity horizon H in days: ``horizon_days`` when given, else HEARTH_HORIZON_DAYS.
    Every screen, command and core function that defaults H takes it from here."""
    return int(get_settings().horizon_days if horizon_days is None else horizon_days)
