"""Service-layer handlers: load, call the domain, save, publish, all in one unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from eps_chassis.errors import NotFound, reference
from eps_chassis.unit_of_work import UnitOfWork

from eps_referrals.adapters.repository import ReferralRepository
from eps_referrals.domain import commands
from eps_referrals.domain.evidence import GraduatedApproachMinimum, check_request, check_school
from eps_referrals.domain.model import (
    NO_CONSENT_YET,
    ConsentView,
    Referral,
    child_id_for,
    referral_id_for,
)


def school_awaited(tenant: str, school_urn: str) -> str:
    """What an upstream request naming a school not yet in the register waits for."""
    return reference("school", tenant, school_urn)


async def _save(referrals: ReferralRepository, referral: Referral, uow: UnitOfWork) -> None:
    await referrals.save(referral, uow.context.actor)
    for event in referral.events:
        uow.publish(event)
    referral.events.clear()


async def register_referral(cmd: commands.RegisterReferral, uow: UnitOfWork) -> uuid.UUID:
    """Register a request for involvement.

    The same request twice is one referral; another request from the same requester about a
    child with an open referral is linked to it as a duplicate, not doubled.
    """
    referrals = ReferralRepository(uow.conn)
    await referrals.lock(uow.tenant, f"referral-request:{cmd.request_id}")
    existing = await referrals.id_for_request(uow.tenant, cmd.request_id)
    if existing is not None:
        return existing
    check_request(cmd, await referrals.graduated_approach_minimum(uow.tenant))
    if cmd.child.school_urn is not None:
        # the school's registration or named EP arriving now either sees this referral or is
        # seen by it, never neither (both take this lock)
        await referrals.lock(uow.tenant, f"school:{cmd.child.school_urn}")
    check_school(
        cmd.child.school_urn, await referrals.school_register(uow.tenant, cmd.child.school_urn)
    )
    child_id = child_id_for(uow.tenant, cmd)
    await referrals.lock(uow.tenant, f"child:{child_id}")
    open_one = await referrals.open_referral_of(uow.tenant, child_id, cmd.requester.person_id)
    if open_one is not None:
        referral = Referral.link_duplicate(uow.tenant, cmd, open_one)
    else:
        referral_id = referral_id_for(uow.tenant, cmd.request_id)
        referral = Referral.receive(
            uow.tenant,
            cmd,
            named_ep_id=await referrals.named_ep(uow.tenant, cmd.child.school_urn),
            consent=await referrals.consent_of(uow.tenant, referral_id) or NO_CONSENT_YET,
        )
    await referrals.add(referral, uow.context.actor)
    for event in referral.events:
        uow.publish(event)
    return referral.referral_id


async def record_consent_status(cmd: commands.RecordConsentStatus, uow: UnitOfWork) -> None:
    """Keep consent's latest answer; apply it to the referral if it is known yet."""
    referrals = ReferralRepository(uow.conn)
    consent = ConsentView(cmd.involvement, cmd.involvement_valid, cmd.reason)
    await referrals.record_consent(uow.tenant, cmd.referral_id, consent)
    referral = await referrals.get(uow.tenant, cmd.referral_id)
    if referral is not None:
        referral.apply_consent(consent)
        await _save(referrals, referral, uow)


async def record_named_ep(cmd: commands.RecordNamedEp, uow: UnitOfWork) -> None:
    """Keep each school's named EP (the school is then known) and route its untriaged
    referrals to them."""
    referrals = ReferralRepository(uow.conn)
    await referrals.lock(uow.tenant, f"school:{cmd.school_urn}")  # see register_referral
    await referrals.register_school(uow.tenant, cmd.school_urn, None, "named_ep")
    await uow.release(school_awaited(uow.tenant, cmd.school_urn))
    if not await referrals.record_named_ep(
        uow.tenant, cmd.school_urn, cmd.ep_id, cmd.effective_from
    ):
        return
    for referral in await referrals.awaiting_routing(uow.tenant, cmd.school_urn, cmd.ep_id):
        referral.route_to(cmd.ep_id)
        await _save(referrals, referral, uow)


async def register_school(cmd: commands.RegisterSchool, uow: UnitOfWork) -> None:
    """Add a school to the LA's register: requests may name it, with or without a named EP."""
    referrals = ReferralRepository(uow.conn)
    await referrals.lock(uow.tenant, f"school:{cmd.school_urn}")  # see register_referral
    await referrals.register_school(uow.tenant, cmd.school_urn, cmd.name, "register")
    await uow.release(school_awaited(uow.tenant, cmd.school_urn))


async def set_graduated_approach_minimum(
    cmd: commands.SetGraduatedApproachMinimum, uow: UnitOfWork
) -> GraduatedApproachMinimum:
    """Configuration, not code: applies to requests submitted from now on."""
    minimum = GraduatedApproachMinimum(cmd.review_cycles, cmd.strategies, cmd.months_on_sen_support)
    await ReferralRepository(uow.conn).set_graduated_approach_minimum(uow.tenant, minimum)
    return minimum


async def _change(
    uow: UnitOfWork, referral_id: uuid.UUID, change: Callable[[Referral], None]
) -> None:
    referrals = ReferralRepository(uow.conn)
    referral = await referrals.get(uow.tenant, referral_id)
    if referral is None:
        raise NotFound("no such referral")
    change(referral)
    await _save(referrals, referral, uow)


async def accept_referral(cmd: commands.AcceptReferral, uow: UnitOfWork, senior: bool) -> None:
    def accept(referral: Referral) -> None:
        referral.check_triager(cmd.ep_id, senior=senior)
        referral.accept(cmd.ep_id)

    await _change(uow, cmd.referral_id, accept)


async def decline_referral(
    cmd: commands.DeclineReferral, uow: UnitOfWork, ep_id: str, senior: bool
) -> None:
    def decline(referral: Referral) -> None:
        referral.check_triager(ep_id, senior=senior)
        referral.decline(cmd.reason)

    await _change(uow, cmd.referral_id, decline)


async def redirect_referral(
    cmd: commands.RedirectReferral, uow: UnitOfWork, ep_id: str, senior: bool
) -> None:
    def redirect(referral: Referral) -> None:
        referral.check_triager(ep_id, senior=senior)
        referral.redirect(cmd.destination, cmd.reason, cmd.service_name)

    await _change(uow, cmd.referral_id, redirect)


async def start_casework_stage(cmd: commands.StartCaseworkStage, uow: UnitOfWork) -> None:
    await _change(
        uow, cmd.referral_id, lambda referral: referral.start_stage(cmd.stage, cmd.skip_reason)
    )


async def close_referral(cmd: commands.CloseReferral, uow: UnitOfWork) -> None:
    await _change(uow, cmd.referral_id, lambda r: r.close(cmd.feedback, cmd.closed_on))
