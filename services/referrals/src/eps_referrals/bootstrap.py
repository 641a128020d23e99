"""Composition root of the referrals service."""

from __future__ import annotations

from pathlib import Path

from eps_chassis.service import Service, ServiceDefinition
from eps_chassis.subject_access import ChildRecords
from eps_contracts import topics

from eps_referrals import views
from eps_referrals.adapters import repository
from eps_referrals.entrypoints import events, http
from eps_referrals.service_layer.unit_of_work import PostgresReferralsUnitOfWork
from eps_referrals.settings import ReferralsSettings


def definition(settings: ReferralsSettings) -> ServiceDefinition:
    return ServiceDefinition(
        name="referrals",
        local_port=8001,
        description="Requests for EP involvement and the casework that follows.",
        migrations=Path(__file__).parent / "migrations",
        unit_of_work=PostgresReferralsUnitOfWork,
        consumers=[events.upstream, events.consent, events.schools],
        routers=[http.router],
        publishes=[topics.REFERRALS],
        child_records=ChildRecords(
            views.held_about_child, repository.erase_child, repository.rectify_child
        ),
    )


SERVICE = Service(ReferralsSettings, definition)
