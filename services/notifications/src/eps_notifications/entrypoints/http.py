"""HTTP entrypoints of the notifications service: the LA's contacts (who is reachable how) and
what was sent about an incident. Both audited."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from typing import TypeAlias

from eps_chassis.access import audited_access
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.configuration import configuration_routes
from eps_chassis.http import Purpose as AccessPurpose
from eps_chassis.service import ServiceRuntime, get_runtime
from eps_contracts.base import ContractModel
from eps_contracts.common import PersonId, SchoolUrn
from eps_contracts.notifications import Provider
from fastapi import APIRouter, Depends
from pydantic import Field, field_validator

from eps_notifications import views
from eps_notifications.domain.commands import SetContacts, SetSchools
from eps_notifications.domain.model import Contact, ContactDirectory, School
from eps_notifications.service_layer import handlers
from eps_notifications.service_layer.unit_of_work import (
    NotificationsUnitOfWork,
    PostgresNotificationsUnitOfWork,
)
from eps_notifications.views import Notifications

router = APIRouter(prefix="/notifications", tags=["notifications"])

READERS = require_roles(Role.COORDINATOR, Role.SENIOR_EP, Role.PRINCIPAL_EP, Role.ADMIN)
CONFIGURERS = require_roles(Role.PRINCIPAL_EP, Role.ADMIN)

Runtime: TypeAlias = ServiceRuntime[PostgresNotificationsUnitOfWork]


class ContactBody(ContractModel):
    person_id: PersonId
    mobile: str | None = Field(
        None,
        pattern=r"^\+?[0-9][0-9 ]{6,19}$",
        description="Mobile number for SMS (UK or international format).",
    )
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    email_via: Provider = Field(
        Provider.GOVUK_NOTIFY,
        description="Who carries their email: GOV.UK Notify, or the LA's SMTP relay.",
    )


def _once_each(keys: Iterable[str], what: str) -> None:
    """A list replaced whole names each of its entries once (the table's key)."""
    twice = sorted(key for key, n in Counter(keys).items() if n > 1)
    if twice:
        raise ValueError(f"one entry per {what}; given more than once: {', '.join(twice)}")


class ContactsBody(ContractModel):
    contacts: tuple[ContactBody, ...] = Field((), max_length=2000)
    duty_person_id: PersonId | None = Field(
        None,
        description="Told of a breached target or an unassigned incident when no principal EP"
        " is known (e.g. the out-of-hours duty manager); needs contacts of their own.",
    )

    @field_validator("contacts")
    @classmethod
    def one_entry_per_person(cls, contacts: tuple[ContactBody, ...]) -> tuple[ContactBody, ...]:
        _once_each((c.person_id for c in contacts), "person")
        return contacts


def _body(directory: ContactDirectory) -> ContactsBody:
    return ContactsBody(
        contacts=tuple(
            ContactBody(
                person_id=c.person_id, mobile=c.mobile, email=c.email, email_via=c.email_via
            )
            for c in directory.contacts
        ),
        duty_person_id=directory.duty_person_id,
    )


async def _read_contacts(uow: NotificationsUnitOfWork) -> ContactsBody:
    return _body(await uow.contacts.directory())


async def _set_contacts(body: ContactsBody, uow: NotificationsUnitOfWork) -> ContactsBody:
    directory = ContactDirectory(
        contacts=tuple(Contact(c.person_id, c.mobile, c.email, c.email_via) for c in body.contacts),
        duty_person_id=body.duty_person_id,
    )
    return _body(await handlers.set_contacts(SetContacts(directory), uow))


configuration_routes(
    router,
    "contacts",
    ContactsBody,
    read=_read_contacts,
    write=_set_contacts,
    readers=READERS,
    writers=CONFIGURERS,
    description="How each person on call (coordinators, EPs, the principal EP) is reached: a"
    " mobile for SMS, an email address and who carries it. A page for someone not listed is"
    " recorded as failed, and the escalation chain moves on.",
)


class SchoolBody(ContractModel):
    school_urn: SchoolUrn
    name: str = Field(min_length=1, max_length=200, description="As the EPs know it.")
    address: str | None = Field(
        None, max_length=300, description="Where to go: told to each EP sent there."
    )


class SchoolsBody(ContractModel):
    schools: tuple[SchoolBody, ...] = Field((), max_length=5000)

    @field_validator("schools")
    @classmethod
    def one_entry_per_school(cls, schools: tuple[SchoolBody, ...]) -> tuple[SchoolBody, ...]:
        _once_each((s.school_urn for s in schools), "school")
        return schools


def _schools_body(schools: tuple[School, ...]) -> SchoolsBody:
    return SchoolsBody(
        schools=tuple(
            SchoolBody(school_urn=s.school_urn, name=s.name, address=s.address) for s in schools
        )
    )


async def _read_schools(uow: NotificationsUnitOfWork) -> SchoolsBody:
    return _schools_body(await uow.schools.all())


async def _set_schools(body: SchoolsBody, uow: NotificationsUnitOfWork) -> SchoolsBody:
    schools = tuple(School(s.school_urn, s.name, s.address) for s in body.schools)
    return _schools_body(await handlers.set_schools(SetSchools(schools), uow))


configuration_routes(
    router,
    "schools",
    SchoolsBody,
    read=_read_schools,
    write=_set_schools,
    readers=READERS,
    writers=CONFIGURERS,
    description="The schools' names and addresses, told to each EP sent to an incident there"
    " (a school not listed is named by its URN alone).",
)


@router.get("/incidents/{incident_id}", response_model=Notifications)
async def notifications_for_incident(
    incident_id: uuid.UUID,
    principal: Principal = READERS,
    runtime: Runtime = Depends(get_runtime),
    x_purpose: AccessPurpose = None,
) -> Notifications:
    """Every message about the incident: to whom (a person id), how, what it said, and what
    became of it (pending, sent, delivered, failed, withdrawn)."""
    async with audited_access(
        runtime.uow,
        principal,
        action="read",
        resource=f"incident/{incident_id}/notifications",
        purpose=x_purpose,
    ) as access:
        return await views.notifications_for(access.uow, incident_id)
