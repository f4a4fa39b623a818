"""What the command groups share: the settings (a clear error instead of a traceback) and a state to read.

The groups live beside what they drive (``rules/cli.py``, ``offline/cli.py``, ``delivery/cli.py``);
``cli.py`` registers them. They take these from here, so that no group imports ``cli.py`` back.
"""

from __future__ import annotations

import click

from signal_monitor.config.settings import Settings


def settings_or_exit() -> Settings:
    """The settings from the environment; invalid ones stop the command with the field named."""
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError names the field and the value's problem
        raise click.ClickException(f"invalid settings: {exc}") from None


def open_state(settings: Settings, *, prefix: str | None = None, memory: bool = False):  # type: ignore[no-untyped-def]
    """Return a RedisState when Redis answers at REDIS_URL (or 127.0.0.1:6379), else a MemoryState."""
    from signal_monitor.state.connect import DEFAULT_REDIS_URL, settings_redis_answers
    from signal_monitor.state.memory import MemoryState
    from signal_monitor.state.redis import RedisState

    url = settings.redis_url or DEFAULT_REDIS_URL
    if not memory and settings_redis_answers(settings, url):
        from signal_monitor.state.connect import redis_client

        return RedisState(
            redis_client(settings.model_copy(update={"redis_url": url})), prefix=prefix or settings.key_prefix,
            lateness_s=settings.lateness_days * 86400, dedup_ttl_s=settings.dedup_ttl_days * 86400,
            topic_prefix=settings.topic_prefix,
        )
    return MemoryState()
