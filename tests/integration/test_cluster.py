"""The Redis state layout and alert delivery on a 3-master Redis Cluster started here from the redis-server binary.

Two clusters: one over TCP with a password, one over TLS (``rediss://``, a CA made
here with openssl) with a password. Over each, batches of several partitions are
folded and applied through ``RedisState`` with the client ``redis_client()``
builds, and the aggregates and offsets are checked against a truth computed from
the events, independently of the fold. Over each, the delivery ``Dispatcher``
drains its outbox to a fake Slack (the one of ``test_delivery.py``): order per
channel, claims, retries, parking and requeueing, noise control and silences,
with every key it wrote checked to be in the slot of its hash tag.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from click.testing import CliRunner

from signal_monitor.config.settings import Settings
from signal_monitor.delivery import Dispatcher, SlackDefaults, parse_routes
from signal_monitor.delivery.cli import outbox as outbox_cli
from signal_monitor.delivery.cli import silence as silence_cli
from signal_monitor.delivery.keys import DELIVERY_TAG, delivery_base, legacy_layout_present, migrate_legacy_keys
from signal_monitor.embedded.process import free_port, log_tail, spawn, terminate
from signal_monitor.embedded.redis import redis_server_binary
from signal_monitor.periods import trading_day
from signal_monitor.state.base import Batch
from signal_monitor.state.connect import is_cluster, redis_answers, redis_client, settings_redis_answers
from signal_monitor.state.fold import fold
from signal_monitor.state.memory import MemoryState
from signal_monitor.state.redis import RedisState
from signal_monitor.streams.events import Quote, Trade
from tests.integration.harness import UTC, ground_truth, make_trades
from tests.integration.test_delivery import HOOK_PATH, SLACK_ROUTES, Answer, FakeClock, FakeSlack, fast_options
from tests.integration.test_delivery import fake_slack, slack_server  # noqa: F401  (fixtures)
from tests.integration.test_delivery import keys as dedup_keys
from tests.unit.delivery.factory import make_alert, weekly

MONDAY = datetime(2025, 6, 2, 13, 30, tzinfo=UTC)
TRADES = "signals.trades"
QUOTES = "signals.quotes"
PARTITIONS = 4
BATCH = 100
PASSWORD = f"cluster-{uuid.uuid4().hex[:12]}"



# --- the cluster ------------------------------------------------------------------------


@dataclass
class Cluster:
    """Three cluster-enabled redis-server processes on local ports, each its own master."""

    workdir: Path
    tls: bool
    ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    argvs: list[list[str]] = field(default_factory=list)

    @property
    def ca_file(self) -> str:
        """Return the CA bundle that signed the servers' certificate (TLS clusters)."""
        return str(self.workdir / "ca.crt")

    @property
    def url(self) -> str:
        """Return the URL of the first node (a client discovers the others)."""
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.ports[0]}/0"

    def tls_kwargs(self) -> dict[str, Any]:
        """Return redis-py TLS options for a sync admin client of this cluster."""
        return {"ssl_ca_certs": self.ca_file} if self.tls else {}

    def node(self, port: int) -> redis.Redis:
        """Return a sync client of one node (not cluster-aware), for administration."""
        return redis.Redis(
            host="127.0.0.1", port=port, password=PASSWORD, ssl=self.tls, socket_timeout=2.0, decode_responses=True,
            **self.tls_kwargs(),
        )

    def cli(self, *args: str) -> list[str]:
        """Return a redis-cli command line that reaches this cluster."""
        argv = [shutil.which("redis-cli") or "redis-cli", "--no-auth-warning", "-a", PASSWORD]
        if self.tls:
            argv += ["--tls", "--cacert", self.ca_file]
        return argv + list(args)

    def start(self) -> None:
        """Start three nodes, create the cluster over them and wait until every node reports ``cluster_state:ok``."""
        binary = redis_server_binary()
        if shutil.which("redis-cli") is None:
            raise RuntimeError("redis-cli is not on PATH: it creates the cluster")
        if self.tls:
            make_certificates(self.workdir)
        taken: set[int] = set()

        def pick() -> int:
            while (port := free_port()) in taken:
                pass
            taken.add(port)
            return port

        for _ in range(3):
            port, bus = pick(), pick()
            argv = [
                binary, "--bind", "127.0.0.1", "--dir", str(self.workdir), "--save", "", "--appendonly", "no",
                "--cluster-enabled", "yes", "--cluster-config-file", str(self.workdir / f"nodes-{port}.conf"),
                "--cluster-port", str(bus), "--cluster-node-timeout", "5000",
                "--requirepass", PASSWORD, "--masterauth", PASSWORD,
            ]
            if self.tls:
                argv += [
                    "--port", "0", "--tls-port", str(port), "--tls-cluster", "yes", "--tls-replication", "yes",
                    "--tls-cert-file", str(self.workdir / "server.crt"), "--tls-key-file", str(self.workdir / "server.key"),
                    "--tls-ca-cert-file", self.ca_file, "--tls-auth-clients", "no",
                ]
            else:
                argv += ["--port", str(port)]
            self.ports.append(port)
            self.argvs.append(argv)
            self.procs.append(spawn(argv, log_path=self.workdir / f"redis-{port}.log"))
        self._wait_ping()
        create = subprocess.run(
            self.cli("--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports), "--cluster-replicas", "0",
                     "--cluster-yes"),
            check=False, capture_output=True, text=True, timeout=60,
        )
        if create.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {create.stdout[-2000:]} {create.stderr[-2000:]}")
        self._wait_ok()

    def restart(self) -> None:
        """Start the stopped nodes again on their ports; their nodes.conf brings the cluster back (empty)."""
        self.procs = [spawn(argv, log_path=self.workdir / f"redis-{port}.log") for argv, port in zip(self.argvs, self.ports)]
        self._wait_ping()
        self._wait_ok()

    def _wait_ping(self) -> None:
        for port in self.ports:
            self._wait(lambda p=port: self.node(p).ping(), what=f"node {port} to answer")

    def _wait_ok(self) -> None:
        for port in self.ports:
            self._wait(lambda p=port: self.node(p).cluster("info")["cluster_state"] == "ok",
                       what=f"node {port} to report cluster_state:ok")

    def _wait(self, check: Any, *, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except (redis.RedisError, OSError) as exc:
                last = exc
            time.sleep(0.1)
        logs = "\n".join(log_tail(self.workdir / f"redis-{p}.log", lines=10) for p in self.ports)
        raise RuntimeError(f"timed out waiting for {what} ({last}); node logs:\n{logs}")

    def stop(self) -> None:
        """Kill every node (their process groups) and reap them."""
        for proc in self.procs:
            terminate(proc, timeout=5.0)


def make_certificates(workdir: Path) -> None:
    """Write a throw-away CA (``ca.crt``) and a server certificate for 127.0.0.1 signed by it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not on PATH: it makes the TLS cluster's certificates")
    ext = workdir / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
         "-subj", "/CN=signal-monitor test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
         "server.crt", "-days", "2", "-extfile", str(ext)],
    ]
    for step in steps:
        subprocess.run([openssl, *step], cwd=workdir, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module", params=["tcp", "tls"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A running 3-master cluster with a password, over TCP or TLS; killed at the end of the module."""
    server = Cluster(tmp_path_factory.mktemp(f"cluster-{request.param}"), tls=request.param == "tls")
    request.addfinalizer(server.stop)
    server.start()
    yield server


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[aioredis.RedisCluster]:
    """The async client ``redis_client()`` builds for the cluster (auto-detected), with the password."""
    built = redis_client(tls_settings(cluster), password=PASSWORD) if cluster.tls else redis_client(cluster.url, password=PASSWORD)
    assert isinstance(built, aioredis.RedisCluster), f"redis_client() built {type(built).__name__} for a cluster"
    try:
        yield built
    finally:
        await built.aclose()


def tls_settings(cluster: Cluster) -> Any:
    """Return settings naming the cluster's rediss:// URL and its CA file (``REDIS_SSL_CA_FILE``).

    ``Settings`` may not declare ``redis_ssl_ca_file`` yet: then a
    stand-in with the same attributes is returned.
    """
    from signal_monitor.config.settings import Settings

    if "redis_ssl_ca_file" in Settings.model_fields:
        return Settings(redis_url=cluster.url, redis_ssl_ca_file=cluster.ca_file)
    return SimpleNamespace(
        redis_url=cluster.url, redis_password=None, redis_cluster=None, redis_ssl_ca_file=cluster.ca_file,
        redis_ssl_cert_reqs="required",
    )


@pytest.fixture
async def state(client: aioredis.RedisCluster) -> RedisState:
    """A RedisState over the cluster under a key prefix of its own."""
    return RedisState(client, prefix=f"smtest:{uuid.uuid4().hex[:8]}", topic_prefix="signals")


# --- helpers --------------------------------------------------------------------------


def partition_of(key: str) -> int:
    """Return the partition an event keyed by ``key`` goes to (any stable hash does)."""
    return zlib.crc32(key.encode()) % PARTITIONS


def batches_of(events: list[dict[str, Any]]) -> dict[int, list[list[tuple[int, Trade]]]]:
    """Split trades into partitions by fund and each partition into batches of consecutive offsets."""
    by_part: dict[int, list[Trade]] = {}
    for e in events:
        by_part.setdefault(partition_of(e["fund_id"]), []).append(Trade.model_validate(e))
    out: dict[int, list[list[tuple[int, Trade]]]] = {}
    for p, trades in by_part.items():
        numbered = list(enumerate(trades))
        out[p] = [numbered[i : i + BATCH] for i in range(0, len(numbered), BATCH)]
    return out


def folded(topic: str, partition: int, events: list[tuple[int, Any]], *, skip: frozenset[str] = frozenset()) -> Batch:
    batch, _ = fold(topic, partition, events, skip_trades=skip)
    batch.worker = "cluster-test"
    return batch


# --- tests ----------------------------------------------------------------------------


def test_the_server_is_recognised_as_a_cluster(cluster: Cluster) -> None:
    assert is_cluster(cluster.url, password=PASSWORD, **cluster.tls_kwargs())
    with pytest.raises(redis.AuthenticationError):
        is_cluster(cluster.url, password="wrong", **cluster.tls_kwargs())
    single = redis_client(cluster.url, password=PASSWORD, cluster=False)
    assert type(single) is aioredis.Redis


@pytest.mark.parametrize("cluster", ["tls"], indirect=True)
async def test_tls_refuses_a_cluster_it_cannot_verify(cluster: Cluster) -> None:
    """Without the CA that signed the nodes' certificate, a rediss:// client does not connect."""
    settings = SimpleNamespace(redis_url=cluster.url, redis_password=None, redis_cluster=True, redis_ssl_ca_file="",
                               redis_ssl_cert_reqs="required")
    client = redis_client(settings, password=PASSWORD)  # type: ignore[arg-type]
    try:
        with pytest.raises((redis.RedisError, redis.RedisClusterException, OSError)) as info:
            await client.ping()
    finally:
        await client.aclose()
    assert "certificate verify failed" in str(info.value).lower() or "ssl" in str(info.value).lower()


@pytest.mark.parametrize("cluster", ["tls"], indirect=True)
def test_the_commands_check_that_redis_answers_with_the_tls_settings(cluster: Cluster) -> None:
    """The CLIs and the demo ask whether Redis answers before they use it: over TLS, with the configured CA."""
    from signal_monitor.config.settings import Settings

    settings = Settings(redis_url=cluster.url, redis_ssl_ca_file=cluster.ca_file, redis_password=PASSWORD)
    assert settings_redis_answers(settings)
    assert not redis_answers(cluster.url, password=PASSWORD)  # without the CA that signed the nodes' certificate
    assert not settings_redis_answers(settings.model_copy(update={"redis_ssl_ca_file": ""}))


async def test_ingest_aggregates_and_offsets_are_exact_on_a_cluster(
    state: RedisState, client: aioredis.RedisCluster
) -> None:
    events = make_trades(3000, seed=11, start=MONDAY, span=timedelta(days=9))  # two weeks
    parts = batches_of(events)
    assert sorted(parts) == list(range(PARTITIONS))
    await client.initialize()
    nodes = {client.get_node_from_key(f"{state._tag(TRADES, p)}:mark").name for p in parts}
    assert len(nodes) >= 2, f"every partition's keys landed on one node ({nodes}): the test proves nothing"

    memory = MemoryState()
    for p, batches in parts.items():
        for events_of_batch in batches:
            batch = folded(TRADES, p, events_of_batch)
            result = await state.apply(batch)
            assert result.applied and result.stored_offset == events_of_batch[-1][0]
            assert (await memory.apply(folded(TRADES, p, events_of_batch))).applied

    # a redelivered batch is refused as stale, and changes nothing
    p0 = next(iter(parts))
    again = await state.apply(folded(TRADES, p0, parts[p0][1]))
    assert not again.applied and again.stale and again.stored_offset == parts[p0][-1][-1][0]

    # an upstream resend (same trade_id, a new offset) is refused with `seen`, then applied without it
    resent_event = parts[p0][0][3][1]
    fresh = Trade.model_validate({**resent_event.model_dump(mode="json"), "trade_id": "NEW-1"})
    next_offset = parts[p0][-1][-1][0] + 1
    pair = [(next_offset, fresh), (next_offset + 1, resent_event)]
    refused = await state.apply(folded(TRADES, p0, pair))
    assert not refused.applied and not refused.stale and refused.seen == (resent_event.trade_id,)
    retried = await state.apply(folded(TRADES, p0, pair, skip=frozenset(refused.seen)))
    assert retried.applied and retried.stored_offset == next_offset + 1
    await memory.apply(folded(TRADES, p0, pair, skip=frozenset(refused.seen)))
    landed = events + [{**fresh.model_dump(mode="json"), "ts": fresh.ts.isoformat()}]

    # trade ids sit in one set per partition and UTC event day, in the partition's slot, and expire
    for p, batches in parts.items():
        mark = f"{state._tag(TRADES, p)}:mark"
        by_day: dict[str, set[str]] = {}
        for batch in batches:
            for _, t in batch:
                by_day.setdefault(t.ts.astimezone(UTC).date().isoformat(), set()).add(t.trade_id)
        if p == p0:
            by_day[fresh.ts.astimezone(UTC).date().isoformat()].add(fresh.trade_id)
        for day, ids in by_day.items():
            bucket = f"{state._tag(TRADES, p)}:seen:{day}"
            assert client.keyslot(bucket) == client.keyslot(mark)
            assert await client.smembers(bucket) == ids
            assert await client.ttl(bucket) > 0

    # offsets and watermarks per partition
    marks = await state.marks(TRADES)
    for p, batches in parts.items():
        last = next_offset + 1 if p == p0 else batches[-1][-1][0]
        newest = max(t.ts.timestamp() for batch in batches for _, t in batch)
        if p == p0:
            newest = max(newest, fresh.ts.timestamp())
        assert marks[p].offset == last and marks[p].worker == "cluster-test"
        assert marks[p].watermark == pytest.approx(newest, abs=1e-3)
    # the closer's read of every topic's marks at once (one pipeline over the slots) finds the same
    assert await state.marks_of([TRADES, "no-such-topic"]) == {(TRADES, p): m for p, m in marks.items()}

    # every (week, fund_type x sector, action) sum and count equals the truth computed from the events
    truth = ground_truth(landed)
    weeks = sorted({w for w, _, _ in truth})
    assert len(weeks) == 2
    for week in weeks:
        sums = await state.flow_sums(date.fromisoformat(week))
        for (w, scope, name), expected in truth.items():
            if w == week:
                got = sums.get(scope, {}).get(name, 0.0)
                assert got == pytest.approx(expected, rel=1e-9), (week, scope, name)
        # and every other scope agrees with the in-memory state over the same batches
        mem = await memory.flow_sums(date.fromisoformat(week))
        assert sums.keys() == mem.keys()
        for scope, fields in mem.items():
            assert sums[scope] == pytest.approx(fields, rel=1e-9), scope


async def test_latest_quotes_across_partitions_on_a_cluster(state: RedisState) -> None:
    day = datetime(2025, 6, 4, 15, 0, tzinfo=UTC)
    quotes = {
        0: [Quote(ts=day, symbol="SPY", price=500.0), Quote(ts=day + timedelta(minutes=55), symbol="SPY", price=501.5, kind="close")],
        1: [Quote(ts=day, symbol="QQQ", price=450.0), Quote(ts=day + timedelta(minutes=1), symbol="QQQ", price=451.0)],
        2: [Quote(ts=day + timedelta(minutes=56), symbol="SPY", price=999.0)],  # later, but not the close
    }
    for p, qs in quotes.items():
        assert (await state.apply(folded(QUOTES, p, list(enumerate(qs))))).applied
    got = await state.quotes(trading_day(day))
    assert got == {"SPY": (501.5, True), "QQQ": (451.0, False)}


async def test_claims_and_rule_state_on_a_cluster(state: RedisState) -> None:
    assert await state.claim("close:week:2025-06-06", ttl_s=60)
    assert not await state.claim("close:week:2025-06-06", ttl_s=60)
    assert await state.claim("alert:vix_below_17|2025-06-06", ttl_s=60)
    await state.set_rule_state("hf_net_buying_streak", "fund_type=hedge_fund", {"streak": 5, "armed": False})
    assert await state.get_rule_state("hf_net_buying_streak", "fund_type=hedge_fund") == {"streak": 5, "armed": False}
    assert await state.get_rule_state("hf_net_buying_streak", "fund_type=long_only") == {}
    assert await state.ping() >= 0.0


async def test_fenced_writes_on_a_cluster(state: RedisState) -> None:
    """Every script of a fenced write touches one slot: the leases' home, or a written key and its fence."""
    from signal_monitor.state.base import LEASE_HOME, Fence, FenceRefused, fenced

    old = Fence("close:2025-06-06", await state.lease("close:2025-06-06", ttl_s=2.0) or 0)
    with fenced(old):
        await state.set_rule_state(LEASE_HOME, "progress", {"day": "2025-06-05"})
        await state.put_points(date(2025, 6, 6), {"close:day|symbol=VIX": 1.0, "close:day|symbol=SPX": 2.0})
        await state.set_rule_state("hf_net_buying_streak", "fund_type=hedge_fund", {"by": "old"})
        assert await state.claim_emit("hf_net_buying_streak|x|2025-06-06", ttl_s=60) == "new"
    await asyncio.sleep(2.2)  # the old holder's lease runs out
    new = Fence(old.name, await state.lease(old.name, ttl_s=60) or 0)
    assert new.token > old.token
    with fenced(new):
        await state.set_rule_state(LEASE_HOME, "progress", {"day": "2025-06-06"})
        await state.put_points(date(2025, 6, 6), {"close:day|symbol=VIX": 3.0, "close:day|symbol=SPX": 4.0})
        await state.set_rule_state("hf_net_buying_streak", "fund_type=hedge_fund", {"by": "new"})
        assert await state.claim_emit("hf_net_buying_streak|x|2025-06-06", ttl_s=60) == "again"
        await state.mark_emitted("hf_net_buying_streak|x|2025-06-06", ttl_s=60)
    with fenced(old):
        for write in (
            state.set_rule_state(LEASE_HOME, "progress", {"day": "2025-06-05"}),
            state.put_points(date(2025, 6, 6), {"close:day|symbol=VIX": 5.0}),
            state.set_rule_state("hf_net_buying_streak", "fund_type=hedge_fund", {"by": "old"}),
            state.claim_emit("hf_net_buying_streak|y|2025-06-06", ttl_s=60),
        ):
            with pytest.raises(FenceRefused):
                await write
    assert await state.get_rule_state(LEASE_HOME, "progress") == {"day": "2025-06-06"}
    assert await state.history("close:day|symbol=VIX") == [(date(2025, 6, 6), 3.0)]
    assert await state.renew(new.name, new.token, ttl_s=60)


async def test_series_points_and_history_on_a_cluster(state: RedisState) -> None:
    fridays = [date(2025, 5, 2) + timedelta(weeks=i) for i in range(6)]
    await state.put_series("net_buying:week|fund_type=hedge_fund", [(d, float(i)) for i, d in enumerate(fridays)])
    await state.put_series("net_buying:week|fund_type=hedge_fund", [(d, float(i)) for i, d in enumerate(fridays)])
    await state.put_points(fridays[-1], {"net_buying:week|fund_type=hedge_fund": 9.5, "obs:week|series=VIX": 16.77})
    history = await state.history("net_buying:week|fund_type=hedge_fund")
    assert history == [(d, float(i)) for i, d in enumerate(fridays[:-1])] + [(fridays[-1], 9.5)]
    assert await state.history("net_buying:week|fund_type=hedge_fund", since=fridays[2], until=fridays[3]) == [
        (fridays[2], 2.0), (fridays[3], 3.0)
    ]
    assert await state.series_ids("net_buying:") == ["net_buying:week|fund_type=hedge_fund"]
    assert await state.series_ids("") == ["net_buying:week|fund_type=hedge_fund", "obs:week|series=VIX"]
    await state.set_series_units({"VIX": "index", "cftc": "contracts"})
    assert await state.series_units(["VIX", "cftc", "aaii"]) == {"VIX": "index", "cftc": "contracts"}


async def test_register_lists_a_pending_partition_on_a_cluster(state: RedisState) -> None:
    await state.register(TRADES, 2, highwater=500)
    marks = await state.marks(TRADES)
    assert marks[2].highwater == 500 and marks[2].offset == -1 and marks[2].pending


async def test_many_batches_concurrently_on_a_cluster(state: RedisState) -> None:
    """Four partitions applied at once (one coroutine each, as four agents would): still exact."""
    events = make_trades(2000, seed=12, start=MONDAY, span=timedelta(days=3))
    parts = batches_of(events)

    async def run(p: int) -> None:
        for batch in parts[p]:
            assert (await state.apply(folded(TRADES, p, batch))).applied

    await asyncio.gather(*(run(p) for p in parts))
    truth = ground_truth(events)
    [week] = sorted({w for w, _, _ in truth})
    sums = await state.flow_sums(date.fromisoformat(week))
    assert sums[""]["n"] == len(events)
    for (_, scope, name), expected in truth.items():
        assert sums[scope][name] == pytest.approx(expected, rel=1e-9)


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A TCP cluster of this test alone, which it may stop and start."""
    server = Cluster(tmp_path, tls=False)
    try:
        server.start()
        yield server
    finally:
        server.stop()


async def test_an_unreachable_cluster_pauses_ingestion_and_it_resumes(
    own_cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    """As with one server: while the cluster is down the batch is retried (logged), then applied once."""
    from signal_monitor.agents.ingest import Ingestor, Record

    caplog.set_level(logging.WARNING, logger="signal_monitor.agents.ingest")
    client = redis_client(own_cluster.url, password=PASSWORD)
    state = RedisState(client, prefix="smtest:outage")
    letters: list[Any] = []

    async def sink(batch: Any) -> None:
        letters.extend(batch)

    sought: list[tuple[int, int]] = []

    async def reseek(partition: int, offset: int) -> None:
        sought.append((partition, offset))

    ingestor = Ingestor(state, topic=TRADES, kind="trades", dead_letters=sink, lateness_s=7 * 86400,
                        max_message_bytes=1 << 20, worker_id="outage", retry_max_s=0.5, reseek=reseek)
    events = make_trades(50, seed=13, start=MONDAY, span=timedelta(days=2))
    records = [Record(0, i, json.dumps(e).encode()) for i, e in enumerate(events)]
    try:
        await ingestor.handle(records[:20])
        own_cluster.stop()
        task = asyncio.create_task(ingestor.handle(records[20:]))
        deadline = time.monotonic() + 60
        while "Redis unavailable" not in caplog.text:
            if task.done():
                task.result()  # raises what stopped it
            assert time.monotonic() < deadline, "no retry was logged"
            await asyncio.sleep(0.2)
        assert not task.done()
        await asyncio.to_thread(own_cluster.restart)
        await asyncio.wait_for(task, timeout=60)
        # the cluster came back empty: it lost the first part, so the second is refused (it follows offset 19)
        # and the partition is read again from what the store holds
        assert sought == [(0, 0)]
        assert await state.marks(TRADES) == {} or (await state.marks(TRADES))[0].offset == -1
        await ingestor.handle(records)  # what the consumer delivers after the seek
        marks = await state.marks(TRADES)
        assert marks[0].offset == 49
        sums = await state.flow_sums(date(2025, 6, 6))  # every event is in that week
        assert sums[""]["n"] == 50
        assert not letters
    finally:
        await client.aclose()


# --- delivery ----------------------------------------------------------------------------

URGENT_PATH = "/services/T0DESK001/B0URGENT1/otherS3cretValue"
TWO_CHANNELS = """
receivers:
  - {name: desk, type: slack}
  - {name: urgent, type: slack, webhook_url_env: SM_TEST_URGENT_HOOK}
route:
  receiver: desk
  routes: [{match: {severity: critical}, receiver: urgent}]
"""


class Deliveries:
    """Builds dispatchers over the cluster under one key prefix; closes them and deletes their keys."""

    def __init__(self, client: aioredis.RedisCluster) -> None:
        self.client = client
        self.prefix = f"smtest:{uuid.uuid4().hex[:8]}"
        self.made: list[Dispatcher] = []

    def __call__(self, routes: str = SLACK_ROUTES, *, webhook: str, **kwargs: Any) -> Dispatcher:
        """Return a dispatcher of ``routes`` posting to ``webhook`` (test options unless given)."""
        kwargs.setdefault("options", fast_options())
        slack = SlackDefaults.from_settings(Settings(slack_webhook_url=webhook))
        parsed = parse_routes(routes, "cluster-routes.yaml")
        dispatcher = Dispatcher(self.client, routes=parsed, prefix=self.prefix, slack=slack, **kwargs)
        self.made.append(dispatcher)
        return dispatcher

    async def written(self) -> list[str]:
        """Return every key under the prefix, on every master."""
        return sorted([k async for k in self.client.scan_iter(match=f"{self.prefix}:*")])

    async def assert_one_slot(self) -> None:
        """Check that every key delivery wrote is under its hash tag, so in one slot.

        Probe keys with other tags, one per master at least, are written first and must be found: the scan
        reaches every master.
        """
        probes = {f"{self.prefix}:probe:{{{n}}}" for n in range(20)}
        assert len({self.client.get_node_from_key(p).name for p in probes}) == 3
        for probe in probes:
            await self.client.set(probe, "1")
        try:
            found = set(await self.written())
        finally:
            for probe in probes:
                await self.client.delete(probe)
        assert probes <= found, "the scan missed a master"
        written = sorted(found - probes)
        assert written, "nothing written: the check proves nothing"
        assert {self.client.keyslot(k) for k in written} == {self.client.keyslot(DELIVERY_TAG)}, written
        assert all(k.startswith(delivery_base(self.prefix) + ":") for k in written), written

    async def close(self) -> None:
        """Close the dispatchers and delete the prefix's keys."""
        for dispatcher in self.made:
            await dispatcher.close()
        for key in await self.written():
            await self.client.delete(key)


@pytest.fixture
async def deliveries(client: aioredis.RedisCluster) -> AsyncIterator[Deliveries]:
    """Dispatchers over the cluster under a key prefix of their own."""
    await client.initialize()
    made = Deliveries(client)
    try:
        yield made
    finally:
        await made.close()


async def test_delivery_posts_each_alert_once_in_order_per_channel_on_a_cluster(
    fake_slack: FakeSlack, deliveries: Deliveries, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SM_TEST_URGENT_HOOK", fake_slack.url(URGENT_PATH))
    first = deliveries(TWO_CHANNELS, webhook=fake_slack.url())
    second = deliveries(TWO_CHANNELS, webhook=fake_slack.url())
    desk = weekly("hf_flow_mix", 4, severity="info")
    urgent = weekly("gross_leverage_record", 3, severity="critical")
    await asyncio.gather(first.submit(desk + urgent), second.submit(desk + urgent))  # two workers, one batch
    assert await first.outbox.depths() == {"desk": 4, "urgent": 3}  # stored before the first attempt
    assert fake_slack.received() == []
    assert await asyncio.gather(first.drain(timeout=20), second.drain(timeout=20)) == [True, True]
    assert fake_slack.posted_keys(HOOK_PATH) == dedup_keys(desk)
    assert fake_slack.posted_keys(URGENT_PATH) == dedup_keys(urgent)
    assert len(fake_slack.received()) == 7

    # resubmitted alerts (a replay: the same dedup keys) are not posted again
    await second.submit([desk[1], urgent[2]])
    assert await second.drain(timeout=10)
    assert len(fake_slack.received()) == 7
    counts = await first.outbox.counts()
    assert (counts["enqueued"], counts["sent"], counts["deduplicated"]) == (7, 7, 9)
    stats = await first.refresh_stats()
    assert (stats["pending"], stats["grouped"], stats["parked"], stats["sent"]) == (0, 0, 0, 7)
    assert stats["last_sent"]["rule"] in ("hf_flow_mix", "gross_leverage_record")
    await deliveries.assert_one_slot()


async def test_delivery_retries_parks_and_requeues_on_a_cluster(fake_slack: FakeSlack, deliveries: Deliveries) -> None:
    fake_slack.script(
        HOOK_PATH,
        Answer(500, "oops"),
        Answer(429, "rate_limited", {"Retry-After": "0"}),
        Answer(404, "channel_not_found"),
    )
    dispatcher = deliveries(webhook=fake_slack.url())
    refused, after = weekly("sector_breadth", 2)
    await dispatcher.submit([refused, after])
    assert await dispatcher.drain(timeout=10)
    assert [p.keys for p in fake_slack.received()] == [[refused.dedup_key]] * 3 + [[after.dedup_key]]
    (parked,) = await dispatcher.outbox.parked()
    assert (parked.reason, parked.status) == ("channel_not_found", 404)
    assert parked.message["alerts"][0]["dedup_key"] == refused.dedup_key
    stats = await dispatcher.refresh_stats()
    assert (stats["parked"], stats["parked_by_reason"], stats["sent"]) == (1, {"channel_not_found": 1}, 1)

    assert await dispatcher.outbox.requeue(parked.id)
    assert not await dispatcher.outbox.requeue(parked.id)
    assert await dispatcher.drain(timeout=10)
    assert fake_slack.posted_keys() == dedup_keys([after, refused])
    assert await dispatcher.outbox.parked() == []
    counts = await dispatcher.outbox.counts()
    assert (counts["retried"], counts["rate_limited"], counts["parked"], counts["requeued"], counts["sent"]) == (
        1, 1, 1, 1, 2
    )
    await deliveries.assert_one_slot()


async def test_delivery_groups_realerts_and_inhibits_on_a_cluster(
    fake_slack: FakeSlack, deliveries: Deliveries
) -> None:
    clock = FakeClock()
    routes = """
receivers: [{name: desk, type: slack}]
route: {receiver: desk, group_wait: 30s, group_max: 2, realert: 1h}
inhibit: [{source: {severity: critical}, target: {severity: warning}, equal: [scope], for: 1h}]
"""
    dispatcher = deliveries(routes, webhook=fake_slack.url(), clock=clock)
    energy = {"sector": "Energy"}
    critical = make_alert("sector_net_buying_high", energy, severity="critical")
    muted = make_alert("sector_net_buying_streak", energy, severity="warning")
    sectors = ("Tech", "Health", "Utilities")
    others = [make_alert("sector_net_buying_streak", {"sector": s}, severity="warning") for s in sectors]
    await dispatcher.submit([muted, *others, critical])
    assert await dispatcher.flush_groups() == 0  # not due
    assert await dispatcher.outbox.group_depth() == 4
    clock.advance(31)
    assert await dispatcher.flush_groups() == 2  # 4 alerts, 2 a message
    next_week = others[0].period_end.replace(day=13)
    later = make_alert("sector_net_buying_streak", {"sector": "Tech"}, severity="warning", period=next_week)
    await dispatcher.submit([later])  # the same rule and scope within the hour
    assert await dispatcher.drain(timeout=10)
    assert [p.keys for p in fake_slack.posted()] == [dedup_keys([critical, others[0]]), dedup_keys(others[1:])]
    counts = await dispatcher.outbox.counts()
    assert (counts["grouped"], counts["inhibited"], counts["realert_suppressed"], counts["sent"]) == (4, 1, 1, 2)
    await deliveries.assert_one_slot()


async def test_silences_add_list_expire_and_mute_on_a_cluster(fake_slack: FakeSlack, deliveries: Deliveries) -> None:
    clock = FakeClock()
    dispatcher = deliveries(webhook=fake_slack.url(), clock=clock)
    silence = await dispatcher.silences.add(
        "vix_below_17", duration=7200, reason="CBOE feed late", scope={"symbol": "VIX"}
    )
    week1, week2, week3 = weekly("vix_below_17", 3, scope={"symbol": "VIX"})
    unrelated = make_alert("vix_below_17", {"symbol": "VIX9D"})
    await dispatcher.submit([week1, unrelated])
    assert (await dispatcher.refresh_stats())["silences_active"] == 1
    clock.advance(7200)
    await dispatcher.submit([week2])  # the silence ended
    second = await dispatcher.silences.add("*", duration=3600, reason="maintenance")
    await dispatcher.submit([week3])
    assert [s.id for s in await dispatcher.silences.active()] == [second.id]
    assert await dispatcher.silences.expire(second.id) is not None
    assert await dispatcher.silences.active() == []
    assert {s.id for s in await dispatcher.silences.all()} == {silence.id, second.id}
    assert await dispatcher.drain(timeout=10)
    assert fake_slack.posted_keys() == dedup_keys([unrelated, week2])
    assert (await dispatcher.outbox.counts())["silenced"] == 2
    await deliveries.assert_one_slot()


async def test_no_layout_before_the_hash_tag_to_move_on_a_cluster(deliveries: Deliveries) -> None:
    """The layout without the tag could not run on a cluster: nothing is looked for there."""
    await deliveries.client.hset(f"{deliveries.prefix}:outbox:stats", "enqueued", 1)
    try:
        assert not await legacy_layout_present(deliveries.client, deliveries.prefix)
        assert await migrate_legacy_keys(deliveries.client, deliveries.prefix) == 0
    finally:
        await deliveries.client.delete(f"{deliveries.prefix}:outbox:stats")


@pytest.mark.parametrize("cluster", ["tcp"], indirect=True)
def test_outbox_and_silence_cli_on_a_cluster(cluster: Cluster) -> None:
    """``signal-monitor outbox`` and ``silence`` against a cluster (REDIS_CLUSTER=true): parked, requeue, status."""
    prefix = f"smtest:{uuid.uuid4().hex[:8]}"
    base = f"{delivery_base(prefix)}:outbox"
    env = {"REDIS_URL": cluster.url, "REDIS_PASSWORD": PASSWORD, "REDIS_CLUSTER": "true", "SM_KEY_PREFIX": prefix,
           "COLUMNS": "300"}
    client = redis.RedisCluster.from_url(cluster.url, password=PASSWORD, decode_responses=True)
    runner = CliRunner()
    try:
        message = {"id": "m1", "dest": "desk", "alerts": [make_alert().model_dump(mode="json")]}
        record = {"dest": "desk", "reason": "channel_not_found", "detail": "", "status": 404, "parked_at": time.time()}
        client.hset(f"{base}:parked", "m1", json.dumps(record))
        client.hset(f"{base}:parked_msg", "m1", json.dumps(message))
        parked = runner.invoke(outbox_cli, ["parked"], env=env)
        assert parked.exit_code == 0 and "channel_not_found" in parked.output, parked.output
        requeued = runner.invoke(outbox_cli, ["requeue", "--all"], env=env)
        assert requeued.exit_code == 0 and "requeued 1" in requeued.output, requeued.output
        assert client.lrange(f"{base}:q:desk", 0, -1) == ["m1"]
        status = runner.invoke(outbox_cli, ["status"], env=env)
        assert status.exit_code == 0 and "desk" in status.output and "requeued=1" in status.output, status.output

        added = runner.invoke(
            silence_cli, ["add", "--rule", "vix_below_17", "--for", "2h", "--reason", "feed late"], env=env
        )
        assert added.exit_code == 0, added.output
        silence_id = added.output.split()[1].rstrip(":")
        assert "1 active" in runner.invoke(silence_cli, ["list"], env=env).output
        assert runner.invoke(silence_cli, ["expire", silence_id], env=env).exit_code == 0
        assert "0 active" in runner.invoke(silence_cli, ["list"], env=env).output
        assert silence_id in runner.invoke(silence_cli, ["list", "--all"], env=env).output
        written = [k for k in client.scan_iter(match=f"{prefix}:*", target_nodes=redis.RedisCluster.ALL_NODES)]
        assert {client.keyslot(k) for k in written} == {client.keyslot(DELIVERY_TAG)}, written
    finally:
        for key in client.scan_iter(match=f"{prefix}:*", target_nodes=redis.RedisCluster.ALL_NODES):
            client.delete(key)
        client.close()
