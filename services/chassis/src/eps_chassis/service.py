"""The service runtime: one composition root per service wires these pieces together.

A service declares a :class:`ServiceDefinition` (name, schema, migrations, consumers, HTTP
routers, topics it publishes) and runs it with :func:`run`. The runtime migrates the schema,
opens the pool, starts the outbox relay and the Kafka consumers (retrying while the broker is
away, so the HTTP API keeps accepting work), and serves health, readiness and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
import uvicorn
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from eps_contracts import Topic, all_topics, dead_letter_topic
from eps_contracts.privacy import ERASURE_CONFIRMATIONS
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eps_chassis import db
from eps_chassis.auth import Role, TokenVerifier
from eps_chassis.clock import Clock
from eps_chassis.collector import settle_long_lived
from eps_chassis.consumer import ConsumerRuntime, EventConsumer
from eps_chassis.context import correlated
from eps_chassis.held_events_http import HELD_EVENTS_TAG, held_events_router
from eps_chassis.http import BodyLimit, SecurityHeaders, install_problem_handlers
from eps_chassis.jobs import HOUSEKEEPING, JobContext, JobRunner, PeriodicJob
from eps_chassis.key_client import sealer_for
from eps_chassis.key_shredding import forget_shredded_keys
from eps_chassis.logging import configure_logging, get_logger, scoped_context
from eps_chassis.openapi import check_routes, openapi_document
from eps_chassis.outbox import HandOver
from eps_chassis.priority import PriorityPoller
from eps_chassis.relay import OutboxRelay
from eps_chassis.releases import apply_held_events, give_up_held
from eps_chassis.retry import Backoff
from eps_chassis.sealing import Sealer
from eps_chassis.settings import ServiceSettings
from eps_chassis.subject_access import (
    CHILD_RECORDS_CONSUMER,
    SUBJECT_ACCESS_TAG,
    ChildRecords,
    child_records_consumer,
    subject_access_router,
)
from eps_chassis.tasks import cancel_and_wait
from eps_chassis.unit_of_work import PostgresUnitOfWork, UnitOfWorkFactory
from eps_chassis.upstream_purge import purge_job, upstream_consumers

log = get_logger()
SERVICE_VERSION = "1.0.0"  # of the HTTP API; a breaking change of a route is a new major


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    migrations: Path
    local_port: int  # HTTP port under `make run` and docker-compose (published)
    consumers: Sequence[EventConsumer] = ()
    routers: Sequence[APIRouter] = ()
    publishes: Sequence[Topic] = ()
    description: str = ""
    schema: str = ""
    jobs: Sequence[PeriodicJob] = field(default_factory=tuple)
    # who may see and act on the events its consumers hold (eps_chassis.held_events)
    held_event_readers: Sequence[Role] = (Role.ADMIN, Role.PRINCIPAL_EP)
    # the service's own unit of work (its repositories), opened for every handler
    unit_of_work: type[PostgresUnitOfWork] = PostgresUnitOfWork
    # what it keeps about children (eps_chassis.subject_access): shown to a subject access
    # request, erased and rectified on the privacy service's orders (a consumer added here)
    child_records: ChildRecords | None = None

    def __post_init__(self) -> None:
        if self.child_records is not None and not any(
            c.name == CHILD_RECORDS_CONSUMER for c in self.consumers
        ):
            consumers = [*self.consumers, child_records_consumer(self.child_records)]
            object.__setattr__(self, "consumers", consumers)
            object.__setattr__(self, "publishes", [*self.publishes, ERASURE_CONFIRMATIONS])

    @property
    def db_schema(self) -> str:
        return self.schema or self.name

    @property
    def source(self) -> str:
        return f"/eps/{self.name}"

    def consumer_runtime(
        self,
        settings: ServiceSettings,
        pool: asyncpg.Pool,
        *,
        clock: Clock,
        sealer: Sealer,
        hand_over: HandOver | None = None,
    ) -> ConsumerRuntime:
        """What its consumers run with: the same live and when replaying the log."""
        return ConsumerRuntime(
            pool=pool,
            service=self.name,
            source=self.source,
            topic_prefix=settings.topic_prefix,
            max_batch_size=settings.consumer_batch_size,
            backoff_initial_s=settings.retry_backoff_initial_s,
            backoff_max_s=settings.retry_backoff_max_s,
            hand_over=hand_over,
            clock=clock,
            unit_of_work=self.unit_of_work,
            local_authorities=settings.served_local_authorities(),
            sealer=sealer,
        )


S = TypeVar("S", bound=ServiceSettings)
U = TypeVar("U", bound=PostgresUnitOfWork)


@dataclass(frozen=True)
class Service(Generic[S]):
    """A service as it is deployed: its settings class and its definition from settings.

    Every service's ``bootstrap`` exposes one (``SERVICE``): ``python -m eps_<name>``, `make run`,
    the contract generator and the tests all start from it, so settings are read one way."""

    settings: type[S]
    define: Callable[[S], ServiceDefinition]

    def definition(self, settings: S | None = None) -> ServiceDefinition:
        return self.define(settings or self.settings())


class ServiceRuntime(Generic[U]):
    """Holds the live resources of one running service."""

    def __init__(
        self, definition: ServiceDefinition, settings: ServiceSettings, clock: Clock | None = None
    ) -> None:
        if settings.db_schema:
            definition = replace(definition, schema=settings.db_schema)
        self.definition = definition
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.broker: KafkaBroker | None = None
        self.relay: OutboxRelay | None = None
        self.broker_ready = asyncio.Event()
        self.clock = clock or settings.clock()
        self.jobs: JobRunner | None = None
        self.consumer_runtime: ConsumerRuntime | None = None
        self.pollers: list[PriorityPoller] = []
        self._broker_task: asyncio.Task[None] | None = None
        # seals personal fields (eps_chassis.sealing); a test may put its own before start()
        self.sealer = sealer_for(settings, definition.name)
        self._shredded_keys: asyncio.Task[None] | None = None

    @property
    def uow(self) -> UnitOfWorkFactory[U]:
        """Opens the service's unit of work (its repositories, for one local authority)."""
        assert self.pool is not None
        hand_over = self.relay.hand_over if self.relay is not None else None
        return UnitOfWorkFactory(
            self.pool,
            self.definition.source,
            hand_over,
            self.clock,
            self.definition.unit_of_work,  # type: ignore[arg-type]
            self.sealer,
        )

    async def start(self) -> None:
        d, s = self.definition, self.settings
        await db.migrate(s.database_url, d.db_schema, [db.CHASSIS_MIGRATIONS, d.migrations])
        self.pool = await db.create_pool(s.database_url, d.db_schema, s.db_pool_min, s.db_pool_max)
        self.relay = OutboxRelay(
            service=d.name,
            schema=d.db_schema,
            dsn=s.database_url,
            bootstrap_servers=s.kafka_bootstrap_servers,
            topic_prefix=s.topic_prefix,
            batch_size=s.outbox_batch_size,
            poll_interval_s=s.outbox_poll_interval_s,
            publish_timeout_s=s.publish_timeout_s,
            claim_timeout_s=s.relay_claim_timeout_s,
            backoff=Backoff(s.retry_backoff_initial_s, s.retry_backoff_max_s),
            priority_topics=[t.name for t in all_topics() if t.priority],
        )
        await self.relay.start()
        self.consumer_runtime = d.consumer_runtime(
            s, self.pool, clock=self.clock, sealer=self.sealer, hand_over=self.relay.hand_over
        )
        self.jobs = JobRunner(
            [*d.jobs, HOUSEKEEPING, *self._held_event_jobs(), *self._purge_jobs()],
            self.pool,
            JobContext(self.uow, self.clock, d.name),
        )
        await self.jobs.start()
        if s.keys_url is not None:  # its cached keys are forgotten as soon as they are shredded
            self._shredded_keys = asyncio.create_task(
                forget_shredded_keys(
                    s.kafka_bootstrap_servers,
                    s.topic_prefix,
                    self.sealer.keys,
                    Backoff(s.retry_backoff_initial_s, s.retry_backoff_max_s),
                ),
                name=f"{d.name}-shredded-keys",
            )
        self.broker = self._build_broker()
        self._broker_task = asyncio.create_task(self._start_broker(), name=f"{d.name}-broker")
        settle_long_lived()  # what exists now lives as long as the process

    def _build_broker(self) -> KafkaBroker:
        """FastStream's broker, for the routine consumers' subscribers. It publishes nothing:
        the outbox relay has producers of its own (so no producer settings here)."""
        s, d = self.settings, self.definition
        broker = KafkaBroker(
            s.kafka_bootstrap_servers,
            client_id=d.name,
            description=d.description,
            graceful_timeout=15.0,
            log_level=logging.DEBUG,  # per-message lines; our consumer logs what matters
            # its lines through the one JSON handler, as every line (eps_chassis.logging)
            logger=logging.getLogger("faststream.kafka"),
        )
        assert self.consumer_runtime is not None
        self.pollers = []
        for consumer in d.consumers:
            if consumer.priority:
                consumer.bind(self.consumer_runtime)
                poller = PriorityPoller(consumer, self.consumer_runtime, s.kafka_bootstrap_servers)
                self.pollers.append(poller)
            else:
                consumer.subscribe(broker, self.consumer_runtime)
        return broker

    async def give_up_held(
        self, consumer: str, tenant: str, event_id: uuid.UUID, reason: str
    ) -> bool:
        """Dead-letter one held event of ``consumer`` (a person gave up on it)."""
        found = next((c for c in self.definition.consumers if c.name == consumer), None)
        if found is None or self.consumer_runtime is None:
            return False
        return await give_up_held(found, self.consumer_runtime, tenant, event_id, reason)

    def _purge_jobs(self) -> list[PeriodicJob]:
        """The upstream topics it consumes are purged of what it has processed."""
        consumers = upstream_consumers(list(self.definition.consumers))
        if not consumers or self.consumer_runtime is None:
            return []
        s = self.settings
        interval = s.upstream_purge_interval_s
        return [purge_job(s.kafka_bootstrap_servers, consumers, self.consumer_runtime, interval)]

    def _held_event_jobs(self) -> list[PeriodicJob]:
        """Held events are applied again once released, and all of them now and then."""
        consumers = list(self.definition.consumers)
        if not consumers:
            return []

        async def released(_: JobContext) -> None:
            assert self.consumer_runtime is not None
            await apply_held_events(consumers, self.consumer_runtime)

        async def everything(_: JobContext) -> None:
            assert self.consumer_runtime is not None
            await apply_held_events(consumers, self.consumer_runtime, everything=True)

        s = self.settings
        return [
            PeriodicJob("apply-released-events", s.held_release_interval_s, released),
            PeriodicJob("retry-held-events", s.held_retry_all_s, everything),
        ]

    async def _start_broker(self) -> None:
        backoff = Backoff(self.settings.retry_backoff_initial_s, self.settings.retry_backoff_max_s)
        s = self.settings
        while True:
            try:
                await ensure_topics(
                    s.kafka_bootstrap_servers,
                    self.topics_to_create(),
                    s.topic_prefix,
                    replication_factor=s.topic_replication_factor,
                    min_insync_replicas=s.topic_min_insync_replicas,
                )
                assert self.broker is not None
                await self.broker.start()
                for poller in self.pollers:
                    await poller.start()
                self.broker_ready.set()
                log.info("kafka consumers started", service=self.definition.name)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("kafka not ready yet; retrying", error=repr(exc))
                await self._stop_consumers()
                self.broker = self._build_broker()
                await backoff.sleep()

    def topics_to_create(self) -> list[Topic]:
        """Those it owns and those it reads, as the contracts declare them (their owners would
        create the same): a service never waits for another to have started, so the fast track
        runs where paging, say, is not deployed yet; and subscribing first would let the broker
        auto-create a topic with its own defaults."""
        return list({t.name: t for t in (*self.owned_topics(), *self.consumed_topics())}.values())

    def owned_topics(self) -> list[Topic]:
        """The topics this service owns: those it publishes, its dead letters, and the
        upstream topics it consumes (the platform's ingress from the LA's own systems)."""
        d = self.definition
        upstream = [t for t in self.consumed_topics() if t.name.startswith("eps.upstream.")]
        owned = {t.name: t for t in (*d.publishes, *upstream, dead_letter_topic(d.name))}
        return list(owned.values())

    def consumed_topics(self) -> list[Topic]:
        return list({t.name: t for c in self.definition.consumers for t in c.topics}.values())

    async def _stop_consumers(self) -> None:
        for poller in self.pollers:
            await poller.stop()
        for consumer in self.definition.consumers:  # before their Kafka consumers stop
            await consumer.close()
        if self.broker is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(20):
                    await self.broker.stop()

    async def stop(self) -> None:
        if self._broker_task is not None:
            await cancel_and_wait([self._broker_task])
        if self._shredded_keys is not None:
            await cancel_and_wait([self._shredded_keys])
        await self._stop_consumers()
        if self.jobs is not None:
            await self.jobs.stop()
        if self.relay is not None:
            await self.relay.stop()
        if self.pool is not None:
            await self.pool.close()

    async def readiness(self) -> dict[str, bool]:
        database = False
        if self.pool is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    database = await self.pool.fetchval("SELECT true") is True
        return {"database": database, "kafka": self.broker_ready.is_set()}


