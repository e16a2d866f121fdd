"""How every Kafka client of the process connects: in plain text to the local stack, or over
TLS (checked against the cluster's CA and the brokers' host names) as a SCRAM-SHA-512 or
mutual-TLS user, as Strimzi issues them (deploy/k8s). From the settings
(`LEDGER_KAFKA_SECURITY_PROTOCOL` and the rest: services/settings.py).

Every `AIOKafkaConsumer`, `AIOKafkaProducer` and `AIOKafkaAdminClient` of services/ is built
with `**options()`; the risk agent's Faust app with `faust_credentials()`. Both are read from
the environment once, at the first client, like every setting (a spawned rebuild process reads
them again from the same environment).
"""

from __future__ import annotations

import ssl
from typing import Any, Final

from services.settings import Settings


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """Certificates checked (against the CA file, or the system's CAs) and host names too; a
    client certificate when one is given."""
    context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile or None)
    if settings.kafka_ssl_certfile:
        context.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile)
    return context


def client_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments aiokafka's clients take for the settings' connection: none for
    PLAINTEXT."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {
        "security_protocol": settings.kafka_security_protocol,
        "ssl_context": ssl_context(settings),
    }
    if settings.kafka_security_protocol == "SASL_SSL":
        assert settings.kafka_sasl_password is not None  # the settings refuse it otherwise
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": settings.kafka_sasl_password.get_secret_value(),
        }
    return options


def faust_credentials(settings: Settings) -> Any:
    """The same, as Faust's broker credentials (None: plain text)."""
    import faust

    if settings.kafka_security_protocol == "PLAINTEXT":
        return None
    context = ssl_context(settings)
    if settings.kafka_security_protocol == "SSL":
        return faust.SSLCredentials(context)
    assert settings.kafka_sasl_password is not None
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password.get_secret_value(),
        ssl_context=context,
        mechanism=settings.kafka_sasl_mechanism,
    )


# How old (ms) a client's view of which broker leads which partition may grow. aiokafka asks
# for a new one on most errors, but not when a consumer resetting a partition's position (as
# the writer does on taking a partition) is told by a broker that it no longer leads it: it
# asks that broker again, every 100 ms, until the view ages out, 5 minutes by default
# (aiokafka's Fetcher._update_fetch_positions). A broker of three frozen past its session
# timeout held the writer so for over 30 s (docs/faults.md); with 5 s, a few seconds.
METADATA_MAX_AGE_MS: Final = 5_000

_options: dict[str, Any] | None = None


def options() -> dict[str, Any]:
    """This process's `client_options`, from its environment, made once, with the age its
    view of the cluster may reach (METADATA_MAX_AGE_MS)."""
    global _options
    if _options is None:
        _options = client_options(Settings())
    return {**_options, "metadata_max_age_ms": METADATA_MAX_AGE_MS}
