"""The fault campaign: a live stream through two workers while workers die, Redis restarts and Slack fails.

One run, end to end, on services it starts for itself:

1. builds the workload (``chaos.workload``): about 1M trades over 8 weeks in envelopes of 500,
   keyed by fund, and the ground truth (per week x fund type x sector: summed notional per
   action and the count), computed from the generated events, not by the monitor's code;
2. forks the expectation: the workers' ingestor, period closer and rule engine (as
   ``signal_monitor.offline.replay`` runs them) over a ``MemoryState``, with the same rule file, fed the
   envelopes in the order they are produced, give the alerts and the corrections that must reach Slack;
3. starts the embedded broker (Apache Kafka when Java is here, else Tansu; ``SM_EMBEDDED_BROKER``
   chooses), its own redis-server with AOF (as in
   docker-compose.yml), the local Slack receiver (``bench.slack_receiver``), and two
   ``signal-monitor worker`` processes in one consumer group over 4 partitions, with
   the campaign's rules (``chaos/rules.yaml``) and routes (every alert to a webhook and to a
   bot-token channel, one message each);
4. streams the weeks in order, paced, while it
   - SIGKILLs a random worker at random moments (at least 5 times) and restarts it,
   - stops its Redis mid-stream and starts it again on the same port (AOF: the data survives),
   - rolls Redis back (``redis_rollbacks``): holds the producer in a week once the week before is closed and
     delivered, snapshots Redis (BGSAVE), lets the workers apply more, SIGKILLs Redis and starts it on the
     snapshot (its AOF removed); the workers must read the lost batches again from Kafka. No close and no
     alert falls between the snapshot and the kill, so what else a rollback takes back (rule state, claims,
     outbox acks, which would repeat alerts) is kept out of the measurement on purpose,
   - SIGSTOPs workers (``paused_workers``) past their 6 s session timeout, and in the full run one that has
     just logged ``closed week`` (it holds the close lease) for 70 s, past the 60 s lease, then SIGCONTs them,
   - produces a late envelope (``late_events``) of a closed week halfway through the next week, after the
     closers finished that week (``SM_LATENESS_DAYS=14`` for the campaign), and expects each correction
     (``corrections``) once on ``signals.alerts`` and once per receiver,
   - on Apache Kafka, SIGKILLs the broker mid-stream (twice; once in the quick run) and starts it
     again on the same ports and log dirs; the campaign's producer (acks=all, idempotent, retrying)
     and the workers ride it out (Tansu keeps its log in memory, so a Tansu run skips them and says so),
   - makes the receiver fail for 30 s while alerts are due: listener closed (connection
     refused) for 10 s, then 429 with Retry-After for 10 s, then 500 for 10 s,
   - restarts any worker that exits on its own (and counts it);
5. waits until every partition is applied to its end, the last week is closed and the
   outbox is empty, and compares:
   - ``lost`` / ``double_counted``: trades missing from / counted twice in the stored weekly
     counts, against the ground truth;
   - ``duplicate_alerts``: posts beyond the first of one dedup key on one receiver;
   - ``missing_alerts``: (receiver, dedup key) pairs the replay expects that never posted (corrections included);
   - ``duplicate_alerts_on_topic``: records of ``signals.alerts`` beyond the first of one (dedup key, revision).
     It is reported, not part of the exit status: the worker's producer is not idempotent, so a broker crash
     or a close taken over can repeat a record there (docs/guarantees.md).

It prints a table and, as its last line, one JSON object: broker, kills, broker_restarts, events,
lost, double_counted, duplicate_alerts, missing_alerts, redis_rollbacks, paused_workers, late_events,
corrections, duplicate_alerts_on_topic, seconds. Exit status 0 when lost, double_counted, duplicate_alerts
and missing_alerts are zero (and nothing else is off), else 1.

``CHAOS_QUICK=1``: 200k events, 3 kills, 1 broker kill, 1 rollback, one 10 s pause, 1 late envelope, a shorter stream. ``CHAOS_SEED`` fixes the fault
plan and the data; ``CHAOS_EVENTS``, ``CHAOS_KILLS``, ``CHAOS_BROKER_KILLS``, ``CHAOS_STREAM_S`` override; ``CHAOS_DIR``
is where logs go (default ``.run/chaos``); ``CHAOS_KEEP=1`` keeps Redis' AOF and the broker files.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.slack_receiver import SlackReceiver
from chaos.workload import Workload, add_late, build
from signal_monitor.delivery.keys import delivery_base

HERE = Path(__file__).resolve().parent
RULES_PATH = HERE / "rules.yaml"
#: The bot-token receiver's channel on the fake Slack.
CHANNEL = "C0CHAOS01"
ROUTES = f"""\
# The campaign's routes: every alert to both receivers, one message each, nothing held back.
version: 1
receivers:
  - {{name: webhook, type: slack, webhook_url_env: CHAOS_WEBHOOK_URL}}
  - {{name: bot, type: slack, channel: "{CHANNEL}"}}
route:
  receiver: webhook
  group_wait: 0s
  realert: 0s
  resolved: true
  routes:
    - {{name: to-bot, receiver: bot, continue: true}}
    - {{name: to-webhook, receiver: webhook}}
