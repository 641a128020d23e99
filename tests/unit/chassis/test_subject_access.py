"""Every service answers a subject access request in one shape, and every service that keeps a
child's records acts on the privacy service's orders about them."""

from __future__ import annotations

import pytest
from eps_chassis.service import installed_services, service_app
from eps_contracts.privacy import (
    CHILD_RECORDS,
    ERASURE_CONFIRMATIONS,
    ChildDetailsRectified,
    ChildErasureOrdered,
)
from eps_privacy.settings import LOCAL_HOLDERS, PrivacySettings

SERVICES = {d.name: d for d in installed_services()}
HOLDERS = {"consent", "referrals", "scheduling", "statutory"}
KEEP_DETAILS = {"consent", "referrals", "statutory"}  # the child's name or date of birth


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_answers_for_a_child_to_the_officer_and_the_principal_ep(name: str) -> None:
    document = service_app(SERVICES[name]).openapi()
    operation = document["paths"][f"/{name}/subject-access/children/{{child_id}}"]["get"]
    assert operation["x-eps-roles"] == ["data_protection", "principal_ep"]
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/SubjectAccessAnswer"}


def test_the_holders_of_childrens_records_erase_rectify_and_confirm() -> None:
    holders = {n for n, d in SERVICES.items() if d.child_records is not None}
    assert holders == HOLDERS
    for name in holders:
        definition = SERVICES[name]
        consumer = next(c for c in definition.consumers if c.name == "child-records")
        assert consumer.topics == (CHILD_RECORDS,)
        handled = set(consumer.handled_event_types)
        assert ChildErasureOrdered in handled
        assert (ChildDetailsRectified in handled) == (name in KEEP_DETAILS)
        assert ERASURE_CONFIRMATIONS in definition.publishes
    assert set(PrivacySettings().privacy_erasure_confirmers) == HOLDERS


def test_the_privacy_service_asks_every_other_service_under_make_run() -> None:
    assert set(LOCAL_HOLDERS) == set(SERVICES) - {"privacy"}
    ports = {n: int(url.rsplit(":", 1)[1]) for n, url in LOCAL_HOLDERS.items()}
    assert ports == {n: SERVICES[n].local_port for n in LOCAL_HOLDERS}