async def ensure_topics(
    bootstrap_servers: str,
    topics: Sequence[Topic],
    prefix: str = "",
    *,
    replication_factor: int = 1,
    min_insync_replicas: int = 1,
) -> None:
    """Create those of ``topics`` that do not exist, with their partitions and the cluster's
    durability settings (a producer with acks=all then needs ``min_insync_replicas`` copies)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                prefix + t.name,
                num_partitions=t.partitions,
                replication_factor=replication_factor,
                topic_configs={"min.insync.replicas": str(min_insync_replicas)},
            )
            for t in topics
            if prefix + t.name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


def token_verifier(settings: ServiceSettings) -> TokenVerifier:
    served = settings.served_local_authorities()
    if settings.auth_jwks_url:
        return TokenVerifier(
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            jwks_url=settings.auth_jwks_url,
            local_authorities=served,
        )
    if settings.auth_public_key_file is None:
        raise RuntimeError("set EPS_AUTH_JWKS_URL or EPS_AUTH_PUBLIC_KEY_FILE")
    return TokenVerifier.from_public_key_file(
        settings.auth_public_key_file, settings.auth_issuer, settings.auth_audience, served
    )


class CorrelationMiddleware:
    """Gives each request a correlation id, carried by the events, audit rows and logs it
    causes, and echoed in the response: the caller's ``X-Correlation-Id`` when it is a UUID (the
    contracts' form), else a new one (a caller's id in another form is echoed and logged beside
    it, never refused).

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs the
    rest of the app in another task behind memory streams, a cost paid on every request,
    including a coordinator's incident report.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-correlation-id")
        correlation = _uuid_or_none(given) or uuid.uuid4()
        echoed = given or str(correlation)

        async def send_with_correlation(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["x-correlation-id"] = echoed
            await send(message)

        bound: dict[str, str] = {"correlation_id": str(correlation), "path": scope["path"]}
        if given and given != bound["correlation_id"]:
            bound["caller_correlation_id"] = given  # not a UUID: kept beside the one events carry
        with scoped_context(**bound), correlated(correlation):
            await self.app(scope, receive, send_with_correlation)


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def create_app(
    definition: ServiceDefinition, settings: ServiceSettings, clock: Clock | None = None
) -> FastAPI:
    """The ASGI app of a service: its routers plus health, readiness and metrics. The clock is
    the settings' unless one is given (a test's stopped clock)."""
    runtime: ServiceRuntime[Any] = ServiceRuntime(definition, settings, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = service_app(definition, lifespan)
    app.state.runtime = runtime
    app.state.token_verifier = token_verifier(settings)

    # outermost last: every answer is correlated and carries the security headers; a body is
    # limited where it is read (after the caller's token and role are checked)
    app.add_middleware(BodyLimit, max_bytes=settings.http_max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(CorrelationMiddleware)
    install_problem_handlers(app)

    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        checks = await runtime.readiness()
        return JSONResponse(status_code=200 if all(checks.values()) else 503, content=checks)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def service_app(definition: ServiceDefinition, lifespan: Any = None) -> FastAPI:
    """A service's routes and their OpenAPI document, and nothing running: what
    :func:`create_app` serves, and what ``tools/contracts.py`` publishes (``contracts/openapi``)."""
    app = FastAPI(
        title=f"EPS {definition.name}",
        description=definition.description,
        version=SERVICE_VERSION,
        lifespan=lifespan,
        openapi_tags=[{"name": definition.name, "description": definition.description}],
    )
    # before the service's own routes, e.g. /referrals/{referral_id}
    routers = [subject_access_router(definition.name, definition.child_records)]
    routers += definition.routers
    app.openapi_tags = [*(app.openapi_tags or []), SUBJECT_ACCESS_TAG]
    if definition.consumers:
        routers.insert(0, held_events_router(definition.name, definition.held_event_readers))
        app.openapi_tags = [*(app.openapi_tags or []), HELD_EVENTS_TAG]
    for router in routers:
        app.include_router(router)
    routes = [r for router in routers for r in router.routes if isinstance(r, APIRoute)]
    check_routes(routes)
    app.openapi = lambda: _openapi(app, definition.name, routes)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI, service: str, routes: list[APIRoute]) -> dict[str, Any]:
    if app.openapi_schema is None:
        app.openapi_schema = openapi_document(app, service, routes)
    return app.openapi_schema


async def get_runtime(request: Request) -> ServiceRuntime[Any]:
    runtime: ServiceRuntime[Any] = request.app.state.runtime
    return runtime


def run(service: Service[Any]) -> None:
    """``python -m eps_<name>``: the service from its environment, behind uvicorn."""
    settings = service.settings()
    definition = service.define(settings)
    configure_logging(
        definition.name, settings.log_level, repeat_interval_s=settings.log_repeat_interval_s
    )
    uvicorn.run(
        create_app(definition, settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        timeout_graceful_shutdown=20,
    )


def installed_services() -> list[ServiceDefinition]:
    """Every service package installed here (entry point group ``eps.services``: each names
    its ``bootstrap.SERVICE``), defined from the environment, by name."""
    from importlib.metadata import entry_points

    found = [ep.load().definition() for ep in entry_points(group="eps.services")]
    return sorted(found, key=lambda d: d.name)
