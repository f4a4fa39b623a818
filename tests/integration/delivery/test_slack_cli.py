"""``signal-monitor slack test`` against a local server speaking Slack's webhook and Web API contracts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from signal_monitor.cli import main

WEBHOOK_PATH = "/services/T0DESK/B0TEST/s3cretWebhookPart"
TOKEN = "xoxb-1111-2222-s3cretTokenPart"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_CHANNEL", "SM_ROUTES_PATH"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_slack_test_posts_one_message_to_the_webhook_without_printing_it(
    httpserver: HTTPServer, clean_env: pytest.MonkeyPatch
) -> None:
    httpserver.expect_oneshot_request(WEBHOOK_PATH, method="POST").respond_with_data("ok")
    clean_env.setenv("SLACK_WEBHOOK_URL", httpserver.url_for(WEBHOOK_PATH))
    result = CliRunner().invoke(main, ["slack", "test", "--text", "hello from the desk"])
    assert result.exit_code == 0, result.output
    assert "sent to webhook" in result.output and "s3cretWebhookPart" not in result.output
    (request, _), = httpserver.log
    assert "hello from the desk" in json.loads(request.data)["text"]


def test_slack_test_says_why_a_webhook_refused(httpserver: HTTPServer, clean_env: pytest.MonkeyPatch) -> None:
    httpserver.expect_oneshot_request(WEBHOOK_PATH, method="POST").respond_with_data("no_service", status=404)
    clean_env.setenv("SLACK_WEBHOOK_URL", httpserver.url_for(WEBHOOK_PATH))
    result = CliRunner().invoke(main, ["slack", "test"])
    assert result.exit_code == 1
    assert "not sent to webhook" in result.output and "no_service" in result.output
    assert "s3cretWebhookPart" not in result.output


def test_slack_test_posts_with_the_bot_token_to_a_receivers_channel(
    httpserver: HTTPServer, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    httpserver.expect_oneshot_request("/api/chat.postMessage", method="POST").respond_with_json(
        {"ok": True, "channel": "C0URGENT01", "ts": "1750000000.000100"}
    )
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "version: 1\nreceivers:\n  - {name: desk, type: auto}\n  - {name: urgent, type: slack, channel: C0URGENT01}\n"
        "route:\n  receiver: desk\n"
    )
    clean_env.setenv("SLACK_BOT_TOKEN", TOKEN)
    clean_env.setenv("SM_SLACK_API_URL", httpserver.url_for("/api/"))
    result = CliRunner().invoke(main, ["slack", "test", "--routes", str(routes), "--receiver", "urgent"])
    assert result.exit_code == 0, result.output
    assert "receiver 'urgent'" in result.output and "s3cretTokenPart" not in result.output
    (request, _), = httpserver.log
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "C0URGENT01" in request.get_data(as_text=True)


def test_slack_test_of_an_unknown_receiver_lists_the_known_ones(clean_env: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(main, ["slack", "test", "--receiver", "nope"])
    assert result.exit_code == 2
    assert "no receiver 'nope' (known: desk, provisional)" in result.output
