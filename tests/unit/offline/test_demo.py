"""The demo's printed lines: the services line shows where it runs, never a password in REDIS_URL."""

from __future__ import annotations

import io

from rich.console import Console

from signal_monitor.offline.demo import services_line


def _printed(markup: str) -> str:
    out = io.StringIO()
    Console(file=out, width=400, color_system=None).print(markup)
    return out.getvalue()


def test_the_services_line_masks_a_password_in_redis_url() -> None:
    line = _printed(services_line("127.0.0.1:9092", "redis://monitor:pa%22ss%5Cword@redis.internal:6379/0", "sm-demo"))
    assert "pa%22ss%5Cword" not in line and 'pa"ss\\word' not in line
    assert "redis://monitor:***@redis.internal:6379/0" in line
    assert "127.0.0.1:9092" in line and "sm-demo:*" in line


def test_the_services_line_masks_a_password_query_field() -> None:
    line = _printed(services_line("127.0.0.1:9092", "rediss://redis.internal:6380/0?password=s3cret", "sm-demo"))
    assert "s3cret" not in line and "password=***" in line


def test_the_services_line_shows_a_url_without_a_password_as_it_is() -> None:
    line = _printed(services_line("127.0.0.1:9092", "redis://127.0.0.1:6379/0", "sm-demo"))
    assert "redis://127.0.0.1:6379/0" in line
