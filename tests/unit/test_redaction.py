"""redact_url masks passwords and leaves other URLs alone."""

from __future__ import annotations

import pytest

from signal_monitor.redaction import redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:secret@h:1/0", "redis://:***@h:1/0"),
        ("rediss://user:secret@h/0", "rediss://user:***@h/0"),
        ("redis://user:p%40ss:secret@redis.internal:6380/2", "redis://user:***@redis.internal:6380/2"),
        ("redis://default:secret@[::1]:6379/0", "redis://default:***@[::1]:6379/0"),
        ("redis://h:6379/0?password=secret&socket_timeout=1", "redis://h:6379/0?password=***&socket_timeout=1"),
    ],
)
def test_passwords_are_masked(url: str, expected: str) -> None:
    redacted = redact_url(url)
    assert redacted == expected
    assert "secret" not in redacted


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://user@h/0",
        "redis://h:6379/0?db=3&socket_timeout=0.5",
        "unix:///var/run/redis.sock?db=1",
        "",
    ],
)
def test_urls_without_password_are_unchanged(url: str) -> None:
    assert redact_url(url) == url


def test_unparsable_url_is_hidden_whole() -> None:
    assert "secret" not in redact_url("redis://:secret@[::1/0")
