"""The on-call rota: who is on call, overrides, escalation chains and gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eps_chassis.errors import DomainError
from eps_incidents.domain.rota import Gap, Rota, RotaEntry, RotaPosition

from tests.support.builders.incidents import entry

MON = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)


def test_the_regular_coordinator_is_on_call_within_the_shift_only() -> None:
    rota = Rota([entry("coord-a", MON, 12)])
    assert rota.on_call(RotaPosition.PRIMARY, MON) == "coord-a"
    assert rota.on_call(RotaPosition.PRIMARY, MON + 12 * H - timedelta(seconds=1)) == "coord-a"
    assert rota.on_call(RotaPosition.PRIMARY, MON + 12 * H) is None  # half-open
    assert rota.on_call(RotaPosition.BACKUP, MON) is None


def test_an_override_takes_precedence_for_its_period() -> None:
    rota = Rota([entry("coord-a", MON, 12), entry("coord-c", MON + 2 * H, 3, override=True)])
    assert rota.on_call(RotaPosition.PRIMARY, MON + H) == "coord-a"
    assert rota.on_call(RotaPosition.PRIMARY, MON + 3 * H) == "coord-c"
    assert rota.on_call(RotaPosition.PRIMARY, MON + 5 * H) == "coord-a"


def test_the_next_handover_is_who_holds_the_position_next_and_when() -> None:
    rota = Rota(
        [
            entry("coord-a", MON, 12),
            entry("coord-c", MON + 2 * H, 3, override=True),
            entry("coord-b", MON + 14 * H, 12),
        ]
    )
    assert rota.handover(RotaPosition.PRIMARY, MON, MON + 48 * H) == (MON + 2 * H, "coord-c")
    assert rota.handover(RotaPosition.PRIMARY, MON + 6 * H, MON + 48 * H) == (MON + 12 * H, None)
    assert rota.handover(RotaPosition.PRIMARY, MON + 13 * H, MON + 48 * H) == (
        MON + 14 * H,
        "coord-b",
    )
    assert rota.handover(RotaPosition.PRIMARY, MON + 6 * H, MON + 10 * H) is None  # not before


def test_escalation_chain_is_coordinator_then_backup_then_principal_without_repeats() -> None:
    rota = Rota([entry("coord-a", MON, 12), entry("coord-b", MON, 12, RotaPosition.BACKUP)])
    assert rota.escalation_chain(MON, "pep") == ("coord-a", "coord-b", "pep")
    assert rota.escalation_chain(MON, None) == ("coord-a", "coord-b")
    assert rota.escalation_chain(MON + 13 * H, "pep") == ("pep",)
    same = Rota([entry("pep", MON, 12)])
    assert same.escalation_chain(MON, "pep") == ("pep",)


def test_gaps_are_found_between_shifts_and_at_the_edges() -> None:
    rota = Rota(
        [
            entry("coord-a", MON, 8),
            entry("coord-b", MON + 10 * H, 8),
            entry("coord-x", MON + 8 * H, 2, RotaPosition.BACKUP),  # a backup is not cover
        ]
    )
    assert rota.gaps(MON - 2 * H, MON + 20 * H) == [
        Gap(MON - 2 * H, MON),
        Gap(MON + 8 * H, MON + 10 * H),
        Gap(MON + 18 * H, MON + 20 * H),
    ]


def test_adjacent_and_overlapping_shifts_leave_no_gap_and_an_override_can_fill_one() -> None:
    rota = Rota(
        [
            entry("coord-a", MON, 8),
            entry("coord-b", MON + 6 * H, 6),
            entry("coord-c", MON + 12 * H, 4, override=True),
        ]
    )
    assert rota.gaps(MON, MON + 16 * H) == []


def test_a_rota_entry_must_end_after_it_starts_and_be_zoned() -> None:
    with pytest.raises(DomainError):
        RotaEntry("c", RotaPosition.PRIMARY, MON, MON)
    with pytest.raises(DomainError):
        RotaEntry("c", RotaPosition.PRIMARY, datetime(2026, 1, 1), datetime(2026, 1, 2))
