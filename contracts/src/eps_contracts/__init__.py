"""Shared event contracts of the EPS platform: envelope, topics and payloads.

Each bounded context has one module; importing this package registers every event and topic.
"""

from eps_contracts import (
    billing,
    consent,
    incidents,
    keys,
    notifications,
    privacy,
    referrals,
    scheduling,
    statutory,
)
from eps_contracts.base import ContractModel, Event
from eps_contracts.envelope import CONTENT_TYPE, Envelope, RawEnvelope, envelope_for
from eps_contracts.topics import Topic, all_topics, dead_letter_topic

__all__ = [
    "CONTENT_TYPE",
    "ContractModel",
    "Envelope",
    "Event",
    "RawEnvelope",
    "Topic",
    "all_topics",
    "billing",
    "consent",
    "dead_letter_topic",
    "envelope_for",
    "incidents",
    "keys",
    "notifications",
    "privacy",
    "referrals",
    "scheduling",
    "statutory",
]
