"""Every setting of every process, read from the environment once, at start-up."""

from __future__ import annotations

import os
import socket

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from events.topics import Topics, topics

# The local stack (deploy/local) listens on these by default; LEDGER_KAFKA_PORT and
# LEDGER_PG_PORT move it (deploy/local/lib.sh reads the same variables), and
# KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL point everything at other servers instead.
LOCAL_KAFKA_PORT = 19092
LOCAL_PG_PORT = 15432
LOCAL_KAFKA = f"127.0.0.1:{LOCAL_KAFKA_PORT}"
LOCAL_DATABASE_URL = f"postgresql://ledger:ledger@127.0.0.1:{LOCAL_PG_PORT}/ledger"


def local_kafka() -> str:
    """Where the local stack's Kafka listens: LOCAL_KAFKA, on LEDGER_KAFKA_PORT when set."""
    return f"127.0.0.1:{os.environ.get('LEDGER_KAFKA_PORT') or LOCAL_KAFKA_PORT}"


def local_database_url() -> str:
    """The local stack's PostgreSQL: LOCAL_DATABASE_URL, on LEDGER_PG_PORT when set."""
    port = os.environ.get("LEDGER_PG_PORT") or LOCAL_PG_PORT
    return f"postgresql://ledger:ledger@127.0.0.1:{port}/ledger"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        default_factory=local_kafka, validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS")
    )
    # Secret: a password is part of the URL and must not reach logs or reprs.
    database_url: SecretStr = Field(
        default_factory=lambda: SecretStr(local_database_url()),
        validation_alias=AliasChoices("DATABASE_URL"),
    )
    topic_prefix: str = Field("ledger", validation_alias=AliasChoices("LEDGER_TOPIC_PREFIX"))
    api_host: str = Field("127.0.0.1", validation_alias=AliasChoices("LEDGER_API_HOST"))
    api_port: int = Field(8000, validation_alias=AliasChoices("LEDGER_API_PORT"))
    # How long POST /v1/events waits for the writer's verdict before answering 202.
    verdict_timeout_s: float = Field(5.0, validation_alias=AliasChoices("LEDGER_VERDICT_TIMEOUT_S"))
    # /readyz calls the writer stuck when its backlog has not moved for this long.
    writer_stall_s: float = Field(30.0, validation_alias=AliasChoices("LEDGER_WRITER_STALL_S"))
    # The PostgreSQL schema of the live read models (a rebuild builds `<name>_next` beside it).
    projection_schema: str = Field(
        "proj",
        pattern=r"^[a-z][a-z0-9_]{0,40}$",
        validation_alias=AliasChoices("LEDGER_PROJECTION_SCHEMA"),
    )
    # Events per projector batch (one PostgreSQL transaction each).
    projector_batch: int = Field(
        20_000, ge=1, validation_alias=AliasChoices("LEDGER_PROJECTOR_BATCH")
    )
    # Contracts a projector process keeps in memory between batches (least recently used
    # dropped first; the contracts of the two batches in flight are always kept). A miss reads
    # the contract's rows back from PostgreSQL. See README for what it costs in memory.
    projector_cache_contracts: int = Field(
        10_000, ge=1, validation_alias=AliasChoices("LEDGER_PROJECTOR_CACHE_CONTRACTS")
    )
    # ... and at most this many of their rows (assignments, rates, terms, open items; about
    # half a KiB each): a contract's rate history grows with its history, its count does not.
    projector_cache_rows: int = Field(
        1_000_000, ge=1, validation_alias=AliasChoices("LEDGER_PROJECTOR_CACHE_ROWS")
    )
    # Processes a rebuild replays the log with, each owning some partitions: one per core.
    rebuild_processes: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        validation_alias=AliasChoices("LEDGER_REBUILD_PROCESSES"),
    )
    # The live projectors' consumer group: every `ledger serve projector` in it owns some of the
    # events topic's partitions (empty: `<topic prefix>.projector`). Their positions stay in
    # PostgreSQL; Kafka's committed offsets are never used.
    projector_group: str = Field("", validation_alias=AliasChoices("LEDGER_PROJECTOR_GROUP"))
    # A live projector's static membership of that group (group.instance.id): restarted under
    # the same id it takes its partitions back at once. Claimed in PostgreSQL at start: a second
    # projector with the same id (e.g. on the same host) takes `<id>-2`; empty means dynamic
    # membership.
    projector_instance_id: str = Field(
        default_factory=lambda: f"projector-{socket.gethostname()}",
        validation_alias=AliasChoices("LEDGER_PROJECTOR_INSTANCE_ID"),
    )
    # API worker processes: half the cores (the writer, projector, risk agent, Kafka and
    # PostgreSQL need the rest); 1 on a 2-core machine.
    api_workers: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 1) // 2),
        ge=1,
        le=64,
        validation_alias=AliasChoices("LEDGER_API_WORKERS"),
    )
    writer_group: str = Field("ledger-writer", validation_alias=AliasChoices("LEDGER_WRITER_GROUP"))
    # The writer's static membership of its group (group.instance.id): restarted under the same
    # id it takes its partitions back at once, instead of waiting out its dead predecessor's
    # 10 s session. Claimed in PostgreSQL at start like the projector's (`<id>-2` for a second
    # writer on one host); when PostgreSQL does not answer within a few seconds the writer,
    # which needs only Kafka, joins as a dynamic member. Empty: dynamic membership.
    writer_instance_id: str = Field(
        default_factory=lambda: f"writer-{socket.gethostname()}",
        validation_alias=AliasChoices("LEDGER_WRITER_INSTANCE_ID"),
    )
    # Every await on Kafka in the writer's transaction path gives up after this long (seconds).
    writer_kafka_timeout_s: float = Field(
        10.0, gt=0, validation_alias=AliasChoices("LEDGER_WRITER_KAFKA_TIMEOUT_S")
    )
    # A long-running process with work in hand and no progress for this long (seconds) logs it
    # and exits non-zero, for its supervisor to restart it; 0 disables the watchdog.
    watchdog_s: float = Field(60.0, ge=0, validation_alias=AliasChoices("LEDGER_WATCHDOG_S"))
    # Events per risk-agent batch (one PostgreSQL transaction each), and how often (seconds)
    # its timer judges the time-based rules over every contract.
    risk_batch: int = Field(500, ge=1, validation_alias=AliasChoices("LEDGER_RISK_BATCH"))
    # How long (seconds) the risk agent waits for a batch to fill before judging what it has:
    # the alerts in an answer wait this long when the stack is idle (issue #14).
    risk_within_s: float = Field(
        0.01, gt=0, le=1, validation_alias=AliasChoices("LEDGER_RISK_WITHIN_S")
    )
    # Units a second one token may draw from the API (a submitted event 1, a previewed one 10;
    # a bucket 5 seconds deep): more is answered 429 with Retry-After. 0: no limit.
    rate_limit_per_s: float = Field(
        2000.0, ge=0, validation_alias=AliasChoices("LEDGER_RATE_LIMIT_PER_S")
    )
    risk_timer_s: float = Field(1.0, gt=0, validation_alias=AliasChoices("LEDGER_RISK_TIMER_S"))
    # How often (seconds) the risk agent commits the offsets of the events it has judged: a
    # crash re-judges (idempotently) at most this much more of the log.
    risk_commit_s: float = Field(1.0, gt=0, validation_alias=AliasChoices("LEDGER_RISK_COMMIT_S"))
    # The web app's folder: app/ (its sources) and node_modules/ (npm assets, `make install`).
    web_dir: str = Field(
        default_factory=lambda: os.path.join(os.path.dirname(__file__), os.pardir, "web"),
        validation_alias=AliasChoices("LEDGER_WEB_DIR"),
    )
    # The risk agent's static membership of its consumer group (Kafka's group.instance.id): a
    # worker restarted under the same id takes its partitions back at once, instead of waiting
    # out its dead predecessor's session. Claimed in PostgreSQL at start: a second risk agent
    # with the same id (e.g. on the same host) takes `<id>-2`; empty means dynamic membership.
    risk_instance_id: str = Field(
        default_factory=lambda: f"risk-{socket.gethostname()}",
        validation_alias=AliasChoices("LEDGER_RISK_INSTANCE_ID"),
    )

    # The largest request body the API reads (bytes): a larger one is refused with 413 before
    # it is read whole. A batch of 500 events with long descriptions fits.
    max_body_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, validation_alias=AliasChoices("LEDGER_MAX_BODY_BYTES")
    )
    # How deep JSON arrays and objects may nest in a request body (an event nests 2 levels).
    max_json_depth: int = Field(
        32, ge=4, le=500, validation_alias=AliasChoices("LEDGER_MAX_JSON_DEPTH")
    )
    # How often (seconds) an open stream of alerts re-checks its token: a revoked or expired
    # token's stream ends within this.
    stream_token_check_s: float = Field(
        2.0, gt=0, validation_alias=AliasChoices("LEDGER_STREAM_TOKEN_CHECK_S")
    )
    # When set, GET /metrics asks for `Authorization: Bearer <this>`; unset, it is open.
    metrics_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("LEDGER_METRICS_TOKEN")
    )

    @property
    def topics(self) -> Topics:
        return topics(self.topic_prefix)

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
