"""Service-layer handlers of the referrals service: each takes a command and the unit of work,
loads through its repositories, asks the domain, and saves. The unit of work publishes what the
referrals recorded when it commits."""

from __future__ import annotations

import uuid

from eps_chassis.errors import NotFound, reference
from eps_chassis.london import london_date

from eps_referrals.domain import commands
from eps_referrals.domain.evidence import GraduatedApproachMinimum, check_request, check_school
from eps_referrals.domain.model import (
    NO_CONSENT_YET,
    ConsentView,
    Referral,
    child_id_for,
    referral_id_for,
)
from eps_referrals.service_layer.unit_of_work import ReferralsUnitOfWork


def school_awaited(tenant: str, school_urn: str) -> str:
    """What an upstream request naming a school not yet in the register waits for."""
    return reference("school", tenant, school_urn)


async def _load(uow: ReferralsUnitOfWork, referral_id: uuid.UUID) -> Referral:
    referral = await uow.referrals.get(referral_id)
    if referral is None:
        raise NotFound("no such referral")
    return referral


async def register_referral(cmd: commands.RegisterReferral, uow: ReferralsUnitOfWork) -> uuid.UUID:
    """Register a request for involvement.

    The same request twice is one referral; another request from the same requester about a
    child with an open referral is linked to it as a duplicate, not doubled.
    """
    await uow.referrals.lock_request(cmd.request_id)
    existing = await uow.referrals.id_for_request(cmd.request_id)
    if existing is not None:
        return existing
    check_request(cmd, await uow.configuration.graduated_approach_minimum())
    school_urn = cmd.child.school_urn
    if school_urn is not None:
        # the school's registration or named EP arriving now either sees this referral or is
        # seen by it, never neither (both take this lock)
        await uow.schools.lock(school_urn)
        check_school(school_urn, await uow.schools.register_for(school_urn))
    child_id = child_id_for(uow.tenant, cmd)
    await uow.referrals.lock_child(child_id)
    open_one = await uow.referrals.open_referral_of(child_id, cmd.requester.person_id)
    if open_one is not None:
        referral = Referral.link_duplicate(uow.tenant, cmd, open_one)
    else:
        referral_id = referral_id_for(uow.tenant, cmd.request_id)
        referral = Referral.receive(
            uow.tenant,
            cmd,
            named_ep_id=await uow.schools.named_ep(school_urn),
            consent=await uow.consent.get(referral_id) or NO_CONSENT_YET,
        )
    await uow.referrals.add(referral)
    return referral.referral_id


async def record_consent_status(
    cmd: commands.RecordConsentStatus, uow: ReferralsUnitOfWork
) -> None:
    """Keep consent's latest answer; apply it to the referral if it is known yet (another local
    authority's referral is refused before anything is kept)."""
    consent = ConsentView(cmd.involvement, cmd.involvement_valid, cmd.reason)
    referral = await uow.referrals.get(cmd.referral_id)
    await uow.consent.set(cmd.referral_id, consent)
    if referral is not None:
        referral.apply_consent(consent)
        await uow.referrals.save(referral)


async def record_named_ep(cmd: commands.RecordNamedEp, uow: ReferralsUnitOfWork) -> None:
    """Keep each school's named EP (the school is then known) and route its untriaged
    referrals to them."""
    await uow.schools.lock(cmd.school_urn)  # see register_referral
    await uow.schools.register(cmd.school_urn, None, "named_ep")
    await uow.release(school_awaited(uow.tenant, cmd.school_urn))
    if not await uow.schools.record_named_ep(cmd.school_urn, cmd.ep_id, cmd.effective_from):
        return
    for referral in await uow.referrals.awaiting_routing(cmd.school_urn, cmd.ep_id):
        referral.route_to(cmd.ep_id)
        await uow.referrals.save(referral)


async def register_school(cmd: commands.RegisterSchool, uow: ReferralsUnitOfWork) -> None:
    """Add a school to the LA's register: requests may name it, with or without a named EP."""
    await uow.schools.lock(cmd.school_urn)  # see register_referral
    await uow.schools.register(cmd.school_urn, cmd.name, "register")
    await uow.release(school_awaited(uow.tenant, cmd.school_urn))


async def set_graduated_approach_minimum(
    cmd: commands.SetGraduatedApproachMinimum, uow: ReferralsUnitOfWork
) -> GraduatedApproachMinimum:
    """Configuration, not code: applies to requests submitted from now on."""
    minimum = GraduatedApproachMinimum(cmd.review_cycles, cmd.strategies, cmd.months_on_sen_support)
    await uow.configuration.set_graduated_approach_minimum(minimum)
    return minimum


async def accept_referral(cmd: commands.AcceptReferral, uow: ReferralsUnitOfWork) -> None:
    referral = await _load(uow, cmd.referral_id)
    referral.check_triager(cmd.ep_id, senior=cmd.senior)
    referral.accept(cmd.ep_id)
    await uow.referrals.save(referral)


async def decline_referral(cmd: commands.DeclineReferral, uow: ReferralsUnitOfWork) -> None:
    referral = await _load(uow, cmd.referral_id)
    referral.check_triager(cmd.ep_id, senior=cmd.senior)
    referral.decline(cmd.reason)
    await uow.referrals.save(referral)


async def redirect_referral(cmd: commands.RedirectReferral, uow: ReferralsUnitOfWork) -> None:
    referral = await _load(uow, cmd.referral_id)
    referral.check_triager(cmd.ep_id, senior=cmd.senior)
    referral.redirect(cmd.destination, cmd.reason, cmd.service_name)
    await uow.referrals.save(referral)


async def start_casework_stage(cmd: commands.StartCaseworkStage, uow: ReferralsUnitOfWork) -> None:
    referral = await _load(uow, cmd.referral_id)
    referral.start_stage(cmd.stage, cmd.skip_reason)
    await uow.referrals.save(referral)


async def close_referral(cmd: commands.CloseReferral, uow: ReferralsUnitOfWork) -> None:
    referral = await _load(uow, cmd.referral_id)
    referral.close(cmd.feedback, london_date(uow.clock()))
    await uow.referrals.save(referral)
