"""``python -m signal_monitor.embedded kafka-jars|kafka-version``: fetch the Apache Kafka jars, or print their version."""

from __future__ import annotations

import sys

from signal_monitor.embedded.kafka import fetch_kafka_jars, kafka_version
from signal_monitor.errors import EmbeddedServiceError

USAGE = "usage: python -m signal_monitor.embedded kafka-jars|kafka-version"


def main(argv: list[str] | None = None) -> int:
    """Fetch the embedded broker's jars from Maven Central (once; a cache outside the repository), or print the version."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["kafka-version"]:
        print(kafka_version())
        return 0
    if args != ["kafka-jars"]:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        lib = fetch_kafka_jars()
    except EmbeddedServiceError as exc:
        print(f"signal-monitor: {exc}", file=sys.stderr)
        return 1
    print(f"Apache Kafka {kafka_version()} jars in {lib}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
