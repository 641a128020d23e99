"""The local authorities the platform knows, those a deployment serves, and the refusal of an
event or a token of any other."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from eps_chassis.auth import AuthError, Role, TokenVerifier, ensure_local_keys, issue_token
from eps_chassis.consumer import ConsumerRuntime, EventConsumer
from eps_chassis.decoding import Invalid, Valid
from eps_chassis.settings import ServiceSettings
from eps_chassis.tenancy import LocalAuthorities
from eps_contracts import topics
from eps_contracts.envelope import TenantId
from eps_contracts.local_authorities import LOCAL_AUTHORITIES, closest_id, local_authority
from pydantic import TypeAdapter, ValidationError

from tests.support.builders import referrals as builders
from tests.support.cloudevents import KafkaMessage, consumer_record
from tests.support.infra import REPO

SERVED = LocalAuthorities(["leicester-city", "rutland"])


# --- the registry ---------------------------------------------------------------------------


def test_the_registry_holds_englands_153_local_authorities_once_each() -> None:
    assert len(LOCAL_AUTHORITIES) == 153
    assert len({la.id for la in LOCAL_AUTHORITIES}) == 153
    assert len({la.code for la in LOCAL_AUTHORITIES}) == 153
    assert all(201 <= la.code <= 999 for la in LOCAL_AUTHORITIES)
    assert local_authority("leicester-city").code == 856  # type: ignore[union-attr]
    assert local_authority("rutland").name == "Rutland"  # type: ignore[union-attr]


def test_an_id_is_the_name_in_lower_case_with_hyphens_and_fits_the_envelope() -> None:
    cities = {"leicester-city", "nottingham-city", "derby-city"}  # beside counties of their name
    tenant = TypeAdapter(TenantId)
    for la in LOCAL_AUTHORITIES:
        name = la.name.removesuffix(", City of").removesuffix(", County of")
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        assert la.id == (f"{slug}-city" if la.id in cities else slug)
        assert tenant.validate_python(la.id) == la.id
    assert {la.id for la in LOCAL_AUTHORITIES} >= cities


def test_the_published_table_is_the_registry() -> None:
    with (REPO / "contracts" / "local-authorities.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["id"], int(r["code"]), r["name"]) for r in rows] == [
        (la.id, la.code, la.name) for la in LOCAL_AUTHORITIES
    ]


def test_a_typo_is_answered_with_the_id_it_most_likely_meant() -> None:
    assert closest_id("leicester-cty") == "leicester-city"
    assert closest_id("rutlnd") == "rutland"
    assert closest_id("x1") is None


# --- what a deployment serves ---------------------------------------------------------------


def test_a_deployment_serves_every_known_authority_unless_it_names_some() -> None:
    assert "knowsley" in LocalAuthorities() and "leicester-cty" not in LocalAuthorities()
    assert "rutland" in SERVED and "knowsley" not in SERVED


def test_it_cannot_be_told_to_serve_an_authority_the_platform_does_not_know() -> None:
    with pytest.raises(ValueError, match="unknown local authority 'leicester-cty'"):
        LocalAuthorities(["leicester-cty"])


def test_the_setting_names_them_comma_separated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EPS_LOCAL_AUTHORITIES", "leicester-city, rutland")
    settings = ServiceSettings()
    assert settings.local_authorities == ("leicester-city", "rutland")
    assert settings.served_local_authorities().ids == SERVED.ids
    assert settings.as_environment()["EPS_LOCAL_AUTHORITIES"] == "leicester-city,rutland"
    monkeypatch.setenv("EPS_LOCAL_AUTHORITIES", "leicester-city,leicester-cty")
    with pytest.raises(ValidationError, match="did you mean 'leicester-city'"):
        ServiceSettings()
    monkeypatch.delenv("EPS_LOCAL_AUTHORITIES")
    assert ServiceSettings().served_local_authorities().ids == LocalAuthorities().ids


# --- events ---------------------------------------------------------------------------------

consumer = EventConsumer(name="tenancy", topics=[topics.UPSTREAM_REFERRAL_REQUESTS])


@consumer.on(builders.ReferralRequested)
async def handle(event: object, uow: object) -> None:  # pragma: no cover - never called here
    raise AssertionError


def event_of(tenant: str) -> bytes:
    body = json.loads(builders.upstream_envelope().model_dump_json())
    return json.dumps({**body, "tenant": tenant}).encode()


def decoded(value: bytes) -> Valid | Invalid:
    record = consumer_record(KafkaMessage(b"k", [], value), topics.UPSTREAM_REFERRAL_REQUESTS.name)
    item = consumer.decode(record)
    assert isinstance(item, Valid | Invalid)
    return item


@pytest.fixture
def serving() -> ConsumerRuntime:
    runtime = ConsumerRuntime(pool=None, service="test", source="/test", local_authorities=SERVED)
    consumer.bind(runtime)
    return runtime


def test_an_event_of_an_authority_served_here_is_valid(serving: ConsumerRuntime) -> None:
    assert isinstance(decoded(event_of("rutland")), Valid)


def test_an_event_of_an_unknown_authority_is_invalid_saying_so(serving: ConsumerRuntime) -> None:
    item = decoded(event_of("leicester-cty"))
    assert isinstance(item, Invalid)
    assert item.reason == (
        "tenant: unknown local authority 'leicester-cty' (did you mean 'leicester-city'?)"
    )


def test_an_event_of_an_authority_not_served_here_is_invalid_saying_so(
    serving: ConsumerRuntime,
) -> None:
    item = decoded(event_of("leicestershire"))
    assert isinstance(item, Invalid)
    assert item.reason == "tenant: local authority 'leicestershire' is not served here"


# --- tokens ---------------------------------------------------------------------------------


def test_a_token_of_an_unknown_or_unserved_authority_is_refused(tmp_path: Path) -> None:
    private, public = ensure_local_keys(tmp_path / "keys")
    verifier = TokenVerifier.from_public_key_file(public, "eps-local", "eps-api", SERVED)

    def token(tenant: str) -> str:
        return issue_token(private.read_bytes(), subject="jo", role=Role.EP, tenant=tenant)

    assert verifier.verify(token("rutland")).tenant == "rutland"
    with pytest.raises(AuthError, match=r"la: unknown local authority 'x1'$"):
        verifier.verify(token("x1"))
    with pytest.raises(AuthError, match="la: local authority 'leicestershire' is not served"):
        verifier.verify(token("leicestershire"))
