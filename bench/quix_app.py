"""The Quix Streams peer of the benchmark: net notional per (fund type, sector, week) in its state.

The same job as the Kafka Streams peer (``bench/kafka_streams``) over the same topics: each trade (one
per message, or each of an envelope, summed per key first as the monitor folds a batch) becomes
``{"scope": "<fund type>|<sector>|<week Friday>", "net": <signed notional>}`` (+ ``buy_long`` and
``buy_to_cover``, - ``sell_long`` and ``sell_short``; the week as :func:`signal_monitor.periods.week_end`,
cached per hour as the monitor's fold does), re-keyed by scope with ``group_by`` (Quix's repartition
topic), and summed into the application's RocksDB state with its changelog topic. Exactly-once, state
and offsets committed every 100 ms (Kafka Streams' interval under exactly-once; Quix's default is 5 s).
Everything else is Quix's defaults.

``python -m bench.quix_app --bootstrap H:P --topic T --group G --state-dir DIR`` (run by :func:`bench.peers.run_quix`,
which times it by the offsets the group commits).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Any

from signal_monitor.periods import week_end

_POSITIVE = frozenset({"buy_long", "buy_to_cover"})
_WEEK_OF_HOUR: dict[int, str] = {}


def _week(ts: str) -> str:
    epoch = datetime.fromisoformat(ts).timestamp()
    hour = int(epoch // 3600)
    week = _WEEK_OF_HOUR.get(hour)
    if week is None:
        week = _WEEK_OF_HOUR[hour] = week_end(datetime.fromtimestamp(hour * 3600, timezone.utc)).isoformat()
    return week


def _scope(trade: dict[str, Any]) -> str:
    return f"{trade['fund_type']}|{trade['sector']}|{_week(trade['ts'])}"


def _signed(trade: dict[str, Any]) -> float:
    notional = float(trade["notional"])
    return notional if trade["action"] in _POSITIVE else -notional


def flows(value: Any) -> list[dict[str, Any]]:
    """The (scope, signed notional) records of one message: one for a trade, one per scope of an envelope."""
    if not isinstance(value, list):
        return [{"scope": _scope(value), "net": _signed(value)}]
    sums: dict[str, float] = {}
    for trade in value:
        scope = _scope(trade)
        sums[scope] = sums.get(scope, 0.0) + _signed(trade)
    return [{"scope": scope, "net": net} for scope, net in sums.items()]


def add_to_state(flow: dict[str, Any], state: Any) -> None:
    """Add a flow to its scope's net notional in the state (the message key is the scope after ``group_by``)."""
    state.set("net", state.get("net", 0.0) + flow["net"])


def main(argv: list[str] | None = None) -> int:
    """Run the application until stopped."""
    from quixstreams import Application

    parser = argparse.ArgumentParser(prog="python -m bench.quix_app")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--guarantee", default="exactly-once", choices=("exactly-once", "at-least-once"))
    parser.add_argument("--commit-interval", type=float, default=0.1)
    args = parser.parse_args(argv)
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        processing_guarantee=args.guarantee,
        commit_interval=args.commit_interval,
        state_dir=args.state_dir,
        loglevel="WARNING",
    )
    topic = app.topic(args.topic, key_deserializer="str", value_deserializer="json")
    sdf = app.dataframe(topic)
    sdf = sdf.apply(flows, expand=True)
    sdf = sdf.group_by(lambda flow: flow["scope"], name="scope")
    sdf = sdf.update(add_to_state, stateful=True)
    print(f"started {args.group}", flush=True)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
