"""The outbox relay: publishes what the outbox holds, in order, with acks=all.

Relay failover: PostgreSQL's own session timeout, not a lease row
-----------------------------------------------------------------
Each relay lane has one leader across replicas: the replica whose *claim connection* holds the
lane's session advisory lock. A leader that stops making progress (hung, SIGSTOPped, starved, its
host gone) must lose the lock within a bound, ``claim_timeout_s``
(``ServiceSettings.relay_claim_timeout_s``), so that another replica publishes. The claim
connection is opened with ``idle_session_timeout`` set to the bound: the server ends a session
that has sent no command for that long, which releases its advisory lock whatever the client is
doing (a stopped process cannot delay it; ``tcp_user_timeout`` covers a host that vanished while
the server was writing to it). Chosen over a lease row with an expiry that the leader renews:

* mutual exclusion stays with PostgreSQL's lock manager, and the fence comes free: a live claim
  session holds the lock and a session that lost it is dead, so a stale leader's mark (made on
  the claim connection) fails, where a lease needs an epoch check in every mark and a renewal
  that races the expiry;
* the expiry is the server's own timer, with no lease arithmetic across hosts' clocks;
* no new table or migration in every service's schema.

What it costs, and how the relay pays it:

* a healthy leader must never leave its claim connection idle for the bound: while a leading
  lane waits for anything (the poll, a publish, a producer start or stop, a backoff), it
  renews the claim with a round trip every quarter of the bound (:meth:`_Claim.keep`), so
  neither a slow poll nor a broker outage (publishes timing out for ``publish_timeout_s``)
  costs the claim;
* the server must never be blocked writing to the claim connection (a blocked write is not
  "idle"), so that connection carries only small messages: the lock, the confirmations and the
  marks. The lane's notifications and batch reads use a second connection, which holds no lock;
* a process resumed after a long stop may not have noticed yet that its session has ended: a
  batch is published only after a confirming round trip when more than a quarter of the bound has
  passed since the last one, and no record is handed to the producer once half of it has passed
  without one, so it does not publish a stale batch.

What a stopped leader can still do: records it had handed to its producer before it stopped may
reach the broker when it resumes, after another replica has taken the lane over and published the
same rows (they were never marked: the mark runs on the ended session and fails). That is at most
the one batch it had in flight, published once more; consumers' inboxes skip the second copy by
event id, and as both copies are in id order, the first copy of every record is in id order too,
so no consumer applies a key's records out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from eps_chassis import metrics
from eps_chassis.handover import HandOvers
from eps_chassis.logging import get_logger
from eps_chassis.outbox import OutboxRecord, Written, headers_of
from eps_chassis.retry import Backoff
from eps_chassis.tasks import cancel_and_wait

log = get_logger()

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Lane:
    """Records of some topics, published in id order by one leader across replicas."""

    name: str
    lock: str
    topics: tuple[str, ...]
    only_these: bool  # True: only ``topics``; False: every topic but ``topics``


class ClaimLost(Exception):
    """A lane's claim is gone or cannot be confirmed: stop publishing and compete again."""


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a task's outcome as seen: an abandoned task's failure is expected, not news."""
    if not task.cancelled():
        task.exception()


class _Claim:
    """A lane's claim: its session advisory lock, held by a connection of its own.

    The server ends the session ``timeout_s`` after its last command, and with it the lock; so
    each round trip on the connection confirms the claim until ``timeout_s`` after it was sent
    (``confirmed_at``, by the relay's monotonic clock). A live session holds the lock: the lock
    is only ever released by ending the session.
    """

    RENEW = 0.25  # renew, or confirm before publishing, once this share of the bound has passed
    LIMIT = 0.5  # no record goes to the producer after this share without a confirmation

    def __init__(
        self, conn: asyncpg.Connection, timeout_s: float, clock: Callable[[], float]
    ) -> None:
        self.conn = conn
        self.timeout_s = timeout_s
        self.clock = clock
        self.confirmed_at = -math.inf

    @property
    def age(self) -> float:
        """Seconds since the last confirmed round trip was sent."""
        return self.clock() - self.confirmed_at

    async def fetchval(self, query: str, *args: object) -> Any:
        return await self._round_trip(self.conn.fetchval(query, *args))

    async def execute(self, query: str, *args: object) -> str:
        result: str = await self._round_trip(self.conn.execute(query, *args))
        return result

    async def _round_trip(self, operation: Awaitable[_T]) -> _T:
        sent = self.clock()
        try:
            # an answer slower than this cannot be told from a lost claim
            async with asyncio.timeout(self.timeout_s * self.LIMIT):
                result = await operation
        except Exception as exc:  # ended session, lost connection, timeout, client state
            raise ClaimLost(f"claim connection: {exc!r}") from exc
        self.confirmed_at = max(self.confirmed_at, sent)
        return result

    async def renew(self) -> None:
        """A round trip that confirms the session is alive and holds the lane's lock."""
        held = await self.fetchval(
            "SELECT count(*) FROM pg_locks"
            " WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
        )
        if not held:
            raise ClaimLost("the claim session no longer holds the lane's lock")

    async def confirm(self) -> None:
        """Before publishing: renew unless the last round trip is recent enough."""
        if self.age > self.timeout_s * self.RENEW:
            await self.renew()

    def check(self) -> None:
        """Before handing a record to the producer (no round trip: a batch goes out whole)."""
        if self.age > self.timeout_s * self.LIMIT:
            raise ClaimLost(f"claim not confirmed for {self.age:.1f}s")

    async def keep(self, operation: Awaitable[_T], limit_s: float | None = None) -> _T:
        """Await ``operation`` (``TimeoutError`` after ``limit_s``), renewing the claim meanwhile.

        If the claim is lost first, the operation is cancelled and abandoned.
        """
        task = asyncio.ensure_future(operation)
        task.add_done_callback(_retrieve)
        loop = asyncio.get_running_loop()
        deadline = math.inf if limit_s is None else loop.time() + limit_s
        try:
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    raise TimeoutError
                due = self.timeout_s * self.RENEW - self.age
                done, _ = await asyncio.wait({task}, timeout=min(max(due, 0.0), left))
                if done:
                    return task.result()
                if self.age >= self.timeout_s * self.RENEW:
                    await self.renew()
        finally:
            task.cancel()  # nothing, when it is done


class OutboxRelay:
    """Publishes outbox records in id order with acks=all; marks them only once acknowledged.

    Every replica of a service runs a relay; for each lane of its schema one of them leads at a
    time (a session advisory lock that fails over to another replica when its holder stops
    making progress: see the module docstring), so order per key
    is the order of commit of the transactions that locked that aggregate. Reading "not yet
    published" instead of "after the last id" means a row whose transaction commits late is
    never skipped. A crash between publish and mark publishes again: consumers' inboxes absorb
    the duplicate.

    Records on priority topics have a lane of their own, with its own leader and connections, so
    a critical-incident record never waits behind a batch of routine ones, and each lane fails
    over on its own. Order is kept where Kafka keeps it, within a topic: every topic belongs to
    exactly one lane.

    A transaction of this process that committed priority records hands them over
    (``hand_over``): when this process leads the priority lane, the lane publishes them at once,
    without waiting for the notification and reading them back. Either way one task publishes
    the lane's records, so a record is published once; the lane still reads the table when
    another commit notifies, when it starts leading and every ``poll_interval_s``, which picks
    up whatever was not handed over (another replica's, or lost in a crash).
    """

    def __init__(
        self,
        *,
        service: str,
        schema: str,
        dsn: str,
        bootstrap_servers: str,
        topic_prefix: str = "",
        batch_size: int = 1000,
        poll_interval_s: float = 1.0,
        publish_timeout_s: float = 15.0,
        claim_timeout_s: float = 10.0,
        backoff: Backoff | None = None,
        priority_topics: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.schema = schema
        self.dsn = dsn
        self.bootstrap_servers = bootstrap_servers
        self.topic_prefix = topic_prefix
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.publish_timeout_s = publish_timeout_s
        self.claim_timeout_s = claim_timeout_s
        self.clock = clock  # monotonic; tests move it to stand for a stopped process
        self.backoff = backoff or Backoff()
        priority = tuple(sorted(priority_topics))
        self.lanes = [_Lane("routine", f"outbox:{schema}", priority, only_these=False)]
        if priority:
            self.lanes.append(_Lane("priority", f"outbox:{schema}:priority", priority, True))
        self._wake = {lane.name: asyncio.Event() for lane in self.lanes}
        self._handovers = HandOvers(priority) if priority else None
        # One idempotent producer per lane: an idempotent producer keeps one request in flight
        # per broker, and a priority record must not wait for a routine batch's acknowledgement.
        self._producers: dict[str, AIOKafkaProducer] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._leading: set[str] = set()
        self.claims_gained = dict.fromkeys((lane.name for lane in self.lanes), 0)
        self.claims_released = dict.fromkeys((lane.name for lane in self.lanes), 0)
        self.published_total = 0
        self.published_handed_over = 0  # of which published without reading the table

    @property
    def leads_priority(self) -> bool:
        """This process leads the priority lane (hand-overs are published here)."""
        return self._handovers is not None and self._handovers.leading

    @property
    def leading(self) -> frozenset[str]:
        """The lanes this process leads."""
        return frozenset(self._leading)

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.run(lane), name=f"outbox-relay-{self.service}-{lane.name}")
            for lane in self.lanes
        ]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        for lane in self.lanes:
            await self._close_producer(lane)

    def wake(self) -> None:
        for event in self._wake.values():
            event.set()

    def hand_over(self, txid: int, written: Written) -> None:
        """Records a transaction of this process has just committed (see the class docstring).

        Ignored unless this process leads the priority lane: the leader, elsewhere, is woken by
        the commit's notification and reads them.
        """
        handovers = self._handovers
        if self.leads_priority and handovers is not None and handovers.handed(txid, written):
            self._wake["priority"].set()

    def _notified(self, lane: _Lane, payload: str) -> None:
        if lane.only_these and self._handovers is not None:
            if not self._handovers.notified(payload):
                return
        self._wake[lane.name].set()

    async def run(self, lane: _Lane) -> None:
        backoff = Backoff(self.backoff.initial_s, self.backoff.max_s)
        while True:
            try:
                await self._lead(lane, backoff)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # claim lost, connection lost, database down: compete again
                log.warning("outbox relay interrupted", lane=lane.name, error=repr(exc))
                await backoff.sleep()

    async def _connect(self, lane: _Lane, role: str) -> asyncpg.Connection:
        """The lane's ``claim`` or ``data`` connection (see the module docstring)."""
        bound_ms = str(max(1, round(self.claim_timeout_s * 1000)))
        settings = {
            "search_path": self.schema,
            # the schema last: what a cut to PostgreSQL's 63 characters may lose
            "application_name": f"eps-relay {role} {lane.name} {self.service} {self.schema}"[:63],
            # the server drops the connection when what it sent stays unacknowledged this long
            "tcp_user_timeout": bound_ms,
        }
        if role == "claim":
            settings["idle_session_timeout"] = bound_ms  # ends the session, and so the claim
        else:  # holds no lock: only its resources are at stake when its host has vanished
            settings["tcp_keepalives_idle"] = str(max(1, round(self.claim_timeout_s)))
            settings["tcp_keepalives_interval"] = str(max(1, round(self.claim_timeout_s / 4)))
            settings["tcp_keepalives_count"] = "4"
        return await asyncpg.connect(
            self.dsn, server_settings=settings, timeout=max(self.claim_timeout_s, 5.0)
        )

    async def _lead(self, lane: _Lane, backoff: Backoff) -> None:
        claim = _Claim(await self._connect(lane, "claim"), self.claim_timeout_s, self.clock)
        data: asyncpg.Connection | None = None
        wake = self._wake[lane.name]
        handovers = self._handovers if lane.only_these else None
        # A follower asks at least every quarter of the bound: its claim connection is idle
        # in between, and PostgreSQL ends it after the bound.
        ask_every = min(self.poll_interval_s, self.claim_timeout_s * _Claim.RENEW)
        leading = False
        try:
            while not await claim.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", lane.lock):
                await asyncio.sleep(ask_every)  # another replica leads
            leading = True
            self._claimed(lane)
            data = connected = await claim.keep(self._connect(lane, "data"))
            await claim.keep(
                connected.add_listener(
                    f"{self.schema}_outbox",
                    lambda _c, _p, _ch, payload: self._notified(lane, payload),
                )
            )
            if handovers is not None:
                handovers.reset(leading=True)
            backoff.reset()
            while True:
                # Cleared before reading, not after: a commit notified while this batch is in
                # flight must wake the next round, not wait out the poll interval.
                wake.clear()
                if handovers is None:
                    published = await self._publish_pending(claim, connected, lane, backoff)
                else:
                    published = await self._publish_handed_over(
                        claim, connected, lane, handovers, backoff
                    )
                if published < self.batch_size:
                    try:
                        await claim.keep(wake.wait(), self.poll_interval_s)
                    except TimeoutError:
                        if handovers is not None:
                            handovers.read_needed = True
        except BaseException as exc:
            if leading:
                self._released(lane, exc)
            raise
        finally:
            if handovers is not None:
                handovers.reset(leading=False)
            # the claim first: ending its session hands the lane to another replica at once
            opened = [c for c in (claim.conn, data) if c is not None]
            try:
                for conn in opened:
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(2):
                            await conn.close()
            finally:
                for conn in opened:
                    if not conn.is_closed():
                        conn.terminate()
            if leading:  # a fresh producer for the next term; what it still holds may go out
                await self._close_producer(lane)

    def _claimed(self, lane: _Lane) -> None:
        self._leading.add(lane.name)
        self.claims_gained[lane.name] += 1
        log.info("outbox relay lane claimed", lane=lane.name, schema=self.schema)

    def _released(self, lane: _Lane, reason: BaseException) -> None:
        self._leading.discard(lane.name)
        self.claims_released[lane.name] += 1
        if not isinstance(reason, asyncio.CancelledError):
            log.warning(
                "outbox relay lane given up; competing again", lane=lane.name, reason=repr(reason)
            )

    async def _publish_pending(
        self, claim: _Claim, data: asyncpg.Connection, lane: _Lane, backoff: Backoff
    ) -> int:
        in_lane = "topic = ANY($2::text[])" if lane.only_these else "topic <> ALL($2::text[])"
        rows = await claim.keep(
            data.fetch(
                "SELECT id, topic, key, value, headers, created_at FROM outbox"
                f" WHERE published_at IS NULL AND {in_lane} ORDER BY id LIMIT $1",
                self.batch_size,
                list(lane.topics),
            )
        )
        if not lane.only_these:  # the routine lane is where a backlog would build up
            lag = max(0.0, time.time() - rows[0]["created_at"].timestamp()) if rows else 0.0
            metrics.OUTBOX_LAG.labels(self.service).set(lag)
            metrics.OUTBOX_PENDING.labels(self.service).set(len(rows))
        records = [
            (r["id"], OutboxRecord(r["topic"], r["key"], r["value"], headers_of(r["headers"])))
            for r in rows
        ]
        return await self._publish(claim, lane, records, backoff)

    async def _publish_handed_over(
        self,
        claim: _Claim,
        data: asyncpg.Connection,
        lane: _Lane,
        handovers: HandOvers,
        backoff: Backoff,
    ) -> int:
        """The priority lane: what was read when a read is due, then what was handed over."""
        published = 0
        if handovers.awaiting_hand_overs:
            # A commit's notification often arrives just before its own hand-over: let that run
            # rather than read the table for records that are about to be handed over.
            await asyncio.sleep(0)
        if handovers.take_read():  # records committed before the ones handed over go first
            published = await self._publish_pending(claim, data, lane, backoff)
            if published >= self.batch_size:
                handovers.read_needed = True  # more to read, after what was handed over
        handed = handovers.take()
        if handed:
            sent = await self._publish(claim, lane, handed, backoff)
            if sent < len(handed):
                handovers.read_needed = True  # not published: read them again
            self.published_handed_over += sent
            published += sent
        return published

    async def _publish(self, claim: _Claim, lane: _Lane, records: Written, backoff: Backoff) -> int:
        if not records:
            return 0
        # A process resumed after a long stop finds out here that its session has ended,
        # before it publishes a batch read (or handed over) before the stop.
        await claim.confirm()
        try:
            await claim.keep(self._send_in_order(claim, lane, records))
        except (KafkaError, TimeoutError, OSError) as exc:
            log.warning("outbox publish failed; records stay pending", error=repr(exc))
            # a fresh producer recovers from sequence errors
            await claim.keep(self._close_producer(lane))
            await claim.keep(backoff.sleep())
            return 0
        backoff.reset()
        ids = [i for i, _ in records]
        await self._mark(claim, lane, ids)
        if lane.only_these and self._handovers is not None:
            self._handovers.published(ids)
        for _, r in records:
            metrics.EVENTS_PUBLISHED.labels(self.service, r.topic).inc()
        self.published_total += len(records)
        return len(records)

    async def _mark(self, claim: _Claim, lane: _Lane, ids: Sequence[int]) -> None:
        """Marks published records, on the claim connection: fails once the claim has gone."""
        await claim.execute(
            "UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[])", ids
        )

    async def _send_in_order(self, claim: _Claim, lane: _Lane, records: Written) -> None:
        producer = await self._ensure_producer(lane)

        async def send_all() -> None:
            futures = []
            for _, r in records:
                claim.check()  # the process may have been stopped since the batch began
                futures.append(
                    await producer.send(
                        self.topic_prefix + r.topic, r.value, key=r.key, headers=list(r.headers)
                    )
                )
            await asyncio.gather(*futures)

        async with asyncio.timeout(self.publish_timeout_s):
            await send_all()

    async def _ensure_producer(self, lane: _Lane) -> AIOKafkaProducer:
        """The lane's producer, used by the lane's task alone."""
        if lane.name not in self._producers:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap_servers,
                acks="all",
                enable_idempotence=True,
                linger_ms=0,  # the relay sends whole batches at once; a wait only adds latency
                request_timeout_ms=int(self.publish_timeout_s * 1000),
                client_id=f"{self.service}-outbox-{lane.name}",
            )
            async with asyncio.timeout(self.publish_timeout_s):
                await producer.start()
            self._producers[lane.name] = producer
        return self._producers[lane.name]

    async def _close_producer(self, lane: _Lane) -> None:
        producer = self._producers.pop(lane.name, None)
        if producer is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):  # it can hang with the broker down
                    await producer.stop()
