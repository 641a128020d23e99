"""Service-layer handlers: load, call the domain, save, publish, all in one unit of work."""

from __future__ import annotations

import uuid

from eps_chassis.unit_of_work import UnitOfWork

from eps_referrals.adapters.repository import ReferralRepository
from eps_referrals.domain.commands import RegisterReferral
from eps_referrals.domain.model import Referral


async def register_referral(cmd: RegisterReferral, uow: UnitOfWork) -> uuid.UUID:
    """Register a request for involvement; a request already registered is not doubled."""
    referrals = ReferralRepository(uow.conn)
    await referrals.lock_request(uow.tenant, cmd.request_id)
    existing = await referrals.id_for_request(uow.tenant, cmd.request_id)
    if existing is not None:
        return existing
    referral = Referral.receive(uow.tenant, cmd)
    await referrals.add(referral)
    for event in referral.events:
        uow.publish(event)
    return referral.referral_id
