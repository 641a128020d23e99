"""Shared event contracts of the EPS platform: envelope, topics and payloads."""

from eps_contracts import consent, referrals
from eps_contracts.base import ContractModel, Event
from eps_contracts.envelope import CONTENT_TYPE, Envelope, RawEnvelope, envelope_for
from eps_contracts.topics import ALL_TOPICS, Topic, dead_letter_topic

__all__ = [
    "ALL_TOPICS",
    "CONTENT_TYPE",
    "ContractModel",
    "Envelope",
    "Event",
    "RawEnvelope",
    "Topic",
    "consent",
    "dead_letter_topic",
    "envelope_for",
    "referrals",
]
