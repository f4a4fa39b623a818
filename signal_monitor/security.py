"""Transport security from the settings: Faust broker credentials (SASL, TLS) and Redis TLS options.

Pure helpers: they build objects and never connect. ``app.py`` passes
``faust_broker_credentials(settings)`` as Faust's ``broker_credentials`` and
:func:`signal_monitor.state.connect.redis_client` applies ``redis_ssl_kwargs``.

Settings read here that ``Settings`` may not declare yet are read with a default
(``getattr``), so the helpers work before and after they are added:
``KAFKA_SSL_CERTFILE``, ``KAFKA_SSL_KEYFILE``, ``KAFKA_SSL_CHECK_HOSTNAME``,
``REDIS_SSL_CA_FILE``, ``REDIS_SSL_CERT_REQS``, ``REDIS_SSL_CERTFILE``,
``REDIS_SSL_KEYFILE``.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any, Literal

from signal_monitor.errors import ConfigError

if TYPE_CHECKING:  # faust is imported where credentials are built: Redis-only tools need not load it
    from faust.auth import Credentials

    from signal_monitor.config.settings import Settings

CertReqs = Literal["required", "optional", "none"]
_CERT_REQS: frozenset[str] = frozenset({"required", "optional", "none"})


def _setting(settings: object, name: str, default: Any) -> Any:
    """Return ``settings.<name>``, or ``default`` when the field is not declared (yet)."""
    value = getattr(settings, name, default)
    return default if value is None else value


def _secret(value: object) -> str | None:
    """Return the plain text of a ``SecretStr`` (or a str), None when unset."""
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if getter else value)


def kafka_ssl_context(settings: Settings) -> ssl.SSLContext:
    """Return the TLS context for the broker: the system CAs plus ``KAFKA_SSL_CAFILE``, server verified.

    A client certificate (``KAFKA_SSL_CERTFILE`` and ``KAFKA_SSL_KEYFILE``) is loaded
    when set, for brokers that require mutual TLS. Hostname checking stays on unless
    ``KAFKA_SSL_CHECK_HOSTNAME=false``.
    """
    cafile = settings.kafka_ssl_cafile or None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"KAFKA_SSL_CAFILE {settings.kafka_ssl_cafile!r} cannot be read as a CA bundle: {exc}") from None
    certfile = _setting(settings, "kafka_ssl_certfile", "")
    if certfile:
        keyfile = _setting(settings, "kafka_ssl_keyfile", "") or None
        try:
            context.load_cert_chain(certfile, keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"KAFKA_SSL_CERTFILE {certfile!r} cannot be loaded: {exc}") from None
    context.check_hostname = bool(_setting(settings, "kafka_ssl_check_hostname", True))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def faust_broker_credentials(settings: Settings) -> Credentials | None:
    """Return Faust's ``broker_credentials`` for ``KAFKA_SECURITY_PROTOCOL`` (None for PLAINTEXT).

    * ``SSL``: ``faust.SSLCredentials`` with :func:`kafka_ssl_context`;
    * ``SASL_SSL``: ``faust.SASLCredentials`` (``KAFKA_SASL_MECHANISM``: SCRAM-SHA-512,
      SCRAM-SHA-256 or PLAIN) carrying the TLS context, so aiokafka speaks SASL_SSL;
    * ``SASL_PLAINTEXT``: ``faust.SASLCredentials`` without TLS (for a trusted network
      only: with PLAIN the password crosses the wire in clear).

    SASL needs ``KAFKA_SASL_USERNAME`` and ``KAFKA_SASL_PASSWORD``; a missing one raises
    ``ConfigError`` (which never quotes the password).
    """
    import faust

    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(kafka_ssl_context(settings))
    if protocol not in ("SASL_SSL", "SASL_PLAINTEXT"):
        raise ConfigError(f"unsupported KAFKA_SECURITY_PROTOCOL {protocol!r}")
    username = settings.kafka_sasl_username
    password = _secret(settings.kafka_sasl_password)
    if not username or not password:
        missing = "KAFKA_SASL_USERNAME" if not username else "KAFKA_SASL_PASSWORD"
        raise ConfigError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs {missing}")
    return faust.SASLCredentials(
        username=username,
        password=password,
        mechanism=settings.kafka_sasl_mechanism,
        ssl_context=kafka_ssl_context(settings) if protocol == "SASL_SSL" else None,
    )


def redis_tls_kwargs(
    url: str,
    *,
    ca_file: str = "",
    cert_reqs: str = "required",
    certfile: str = "",
    keyfile: str = "",
) -> dict[str, Any]:
    """Return redis-py TLS keyword arguments for ``url``: empty unless it is ``rediss://``.

    ``cert_reqs`` is ``required`` (verify the server and its hostname), ``optional`` or
    ``none`` (encrypt without verifying: only for a test bench).
    """
    if not url.lower().startswith("rediss://"):
        return {}
    if cert_reqs not in _CERT_REQS:
        raise ConfigError(f"REDIS_SSL_CERT_REQS must be one of {', '.join(sorted(_CERT_REQS))}, not {cert_reqs!r}")
    kwargs: dict[str, Any] = {
        "ssl_cert_reqs": cert_reqs,
        "ssl_check_hostname": cert_reqs == "required",
    }
    if ca_file:
        kwargs["ssl_ca_certs"] = ca_file
    if certfile:
        kwargs["ssl_certfile"] = certfile
        if keyfile:
            kwargs["ssl_keyfile"] = keyfile
    return kwargs


def redis_ssl_kwargs(settings: Settings) -> dict[str, Any]:
    """Return redis-py TLS keyword arguments from the settings: empty unless ``REDIS_URL`` is ``rediss://``."""
    return redis_tls_kwargs(
        settings.redis_url,
        ca_file=_setting(settings, "redis_ssl_ca_file", ""),
        cert_reqs=_setting(settings, "redis_ssl_cert_reqs", "required"),
        certfile=_setting(settings, "redis_ssl_certfile", ""),
        keyfile=_setting(settings, "redis_ssl_keyfile", ""),
    )
