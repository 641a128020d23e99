"""A service's Postgres unit of work names the repository behind each one its port declares:
built when it opens, and a port's repository left unnamed fails when the class is defined."""

from __future__ import annotations

from typing import Any, cast

import pytest
from eps_billing.service_layer.unit_of_work import PostgresBillingUnitOfWork
from eps_chassis.context import MessageContext
from eps_chassis.unit_of_work import PostgresRepository, PostgresUnitOfWork, UnitOfWork
from eps_consent.service_layer.unit_of_work import PostgresConsentUnitOfWork
from eps_incidents.service_layer.unit_of_work import PostgresIncidentsUnitOfWork
from eps_referrals.service_layer.unit_of_work import PostgresReferralsUnitOfWork
from eps_scheduling.service_layer.unit_of_work import PostgresSchedulingUnitOfWork
from eps_statutory.service_layer.unit_of_work import PostgresStatutoryUnitOfWork


class Notes:
    pass


class Tags:
    pass


class NotesUnitOfWork(UnitOfWork):
    notes: Notes
    tags: Tags


class PostgresNotes(Notes, PostgresRepository):
    pass


class PostgresTags(Tags, PostgresRepository):
    pass


CONTEXT = MessageContext("leicester-city", "user:ep-1")


def test_each_named_repository_is_built_on_the_unit_of_work() -> None:
    class PostgresNotesUnitOfWork(PostgresUnitOfWork, NotesUnitOfWork):
        repositories = {"notes": PostgresNotes, "tags": PostgresTags}

    conn = cast(Any, object())
    uow = PostgresNotesUnitOfWork(conn, CONTEXT, "notes")
    assert isinstance(uow.notes, PostgresNotes) and isinstance(uow.tags, PostgresTags)
    assert uow.notes.conn is conn and uow.tags.tenant == "leicester-city"
    child = uow.for_tenant("rutland")  # a child builds its own
    assert isinstance(child.notes, PostgresNotes) and child.notes.tenant == "rutland"


def test_a_repository_left_unnamed_fails_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match=r"names no repository for \['tags'\]"):

        class Forgetful(PostgresUnitOfWork, NotesUnitOfWork):
            repositories = {"notes": PostgresNotes}


def test_a_repository_the_port_does_not_declare_fails_too() -> None:
    with pytest.raises(TypeError, match=r"declares no \['extra'\]"):

        class Inventive(PostgresUnitOfWork, NotesUnitOfWork):
            repositories = {"notes": PostgresNotes, "tags": PostgresTags, "extra": PostgresTags}


@pytest.mark.parametrize(
    "unit_of_work",
    [
        PostgresBillingUnitOfWork,
        PostgresConsentUnitOfWork,
        PostgresIncidentsUnitOfWork,
        PostgresReferralsUnitOfWork,
        PostgresSchedulingUnitOfWork,
        PostgresStatutoryUnitOfWork,
    ],
)
def test_every_service_builds_every_repository_its_port_declares(
    unit_of_work: type[PostgresUnitOfWork],
) -> None:
    uow = unit_of_work(cast(Any, object()), CONTEXT, "test")
    assert unit_of_work.repositories  # every service has some
    for name, repository in unit_of_work.repositories.items():
        assert isinstance(getattr(uow, name), repository)
