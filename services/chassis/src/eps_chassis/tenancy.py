"""The local authorities a deployment serves, and the refusal of any other.

Every event names its local authority (the envelope's ``tenant``) and so does every bearer token
(its ``la`` claim). The platform knows England's local authorities
(``eps_contracts.local_authorities``); a deployment serves some of them, named by the setting
``EPS_LOCAL_AUTHORITIES`` (all of them when unset). Anything naming another is refused at the
door, before it can create state:

- an event, by every consumer of every service: it is dead-lettered with the reason (``tenant:
  unknown local authority 'leicester-cty' (did you mean 'leicester-city'?)``, or ``tenant:
  local authority 'rutland' is not served here``) before the inbox or a handler sees it; the
  check is a lookup in a set in memory, so the fast track pays nothing measurable for it;
- a token, by authentication (401, the same reason naming ``la``).

An event of a served authority that names a record another authority owns is refused by the
service that owns the record (``errors.OwnedElsewhere``).
"""

from __future__ import annotations

from collections.abc import Iterable

from eps_contracts.local_authorities import LOCAL_AUTHORITIES, closest_id, local_authority

from eps_chassis.decoding import Decoded, Invalid, Valid


class LocalAuthorities:
    """The ids of the local authorities a deployment serves (every one the platform knows,
    when none are named)."""

    __slots__ = ("ids",)

    def __init__(self, ids: Iterable[str] | None = None) -> None:
        served = frozenset(la.id for la in LOCAL_AUTHORITIES) if ids is None else frozenset(ids)
        unknown = sorted(i for i in served if local_authority(i) is None)
        if unknown:
            raise ValueError("; ".join(unknown_authority(i) for i in unknown))
        if not served:
            raise ValueError("name at least one local authority")
        self.ids = served

    def __contains__(self, la_id: object) -> bool:
        return la_id in self.ids

    def __repr__(self) -> str:
        return f"LocalAuthorities({sorted(self.ids)!r})"

    def refusal(self, la_id: str, *, field: str) -> str:
        """Why ``la_id`` (not served) is refused, naming the field that carried it."""
        if local_authority(la_id) is None:
            return f"{field}: {unknown_authority(la_id)}"
        return f"{field}: local authority {la_id!r} is not served here"


def unknown_authority(la_id: str) -> str:
    hint = closest_id(la_id)
    return f"unknown local authority {la_id!r}" + (f" (did you mean {hint!r}?)" if hint else "")


EVERY_LOCAL_AUTHORITY = LocalAuthorities()


def served_only(item: Decoded, served: LocalAuthorities) -> Decoded:
    """A decoded event of a local authority the deployment does not serve is invalid: it is
    dead-lettered with the reason, and no handler runs."""
    if isinstance(item, Valid) and item.envelope.tenant not in served.ids:
        return Invalid(item.record, served.refusal(item.envelope.tenant, field="tenant"))
    return item
