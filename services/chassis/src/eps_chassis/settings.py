"""Settings every service reads from its environment (12-factor)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from eps_chassis.clock import Clock, shifted_clock
from eps_chassis.tenancy import LocalAuthorities


class ServiceSettings(BaseSettings):
    """Common settings. A service subclasses it to add its own, all prefixed ``EPS_``.

    ``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL`` are read without the prefix: they are the
    names every tool (docker-compose, CI, the local launcher) already uses.
    """

    model_config = SettingsConfigDict(env_prefix="EPS_", extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:19092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "EPS_KAFKA_BOOTSTRAP_SERVERS"),
    )
    database_url: str = Field(
        "postgresql://eps:eps@127.0.0.1:15432/eps",
        validation_alias=AliasChoices("DATABASE_URL", "EPS_DATABASE_URL"),
    )
    db_schema: str | None = None  # defaults to the service name
    # The local authorities this deployment serves, by their ids in
    # eps_contracts.local_authorities, comma-separated (EPS_LOCAL_AUTHORITIES=leicester-city,
    # rutland); unset, every one the platform knows. Events and tokens of any other are refused.
    local_authorities: Annotated[tuple[str, ...] | None, NoDecode] = None
    topic_prefix: str = ""  # isolates environments (or test runs) sharing one cluster
    # Each service creates the topics it owns (publishes, or takes in from the LA's systems)
    # with these: 3 and 2 on a production cluster, so that acks=all survives a broker's loss.
    topic_replication_factor: int = 1
    topic_min_insync_replicas: int = 1
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # The largest request body accepted (413 beyond it, never read whole): the largest a route
    # takes (a statutory advice, nine sections of up to 20,000 characters) with room to spare.
    http_max_body_bytes: int = Field(2_097_152, ge=1024)
    log_level: str = "INFO"
    # A warning or error repeated word for word (the Kafka client's reconnections while the
    # broker is away) is written once per this many seconds, with the count held back; 0: all.
    log_repeat_interval_s: float = 30.0
    db_pool_min: int = 1
    db_pool_max: int = 10
    consumer_batch_size: int = 6000  # a cap on what each consumer declares
    outbox_batch_size: int = 1000
    outbox_poll_interval_s: float = 1.0
    publish_timeout_s: float = 15.0
    # The relay's failover bound: a replica leading a relay lane that stops making progress
    # (hung, stopped, its host gone) loses the lane within this many seconds, and another
    # replica publishes. PostgreSQL ends the leader's claim session once it has been idle this
    # long; a healthy leader renews every quarter of it, while it waits for a poll and while a
    # publish is pending alike, so neither a slow poll nor a broker outage (publishes taking up
    # to publish_timeout_s) costs it the lane: the bound may be shorter than publish_timeout_s
    # (tested with a broker that never answers), and is checked against the poll interval.
    relay_claim_timeout_s: float = 10.0
    retry_backoff_initial_s: float = 0.1
    retry_backoff_max_s: float = 10.0
    # Held events (eps_chassis.held_events): how soon a released one is applied, and how often
    # every held event is tried again whatever (data may arrive without a release).
    held_release_interval_s: float = 1.0
    held_retry_all_s: float = 300.0
    # Authentication: a JWKS URL (OIDC issuer, e.g. Entra ID) or a local public key file.
    auth_jwks_url: str | None = None
    auth_public_key_file: Path | None = None
    auth_issuer: str = "eps-local"
    auth_audience: str = "eps-api"
    # The keys service (eps_keys), owner of the children's data keys that seal personal fields
    # on the wire; unset, the service can neither seal nor open (eps_chassis.key_client). Under
    # `make run` a service signs its own tokens with the local signing key; in production the
    # token comes from the identity provider (see key_client.ServiceTokens).
    keys_url: str | None = None
    keys_signing_key_file: Path | None = None
    keys_cache_ttl_s: float = Field(60.0, ge=0)  # how long a data key is kept in memory
    # How often the upstream topics it consumes are purged of the records it has processed
    # (they carry children's data in plain: eps_chassis.upstream_purge).
    upstream_purge_interval_s: float = Field(30.0, gt=0)
    # Tests and demonstrations only (0 in production): the service's clock runs this many
    # seconds ahead of the wall clock (behind, when negative), so that a whole system of
    # processes can be run at 02:00 on a Sunday whatever the hour.
    clock_offset_s: float = 0.0

    @field_validator("local_authorities", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("local_authorities")
    @classmethod
    def _known_local_authorities(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            LocalAuthorities(value)  # raises, naming each unknown id
        return value

    def served_local_authorities(self) -> LocalAuthorities:
        """The local authorities this deployment serves (see ``eps_chassis.tenancy``)."""
        return LocalAuthorities(self.local_authorities)

    @model_validator(mode="after")
    def _relay_claim_timeout_fits(self) -> ServiceSettings:
        bound = self.relay_claim_timeout_s
        if bound < 1.0:
            raise ValueError(
                "relay_claim_timeout_s must be at least 1 s: a healthy leader renews every"
                " quarter of it, and a renewal must not be lost in a database's ordinary pauses"
            )
        if bound < 2 * self.outbox_poll_interval_s:
            raise ValueError(
                "relay_claim_timeout_s must be at least twice outbox_poll_interval_s: a"
                " follower asks for the lane once per poll on a session the database ends"
                " after the bound, and a failover should not wait on the poll"
            )
        return self

    def clock(self) -> Clock:
        """The service's clock: the wall clock, shifted by ``clock_offset_s``."""
        return shifted_clock(timedelta(seconds=self.clock_offset_s))

    def as_environment(self) -> dict[str, str]:
        """These settings as the environment of a service process (``EPS_<FIELD>``)."""
        return {
            f"EPS_{k.upper()}": ",".join(v) if isinstance(v, tuple) else str(v)
            for k, v in self.model_dump(exclude_none=True).items()
        }
