"""Settings from TRACKER_* environment variables; a bad value stops the process at start, naming it."""

from __future__ import annotations

import os
import re
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tracker.domain.supervision import DEFAULT_NOTICE_PREFIX

if TYPE_CHECKING:
    from tracker.events.stream import StreamLimits

# How a report names the whole area: a county, a county-level city (启东 says 全市) or a district.
COUNTY_WORDS = ("全县", "全市", "全区")
# The sender's address: a local part and a host (a host without a dot, like localhost, is fine for a sink).
EMAIL_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRACKER_", extra="ignore")

    data_dir: Path = Path("var")
    database_url: str | None = None
    nats_url: str | None = None
    smtp_url: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str | None = None
    # The sender of every mail: an address ("anquan@mzj.example.cn") or a name and an address
    # ("启东市民政局 <anquan@mzj.example.cn>"); with an address alone, the mail comes from TRACKER_BUREAU_NAME.
    mail_from: str = "tracker@localhost"
    stream_replicas: int = 1
    # How often the relay polls the outbox when nothing woke it, and the sweep interval, in seconds.
    relay_poll_seconds: float = 0.2
    sweep_seconds: float = 60.0
    mailer_poll_seconds: float = 1.0
    # How long an order's mailed link still opens it after the order's last finding closed.
    order_link_grace_days: int = 14
    # The largest request body, in MB: a form with ten phone photos (shrunk on the phone, or up to 6 MB each).
    max_body_mb: int = 60
    # What the bureau's documents print: its name as issuer and seal, the abbreviation that leads an order's number
    # (<abbr>〔2026〕1号), and how reports name the whole area ("全县", or "全市" in a county-level city).
    bureau_name: str = "县民政局"
    order_prefix: str = "民安整"
    # What leads a major hazard's 挂牌督办 notice number: <prefix>〔2026〕1号.
    supervision_prefix: str = DEFAULT_NOTICE_PREFIX
    county_word: str = "全县"
    # The username of the bureau's principal lead (主要负责人), the top of a bureau-run facility's ladder.
    principal: str | None = None
    # Where a closed major hazard is filed upward (e.g. 县安委办, 市民政局): comma-separated addresses, each mailed the
    # 销号 document. Empty: the filing is still recorded on the finding, and no mail goes out.
    upward_emails: str = ""

    # Retention (tracker.store.retention): how long the streams keep a message, and how large a stream may grow
    # (MB on each replica; the oldest messages go first); how long published outbox rows and the record of
    # handled events are kept (they must outlive any message that can still be delivered again); how long a
    # sent or failed mail keeps its bodies and attachment before it is reduced to its record (the audit period).
    stream_max_age_days: float = 7.0
    stream_max_mb: int = 1024
    events_keep_days: float = 30.0
    mail_keep_days: int = 1095

    # The public page of the checks made under drawn plans (一公开, GET /public/checks): on by default, because
    # 双随机、一公开 asks for the results to be published and the page shows no person, note or photo; off (404)
    # where the bureau publishes them elsewhere, e.g. on its government website.
    public_checks: bool = True
    # One line per HTTP request from the web role (uvicorn's access log); off: the errors are logged anyway.
    access_log: bool = False
    # The Prometheus endpoint of the worker, relay, scheduler and mailer (GET /metrics on this port; none if
    # unset), bound to loopback unless told otherwise. The web role serves /metrics itself, to loopback
    # clients and to whoever sends `Authorization: Bearer <TRACKER_METRICS_TOKEN>`.
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    metrics_token: str | None = None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError(
                "must be a SQLAlchemy URL starting with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return value

    @field_validator("nats_url")
    @classmethod
    def _nats_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for server in value.split(","):
            parts = urlsplit(server.strip())
            if parts.scheme not in ("nats", "tls") or not parts.hostname:
                # Named without what precedes @: a URL may carry a password (nats://user:password@host).
                raise ValueError(f"{server.strip().rpartition('@')[2]!r} is not a nats:// or tls:// URL")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must look like smtp://user:pass@host:port or smtps://host:port")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("order_link_grace_days")
    @classmethod
    def _order_link_grace_days(cls, value: int) -> int:
        # A link never lives longer than its 60 days from the mail anyway (tracker.tokens.ORDER_LINK_DAYS).
        if not 0 <= value <= 60:
            raise ValueError("must be a number of days from 0 to 60")
        return value

    @field_validator("stream_max_age_days")
    @classmethod
    def _stream_max_age_days(cls, value: float) -> float:
        # A re-publish after a relay crash is dropped by the duplicate window (an hour), which must fit in it.
        if not 1 <= value <= 365:
            raise ValueError("must be a number of days from 1 to 365")
        return value

    @field_validator("stream_max_mb")
    @classmethod
    def _stream_max_mb(cls, value: int) -> int:
        if not 16 <= value <= 1_000_000:
            raise ValueError("must be a number of megabytes from 16 to 1000000")
        return value

    @field_validator("mail_keep_days")
    @classmethod
    def _mail_keep_days(cls, value: int) -> int:
        if value < 30:
            raise ValueError("must be at least 30 days: the bureau's audit period, usually years")
        return value

    @model_validator(mode="after")
    def _events_outlive_the_stream(self) -> Settings:
        # A message still in the stream can be delivered again (a consumer reset, a replay); the record that it
        # was handled must still be there then, or it would be handled twice.
        if self.events_keep_days <= self.stream_max_age_days:
            raise ValueError(
                f"TRACKER_EVENTS_KEEP_DAYS ({self.events_keep_days:g}) must be longer than "
                f"TRACKER_STREAM_MAX_AGE_DAYS ({self.stream_max_age_days:g}), the longest a message can be "
                "delivered again"
            )
        return self

    @field_validator("metrics_port")
    @classmethod
    def _metrics_port(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 65535:
            raise ValueError("must be a TCP port from 1 to 65535")
        return value

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: str | None) -> str | None:
        if not value:  # set but empty (compose passes an unset variable so): no token
            return None
        if len(value) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("max_body_mb")
    @classmethod
    def _max_body_mb(cls, value: int) -> int:
        if not 1 <= value <= 1024:
            raise ValueError("must be a number of megabytes from 1 to 1024")
        return value

    @field_validator("bureau_name", "order_prefix", "supervision_prefix")
    @classmethod
    def _printed_name(cls, value: str) -> str:
        value = value.strip()
        if not value or any(c in value for c in "〔〕[]()（）") or any(c.isspace() for c in value):
            raise ValueError("must be a short name without spaces or brackets, e.g. 启民安整")
        return value

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str) -> str:
        name, address = parseaddr(value.strip())
        if not EMAIL_ADDRESS.match(address) or any(c in name for c in "\r\n"):
            raise ValueError(
                "must be an address, or a name and an address: 启东市民政局 <anquan@mzj.example.cn>"
            )
        return value.strip()

    @field_validator("county_word")
    @classmethod
    def _county_word(cls, value: str) -> str:
        if value not in COUNTY_WORDS:
            raise ValueError(f"must be one of {', '.join(COUNTY_WORDS)}")
        return value

    @field_validator("upward_emails")
    @classmethod
    def _upward_emails(cls, value: str) -> str:
        for address in _addresses(value):
            local, at, domain = address.partition("@")
            if not (local and at and "." in domain) or any(
                c.isspace() or c in "<>;@" for c in local + domain
            ):
                raise ValueError(f"{address!r} is not an email address; give addresses separated by commas")
        return value

    @property
    def upward_recipients(self) -> list[str]:
        """TRACKER_UPWARD_EMAILS as a list, each address once, in the order given."""
        return list(dict.fromkeys(_addresses(self.upward_emails)))

    @property
    def mail_sender(self) -> str:
        """The From of every mail, with the bureau's name when TRACKER_MAIL_FROM gives an address alone."""
        name, address = parseaddr(self.mail_from)
        return str(Address(display_name=name or self.bureau_name, addr_spec=address))

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tracker.db').resolve()}"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def photo_dir(self) -> Path:
        return self.data_dir / "photos"

    @property
    def nats_servers(self) -> list[str]:
        return [s.strip() for s in self.require("nats_url").split(",")]

    @property
    def stream_limits(self) -> StreamLimits:
        from tracker.events.stream import StreamLimits

        return StreamLimits(max_age_days=self.stream_max_age_days, max_mb=self.stream_max_mb)

    @property
    def nats_hosts(self) -> list[str]:
        """The servers without their credentials, for the log."""
        return [f"{urlsplit(s).hostname}:{urlsplit(s).port or 4222}" for s in self.nats_servers]

    def require(self, name: str) -> str:
        value = getattr(self, name)
        if not value:
            raise ConfigError(f"TRACKER_{name.upper()} is not set")
        return value


