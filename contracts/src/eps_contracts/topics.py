"""Every Kafka topic of the platform, defined once.

Convention: ``eps.<owner>.<stream>.v<major>``

- ``owner`` is the bounded context that is the only producer (``upstream`` for the local
  authority's own systems, which publish into the platform).
- ``stream`` names the aggregate whose events travel together; the Kafka key is that
  aggregate's id, so one referral's (or incident's, or school's) events stay in order.
- ``v<major>`` changes only for an incompatible change; compatible changes keep the topic.

Topics marked ``priority`` carry critical-incident traffic and never wait behind routine work.

Dead letters go to ``eps.dlq.<consumer service>.v1`` with the original bytes and headers.
"""

from __future__ import annotations

from dataclasses import dataclass

_REGISTRY: dict[str, Topic] = {}


@dataclass(frozen=True, slots=True)
class Topic:
    """A Kafka topic. Declaring one at module level registers it (see :func:`all_topics`)."""

    name: str
    description: str
    partitions: int = 3
    register: bool = True
    # Critical-incident traffic: relays publish it ahead of routine records, and consumers of
    # routine topics in the same process step aside while it is being handled.
    priority: bool = False

    def __post_init__(self) -> None:
        if not self.register:
            return
        if self.name in _REGISTRY and _REGISTRY[self.name] != self:
            raise ValueError(f"topic {self.name} declared twice")
        _REGISTRY[self.name] = self

    def __str__(self) -> str:
        return self.name


def all_topics() -> tuple[Topic, ...]:
    """Every registered topic (each bounded context's contracts module declares its own)."""
    return tuple(sorted(_REGISTRY.values(), key=lambda t: t.name))


# Topics of referrals and consent; the other contexts declare theirs in their own modules.
UPSTREAM_REFERRAL_REQUESTS = Topic(
    "eps.upstream.referral-requests.v1",
    "Requests for EP involvement published by upstream local authority systems.",
)
REFERRALS = Topic(
    "eps.referrals.referral.v1",
    "Lifecycle of each referral, keyed by referral id.",
)
CONSENT = Topic(
    "eps.consent.consent.v1",
    "Consent cases and decisions per referral, keyed by referral id.",
)


def dead_letter_topic(service: str) -> Topic:
    return Topic(
        f"eps.dlq.{service}.v1",
        f"Events the {service} service could not accept, with the reason and original bytes.",
        partitions=1,
        register=False,
    )
