"""Every setting of every process, read from the environment once, at start-up.

A secret (DATABASE_URL, LEDGER_KAFKA_SASL_PASSWORD, LEDGER_METRICS_TOKEN) may instead be read
from a file named by `<NAME>_FILE`, as a Kubernetes secret is mounted (deploy/k8s).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from events.messages import Role
from events.topics import Topics, topics

# The local stack (deploy/local) listens on these by default; LEDGER_KAFKA_PORT and
# LEDGER_PG_PORT move it (deploy/local/lib.sh reads the same variables), and
# KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL point everything at other servers instead.
LOCAL_KAFKA_PORT = 19092
LOCAL_PG_PORT = 15432
LOCAL_KAFKA = f"127.0.0.1:{LOCAL_KAFKA_PORT}"
LOCAL_DATABASE_URL = f"postgresql://ledger:ledger@127.0.0.1:{LOCAL_PG_PORT}/ledger"


def local_kafka() -> str:
    """Where the local stack's Kafka listens: LOCAL_KAFKA, on LEDGER_KAFKA_PORT when set; with
    LEDGER_KAFKA_BROKERS=n, its n brokers, on every second port from there (deploy/local/lib.sh:
    each broker's controller listener takes the port in between)."""
    port = int(os.environ.get("LEDGER_KAFKA_PORT") or LOCAL_KAFKA_PORT)
    brokers = int(os.environ.get("LEDGER_KAFKA_BROKERS") or 1)
    return ",".join(f"127.0.0.1:{port + 2 * n}" for n in range(brokers))


def local_database_url() -> str:
    """The local stack's PostgreSQL: LOCAL_DATABASE_URL, on LEDGER_PG_PORT when set."""
    port = os.environ.get("LEDGER_PG_PORT") or LOCAL_PG_PORT
    return f"postgresql://ledger:ledger@127.0.0.1:{port}/ledger"


def env(variable: str, default: Any = PydanticUndefined, **constraints: Any) -> Any:
    """A setting read from the environment variable `variable` (its one name: the field's own
    is not read), with its default (or `default_factory=`) and pydantic's `constraints`.
    services/settings_doc.py reads these calls to write docs/configuration.md."""
    return Field(default, validation_alias=AliasChoices(variable), **constraints)


# The settings that hold a secret, by variable: each also read from `<NAME>_FILE`.
SECRETS = ("DATABASE_URL", "LEDGER_KAFKA_SASL_PASSWORD", "LEDGER_METRICS_TOKEN")


class _SecretFiles(PydanticBaseSettingsSource):
    """`<NAME>_FILE` for each of SECRETS: the file's content (its final newline dropped) is the
    value of <NAME>. Setting both is refused: which one wins would be a guess."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # the whole work is in __call__

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in SECRETS:
            path = os.environ.get(f"{name}_FILE")
            if not path:
                continue
            if os.environ.get(name):
                raise ValueError(f"{name} and {name}_FILE are both set: set one of them")
            try:
                found[name] = Path(path).read_text(encoding="utf-8").removesuffix("\n")
            except OSError as exc:
                raise ValueError(f"{name}_FILE: {path} cannot be read ({exc.strerror})") from None
        return found


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _SecretFiles(settings_cls)

    # Kafka's bootstrap servers, host:port[,host:port]; unset: the local stack's broker.
    kafka_bootstrap_servers: str = env("KAFKA_BOOTSTRAP_SERVERS", default_factory=local_kafka)
    # Secret: a password is part of the URL and must not reach logs or reprs.
    database_url: SecretStr = env(
        "DATABASE_URL", default_factory=lambda: SecretStr(local_database_url())
    )
    # Every topic is named `<prefix>.<name>` (the risk agent's `<prefix>-risk-...`).
    topic_prefix: str = env("LEDGER_TOPIC_PREFIX", "ledger")
    # How many brokers hold a copy of each partition of the topics the services create
    # (`ledger topics create`, the risk agent's); 3 on a three-broker cluster, whose writes then
    # need 2 copies (events.topics.min_insync_replicas). The local stack sets it from
    # LEDGER_KAFKA_BROKERS.
    kafka_replication_factor: int = env("LEDGER_KAFKA_REPLICATION_FACTOR", 1, ge=1)
    # Where the API listens.
    api_host: str = env("LEDGER_API_HOST", "127.0.0.1")
    api_port: int = env("LEDGER_API_PORT", 8000)
    # How long the API keeps an idle HTTP connection open (seconds). Longer than its clients
    # keep one for reuse (httpx: 5 s; a proxy or load balancer: often 60 s), so that the client,
    # never the server, ends an idle connection: a server that closes it while a request is on
    # its way resets it, and the client sees the connection reset without an answer
    # (uvicorn's own default, 5 s, did that to an httpx client under load).
    api_keep_alive_s: float = env("LEDGER_API_KEEP_ALIVE_S", 75.0, gt=0)
    # How long POST /v1/events waits for the writer's verdict before answering 202.
    verdict_timeout_s: float = env("LEDGER_VERDICT_TIMEOUT_S", 5.0)
    # /readyz calls the writer stuck when its backlog has not moved for this long.
    writer_stall_s: float = env("LEDGER_WRITER_STALL_S", 30.0)
    # The PostgreSQL schema of the live read models (a rebuild builds `<name>_next` beside it).
    projection_schema: str = env(
        "LEDGER_PROJECTION_SCHEMA", "proj", pattern=r"^[a-z][a-z0-9_]{0,40}$"
    )
    # Events per projector batch (one PostgreSQL transaction each).
    projector_batch: int = env("LEDGER_PROJECTOR_BATCH", 20_000, ge=1)
    # Contracts a projector process keeps in memory between batches (least recently used
    # dropped first; the contracts of the two batches in flight are always kept). A miss reads
    # the contract's rows back from PostgreSQL. See docs/scaling.md for what it costs in memory.
    projector_cache_contracts: int = env("LEDGER_PROJECTOR_CACHE_CONTRACTS", 10_000, ge=1)
    # ... and at most this many of their rows (assignments, rates, terms, open items; about
    # half a KiB each): a contract's rate history grows with its history, its count does not.
    projector_cache_rows: int = env("LEDGER_PROJECTOR_CACHE_ROWS", 1_000_000, ge=1)
    # A live projector behind by at least this many events on the partitions it was assigned
    # (after an outage, a new member, a first run over an old log) catches up with
    # `LEDGER_REBUILD_PROCESSES` processes, each applying some of those partitions, as a rebuild
    # does, then carries on alone. 0 (the default): never, it applies the backlog itself on one
    # core; on a 2-core machine that PostgreSQL shares, two processes applied fewer events a
    # second than one (bench/RESULTS.md). Worth it with cores to spare, PostgreSQL elsewhere.
    projector_catch_up_lag: int = env("LEDGER_PROJECTOR_CATCH_UP_LAG", 0, ge=0)
    # Processes a rebuild replays the log with, each owning some partitions: one per core.
    rebuild_processes: int = env(
        "LEDGER_REBUILD_PROCESSES", default_factory=lambda: os.cpu_count() or 1, ge=1
    )
    # The live projectors' consumer group: every `ledger serve projector` in it owns some of the
    # events topic's partitions (empty: `<topic prefix>.projector`). Their positions stay in
    # PostgreSQL; Kafka's committed offsets are never used.
    projector_group: str = env("LEDGER_PROJECTOR_GROUP", "")
    # A live projector's static membership of that group (group.instance.id): restarted under
    # the same id it takes its partitions back at once. Claimed in PostgreSQL at start: a second
    # projector with the same id (e.g. on the same host) takes `<id>-2`; empty means dynamic
    # membership.
    projector_instance_id: str = env(
        "LEDGER_PROJECTOR_INSTANCE_ID", default_factory=lambda: f"projector-{socket.gethostname()}"
    )
    # API worker processes: half the cores (the writer, projector, risk agent, Kafka and
    # PostgreSQL need the rest); 1 on a 2-core machine.
    api_workers: int = env(
        "LEDGER_API_WORKERS",
        default_factory=lambda: max(1, (os.cpu_count() or 1) // 2),
        ge=1,
        le=64,
    )
    # The writers' consumer group (and the prefix of their transactional ids).
    writer_group: str = env("LEDGER_WRITER_GROUP", "ledger-writer")
    # The writer's static membership of its group (group.instance.id): restarted under the same
    # id it takes its partitions back at once, instead of waiting out its dead predecessor's
    # 10 s session. Claimed in PostgreSQL at start like the projector's (`<id>-2` for a second
    # writer on one host); when PostgreSQL does not answer within a few seconds the writer,
    # which needs only Kafka, joins as a dynamic member. Empty: dynamic membership.
    writer_instance_id: str = env(
        "LEDGER_WRITER_INSTANCE_ID", default_factory=lambda: f"writer-{socket.gethostname()}"
    )
    # Every await on Kafka in the writer's transaction path gives up after this long (seconds).
    writer_kafka_timeout_s: float = env("LEDGER_WRITER_KAFKA_TIMEOUT_S", 10.0, gt=0)
    # A long-running process with work in hand and no progress for this long (seconds) logs it
    # and exits non-zero, for its supervisor to restart it; 0 disables the watchdog.
    watchdog_s: float = env("LEDGER_WATCHDOG_S", 60.0, ge=0)
    # Events per risk-agent batch (one PostgreSQL transaction each), and how often (seconds)
    # its timer judges the time-based rules over every contract.
    risk_batch: int = env("LEDGER_RISK_BATCH", 500, ge=1)
    # How long (seconds) the risk agent waits for a batch to fill before judging what it has:
    # the alerts in an answer wait this long when the stack is idle (issue #14).
    risk_within_s: float = env("LEDGER_RISK_WITHIN_S", 0.01, gt=0, le=1)
    # Units a second one token may draw from the API (a submitted event 1, a previewed one 10;
    # a bucket 5 seconds deep): more is answered 429 with Retry-After. 0: no limit.
    rate_limit_per_s: float = env("LEDGER_RATE_LIMIT_PER_S", 2000.0, ge=0)
    # During a backlog (its batches full: a first pass, a catch-up) the risk agent writes each
    # contract's state to its table and acks the events this often (seconds; or every 20,000
    # events): one changelog record per contract per flush, not per event; a crash judges again
    # (idempotently) what came since the last. A batch that does not fill (the live path) is
    # written at once.
    risk_flush_s: float = env("LEDGER_RISK_FLUSH_S", 5.0, ge=0, le=30)
    # A risk agent that starts with no committed offsets for its consumer group while the events
    # topic holds events (a new deployment on an existing log, a lost group) judges the log in
    # bulk, outside Faust's stream, before it starts its Faust agent (services/risk/bulk.py; one
    # agent of the group does it, the others wait). Off: Faust's stream judges it all, slowly.
    risk_bulk_first_pass: bool = env("LEDGER_RISK_BULK_FIRST_PASS", True)
    # Processes a bulk pass of the risk agent (a first pass, `ledger risk rebuild`) judges the
    # log with, each over a share of the partitions: one per core to spare.
    risk_bulk_processes: int = env("LEDGER_RISK_BULK_PROCESSES", 1, ge=1)
    # How often (seconds) the risk agent's timer judges the time-based rules over every contract.
    risk_timer_s: float = env("LEDGER_RISK_TIMER_S", 1.0, gt=0)
    # How often (seconds) the risk agent commits the offsets of the events it has judged: a
    # crash re-judges (idempotently) at most this much more of the log.
    risk_commit_s: float = env("LEDGER_RISK_COMMIT_S", 1.0, gt=0)
    # The web app's folder: app/ (its sources) and node_modules/ (npm assets, `make install`).
    web_dir: str = env(
        "LEDGER_WEB_DIR",
        default_factory=lambda: os.path.join(os.path.dirname(__file__), os.pardir, "web"),
    )
    # The risk agent's static membership of its consumer group (Kafka's group.instance.id): a
    # worker restarted under the same id takes its partitions back at once, instead of waiting
    # out its dead predecessor's session. Claimed in PostgreSQL at start: a second risk agent
    # with the same id (e.g. on the same host) takes `<id>-2`; empty means dynamic membership.
    risk_instance_id: str = env(
        "LEDGER_RISK_INSTANCE_ID", default_factory=lambda: f"risk-{socket.gethostname()}"
    )

    # The largest request body the API reads (bytes): a larger one is refused with 413 before
    # it is read whole. A batch of 500 events with long descriptions fits.
    max_body_bytes: int = env("LEDGER_MAX_BODY_BYTES", 4 * 1024 * 1024, ge=1024)
    # How deep JSON arrays and objects may nest in a request body (an event nests 2 levels).
    max_json_depth: int = env("LEDGER_MAX_JSON_DEPTH", 32, ge=4, le=500)
    # How often (seconds) an open stream of alerts re-checks its token: a revoked or expired
    # token's stream ends within this.
    stream_token_check_s: float = env("LEDGER_STREAM_TOKEN_CHECK_S", 2.0, gt=0)
    # A worker process (writer, projector, risk agent, webhooks) answers GET /livez and /readyz
    # on this port for a supervisor that probes over HTTP (Kubernetes: deploy/k8s); 0 serves
    # nothing (the local stack runs every process on one host, under supervisord).
    probe_port: int = env("LEDGER_PROBE_PORT", 0, ge=0, le=65535)
    # When set, GET /metrics asks for `Authorization: Bearer <this>`; unset, it is open.
    metrics_token: SecretStr | None = env("LEDGER_METRICS_TOKEN", None)
    # How every Kafka client of the process connects (services/kafka_connection.py):
    # PLAINTEXT (the local stack); SSL: TLS, checked against LEDGER_KAFKA_SSL_CAFILE (a
    # Strimzi cluster's CA) and host names, and with a certificate and key, a mutual-TLS user;
    # SASL_SSL: TLS and a SCRAM user (Strimzi's scram-sha-512 KafkaUser).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = env(
        "LEDGER_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = env(
        "LEDGER_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"
    )
    kafka_sasl_username: str = env("LEDGER_KAFKA_SASL_USERNAME", "")
    kafka_sasl_password: SecretStr | None = env("LEDGER_KAFKA_SASL_PASSWORD", None)
    # PEM files; an empty CA file: the system's certificate authorities.
    kafka_ssl_cafile: str = env("LEDGER_KAFKA_SSL_CAFILE", "")
    kafka_ssl_certfile: str = env("LEDGER_KAFKA_SSL_CERTFILE", "")
    kafka_ssl_keyfile: str = env("LEDGER_KAFKA_SSL_KEYFILE", "")
    # The long-running processes' log lines: text, or one JSON object a line (time, level,
    # logger, message, exception) for a log collector.
    log_format: Literal["text", "json"] = env("LEDGER_LOG_FORMAT", "text")

    @model_validator(mode="after")
    def _kafka_credentials_whole(self) -> Settings:
        """A SCRAM user needs both its name and password; a client certificate its key."""
        if self.kafka_security_protocol == "SASL_SSL":
            if not self.kafka_sasl_username:
                raise ValueError("LEDGER_KAFKA_SASL_USERNAME is required with SASL_SSL")
            if self.kafka_sasl_password is None:
                raise ValueError(
                    "LEDGER_KAFKA_SASL_PASSWORD (or LEDGER_KAFKA_SASL_PASSWORD_FILE) is required "
                    "with SASL_SSL"
                )
        if bool(self.kafka_ssl_certfile) != bool(self.kafka_ssl_keyfile):
            raise ValueError(
                "LEDGER_KAFKA_SSL_CERTFILE and LEDGER_KAFKA_SSL_KEYFILE go together: set both"
            )
        return self

    # Alert routing (`ledger serve alerts`, docs/alerting.md). The SMTP server e-mail channels
    # use unless they name their own: smtp://[user:password@]host[:port] (STARTTLS when the
    # server offers it) or smtps://... (TLS from the start). A credential: never shown.
    smtp_url: SecretStr | None = env("LEDGER_SMTP_URL", None)
    smtp_from: str = env("LEDGER_SMTP_FROM", "Markup Ledger <alerts@localhost>")
    # A YAML file of channels, routes and account managers' addresses, upserted by name when
    # `ledger serve alerts` starts (empty: none).
    alert_routes_file: str = env("LEDGER_ALERT_ROUTES_FILE", "")
    # A failing channel is tried again after backoff_s, doubling up to max_backoff_s; each
    # attempt gives up after timeout_s. An idle route looks for new alerts every poll_s.
    alerts_backoff_s: float = env("LEDGER_ALERTS_BACKOFF_S", 1.0, gt=0)
    alerts_max_backoff_s: float = env("LEDGER_ALERTS_MAX_BACKOFF_S", 300.0, gt=0)
    alerts_timeout_s: float = env("LEDGER_ALERTS_TIMEOUT_S", 10.0, gt=0)
    alerts_poll_s: float = env("LEDGER_ALERTS_POLL_S", 0.5, gt=0, le=60)

    # Web sessions (a person's or an API token's): they end this long after sign-in whatever
    # happens, and after this long without a request.
    session_lifetime_s: float = env("LEDGER_SESSION_LIFETIME_S", 12 * 3600, gt=0)
    session_idle_s: float = env("LEDGER_SESSION_IDLE_S", 3600, gt=0)

    # Single sign-on with OpenID Connect (docs/sign-in.md). Unset issuer: no single sign-on,
    # people sign in with API tokens. The provider is found from the issuer's discovery document.
    oidc_issuer: str = env("LEDGER_OIDC_ISSUER", "")
    oidc_client_id: str = env("LEDGER_OIDC_CLIENT_ID", "")
    # Secret: never in an answer, a log line or /metrics.
    oidc_client_secret: SecretStr | None = env("LEDGER_OIDC_CLIENT_SECRET", None)
    oidc_scopes: str = env("LEDGER_OIDC_SCOPES", "openid profile email")
    # Where the provider sends the browser back: `<this app's URL>/auth/callback`, as registered
    # with the provider. Empty: derived from the request (right unless behind a proxy that
    # rewrites the host or scheme).
    oidc_redirect_url: str = env("LEDGER_OIDC_REDIRECT_URL", "")
    # The ID token claim holding the person's groups, and which groups give which role
    # (comma-separated names or ids; admin wins over finance, finance over account manager).
    oidc_roles_claim: str = env("LEDGER_OIDC_ROLES_CLAIM", "groups")
    oidc_admin_groups: str = env("LEDGER_OIDC_ADMIN_GROUPS", "")
    oidc_finance_groups: str = env("LEDGER_OIDC_FINANCE_GROUPS", "")
    oidc_account_manager_groups: str = env("LEDGER_OIDC_ACCOUNT_MANAGER_GROUPS", "")

    @property
    def single_sign_on(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def role_groups(self) -> dict[Role, frozenset[str]]:
        """Which groups give each role, in the order a person's role is chosen."""

        def names(text: str) -> frozenset[str]:
            return frozenset(g.strip() for g in text.split(",") if g.strip())

        return {
            "admin": names(self.oidc_admin_groups),
            "finance": names(self.oidc_finance_groups),
            "account_manager": names(self.oidc_account_manager_groups),
        }

    @property
    def topics(self) -> Topics:
        return topics(self.topic_prefix, self.kafka_replication_factor)

    @property
    def projector_group_id(self) -> str:
        return self.projector_group or f"{self.topic_prefix}.projector"

    @property
    def local_api_url(self) -> str:
        """The API this machine runs (`make up`), as a client on this machine reaches it."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def dsn(self) -> str:
        return self.database_url.get_secret_value()


def load_settings() -> Settings:
    return Settings()