"""
OUTAGE_PHASES = (("refused", 10.0), ("429", 10.0), ("500", 10.0))
RECEIVERS = ("webhook", "bot")
#: What a worker logs when the broker goes away and comes back (counted in the report).
BROKER_LOG_LINES = ("Kafka broker unavailable", "Kafka broker available again")


@dataclass
class Plan:
    """The size of the run and its fault plan."""

    events: int
    weeks: int
    kills: int
    stream_s: float
    seed: int
    broker_kills: int = 0
    envelope: int = 500
    funds: int = 48
    workers: int = 2
    partitions: int = 4
    redis_down_s: float = 2.0
    final_timeout_s: float = 150.0
    scenario: str = "campaign"
    quick: bool = False
    #: roll Redis back (to a snapshot taken while this week's data is produced, once the week before is closed and
    #: delivered) during the production of these weeks (indexes into the weeks)
    rollback_weeks: tuple[int, ...] = ()
    #: SIGSTOP pauses: ("random", seconds) pauses a random worker at a random moment; ("close", seconds) pauses
    #: the worker that logs ``closed week`` of week index ``pause_close_week``, holding the close lease
    pauses: tuple[tuple[str, float], ...] = ()
    pause_close_week: int = 2
    #: weeks (indexes) that get a late envelope, produced halfway through the next week, after they closed
    late_weeks: tuple[int, ...] = ()
    lateness_days: float = 14.0

    @classmethod
    def from_env(cls, scenario: str = "campaign", env: dict[str, str] | None = None) -> Plan:
        """Return the plan: the full campaign, or the quick one with CHAOS_QUICK=1; overrides from CHAOS_*."""
        env = dict(os.environ if env is None else env)
        quick = env.get("CHAOS_QUICK", "") not in ("", "0", "false", "no")
        seed = int(env.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 10_000))
        if scenario != "campaign":
            plan = cls(events=120_000, weeks=5, kills=0, stream_s=40.0, seed=seed, scenario=scenario)
        elif quick:
            plan = cls(events=200_000, weeks=6, kills=3, broker_kills=1, stream_s=50.0, seed=seed, quick=True,
                       rollback_weeks=(1,), pauses=(("random", 10.0),), late_weeks=(3,))
        else:
            plan = cls(events=1_000_000, weeks=8, kills=6, broker_kills=2, stream_s=160.0, seed=seed,
                       rollback_weeks=(1,), pauses=(("close", 70.0), ("random", 10.0)), late_weeks=(4, 6))
        if env.get("CHAOS_EVENTS"):
            plan.events = int(env["CHAOS_EVENTS"])
        if env.get("CHAOS_KILLS"):
            plan.kills = int(env["CHAOS_KILLS"])
        if env.get("CHAOS_BROKER_KILLS"):
            plan.broker_kills = int(env["CHAOS_BROKER_KILLS"])
        if env.get("CHAOS_STREAM_S"):
            plan.stream_s = float(env["CHAOS_STREAM_S"])
        return plan


def group_stuck(log: str) -> bool:
    """Whether a worker log shows a consumer group that never completes a rebalance: the same generation joined
    four times in a row with no assignment after the first of them."""
    joins = list(re.finditer(r"Joined group '[^']+' \(generation (\d+)\)", log))
    if len(joins) < 4 or len({m.group(1) for m in joins[-4:]}) != 1:
        return False
    return "Setting newly assigned partitions" not in log[joins[-4].end():]


# --- the expectation: the replay engine over the same events, in a forked process -------------------


def _expected_alerts(work: Workload, rules_path: Path, lateness_days: float = 14.0) -> dict[str, Any]:
    """The alerts the stream must give: the workers' own ingestor, period closer and rule engine (as
    ``signal_monitor.offline.replay`` runs them) over a ``MemoryState``, fed the envelopes in the order the campaign
    produces them, the watermark at the newest event applied. A late envelope is fed alone after the weeks before
    it closed, as the producer sends it only then: its week is recomputed once, which gives its corrections."""
    from signal_monitor.agents.closer import PeriodCloser
    from signal_monitor.agents.ingest import IngestStats, Ingestor, Record
    from signal_monitor.rules.engine import RuleEngine
    from signal_monitor.rules.model import load_rules
    from signal_monitor.state.memory import MemoryState
    from signal_monitor.streams.topics import INPUTS

    async def run() -> dict[str, Any]:
        state = MemoryState()
        engine = RuleEngine(load_rules(rules_path), state)
        started = time.perf_counter()
        alerts: list[Any] = []
        letters: list[Any] = []
        position = {"t": 0.0}

        async def collect_alerts(found: Any) -> None:
            alerts.extend(found)

        async def collect_letters(found: Any) -> None:
            letters.extend(found)

        topic = f"{state.topic_prefix}.trades"
        closer = PeriodCloser(state, topics=[f"{state.topic_prefix}.{k}" for k in INPUTS], evaluator=engine, emit=collect_alerts,
                              grace_s=300.0, idle_s=float("inf"), clock=lambda: position["t"] or None)
        stats = IngestStats()
        ingestor = Ingestor(state, topic=topic, kind="trades", dead_letters=collect_letters, lateness_s=lateness_days * 86400,
                            max_message_bytes=1024 * 1024, worker_id="expect", on_applied=closer.note, stats=stats)
        late = {(m, p) for m, p, _ in work.late}
        offset = 0
        chunk: list[Any] = []

        async def flush() -> None:
            if chunk:
                await ingestor.handle(list(chunk))
                chunk.clear()
                position["t"] = max(position["t"], stats.newest_event.get(topic, 0.0))
                await closer.advance()

        for w, messages in enumerate(work.messages):
            for j, (_, value) in enumerate(messages):
                if (w, j) in late:
                    await flush()
                chunk.append(Record(0, offset, value))
                offset += 1
                if (w, j) in late or len(chunk) >= 20:
                    await flush()
        await flush()
        position["t"] += 300.0
        await closer.advance()
        return {
            "seconds": time.perf_counter() - started,
            "events": stats.events.get(topic, 0),
            "dead_letters": len(letters),
            "closed_weeks": closer.closed_weeks,
            "alerts": [
                {
                    "key": a.dedup_key,
                    "rule": a.rule,
                    "scope": a.scope,
                    "period": a.period_end.isoformat(),
                    "fired": a.fired,
                    "provisional": a.provisional,
                    "correction": a.correction,
                }
                for a in alerts
            ],
        }

    return asyncio.run(run())


def _replay_child(work: Workload, rules_path: Path, lateness_days: float, conn: Any) -> None:
    try:
        conn.send(("ok", _expected_alerts(work, rules_path, lateness_days)))
    except BaseException:  # noqa: BLE001 - the parent reports it
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


class Expectation:
    """The replay, run in a forked child while the campaign streams (the data is shared copy-on-write)."""

    def __init__(self, work: Workload, rules_path: Path, lateness_days: float = 14.0) -> None:
        ctx = multiprocessing.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_replay_child, args=(work, rules_path, lateness_days, send), daemon=True, name="chaos-replay")
        self._proc.start()
        send.close()

    def result(self, timeout: float) -> dict[str, Any]:
        """Wait for the child's result."""
        if not self._recv.poll(timeout):
            self._proc.kill()
            raise RuntimeError(f"the replay did not finish within {timeout:.0f} s")
        status, value = self._recv.recv()
        self._proc.join(timeout=10)
        if status != "ok":
            raise RuntimeError(f"the replay failed:\n{value}")
        return value

    def cancel(self) -> None:
        """Stop the child if it still runs."""
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(timeout=5)


# --- workers ----------------------------------------------------------------------------------------


@dataclass
class Life:
    """One worker process: its tag, generation, log and how it ended."""

    tag: str
    gen: int
    worker: Any  # tests.integration.harness.Worker
    started: float
    ended: float | None = None
    how: str = ""  # killed | crashed | stopped
    why: str = ""  # for a kill: random | mid-post (webhook/bot) | at close
    paused: bool = False  # SIGSTOPped right now (not a candidate for a random kill)

    @property
    def name(self) -> str:
        """``a1``, ``b3``: tag and generation."""
        return f"{self.tag}{self.gen}"


class Pool:
    """The campaign's worker processes: start, SIGKILL, restart, and notice the ones that exit on their own."""

    def __init__(self, bootstrap: str, redis_url: str, names: Any, workdir: Path, env: Callable[[str], dict[str, str]]) -> None:
        self.bootstrap = bootstrap
        self.redis_url = redis_url
        self.names = names
        self.workdir = workdir
        self.env = env
        self.lives: list[Life] = []
        self.current: dict[str, Life] = {}
        self.lock = threading.Lock()

    def start(self, tag: str) -> Life:
        """Start the next generation of worker ``tag``."""
        from tests.integration.harness import Worker

        with self.lock:
            gen = sum(1 for life in self.lives if life.tag == tag) + 1
            name = f"{tag}{gen}"
            worker = Worker(self.bootstrap, self.redis_url, self.names, self.workdir, env=self.env(name), tag=name)
            worker.start()
            life = Life(tag, gen, worker, time.time())
            self.lives.append(life)
            self.current[tag] = life
            return life

    def by_name(self, name: str) -> Life | None:
        """The current life called ``name`` (``a3``), if it is the current one of its tag."""
        with self.lock:
            for life in self.current.values():
                if life.name == name:
                    return life
        return None

    def running(self) -> list[Life]:
        """The lives whose process runs."""
        with self.lock:
            return [life for life in self.current.values()
                    if life.ended is None and not life.paused and life.worker.proc.poll() is None]

    def pause(self, life: Life) -> bool:
        """SIGSTOP one worker; False when it had already ended."""
        with self.lock:
            if life.ended is not None or life.paused or life.worker.proc.poll() is not None:
                return False
            life.paused = True
        os.kill(life.worker.proc.pid, signal.SIGSTOP)
        return True

    def resume(self, life: Life) -> None:
        """SIGCONT a paused worker."""
        with self.lock:
            life.paused = False
        if life.worker.proc.poll() is None:
            os.kill(life.worker.proc.pid, signal.SIGCONT)

    def kill(self, life: Life, why: str = "random") -> bool:
        """SIGKILL one worker (and reap it); False when it had already ended."""
        with self.lock:
            if life.ended is not None:
                return False
            life.how = "killed"
            life.why = why
            life.ended = time.time()
        life.worker.kill(signal.SIGKILL)
        return True

    def reap_crashed(self) -> list[Life]:
        """Return the lives that exited without being killed or stopped (marked crashed)."""
        out = []
        with self.lock:
            for life in self.current.values():
                if life.ended is None and life.worker.proc is not None and life.worker.proc.poll() is not None:
                    life.ended = time.time()
                    life.how = f"crashed (exit {life.worker.proc.returncode})"
                    out.append(life)
        return out

    def stop_all(self) -> None:
        """SIGTERM every running worker, SIGKILL after the harness' timeout."""
        for life in list(self.current.values()):
            if life.paused:
                self.resume(life)
            if life.ended is None:
                life.how = "stopped"
                life.ended = time.time()
                life.worker.stop()

    def logs(self) -> dict[str, str]:
        """name -> log text of every life."""
        return {life.name: life.worker.log for life in self.lives}


# --- the campaign -------------------------------------------------------------------------------


@dataclass
class Timeline:
    """What happened when (seconds since the stream started)."""

    t0: float = 0.0
    entries: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, text: str) -> None:
        """Record and print an entry."""
        at = time.time() - self.t0 if self.t0 else 0.0
        with self.lock:
            self.entries.append((at, text))
        print(f"  [{at:6.1f}s] {text}", flush=True)


