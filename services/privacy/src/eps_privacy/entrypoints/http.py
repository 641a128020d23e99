"""HTTP entrypoints of the privacy service (the LA's data-protection officer; the principal EP
may open and follow a subject access request). Every step is audited: a subject access
request and its bundle as ``subject-access-request/<id>``, holds and rectification under the
child (``child/<id>``), which each service's answer to a subject access request shows."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date
from typing import TypeAlias

from eps_chassis.access import OneRecord, audited_access
from eps_chassis.auth import Principal, Role, require_roles
from eps_chassis.configuration import configuration_routes
from eps_chassis.context import current_correlation
from eps_chassis.errors import Conflict
from eps_chassis.http import Purpose, json_body
from eps_chassis.service import ServiceRuntime, get_runtime
from eps_chassis.subject_access import SubjectAccessAnswer, audit_about, child_resource
from eps_contracts.base import ContractModel
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import Field

from eps_privacy import views
from eps_privacy.adapters.holders import Holders
from eps_privacy.domain import commands
from eps_privacy.domain.rules import MAX_EXTENSION_MONTHS, RetentionSchedule
from eps_privacy.service_layer import handlers
from eps_privacy.service_layer.unit_of_work import PostgresPrivacyUnitOfWork

Runtime: TypeAlias = ServiceRuntime[PostgresPrivacyUnitOfWork]

OFFICERS = require_roles(Role.DATA_PROTECTION)
REQUESTERS = require_roles(Role.DATA_PROTECTION, Role.PRINCIPAL_EP)


class OpenRequestBody(ContractModel):
    child_id: uuid.UUID = Field(description="The child the request is about.")
    requester: str = Field(
        min_length=1, max_length=200,
        description="Who asked: the child, a parent, or their representative (as recorded).",
    )  # fmt: skip
    received_on: date = Field(description="The day it was received (Europe/London).")


class OpenedRequest(ContractModel):
    request_id: uuid.UUID
    due_on: date


class ExtensionBody(ContractModel):
    further_months: int = Field(ge=1, le=MAX_EXTENSION_MONTHS)
    reason: str = Field(min_length=1, max_length=1000, description="Why the request is complex.")


class HoldBody(ContractModel):
    reason: str = Field(min_length=1, max_length=1000, description="e.g. a tribunal, an inquiry.")
    held_from: date = Field(description="From when the hold applies (Europe/London).")


class PlacedHold(ContractModel):
    hold_id: uuid.UUID


class LiftBody(ContractModel):
    reason: str = Field(min_length=1, max_length=1000)


class RectificationBody(ContractModel):
    given_name: str | None = Field(None, min_length=1, max_length=100)
    family_name: str | None = Field(None, min_length=1, max_length=100)
    date_of_birth: date | None = None
    reason: str = Field(min_length=1, max_length=1000, description="What was wrong.")


class ErasureBody(ContractModel):
    reason: str = Field(
        min_length=1, max_length=1000,
        description="Why the right to erasure applies (recorded with the erasure).",
    )  # fmt: skip


class OrderedErasure(ContractModel):
    erasure_id: uuid.UUID


class Rectified(ContractModel):
    rectification_id: uuid.UUID


class ScheduleBody(ContractModel):
    casework_years_after_birth: int = Field(
        ge=1, le=100, description="SEN and casework records: kept until the child's date of"
        " birth plus this many years (25 by default)."
    )  # fmt: skip
    subject_access_reminder_days: int = Field(
        ge=0, le=28, description="How many days before a subject access request is due its"
        " reminder comes (7 by default)."
    )  # fmt: skip


REQUEST = OneRecord(
    "subject-access-request", views.request, missing="no such subject access request",
    field="request_id",
)  # fmt: skip
HOLD = OneRecord("legal-hold", views.legal_hold, missing="no such legal hold", field="hold_id")


def router(holders: Holders, confirmers: list[str]) -> APIRouter:
    routes = APIRouter(prefix="/privacy", tags=["privacy"])

    @routes.post("/subject-access-requests", status_code=201, response_model=OpenedRequest)
    async def open_subject_access_request(
        principal: Principal = REQUESTERS,
        body: OpenRequestBody = json_body(OpenRequestBody),
        runtime: Runtime = Depends(get_runtime),
    ) -> OpenedRequest:
        """Open a subject access request about a child: due one calendar month from receipt."""
        request_id = uuid.uuid4()
        cmd = commands.OpenSubjectAccessRequest(
            request_id, body.child_id, body.requester, body.received_on
        )
        async with audited_access(
            runtime.uow, principal, action="open-subject-access-request",
            resource=f"subject-access-request/{request_id}",
        ) as access:  # fmt: skip
            due = await handlers.open_request(cmd, access.uow)
        return OpenedRequest(request_id=request_id, due_on=due)

    @routes.get(
        "/subject-access-requests/{request_id}", response_model=views.SubjectAccessRequestView
    )
    async def subject_access_request(
        request_id: uuid.UUID,
        principal: Principal = REQUESTERS,
        runtime: Runtime = Depends(get_runtime),
    ) -> views.SubjectAccessRequestView:
        """The request: when it was received, when it is due, whether it was answered."""
        return await REQUEST.act(runtime.uow, principal, request_id, action="read")

    @routes.post(
        "/subject-access-requests/{request_id}/extension",
        response_model=views.SubjectAccessRequestView,
    )
    async def extend_subject_access_request(
        request_id: uuid.UUID,
        principal: Principal = OFFICERS,
        body: ExtensionBody = json_body(ExtensionBody),
        runtime: Runtime = Depends(get_runtime),
    ) -> views.SubjectAccessRequestView:
        """A complex request: due up to two further months later, with the reason."""
        cmd = commands.ExtendSubjectAccessRequest(request_id, body.further_months, body.reason)

        async def extend(uow: PostgresPrivacyUnitOfWork) -> None:
            await handlers.extend_request(cmd, uow)

        return await REQUEST.act(runtime.uow, principal, request_id, action="extend", work=extend)

    async def _bundle(
        request_id: uuid.UUID, principal: Principal, runtime: Runtime, request: Request
    ) -> views.Bundle:
        async with audited_access(
            runtime.uow, principal, action="assemble-bundle",
            resource=f"subject-access-request/{request_id}",
        ) as access:  # fmt: skip
            shown = await REQUEST.show(access, request_id)
            own = await views.held_about_child(access.uow, shown.child_id)
        authorization = request.headers["authorization"]
        answers, unanswered = await holders.answers(
            shown.child_id, authorization, str(current_correlation() or uuid.uuid4())
        )
        async with audited_access(
            runtime.uow, principal, action="subject-access",
            resource=child_resource(shown.child_id),
        ) as access:  # fmt: skip
            mine = SubjectAccessAnswer(
                service="privacy", child_id=shown.child_id, holds_children_records=True,
                records=own,
                audit=await audit_about(
                    access.uow,
                    [child_resource(shown.child_id), *(r.resource for r in own)],
                ),
            )  # fmt: skip
        everything = sorted([*answers, mine], key=lambda a: a.service)
        held = [r for a in everything for r in a.records]
        return views.Bundle(
            request=shown,
            assembled_at=runtime.clock(),
            complete=not unanswered,
            unanswered=[views.Unanswered(service=u.service, reason=u.reason) for u in unanswered],
            answers=everything,
            records=len(held),
            to_review=sum(1 for r in held if r.third_party),
        )

    @routes.get("/subject-access-requests/{request_id}/bundle", response_model=views.Bundle)
    async def subject_access_bundle(
        request_id: uuid.UUID,
        request: Request,
        principal: Principal = REQUESTERS,
        runtime: Runtime = Depends(get_runtime),
    ) -> views.Bundle:
        """Everything every service holds about the child, with who looked at it; records
        holding third parties' data are marked for a person to review for redaction. Each
        service is asked with the caller's own token (and audits it under their name); one that
        does not answer is named, and the bundle is marked incomplete."""
        return await _bundle(request_id, principal, runtime, request)

    @routes.get("/subject-access-requests/{request_id}/bundle.html", response_class=HTMLResponse)
    async def subject_access_bundle_page(
        request_id: uuid.UUID,
        request: Request,
        principal: Principal = REQUESTERS,
        runtime: Runtime = Depends(get_runtime),
    ) -> HTMLResponse:
        """The same bundle as a page a person reads (third parties' data highlighted)."""
        return HTMLResponse(
            views.bundle_html(await _bundle(request_id, principal, runtime, request))
        )

    @routes.post(
        "/subject-access-requests/{request_id}/answer",
        response_model=views.SubjectAccessRequestView,
    )
    async def answer_subject_access_request(
        request_id: uuid.UUID,
        request: Request,
        principal: Principal = OFFICERS,
        runtime: Runtime = Depends(get_runtime),
    ) -> views.SubjectAccessRequestView:
        """The bundle was reviewed and given to the requester: the request is answered (409
        while a service does not answer: the bundle is incomplete)."""
        bundle = await _bundle(request_id, principal, runtime, request)

        async def answer(uow: PostgresPrivacyUnitOfWork) -> None:
            if not bundle.complete:
                missing = ", ".join(u.service for u in bundle.unanswered)
                raise Conflict(f"the bundle is incomplete: no answer from {missing}")
            await handlers.answer_request(request_id, bundle.records, uow)

        return await REQUEST.act(runtime.uow, principal, request_id, action="answer", work=answer)

    @routes.post("/children/{child_id}/legal-holds", status_code=201, response_model=PlacedHold)
    async def place_legal_hold(
        child_id: uuid.UUID,
        principal: Principal = OFFICERS,
        body: HoldBody = json_body(HoldBody),
        runtime: Runtime = Depends(get_runtime),
    ) -> PlacedHold:
        """Suspend the erasure of the child's records (who, why, from when)."""
        hold_id = uuid.uuid4()
        async with audited_access(
            runtime.uow, principal, action="place-legal-hold", resource=child_resource(child_id)
        ) as access:
            await handlers.place_hold(
                commands.PlaceLegalHold(hold_id, child_id, body.reason, body.held_from),
                access.uow,
            )
        return PlacedHold(hold_id=hold_id)

    @routes.get("/children/{child_id}/legal-holds", response_model=list[views.LegalHoldView])
    async def legal_holds(
        child_id: uuid.UUID,
        principal: Principal = OFFICERS,
        runtime: Runtime = Depends(get_runtime),
    ) -> list[views.LegalHoldView]:
        """Every hold on the child's records, lifted or not."""
        async with audited_access(
            runtime.uow, principal, action="read-legal-holds", resource=child_resource(child_id)
        ) as access:
            return await views.legal_holds(access.uow, child_id)

    @routes.post("/legal-holds/{hold_id}/lifting", response_model=views.LegalHoldView)
    async def lift_legal_hold(
        hold_id: uuid.UUID,
        principal: Principal = OFFICERS,
        body: LiftBody = json_body(LiftBody),
        runtime: Runtime = Depends(get_runtime),
    ) -> views.LegalHoldView:
        """Lift a hold (by whom, why): the retention schedule applies again."""

        async def lift(uow: PostgresPrivacyUnitOfWork) -> None:
            await handlers.lift_hold(commands.LiftLegalHold(hold_id, body.reason), uow)

        return await HOLD.act(runtime.uow, principal, hold_id, action="lift", work=lift)

    @routes.post("/children/{child_id}/rectification", status_code=202, response_model=Rectified)
    async def rectify_child(
        child_id: uuid.UUID,
        principal: Principal = OFFICERS,
        body: RectificationBody = json_body(RectificationBody),
        runtime: Runtime = Depends(get_runtime),
        x_purpose: Purpose = None,
    ) -> Rectified:
        """Correct the child's details: every service holding them applies the correction."""
        cmd = commands.RectifyChild(
            child_id, body.given_name, body.family_name, body.date_of_birth, body.reason
        )
        async with audited_access(
            runtime.uow, principal, action="rectify", resource=child_resource(child_id),
            purpose=x_purpose,
        ) as access:  # fmt: skip
            rectification_id = await handlers.rectify(cmd, access.uow)
        return Rectified(rectification_id=rectification_id)

    @routes.post("/children/{child_id}/erasure", status_code=202, response_model=OrderedErasure)
    async def erase_child(
        child_id: uuid.UUID,
        principal: Principal = OFFICERS,
        body: ErasureBody = json_body(ErasureBody),
        runtime: Runtime = Depends(get_runtime),
    ) -> OrderedErasure:
        """The right to erasure: every service erases the child's records and confirms (409
        while a legal hold stands, or once erased)."""
        async with audited_access(
            runtime.uow, principal, action="erase", resource=child_resource(child_id),
            purpose=body.reason,
        ) as access:  # fmt: skip
            erasure_id = await handlers.erase_on_request(
                commands.EraseChild(child_id, body.reason), access.uow, confirmers
            )
        return OrderedErasure(erasure_id=erasure_id)

    @routes.get("/erasures", response_model=list[views.ErasureView])
    async def erasure_report(
        since: date | None = None,
        principal: Principal = OFFICERS,
        runtime: Runtime = Depends(get_runtime),
    ) -> list[views.ErasureView]:
        """What was erased, when, under which rule, and each service's confirmation."""
        async with audited_access(
            runtime.uow, principal, action="read", resource="erasures"
        ) as access:
            return await views.erasures(access.uow, since)

    async def read_schedule(uow: PostgresPrivacyUnitOfWork) -> ScheduleBody:
        return ScheduleBody.model_validate(asdict(await uow.records.schedule()))

    async def write_schedule(body: ScheduleBody, uow: PostgresPrivacyUnitOfWork) -> ScheduleBody:
        await uow.records.set_schedule(RetentionSchedule(**body.model_dump()))
        return body

    configuration_routes(
        routes, "retention", ScheduleBody, read=read_schedule, write=write_schedule,
        readers=OFFICERS, writers=OFFICERS,
        description="The LA's retention schedule: casework records until the child's date of"
        " birth plus so many years, and how soon before a subject access request is due its"
        " reminder comes.",
    )  # fmt: skip
    return routes
