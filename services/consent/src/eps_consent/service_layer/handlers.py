"""Service-layer handlers of the consent service."""

from __future__ import annotations

from eps_chassis.unit_of_work import UnitOfWork

from eps_consent.adapters.repository import ConsentCaseRepository
from eps_consent.domain.commands import OpenConsentCase
from eps_consent.domain.model import ConsentCase


async def open_consent_case(cmd: OpenConsentCase, uow: UnitOfWork) -> None:
    case = ConsentCase.open(uow.tenant, cmd)
    if await ConsentCaseRepository(uow.conn).add(case):
        for event in case.events:
            uow.publish(event)