@dataclass
class Result:
    """The figures of a run."""

    broker: str = ""
    kills: int = 0
    broker_restarts: int = 0
    events: int = 0
    lost: int = 0
    double_counted: int = 0
    duplicate_alerts: int = 0
    missing_alerts: int = 0
    redis_rollbacks: int = 0
    paused_workers: int = 0
    late_events: int = 0
    corrections: int = 0
    duplicate_alerts_on_topic: int = 0
    seconds: float = 0.0

    def as_json(self) -> str:
        """The last line of the report."""
        return json.dumps(
            {
                "broker": self.broker,
                "kills": self.kills,
                "broker_restarts": self.broker_restarts,
                "events": self.events,
                "lost": self.lost,
                "double_counted": self.double_counted,
                "duplicate_alerts": self.duplicate_alerts,
                "missing_alerts": self.missing_alerts,
                "redis_rollbacks": self.redis_rollbacks,
                "paused_workers": self.paused_workers,
                "late_events": self.late_events,
                "corrections": self.corrections,
                "duplicate_alerts_on_topic": self.duplicate_alerts_on_topic,
                "seconds": round(self.seconds, 1),
            }
        )


class Campaign:
    """One run of the fault campaign."""

    def __init__(self, plan: Plan, workdir: Path) -> None:
        self.plan = plan
        self.workdir = workdir
        self.rng = random.Random(plan.seed)
        self.timeline = Timeline()
        self.rows: list[tuple[str, str]] = []
        self.problems: list[str] = []
        self.faults: Counter[str] = Counter()
        self._actions: list[tuple[float, str, Callable[[], None]]] = []
        self._alock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.producer_done = threading.Event()
        self.settled = threading.Event()
        self.midpost_armed: set[str] = set()
        self.outage_armed = False
        self.producer_error: list[str] = []
        self.produced_messages = 0
        self.broker_kills = 0
        self.longest_ack_s = 0.0
        self.producer_idempotent = False
        self.broker_outages: list[tuple[float, float]] = []  # (seconds into the stream, seconds down)
        # the producer holds before envelope (week, index) >= hold_at; ``at_hold`` is set once it waits there
        self.hold_at: tuple[int, int] | None = None
        self.hold_cv = threading.Condition()
        self.at_hold = threading.Event()
        self.redis_lock = threading.Lock()  # a Redis restart and a rollback do not overlap
        self.rollbacks: list[str] = []
        self.pauses: list[str] = []
        self.late_waits: list[str] = []
        self.names: Any = None
        self.topic = ""

    # --- scheduling -----------------------------------------------------------------------

    def at(self, when: float, what: str, fn: Callable[[], None]) -> None:
        """Run ``fn`` (in its own thread) at absolute time ``when``."""
        with self._alock:
            self._actions.append((when, what, fn))

    def _run_due(self) -> None:
        now = time.time()
        with self._alock:
            due = [a for a in self._actions if a[0] <= now]
            self._actions = [a for a in self._actions if a[0] > now]
        for _, what, fn in sorted(due, key=lambda a: a[0]):
            thread = threading.Thread(target=self._guard, args=(what, fn), name=f"chaos:{what}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _guard(self, what: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - a fault that could not be injected is a problem of the run
            self.problems.append(f"{what}: {type(exc).__name__}: {exc}")
            self.timeline.note(f"{what} FAILED: {type(exc).__name__}: {exc}")

    # --- faults ---------------------------------------------------------------------------

    def kill_random(self) -> None:
        """SIGKILL a random running worker, then restart it after a short random pause."""
        running = self.pool.running()
        if not running:
            self.timeline.note("kill skipped: no worker running")
            return
        life = self.rng.choice(running)
        if not self.pool.kill(life):
            self.timeline.note(f"kill skipped: {life.name} had just ended")
            return
        self.faults["kills"] += 1
        pause = self.rng.uniform(0.0, 1.5)
        self.timeline.note(f"SIGKILL worker {life.name} (pid {life.worker.proc.pid}); restart in {pause:.1f} s")
        time.sleep(pause)
        new = self.pool.start(life.tag)
        self.timeline.note(f"started worker {new.name} (pid {new.worker.proc.pid})")

    def restart_later(self, tag: str, pause: float) -> None:
        """Start the next generation of ``tag`` after ``pause`` seconds."""

        def start() -> None:
            new = self.pool.start(tag)
            self.timeline.note(f"started worker {new.name} (pid {new.worker.proc.pid})")

        self.at(time.time() + pause, f"restart {tag}", start)

    def on_post(self, kind: str, worker: str) -> None:
        """Receiver hook, called after a message was posted and before the answer: start the armed outage now
        (the rest of the burst meets it), or SIGKILL the posting worker (the midpost scenario)."""
        with self._alock:
            outage, self.outage_armed = self.outage_armed, False
        if outage:
            self.at(time.time(), "receiver outage", self.receiver_outage)
        self.kill_mid_post(kind, worker)

    def kill_mid_post(self, kind: str, worker: str) -> None:
        """Once per armed kind, SIGKILL the worker that posts, after Slack took the message, before it hears back."""
        with self._alock:
            if kind not in self.midpost_armed:
                return
            self.midpost_armed.discard(kind)
        life = self.pool.by_name(worker)
        if life is None or not self.pool.kill(life, why=f"mid-post ({kind})"):
            with self._alock:
                self.midpost_armed.add(kind)
            return
        self.faults["kills"] += 1
        self.faults[f"midpost_{kind}"] += 1
        self.timeline.note(f"SIGKILL worker {life.name} inside a {kind} post (posted, answer not sent yet)")
        self.restart_later(life.tag, 0.5)

    def watch_closes(self, targets: list[tuple[str, str]]) -> None:
        """Tail the workers' logs and SIGKILL a worker the moment it logs, for a target week, ``closed week <friday>``
        (it is about to evaluate the week's rules) or its first ``alert <rule> <friday>`` (the rules have run and
        their alerts are being handed on)."""
        pending = {(friday, moment): re.compile(
            (rf"closed week {friday}" if moment == "close" else rf"\] alert \S+ {friday}:").encode()
        ) for friday, moment in targets}
        offsets: dict[str, int] = {}
        while pending and not self.settled.is_set():
            for life, lines in self._new_log_lines(offsets):
                for (friday, moment), pattern in list(pending.items()):
                    if pattern.search(lines):
                        del pending[(friday, moment)]
                        what = f"'closed week {friday}'" if moment == "close" else f"its first alert of {friday}"
                        if self.pool.kill(life, why=f"at {moment} of {friday}"):
                            self.faults["kills"] += 1
                            self.timeline.note(f"SIGKILL worker {life.name} right after it logged {what}")
                            self.restart_later(life.tag, 0.5)
            time.sleep(0.002)

    def kill_broker(self) -> None:
        """SIGKILL the broker (its process group: no clean shutdown), wait a moment, start it again
        on the same ports and log dirs; the workers and the producer have to ride it out."""
        pid = self.broker.pid
        self.broker.kill()
        killed = time.time()
        self.faults["broker_kills"] += 1
        down = self.rng.uniform(0.5, 2.0)
        self.timeline.note(f"broker: SIGKILL ({self.broker.label}, pid {pid}); start again in {down:.1f} s")
        time.sleep(down)
        self.broker.start()
        self.faults["broker_restarts"] += 1
        self.broker_outages.append((killed - self.timeline.t0, time.time() - killed))
        self.timeline.note(f"broker: started again on {self.broker.bootstrap}, same log dirs (pid {self.broker.pid}), "
                           f"{time.time() - killed:.1f} s after the kill")

    def restart_redis(self) -> None:
        """Stop Redis (SIGTERM: it flushes its AOF), wait, start it again on the same port."""
        with self.redis_lock:
            self.timeline.note(f"Redis: stop (pid {self.redis.pid})")
            self.redis.stop()
            time.sleep(self.plan.redis_down_s)
            started = time.time()
            self.redis.start()
            self.faults["redis_restarts"] += 1
        self.timeline.note(f"Redis: started again on port {self.redis.port} (pid {self.redis.pid}), AOF loaded in {time.time() - started:.1f} s")

    # --- a Redis rollback: restarted on an older snapshot -------------------------------------

    def _redis(self) -> Any:
        import redis

        return redis.Redis.from_url(self.redis.url, decode_responses=True, socket_timeout=5)

    def _closed_through(self) -> str:
        """The last calendar day the closers finished ('' before any, or while Redis is away)."""
        try:
            client = self._redis()
            try:
                raw = client.hget(f"{self.names.key_prefix}:rule:__closer__", "progress")
            finally:
                client.close()
            return json.loads(raw).get("day", "") if raw else ""
        except Exception:  # noqa: BLE001 - Redis restarting: not yet
            return ""

    def _drained(self) -> bool:
        """The outbox holds nothing to send and nothing in flight."""
        try:
            client = self._redis()
            try:
                base = delivery_base(self.names.key_prefix)
                return not (client.scard(f"{base}:outbox:dests") or client.zcard(f"{base}:noise:groups")
                            or client.hlen(f"{base}:outbox:inflight"))
            finally:
                client.close()
        except Exception:  # noqa: BLE001
            return False

    def _caught_up(self) -> bool:
        from tests.integration.harness import caught_up

        try:
            return caught_up(self.broker.bootstrap, self.redis.url, self.names.key_prefix, self.topic)()
        except Exception:  # noqa: BLE001
            return False

    def hold(self, at: tuple[int, int] | None) -> None:
        """Hold the producer before envelope ``at`` (None: let it go on)."""
        with self.hold_cv:
            self.hold_at = at
            self.at_hold.clear()
            self.hold_cv.notify_all()

    def _wait_hold(self, w: int, j: int) -> None:
        """Called by the producer before envelope (w, j): wait while it is held there."""
        with self.hold_cv:
            while self.hold_at is not None and (w, j) >= self.hold_at:
                self.at_hold.set()
                self.hold_cv.wait(0.5)

    def redis_rollback(self, week: int, work: Workload) -> None:
        """Restart Redis on a snapshot older than what it acknowledged, while week ``week`` is produced.

        The producer is held at 40 % of the week until the week before is closed, its alerts delivered and every
        partition applied; then Redis writes a snapshot (BGSAVE). The producer goes on to 80 % of the week and the
        workers apply it (batches acknowledged, Kafka offsets committed). Redis is then SIGKILLed, its AOF
        removed, and it starts on the snapshot: the marks, aggregates and dedup sets of those batches are gone and
        the workers must read them again from Kafka. No period closes and no alert is queued between the snapshot
        and the kill (the week before is closed and delivered, this week cannot close before the next one is
        produced, and the late envelopes are produced in other weeks), so the rollback takes back no close, claim
        or post: the documented limit (series points, rule state, claims and outbox acks roll back too) is kept
        out of the window on purpose, and every alert must still be posted once.
        """
        try:
            self._rollback(week, work)
        finally:
            self.hold(None)

    def _rollback(self, week: int, work: Workload) -> None:
        import shutil as _shutil

        from tests.integration.harness import applied_offsets

        n = len(work.messages[week])
        prev_close = work.close_days[week - 1].isoformat()
        self.hold((week, int(0.4 * n)))
        self._wait(self.at_hold.is_set, timeout=300, what=f"the producer to reach 40 % of week {week + 1}")
        self._wait(lambda: self._closed_through() >= prev_close and self._drained() and self._caught_up(), timeout=150,
                   what=f"week {week} to be closed and delivered before the snapshot")
        with self.redis_lock:
            client = self._redis()
            try:
                before = int(client.info("persistence")["rdb_last_save_time"])
                client.bgsave()
                self._wait(lambda: (lambda i: not i["rdb_bgsave_in_progress"] and int(i["rdb_last_save_time"]) != before
                                    or i["rdb_last_bgsave_status"] != "ok")(client.info("persistence")),
                           timeout=60, what="BGSAVE")
                if client.info("persistence")["rdb_last_bgsave_status"] != "ok":
                    raise RuntimeError("BGSAVE failed")
            finally:
                client.close()
            snapshot = self.workdir / "redis-snapshot.rdb"
            _shutil.copyfile(self.redis.workdir / "dump.rdb", snapshot)
            then = applied_offsets(self.redis.url, self.names.key_prefix, self.topic)
        self.timeline.note(f"Redis: snapshot taken (BGSAVE), applied offsets {then}; producing on to 80 % of week {week + 1}")
        self.hold((week, int(0.8 * n)))
        self._wait(self.at_hold.is_set, timeout=300, what=f"the producer to reach 80 % of week {week + 1}")
        self._wait(self._caught_up, timeout=120, what="the workers to apply what was produced after the snapshot")
        with self.redis_lock:
            now = applied_offsets(self.redis.url, self.names.key_prefix, self.topic)
            if self._closed_through() >= work.close_days[week].isoformat():
                self.problems.append(f"rollback: week {week + 1} closed between the snapshot and the kill")
            if not self._drained():
                self.problems.append("rollback: alerts were queued between the snapshot and the kill")
            self.redis.kill()
            _shutil.rmtree(self.redis.workdir / "appendonlydir", ignore_errors=True)
            _shutil.copyfile(snapshot, self.redis.workdir / "dump.rdb")
            self.redis.appendonly = False  # start on the RDB snapshot, then turn the AOF on again (rewritten from memory)
            try:
                self.redis.start()
            finally:
                self.redis.appendonly = True
            client = self._redis()
            try:
                client.config_set("appendonly", "yes")
                self._wait(lambda: (lambda i: int(i["aof_enabled"]) == 1 and not int(i["aof_rewrite_in_progress"])
                                    and not int(i["aof_rewrite_scheduled"]))(client.info("persistence")),
                           timeout=60, what="the AOF rewrite after the rollback")
            finally:
                client.close()
            back = applied_offsets(self.redis.url, self.names.key_prefix, self.topic)
        lost = {p: now[p] - back.get(p, -1) for p in now if now[p] != back.get(p, -1)}
        self.faults["redis_rollbacks"] += 1
        self.rollbacks.append(f"during week {week + 1}: offsets {dict(sorted(now.items()))} rolled back to "
                              f"{dict(sorted(back.items()))} ({sum(lost.values())} messages to read again)")
        self.timeline.note(f"Redis: SIGKILLed and started on the snapshot: applied offsets {now} -> {back}; producing on")
        if not lost:
            self.problems.append("rollback: no partition lost a batch (nothing was applied between the snapshot and the kill)")

    # --- SIGSTOP: a worker that stops answering and comes back --------------------------------

    def pause_random(self, seconds: float) -> None:
        """SIGSTOP a random worker for ``seconds`` (past its 6 s session timeout), then SIGCONT it."""
        running = self.pool.running()
        if not running:
            self.timeline.note("pause skipped: no worker running")
            return
        self._pause(self.rng.choice(running), seconds, "at a random moment")

    def _new_log_lines(self, offsets: dict[str, int]) -> list[tuple[Life, bytes]]:
        """The complete lines each running worker logged since ``offsets`` (its name -> bytes read), moving them on."""
        found: list[tuple[Life, bytes]] = []
        for life in self.pool.running():
            try:
                with open(life.worker.log_path, "rb") as fh:
                    fh.seek(offsets.get(life.name, 0))
                    chunk = fh.read()
            except OSError:
                continue
            end = chunk.rfind(b"\n")
            if end < 0:
                continue
            offsets[life.name] = offsets.get(life.name, 0) + end + 1
            found.append((life, chunk[: end + 1]))
        return found

    def _pause(self, life: Life, seconds: float, why: str) -> None:
        if not self.pool.pause(life):
            self.timeline.note(f"pause skipped: {life.name} had just ended")
            return
        self.faults["paused_workers"] += 1
        self.timeline.note(f"SIGSTOP worker {life.name} ({why}) for {seconds:.0f} s")
        time.sleep(seconds)
        self.pool.resume(life)
        self.pauses.append(f"{life.name} {why}, {seconds:.0f} s")
        self.timeline.note(f"SIGCONT worker {life.name} after {seconds:.0f} s")

    def pause_at_close(self, friday: str, seconds: float) -> None:
        """SIGSTOP the worker the moment it logs ``closed week <friday>`` (it holds the day's 60 s close lease and is
        about to run the rules), for ``seconds``: past its session timeout and the lease, so the other worker takes
        the partitions and the close over; then SIGCONT the zombie."""
        pattern = re.compile(rf"closed week {friday}".encode())
        offsets: dict[str, int] = {}
        while not self.settled.is_set():
            for life, lines in self._new_log_lines(offsets):
                if pattern.search(lines):
                    self._pause(life, seconds, f"as it logged 'closed week {friday}', holding the close lease")
                    return
            time.sleep(0.002)

    def redis_full(self) -> None:
        """Redis refuses writes for a while (maxmemory reached, noeviction): an error that is not an outage."""
        import redis

        client = redis.Redis.from_url(self.redis.url, decode_responses=True)
        try:
            used = int(client.info("memory")["used_memory"])
            client.config_set("maxmemory-policy", "noeviction")
            client.config_set("maxmemory", str(used))
            self.timeline.note(f"Redis: maxmemory set to its used memory ({used:,} bytes): writes fail with OOM")
            crashes = self.faults["crashes"]
            deadline = time.time() + 15.0
            while time.time() < deadline and self.faults["crashes"] == crashes:
                time.sleep(0.1)
            time.sleep(2.0)
            client.config_set("maxmemory", "0")
            self.faults["redis_full"] += 1
            self.timeline.note("Redis: maxmemory lifted")
        finally:
            client.close()

    def receiver_outage(self) -> None:
        """The receiver fails for 30 s: refused, then 429 with Retry-After, then 500."""
        self.outage_started = time.time()
        for phase, seconds in OUTAGE_PHASES:
            if phase == "refused":
                self.receiver.stop()
                self.timeline.note(f"Slack receiver: listener closed (connection refused) for {seconds:.0f} s")
            else:
                if not self.receiver.listening:
                    self.receiver.start()
                self.receiver.set_mode(phase)
                self.timeline.note(f"Slack receiver: answering {phase} for {seconds:.0f} s")
            time.sleep(seconds)
        self.receiver.set_mode("ok")
        self.outage_ended = time.time()
        self.faults["receiver_outages"] += 1
        self.timeline.note("Slack receiver: ok again")

    # --- the stream -----------------------------------------------------------------------

    def _before_send(self, work: Workload, w: int, j: int, late: dict[tuple[int, int], int]) -> None:
        """Before envelope (w, j): wait while the producer is held; a late envelope waits until its week is closed."""
        self._wait_hold(w, j)
        if (w, j) in late:
            friday = work.fridays[late[(w, j)]].isoformat()
            closes = work.close_days[late[(w, j)]].isoformat()
            waited = time.time()
            deadline = waited + 240.0
            while self._closed_through() < closes and time.time() < deadline:
                time.sleep(0.1)
            if self._closed_through() < closes:
                self.problems.append(f"late envelope of week {friday}: the week was not closed 240 s on; sent anyway")
            self.late_waits.append(f"week {friday} (waited {time.time() - waited:.1f} s for its close)")
            self.timeline.note(f"producing a late envelope of week {friday} (closed), halfway through week {w + 1}")

    def produce(self, work: Workload, topic: str, on_week: Callable[[int], None]) -> None:
        """Produce week after week, each over its share of the stream time; the tail at the end."""
        from kafka import KafkaProducer

        failed: list[str] = []

        def on_error(exc: BaseException) -> None:
            failed.append(f"{type(exc).__name__}: {exc}")

        def on_ack(sent: float) -> Callable[[Any], None]:
            def ack(_: Any) -> None:
                self.longest_ack_s = max(self.longest_ack_s, time.time() - sent)
            return ack

        try:
            # The ground truth is what was generated, so every message must land once and in order, also across
            # a broker SIGKILL: acks=all (the one replica has it in its log), idempotence (a retried batch is not
            # written twice), retries without a count limit inside a delivery timeout that outlasts a restart,
            # one request in flight (each partition stays in week order), reconnects at most 1 s apart.
            producer = KafkaProducer(
                bootstrap_servers=self.broker.bootstrap,
                linger_ms=5,
                max_request_size=4 * 1024 * 1024,
                max_in_flight_requests_per_connection=1,
                acks="all",
                enable_idempotence=True,
                delivery_timeout_ms=600_000,
                request_timeout_ms=30_000,
                max_block_ms=300_000,
                reconnect_backoff_max_ms=1_000,
            )
            self.producer_idempotent = bool(producer.config["enable_idempotence"])
            slot = self.plan.stream_s / self.plan.weeks
            start = time.time()
            late = {(m, p): wk for m, p, wk in work.late}
            for w, messages in enumerate(work.messages):
                on_week(w)
                begin = start + w * slot
                for j, (key, value) in enumerate(messages):
                    due = begin + slot * j / max(1, len(messages))
                    pause = due - time.time()
                    if pause > 0:
                        time.sleep(pause)
                    held = time.time()
                    self._before_send(work, w, j, late)
                    shift = time.time() - held  # time held back shifts the rest of the stream
                    start += shift
                    begin += shift
                    producer.send(topic, key=key, value=value).add_callback(on_ack(time.time())).add_errback(on_error)
                    self.produced_messages += 1
                producer.flush(timeout=600)
            producer.close(timeout=30)
            if failed:
                raise RuntimeError(f"{len(failed)} of {self.produced_messages} messages were not delivered, first: {failed[0]}")
        except Exception as exc:  # noqa: BLE001 - reported
            self.producer_error.append(f"{type(exc).__name__}: {exc}")
            self.timeline.note(f"producer FAILED: {type(exc).__name__}: {exc}")
        finally:
            self.producer_done.set()

    # --- the run ----------------------------------------------------------------------------

    def run(self) -> Result:
        """Run the campaign; return the figures (and fill the table)."""
        from signal_monitor.embedded import EmbeddedKafka, EmbeddedRedis, default_broker_kind, embedded_broker
        from tests.integration.harness import Names, create_topics

        plan = self.plan
        began = time.time()
        print(f"chaos campaign: {plan.events:,} trades over {plan.weeks} weeks, {plan.workers} workers, "
              f"{plan.partitions} partitions, {plan.kills} kills, seed {plan.seed}; logs in {self.workdir}", flush=True)
        work = build(plan.events, weeks=plan.weeks, funds=plan.funds, envelope=plan.envelope, seed=plan.seed)
        for week in plan.late_weeks:
            add_late(work, week, seed=plan.seed)
        built = time.time()
        print(f"  built {work.events:,} trades in {work.message_count:,} envelopes ({work.resent:,} resent) "
              f"in {built - began:.1f} s", flush=True)
        expectation = Expectation(work, RULES_PATH, plan.lateness_days)
        self.broker = embedded_broker(default_broker_kind(), self.workdir / "broker")
        # a broker kill needs a log that survives it: Apache Kafka's is on disk, Tansu's (memory storage) is not
        self.broker_kills = plan.broker_kills if isinstance(self.broker, EmbeddedKafka) else 0
        print(f"  broker: {self.broker.label}" + ("" if self.broker_kills or not plan.broker_kills else
              f" (memory storage: the {plan.broker_kills} broker kills of the plan are skipped)"), flush=True)
        self.redis = EmbeddedRedis(self.workdir / "redis", appendonly=True)
        # each worker posts to /services/TCHAOS/B<worker>/chaosS3cret and as xoxb-chaos-<worker>, so a duplicate
        # can be traced to the process that sent each copy
        self.receiver = SlackReceiver(team="TCHAOS", secret="chaosS3cret", token_prefix="xoxb-chaos-", channel=CHANNEL)
        self.outage_started = self.outage_ended = 0.0
        result = Result(broker=self.broker.label, events=work.events)
        try:
            self.broker.start()
            self.redis.start()
            self.receiver.start()
            names = Names(key_prefix=f"chaos-{uuid.uuid4().hex[:6]}", topic_prefix="chaos", app_id="sm-chaos")
            create_topics(self.broker.bootstrap, names, partitions=plan.partitions)
            routes = self.workdir / "routes.yaml"
            routes.write_text(ROUTES)
            topic = names.topic("trades")
            self.names, self.topic = names, topic

            def env(name: str) -> dict[str, str]:
                return {
                    "PYTHONPATH": os.pathsep.join(p for p in (str(HERE.parent), os.environ.get("PYTHONPATH", "")) if p),
                    "SM_WORKER_ID": name,
                    "SM_RULES_ENABLED": "true",
                    "SM_RULES_PATH": str(RULES_PATH),
                    "SM_ROUTES_PATH": str(routes),
                    "CHAOS_WEBHOOK_URL": self.receiver.webhook_url(name),
                    "SLACK_BOT_TOKEN": self.receiver.token(name),
                    "SLACK_CHANNEL": CHANNEL,
                    "SM_SLACK_API_URL": self.receiver.api_url,
                    "SM_SLACK_PACE_S": "0.05",
                    "SM_SLACK_TIMEOUT_S": "2",
                    "SM_DELIVERY_RETRY_BASE_S": "0.5",
                    "SM_DELIVERY_RETRY_MAX_S": "2",
                    "SM_DELIVERY_MAX_ATTEMPTS": "100",
                    "SM_DELIVERY_LEASE_S": "3",
                    "SM_REDIS_RETRY_MAX_S": "1",
                    "SM_KAFKA_SESSION_TIMEOUT_S": "6",
                    "SM_KAFKA_REBALANCE_TIMEOUT_S": "4",
                    "SM_LATENESS_DAYS": f"{plan.lateness_days:g}",
                }

            self.pool = Pool(self.broker.bootstrap, self.redis.url, names, self.workdir, env)
            tags = [chr(ord("a") + i) for i in range(plan.workers)]
            for tag in tags:
                self.pool.start(tag)
            self._wait(lambda: all("Ready" in life.worker.log for life in self.pool.running()) and len(self.pool.running()) == len(tags),
                       timeout=120, what="the workers to be ready")
            print(f"  services up, workers ready in {time.time() - built:.1f} s: broker {self.broker.bootstrap}, "
                  f"redis {self.redis.url} (AOF), receiver :{self.receiver.port}", flush=True)

            # the fault plan, relative to the start of the stream
            t0 = time.time()
            self.timeline.t0 = t0
            outage_week = -1
            self.receiver.on_post = self.on_post
            if plan.scenario == "campaign":
                kill_times = self._kill_times(plan.kills + self.broker_kills)
                broker_slots = {round((i + 0.5) * len(kill_times) / self.broker_kills - 0.5) for i in range(self.broker_kills)}
                for i, when in enumerate(kill_times):
                    if i in broker_slots:
                        self.at(t0 + when, "broker kill", self.kill_broker)
                    else:
                        self.at(t0 + when, "kill", self.kill_random)
                self.at(t0 + self.rng.uniform(0.3, 0.7) * plan.stream_s, "redis restart", self.restart_redis)
                outage_week = max(2, plan.weeks // 2)
                for week in plan.rollback_weeks:
                    self.at(t0, f"redis rollback {week + 1}", lambda week=week: self.redis_rollback(week, work))
                for kind, seconds in plan.pauses:
                    if kind == "close":
                        friday = work.fridays[plan.pause_close_week].isoformat()
                        self.at(t0, "pause at close", lambda friday=friday, seconds=seconds: self.pause_at_close(friday, seconds))
                    else:
                        self.at(t0 + self.rng.uniform(0.2, 0.8) * plan.stream_s, "pause",
                                lambda seconds=seconds: self.pause_random(seconds))
            elif plan.scenario == "redis-full":
                self.at(t0 + 0.4 * plan.stream_s, "redis full", self.redis_full)
            elif plan.scenario == "midpost":
                self.midpost_armed = {"bot", "webhook"}
            elif plan.scenario == "close-kill":
                first, second = (f.isoformat() for f in work.fridays[1 : plan.weeks - 1 : 2])
                targets = [(first, "close"), (second, "alert")]
                watcher = threading.Thread(target=self._guard, args=("close watcher", lambda: self.watch_closes(targets)),
                                           name="chaos:closes", daemon=True)
                watcher.start()
                self._threads.append(watcher)
            else:
                raise ValueError(f"unknown scenario {plan.scenario!r}")

            def on_week(w: int) -> None:
                if w < plan.weeks:
                    self.timeline.note(f"producing week {w + 1}/{plan.weeks} ({len(work.messages[w])} envelopes)")
                else:
                    self.timeline.note("producing the tail (next Monday morning, every fund)")
                if w == outage_week:  # the close of the week before is due now: its first post starts the outage
                    with self._alock:
                        self.outage_armed = True
                    self.timeline.note("Slack outage armed: it starts at the next post")

            producer = threading.Thread(target=self.produce, args=(work, topic, on_week), name="chaos:producer", daemon=True)
            producer.start()
            self._loop_until_done(names, topic, work)
            self.settled.set()
            self.pool.stop_all()
            stream_end = time.time()
            self.timeline.note("workers stopped")
            expected = expectation.result(timeout=max(60.0, 600 - (time.time() - began)))
            result = self._verify(work, names, topic, expected, result)
            self.rows.append(("stream + faults + drain", f"{stream_end - t0:.1f} s"))
            self.rows.append(("replay (expected alerts)", (f"{expected['seconds']:.1f} s in a forked process, "
                              f"{expected['events']:,} events, {expected['closed_weeks']} weeks closed")))
        finally:
            expectation.cancel()
            for stop in (getattr(self, "pool", None) and self.pool.stop_all, self.receiver.stop, self.redis.stop, self.broker.stop):
                if stop:
                    try:
                        stop()
                    except Exception as exc:  # noqa: BLE001 - cleanup goes on
                        print(f"  cleanup: {type(exc).__name__}: {exc}", file=sys.stderr)
            if os.environ.get("CHAOS_KEEP", "") in ("", "0"):
                for sub in ("redis", "broker"):
                    shutil.rmtree(self.workdir / sub, ignore_errors=True)
        result.kills = self.faults["kills"]
        result.broker_restarts = self.faults["broker_restarts"]
        result.redis_rollbacks = self.faults["redis_rollbacks"]
        result.paused_workers = self.faults["paused_workers"]
        result.seconds = time.time() - began
        return result

    def _kill_times(self, k: int) -> list[float]:
        """``k`` random moments over the stream, at least a few seconds apart."""
        s = self.plan.stream_s
        gap = min(8.0, 0.8 * s / max(1, k))
        for _ in range(1000):
            times = sorted(self.rng.uniform(0.05, 0.95) * s for _ in range(k))
            if all(b - a >= gap for a, b in itertools.pairwise(times)):
                return times
        return [s * (i + 0.5) / k for i in range(k)]

    def _wait(self, predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")

    def _loop_until_done(self, names: Any, topic: str, work: Workload) -> None:
        """Run the fault plan, keep workers alive, and return once everything is applied, closed and delivered."""
        last_friday = work.fridays[-1].isoformat()
        deadline: float | None = None
        settled_since: float | None = None
        while True:
            self._run_due()
            for life in self.pool.reap_crashed():
                self.faults["crashes"] += 1
                self.timeline.note(f"worker {life.name} exited on its own: {life.how}; restarting it")
                self.pool.start(life.tag)
            with self._alock:
                pending_actions = len(self._actions)
            busy = any(t.is_alive() for t in self._threads if t.name not in ("chaos:closes", "chaos:pause at close")) or any(
                life.paused for life in self.pool.lives)
            if self.producer_done.is_set() and not pending_actions and not busy:
                if deadline is None:
                    deadline = time.time() + self.plan.final_timeout_s
                    self.timeline.note("stream produced and every fault injected; waiting for the workers to finish")
                if self._settled(names, topic, last_friday):
                    settled_since = settled_since or time.time()
                    if time.time() - settled_since >= 2.0:
                        self.timeline.note("all applied, last week closed, outbox empty")
                        return
                else:
                    settled_since = None
                if time.time() > deadline:
                    self.problems.append(f"not settled {self.plan.final_timeout_s:.0f} s after the stream: {self._progress(names, topic)}")
                    self.timeline.note("gave up waiting: " + self._progress(names, topic))
                    stuck = [life.name for life in self.pool.running() if group_stuck(life.worker.log)]
                    if stuck:
                        self.problems.append(
                            f"the consumer group never completed a rebalance: {', '.join(stuck)} joined the same generation "
                            "over and over without an assignment (a stall of the embedded broker's group coordinator)"
                        )
                    return
            time.sleep(0.1)

    def _progress(self, names: Any, topic: str) -> str:
        import redis

        from tests.integration.harness import applied_offsets, end_offsets

        try:
            client = redis.Redis.from_url(self.redis.url, decode_responses=True, socket_timeout=2)
            try:
                closer = client.hget(f"{names.key_prefix}:rule:__closer__", "progress")
                dests = client.smembers(f"{delivery_base(names.key_prefix)}:outbox:dests")
                groups = client.zcard(f"{delivery_base(names.key_prefix)}:noise:groups")
                parked = client.hlen(f"{delivery_base(names.key_prefix)}:outbox:parked")
            finally:
                client.close()
            ends = end_offsets(self.broker.bootstrap, topic)
            applied = applied_offsets(self.redis.url, names.key_prefix, topic)
            return f"ends {ends}, applied {applied}, closer {closer!r}, outbox queues {sorted(dests)}, groups {groups}, parked {parked}"
        except Exception as exc:  # noqa: BLE001 - reported
            return f"unknown ({type(exc).__name__}: {exc})"

    def _settled(self, names: Any, topic: str, last_friday: str) -> bool:
        import redis

        from tests.integration.harness import caught_up

        try:
            if not caught_up(self.broker.bootstrap, self.redis.url, names.key_prefix, topic)():
                return False
            client = redis.Redis.from_url(self.redis.url, decode_responses=True, socket_timeout=2)
            try:
                raw = client.hget(f"{names.key_prefix}:rule:__closer__", "progress")
                day = json.loads(raw).get("day", "") if raw else ""
                if day < last_friday:
                    return False
                if client.scard(f"{delivery_base(names.key_prefix)}:outbox:dests") or client.zcard(f"{delivery_base(names.key_prefix)}:noise:groups"):
                    return False
                return client.hlen(f"{delivery_base(names.key_prefix)}:outbox:inflight") == 0
            finally:
                client.close()
        except Exception:  # noqa: BLE001 - Redis restarting, the broker busy: not yet
            return False

    # --- verification -----------------------------------------------------------------------

    def _verify(self, work: Workload, names: Any, topic: str, expected: dict[str, Any], result: Result) -> Result:
        import redis

        from tests.integration.harness import stored_truth

        plan = self.plan
        # aggregates: counts give lost and double-counted trades; sums must match too
        truth = dict(work.truth)
        stored = stored_truth(self.redis.url, names.key_prefix, topic, truth)
        lost = double = 0
        sums_off = 0
        for tkey, want in truth.items():
            got = stored.get(tkey, 0.0)
            _, scope, fld = tkey
            if fld == "n":
                if not scope:
                    continue
                diff = round(got - want)
                lost += max(0, -diff)
                double += max(0, diff)
            elif abs(got - want) > 1e-6 * max(1.0, abs(want)):
                sums_off += 1
        totals = sum(v for (w, s, f), v in stored.items() if f == "n" and not s)
        result.lost, result.double_counted = lost, double
        if lost or double:
            self.rows.append(("where counts differ", self._locate(work, names, topic)))

        # alerts: what the replay expects vs what each receiver showed
        exp = [a for a in expected["alerts"] if a["fired"] and not a["provisional"] and not a["correction"]]
        corr = [a for a in expected["alerts"] if a["correction"] and not a["provisional"]]
        corr_keys = {a["key"] for a in corr}
        exp_keys = {a["key"] for a in exp} | corr_keys
        info = {a["key"]: a for a in exp + corr}
        odd_expected = len(expected["alerts"]) - len(exp) - len(corr)
        kills = [(life.ended, life.name) for life in self.pool.lives if life.how == "killed"]
        duplicates = missing = unexpected = 0
        details: list[str] = []
        explained_webhook = 0
        for kind in RECEIVERS:
            posts = self.receiver.posted_keys(kind)
            by_key: dict[str, list[Any]] = defaultdict(list)
            for key, req in posts:
                by_key[key].append(req)
            extra = {k: v for k, v in by_key.items() if len(v) > 1}
            miss = sorted(exp_keys - set(by_key))
            odd = sorted(set(by_key) - exp_keys)
            for key, reqs in extra.items():
                first = reqs[0]
                killed_after = [n for t, n in kills if n == first.worker and t is not None and -1.0 <= t - first.at <= 2.0]
                why = f"first by {first.worker} at +{first.at - self.timeline.t0:.1f}s" + (
                    f", {first.worker} SIGKILLed right after" if killed_after else ""
                )
                what = f"{info[key]['rule']} {info[key]['period']} " if key in info else ""
                details.append(f"{kind}: {what}{key} posted {len(reqs)} times ({why}; then by {', '.join(r.worker for r in reqs[1:])})")
                if kind == "webhook" and killed_after:
                    explained_webhook += len(reqs) - 1
            if miss:
                by_period = Counter(f"{info[k]['rule']} {info[k]['period']}" for k in miss)
                details.append(f"{kind}: {len(miss)} expected never posted: " + ", ".join(f"{n} x {rp}" for rp, n in sorted(by_period.items())))
            for key in odd:
                details.append(f"{kind}: posted {key}, which the replay does not expect")
            duplicates += sum(len(v) - 1 for v in extra.values())
            missing += len(miss)
            unexpected += len(odd)
            statuses = Counter(r.status for r in self.receiver.snapshot() if r.kind == kind)
            self.rows.append((f"receiver {kind}", (f"{len(by_key)} alerts posted, {sum(len(v) for v in by_key.values())} posts; "
                              f"answers {dict(sorted(statuses.items()))}; duplicates {sum(len(v) - 1 for v in extra.values())}, "
                              f"missing {len(miss)}, unexpected {len(odd)}")))
        result.duplicate_alerts, result.missing_alerts = duplicates, missing
        corr_posted = {kind: sum(1 for k in {k for k, _ in self.receiver.posted_keys(kind)} if k in corr_keys) for kind in RECEIVERS}
        result.late_events, result.corrections = work.late_events, len(corr_keys)

        # what the workers said about the faults
        logs = self.pool.logs()
        joined = "\n".join(logs.values())
        refused = joined.count("connection_refused")
        rate_limited = joined.count("Slack rate-limits this channel")
        http5xx = joined.count("HTTP 500")
        redis_pauses = joined.count("Redis unavailable")
        resend_warnings = joined.count("got no answer; sending it again")
        confirmed = joined.count("was posted by an interrupted attempt")
        resumed = joined.count("Setting newly assigned partitions")
        skipped = joined.count("skipping what it holds")
        client = redis.Redis.from_url(self.redis.url, decode_responses=True)
        try:
            stats = client.hgetall(f"{delivery_base(names.key_prefix)}:outbox:stats")
            parked = client.hlen(f"{delivery_base(names.key_prefix)}:outbox:parked")
        finally:
            client.close()
        # the alerts topic: every alert, with the time it fired; those that fired while the receiver was down
        # (or were attempted and failed) must all have been posted to both receivers in the end
        on_topic = self._alerts_on_topic(names)
        topic_keys = Counter(a.get("dedup_key", "") for a in on_topic)
        # what a consumer of signals.alerts sees: each (dedup_key, revision) should come once
        topic_revs = Counter((a.get("dedup_key", ""), a.get("revision", 1)) for a in on_topic)
        result.duplicate_alerts_on_topic = sum(n - 1 for n in topic_revs.values())
        topic_corr = {k for k, _ in topic_revs if k in corr_keys}
        held = {
            a.get("dedup_key", "")
            for a in on_topic
            if self.outage_started <= datetime.fromisoformat(a["fired_at"]).timestamp() <= self.outage_ended
        }
        held |= {k for r in self.receiver.snapshot() if r.kind in RECEIVERS and not r.posted for k in r.keys}
        for m in re.finditer(r"(webhook|chat\.postMessage)[^\n]*: attempt \d+ of \d+ for \S+ \(([0-9a-f]{16})\) failed", joined):
            held.add(m.group(2))
        posted_sets = [{k for k, _ in self.receiver.posted_keys(kind)} for kind in RECEIVERS]
        held_delivered = len({k for k in held if all(k in p for p in posted_sets)})

        rows = [
            ("events (distinct trades)", (f"{work.events:,} in {work.message_count:,} envelopes of <= {plan.envelope}, "
             f"+{work.resent:,} resent trade ids; {plan.weeks} weeks + a tail, {plan.funds} funds over {plan.partitions} partitions")),
            ("producer", (f"{self.produced_messages:,} envelopes sent, acks=all, "
             f"{'idempotent' if self.producer_idempotent else 'NOT idempotent'}; longest wait for an ack "
             f"{self.longest_ack_s:.1f} s, {'failed: ' + '; '.join(self.producer_error) if self.producer_error else 'none failed'}")),
            ("stored trade counts", f"{int(totals):,} (truth {work.events:,}); lost {lost}, double counted {double}, sums off {sums_off}"),
            ("worker kills (SIGKILL)", f"{self.faults['kills']}: " + ", ".join(
                f"{life.name}@{(life.ended or 0.0) - self.timeline.t0:.1f}s" + ("" if life.why == "random" else f" ({life.why})")
                for life in sorted(self.pool.lives, key=lambda life: life.ended or 0.0) if life.how == "killed")),
            ("worker exits on their own", str(self.faults["crashes"])),
            ("broker", self.broker.label),
            ("broker kills (SIGKILL)", self._broker_row(joined)),
            ("Redis restarts (AOF)", f"{self.faults['redis_restarts']}; worker log lines 'Redis unavailable': {redis_pauses}"),
            ("receiver outage", (f"{self.faults['receiver_outages']} x 30 s: attempts refused {refused}, 429s {rate_limited}, "
             f"5xx {http5xx} (worker logs); {len(held)} alerts fired or failed during it, "
             f"{held_delivered} of them posted to both receivers in the end")),
            ("alerts topic", (f"{len(on_topic)} records, {len(topic_revs)} (dedup key, revision), "
             f"{result.duplicate_alerts_on_topic} repeated (duplicate_alerts_on_topic), "
             f"{len(exp_keys - set(topic_keys))} expected keys absent")),
            ("Redis rollbacks", f"{self.faults['redis_rollbacks']}" + (": " + "; ".join(self.rollbacks) if self.rollbacks else "")
             + f"; worker log lines 'it lost batches it had acknowledged' {joined.count('it lost batches it had acknowledged')}"),
            ("paused workers (SIGSTOP)", f"{self.faults['paused_workers']}" + (": " + "; ".join(self.pauses) if self.pauses else "")
             + f"; worker log lines 'taking over the close' {joined.count('taking over the close')}"),
            ("late events", (f"{work.late_events} in {len(work.late)} envelopes, " + ", ".join(self.late_waits)
             + f"; worker log lines 'late data changed the closed' {joined.count('late data changed the closed')}")),
            ("corrections", (f"{len(corr_keys)} expected ({', '.join(sorted(corr_keys)) or 'none'}); on the topic {len(topic_corr)}; "
             f"posted {', '.join(f'{k} {v}' for k, v in corr_posted.items())}")),
            ("partition assignments", f"{resumed} (workers joining or rebalancing), {skipped} redelivered batches skipped by the store"),
            ("expected alerts (replay)", f"{len(exp)} ({', '.join(f'{r} {n}' for r, n in sorted(Counter(a['rule'] for a in exp).items()))})"
             + (f"; {odd_expected} provisional/corrections" if odd_expected else "")),
            ("outbox", (f"sent {stats.get('sent', 0)}, enqueued {stats.get('enqueued', 0)}, deduplicated {stats.get('deduplicated', 0)}, "
             f"parked {parked}; interrupted posts confirmed in history {confirmed}, resent after no answer {resend_warnings}")),
        ]
        self.rows[:0] = rows
        if explained_webhook:
            self.rows.append(("webhook reposts after a SIGKILL mid-post", f"{explained_webhook} (the documented webhook window)"))
        if details:
            self.rows.append(("alert details", "; ".join(details[:20]) + (" ..." if len(details) > 20 else "")))
        if sums_off:
            self.problems.append(f"{sums_off} stored sums differ from the truth")
        if unexpected:
            self.problems.append(f"{unexpected} posted alerts are not expected by the replay")
        if parked:
            self.problems.append(f"{parked} messages parked in the outbox")
        if plan.scenario == "campaign" and not (self.faults["receiver_outages"] and self.faults["redis_restarts"]):
            self.problems.append("the receiver outage or the Redis restart did not happen")
        if self.faults["kills"] < plan.kills:
            self.problems.append(f"only {self.faults['kills']} of {plan.kills} kills happened")
        if self.faults["broker_restarts"] < self.broker_kills:
            self.problems.append(f"only {self.faults['broker_restarts']} of {self.broker_kills} broker kills and restarts happened")
        if self.producer_error:
            self.problems.extend(self.producer_error)
        if expected["dead_letters"]:
            self.problems.append(f"the replay dead-lettered {expected['dead_letters']} events")
        if work.late and not corr_keys:
            self.problems.append("the late events were expected to give corrections, and the expectation has none")
        if len(topic_corr) < len(corr_keys):
            self.problems.append(f"{len(corr_keys) - len(topic_corr)} expected corrections never reached signals.alerts")
        if self.faults["redis_rollbacks"] < len(plan.rollback_weeks):
            self.problems.append(f"only {self.faults['redis_rollbacks']} of {len(plan.rollback_weeks)} Redis rollbacks happened")
        if self.faults["paused_workers"] < len(plan.pauses):
            self.problems.append(f"only {self.faults['paused_workers']} of {len(plan.pauses)} worker pauses happened")
        return result

    def _broker_row(self, logs: str) -> str:
        """The broker kills, how long each kept the broker away, and what the workers said about it."""
        if not self.broker_kills:
            return (f"0, skipped: {self.broker.label} keeps its log in memory, a restart would come back empty "
                    f"(broker_restarts 0; the plan had {self.plan.broker_kills})") if self.plan.broker_kills else "0"
        said = ", ".join(f"{pattern!r} {logs.count(pattern)}" for pattern in BROKER_LOG_LINES)
        return (f"{self.faults['broker_kills']}, restarted on the same log dirs {self.faults['broker_restarts']}: "
                + ", ".join(f"@{at:.1f}s (down {down:.1f} s)" for at, down in self.broker_outages)
                + f"; worker log lines {said}")

    def _locate(self, work: Workload, names: Any, topic: str) -> str:
        """Per (partition, week): stored trade count minus the truth, where they differ."""
        import redis
        from kafka.partitioner.default import murmur2

        want: Counter[tuple[int, str]] = Counter()
        for (fund, week), n in work.fund_weeks.items():
            want[((murmur2(fund.encode()) & 0x7FFFFFFF) % self.plan.partitions, week)] += n
        client = redis.Redis.from_url(self.redis.url, decode_responses=True)
        try:
            out = []
            for (p, week), n in sorted(want.items()):
                got = float(client.hget(f"{names.key_prefix}:{{{topic}:{p}}}:flow:{week}", "\x1fn") or 0)
                if round(got) != n:
                    out.append(f"p{p} {week}: {round(got) - n:+d}")
            marks = {p: client.hget(f"{names.key_prefix}:{{{topic}:{p}}}:mark", "offset") for p in range(self.plan.partitions)}
        finally:
            client.close()
        return ", ".join(out) + f"; stored offsets {marks}"

    def _alerts_on_topic(self, names: Any) -> list[dict[str, Any]]:
        """Every record of the alerts topic (JSON), read from the start."""
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            names.topic("alerts"), bootstrap_servers=self.broker.bootstrap, auto_offset_reset="earliest",
            enable_auto_commit=False, consumer_timeout_ms=3000, group_id=None,
        )
        try:
            return [json.loads(msg.value) for msg in consumer]
        finally:
            consumer.close()

    def table(self, result: Result) -> str:
        """The report table."""
        rows = list(self.rows)
        rows.append(("problems", "; ".join(self.problems) if self.problems else "none"))
        width = max(len(k) for k, _ in rows)
        lines = ["", "chaos campaign results", "-" * (width + 60)]
        lines += [f"{k.ljust(width)}  {v}" for k, v in rows]
        figures = [("broker", result.broker), ("kills", result.kills), ("broker_restarts", result.broker_restarts),
                   ("events", f"{result.events:,}"), ("lost", result.lost),
                   ("double_counted", result.double_counted), ("duplicate_alerts", result.duplicate_alerts),
                   ("missing_alerts", result.missing_alerts), ("redis_rollbacks", result.redis_rollbacks),
                   ("paused_workers", result.paused_workers), ("late_events", result.late_events),
                   ("corrections", result.corrections), ("duplicate_alerts_on_topic", result.duplicate_alerts_on_topic),
                   ("seconds", f"{result.seconds:.1f}")]
        lines.append("-" * (width + 60))
        lines += [f"{k.ljust(width)}  {v}" for k, v in figures]
        return "\n".join(lines)


SCENARIOS = {
    "campaign": "the fault campaign (default)",
    "midpost": "SIGKILL a worker inside a webhook post and inside a chat.postMessage, after Slack took the message",
    "redis-full": "Redis refuses writes (maxmemory reached) for a few seconds mid-stream, then takes them again",
    "close-kill": "SIGKILL the worker that closes a week: as it starts on the rules, then (another week) as it hands on the alerts",
}


def main(argv: list[str] | None = None) -> int:
    """Run the campaign (or a targeted scenario); print the table and the JSON line; exit 0 when everything is exact."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print("usage: python -m chaos [SCENARIO]\n\nscenarios:")
        for name, text in SCENARIOS.items():
            print(f"  {name:12} {text}")
        print("\nenvironment: CHAOS_QUICK=1, CHAOS_SEED, CHAOS_EVENTS, CHAOS_KILLS, CHAOS_BROKER_KILLS, CHAOS_STREAM_S, CHAOS_DIR, CHAOS_KEEP=1,\n  SM_EMBEDDED_BROKER=kafka|tansu (default: kafka when Java is here)")
        return 0
    scenario = args[0] if args else "campaign"
    if scenario not in SCENARIOS:
        print(f"unknown scenario {scenario!r}; one of: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    plan = Plan.from_env(scenario)
    root = Path(os.environ.get("CHAOS_DIR") or ".run/chaos")
    workdir = (root / time.strftime("%Y%m%d-%H%M%S")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    campaign = Campaign(plan, workdir)
    try:
        result = campaign.run()
    except Exception as exc:  # noqa: BLE001 - reported
        traceback.print_exc()
        campaign.problems.append(f"the campaign failed: {type(exc).__name__}: {exc}")
        result = Result(broker=getattr(getattr(campaign, "broker", None), "label", ""), kills=campaign.faults["kills"],
                        broker_restarts=campaign.faults["broker_restarts"])
        print(campaign.table(result))
        print(result.as_json())
        return 2
    print(campaign.table(result))
    broker_env = f"SM_EMBEDDED_BROKER={os.environ['SM_EMBEDDED_BROKER']} " if os.environ.get("SM_EMBEDDED_BROKER") else ""
    print(f"command: {broker_env}{'CHAOS_QUICK=1 ' if plan.quick else ''}CHAOS_SEED={plan.seed} python -m chaos"
          f"{'' if scenario == 'campaign' else ' ' + scenario}    logs: {workdir}")
    print(result.as_json(), flush=True)
    ok = not (result.lost or result.double_counted or result.duplicate_alerts or result.missing_alerts or campaign.problems)
    return 0 if ok else 1
