"""Events of the keys service (``eps_keys``), the one owner of the children's data keys.

A child's data key seals that child's personal fields on the wire (``eps_contracts.sealed``).
Erasing the child shreds the key; every service drops its cached copy on
:class:`ChildKeyShredded`. No key, wrapped or not, ever travels on a topic: a key on the log
would outlive its erasure in the log's backups.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import AwareDatetime, Field

from eps_contracts.base import Event
from eps_contracts.topics import Topic

CHILD_KEYS = Topic(
    "eps.keys.child-keys.v1",
    "What became of the children's data keys (shredded), keyed by child id; never a key.",
)


class ChildKeyShredded(Event):
    """A child's data key was destroyed: every sealed value of that child is unreadable from
    now on. Services drop their cached copy of the key at once."""

    event_type: ClassVar[str] = "eps.keys.child-key-shredded.v1"
    topic: ClassVar[Topic] = CHILD_KEYS
    key_field: ClassVar[str] = "child_id"

    child_id: uuid.UUID = Field(description="The child whose key was shredded.")
    shredded_at: AwareDatetime = Field(description="When the key was destroyed.")
    erasure_id: uuid.UUID | None = Field(
        None, description="The erasure that asked for it, when one did (the privacy service)."
    )