def _addresses(value: str) -> list[str]:
    return [a.strip() for a in value.split(",") if a.strip()]


def load_settings(data_dir: Path | None = None) -> Settings:
    """Read the environment; `data_dir` (from --data) wins over TRACKER_DATA_DIR."""
    overrides = {"data_dir": data_dir} if data_dir is not None else {}
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            if not item["loc"]:  # a rule over several settings names them in its message
                problems.append(str(item["msg"]).removeprefix("Value error, "))
                continue
            problems.append(f"TRACKER_{str(item['loc'][0]).upper()}: {item['msg']}")
        raise ConfigError("; ".join(problems)) from None


def keep_data_private(data_dir: Path) -> None:
    """What this process and its children write (the secret key, the SQLite database, logs, mail kept by the
    sink, photos, the embedded nats-server's JetStream store) is readable by its user alone: umask 077 for the
    process, which children inherit, and the data folder itself 0700, so files made before are closed too."""
    os.umask(0o077)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    data_dir.chmod(0o700)


def env_for_children(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process see the same settings."""
    env = dict(os.environ)
    for name in ("data_dir", "database_url", "nats_url", "smtp_url", "base_url", "secret_key"):
        value = getattr(settings, name)
        if value is not None:
            env[f"TRACKER_{name.upper()}"] = str(value)
    env["TRACKER_DATABASE_URL"] = settings.db_url
    return env
