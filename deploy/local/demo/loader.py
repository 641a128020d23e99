"""Load the demo LA into running services, through their HTTP APIs and the upstream topics only.

Every step looks before it acts, or is idempotent in the service (a PUT of reference data, a
request id the service has seen, an event id its inbox has), so loading twice changes nothing.
Steps run concurrently wherever order allows: reference data first (EPs before the schools
that name them), then each piece of work walks its own path (a referral from its request to
the stage it is shown at, a request for advice to its draft or submission, an incident to its
close), each waiting only for what the services do in between.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from eps_contracts.common import PriorityGroup, RequesterKind
from eps_contracts.incidents import IncidentKind, IncidentReportSubmitted
from eps_contracts.referrals import (
    ChildDetails,
    GraduatedApproachEvidence,
    ParentalResponsibilityHolder,
    ReferralRequested,
    Requester,
)
from eps_contracts.statutory import AdviceDocument, PsychologicalAdviceRequested

from demo.api import Api, DemoError, eventually
from demo.la import Advice as AdviceRequest
from demo.la import (
    DemoLa,
    Ep,
    Incident,
    Referral,
    TradedVisit,
    academic_year,
    demo_id,
    london,
    weekday_on_or_after,
    weekday_on_or_before,
)

CASEWORK = ("consultation", "assessment", "joint_plan", "review")
ADVICE_HEADINGS = tuple(AdviceDocument.model_fields)


class Progress:
    """What the loader tells whoever shows its progress: a step of a part done."""

    def start(self, part: str, total: int) -> None: ...

    def advance(self, part: str, steps: int = 1) -> None: ...


@dataclass
class Loaded:
    """What the loader did: steps taken per part (0 on a second load where all was there)."""

    created: dict[str, int] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)  # HTTP requests made, by service

    def add(self, part: str, n: int = 1) -> None:
        self.created[part] = self.created.get(part, 0) + n


class Loader:
    def __init__(self, api: Api, la: DemoLa, progress: Progress | None = None) -> None:
        self.api, self.la = api, la
        self.progress = progress or Progress()
        self.loaded = Loaded()
        # work starts as soon as what it needs is there, not when everything is: a school's
        # referrals once the school is registered, incidents once the rota is
        self._registered = {school.urn: asyncio.Event() for school in la.schools}
        self._configured = asyncio.Event()

    async def _school_registered(self, urn: str) -> None:
        await self._registered[urn].wait()

    def already_loaded(self) -> Loader:
        """For acting on an LA loaded before (the living mode): nothing to wait for."""
        for registered in self._registered.values():
            registered.set()
        self._configured.set()
        return self

    # --- who acts ---------------------------------------------------------------------------

    @property
    def admin(self) -> dict[str, str]:
        return self.api.as_("admin", self.la.admin.person_id)

    @property
    def principal(self) -> dict[str, str]:
        return self.api.as_("principal_ep", self.la.principal.ep_id)

    @property
    def finance(self) -> dict[str, str]:
        return self.api.as_("finance", self.la.finance.person_id)

    @property
    def coordinator(self) -> dict[str, str]:
        return self.api.as_("coordinator", self.la.coordinators[0].person_id)

    def coordinator_on_call(self) -> dict[str, str]:
        """The coordinator on call now by the demo's rota (who alone may acknowledge): the
        rota changes hands at 08:00, so who that is depends on the hour the demo is loaded."""
        now = self.api.target.now()
        on_call = next(
            (
                shift.coordinator_id
                for shift in self.la.rota
                if shift.position == "primary" and shift.starts_at <= now < shift.ends_at
            ),
            self.la.coordinators[0].person_id,
        )
        return self.api.as_("coordinator", on_call)

    def ep(self, ep_id: str | None) -> dict[str, str]:
        ep = self.la.ep(ep_id) if ep_id else self.la.principal
        return self.api.as_(ep.token_role, ep.ep_id)

    def senco(self, school_urn: str) -> dict[str, str]:
        return self.api.as_("senco", f"senco-{school_urn}", school_urn)

    # --- the whole load ---------------------------------------------------------------------

    async def load(self) -> Loaded:
        la = self.la
        parts = {
            "EPs and schools": len(la.eps) + 3 * len(la.schools),
            "configuration": 3 + len(la.rota),
            "referrals": len(la.referrals),
            "statutory advice": len(la.advice),
            "traded work": len(la.traded_visits),
            "tariffs and SLAs": len(la.tariff_years) + sum(1 for s in la.schools if s.sla_days),
            "incidents": len(la.incidents),
        }
        for part, total in parts.items():
            self.progress.start(part, total)
        await gather(
            self._people_and_schools(),
            self._configuration(),
            self._billing(),
            *(self._referral(r) for r in la.referrals),
            *(self._advice(a) for a in la.advice),
            *(self._incident(i) for i in la.incidents),
        )
        return self.loaded

    # --- reference data ---------------------------------------------------------------------

    async def _people_and_schools(self) -> None:
        la, part = self.la, "EPs and schools"

        async def register_ep(ep: Ep) -> None:
            body = {
                "ep_id": ep.ep_id,
                "role": ep.role,
                "working_pattern": [{"weekday": d, "start": s, "end": e} for d, s, e in ep.days],
                "weekly_capacity_minutes": ep.weekly_minutes,
                "base_latitude": ep.base[0],
                "base_longitude": ep.base[1],
                "on_rota": ep.on_rota,
            }
            await self.api.call(
                "scheduling", "PUT", f"/scheduling/eps/{ep.ep_id}", self.admin, json=body
            )
            self.progress.advance(part)

        await gather(*(register_ep(ep) for ep in la.eps))

        async def register_school(urn: str) -> None:
            # the same named EP again announces nothing: only a change of EP is news
            school = la.school(urn)
            body = {
                "latitude": school.latitude,
                "longitude": school.longitude,
                "named_ep_id": school.named_ep_id,
                "effective_from": date(la.year, 9, 1).isoformat(),
            }
            core = {"core_minutes": school.core_minutes}
            await gather(
                self.api.call(
                    "scheduling", "PUT", f"/scheduling/schools/{urn}", self.admin, json=body
                ),
                self.api.call(
                    "referrals",
                    "PUT",
                    f"/referrals/schools/{urn}",
                    self.admin,
                    json={"name": school.name},
                ),
            )
            url = f"/scheduling/schools/{urn}/core-allocations/{la.year}"
            await self.api.call("scheduling", "PUT", url, self.admin, json=core)
            self._registered[urn].set()
            self.progress.advance(part, 3)

        # the schools with work to load first, so that their work can start
        busy = {r.school_urn for r in la.referrals} | {a.school_urn for a in la.advice}
        busy |= {v.school_urn for v in la.traded_visits} | {i.school_urn for i in la.incidents}
        ordered = sorted(la.schools, key=lambda school: school.urn not in busy)
        await gather(*(register_school(s.urn) for s in ordered))

    async def _configuration(self) -> None:
        la, part = self.la, "configuration"
        people = [*la.eps, *la.coordinators]
        contacts = {
            "contacts": [
                {
                    "person_id": getattr(p, "ep_id", None) or getattr(p, "person_id", ""),
                    "mobile": f"+44 7700 900{n:03d}",
                    "email": f"{(getattr(p, 'ep_id', None) or getattr(p, 'person_id', ''))}"
                    "@eps.leicester.example",
                    "email_via": "govuk_notify" if n % 2 else "smtp",
                }
                for n, p in enumerate(people, start=1)
            ],
            "duty_person_id": la.coordinators[0].person_id,
        }
        schools = {
            "schools": [
                {"school_urn": s.urn, "name": s.name, "address": s.address} for s in la.schools
            ]
        }
        policy = {
            "acknowledge_within_minutes": 15,
            "principal_ep_id": la.principal.ep_id,
            "rota_gap_lookahead_hours": 72,
        }
        steps: list[Awaitable[Any]] = [
            self.api.call(
                "notifications",
                "PUT",
                "/notifications/configuration/contacts",
                self.principal,
                json=contacts,
            ),
            self.api.call(
                "notifications",
                "PUT",
                "/notifications/configuration/schools",
                self.principal,
                json=schools,
            ),
            self.api.call(
                "incidents", "PUT", "/incidents/configuration/policy", self.principal, json=policy
            ),
        ]
        for step in steps:
            await step
            self.progress.advance(part)
        await self._rota()
        self._configured.set()

    async def _billing(self) -> None:
        """Traded work first, then the tariffs that price it (the SLAs meanwhile): time delivered in
        months now closed waits unpriced for its tariff, and is priced all at once when the
        tariff comes, so that billing closes those months with all of it on their invoices
        (a month closed before some of its time was priced would put that time on the next
        invoice as an adjustment)."""

        async def work_then_tariffs() -> None:
            await gather(*(self._traded(v) for v in self.la.traded_visits))
            await self._tariffs()

        # an SLA bought before its tariff waits unpriced and is priced when the tariff comes
        await gather(work_then_tariffs(), self._agreements())

    async def _tariffs(self) -> None:
        """This year's tariff and last year's, as finance keeps them: the LA's rules of a year
        carried forward to the next and confirmed (Leicester City's 2025/26 leaflet prices are
        the service's seed)."""
        listed = (await self.api.call("billing", "GET", "/billing/tariffs", self.finance)).json()
        tariffs: list[dict[str, Any]] = listed["tariffs"] if isinstance(listed, dict) else listed

        def covering(day: date) -> dict[str, Any] | None:
            return next(
                (
                    t
                    for t in tariffs
                    if date.fromisoformat(t["effective_from"])
                    <= day
                    <= date.fromisoformat(t["effective_to"])
                ),
                None,
            )

        for year in range(min(self.la.tariff_years) - 5, max(self.la.tariff_years) + 1):
            tariff = covering(date(year, 9, 1))
            before = covering(date(year - 1, 9, 1))
            if tariff is None and before is not None:
                url = f"/billing/tariffs/{before['tariff_id']}/carry-forward"
                tariff = (await self.api.call("billing", "POST", url, self.finance)).json()
                tariffs.append(tariff)
                self.loaded.add("tariffs")
            if tariff is not None and tariff["status"] == "draft":
                url = f"/billing/tariffs/{tariff['tariff_id']}/confirm"
                await self.api.call("billing", "POST", url, self.finance)
                tariff["status"] = "confirmed"
            if year in self.la.tariff_years:
                if tariff is None:
                    raise DemoError(f"no tariff for {year}/{year + 1 - 2000} to carry forward")
                self.progress.advance("tariffs and SLAs")

    async def _rota(self) -> None:
        hours = 24 * 31
        on_call = (
            await self.api.call(
                "incidents", "GET", "/incidents/rota", self.principal, params={"hours": str(hours)}
            )
        ).json()
        have = {
            (e["coordinator_id"], e["position"], _instant(e["starts_at"]), _instant(e["ends_at"]))
            for e in on_call["entries"]
        }

        now = self.api.target.now()

        async def add(shift: Any) -> None:
            key = (shift.coordinator_id, shift.position, shift.starts_at, shift.ends_at)
            # a shift already over (the rota starts at 08:00 yesterday, to cover the hours
            # before 08:00 today) is of no use, and the rota lists none: looking would not
            # find it, and loading again would add it again
            if key not in have and shift.ends_at > now:
                body = {
                    "coordinator_id": shift.coordinator_id,
                    "position": shift.position,
                    "starts_at": shift.starts_at.isoformat(),
                    "ends_at": shift.ends_at.isoformat(),
                }
                await self.api.call(
                    "incidents", "POST", "/incidents/rota/entries", self.principal, json=body
                )
                self.loaded.add("rota entries")
            self.progress.advance("configuration")

        await gather(*(add(s) for s in self.la.rota))

    async def _agreements(self) -> None:
        async def buy(urn: str, days: int) -> None:
            body = {"school_urn": urn, "academic_year": self.la.year, "days": days}
            response = await self.api.call(
                "billing",
                "POST",
                "/billing/agreements",
                self.finance,
                json=body,
                ok=(201, 202, 409),
            )
            if response.status_code != 409:  # 409: this year's SLA is already bought
                self.loaded.add("SLAs")
            self.progress.advance("tariffs and SLAs")

        await gather(*(buy(s.urn, s.sla_days) for s in self.la.schools if s.sla_days))

    # --- referrals --------------------------------------------------------------------------

    def _request(self, r: Referral) -> ReferralRequested:
        school = self.la.school(r.school_urn)
        kind = RequesterKind(r.source)
        who = {
            "school_senco": ("SENCO", school.name),
            "parent_carer": ("Parent", None),
            "virtual_school": ("Virtual School link", "Leicester Virtual School"),
            "social_worker": ("Social worker", "Children's Social Care"),
            "foster_carer": ("Foster carer", None),
            "send_service": ("SEND officer", "SEND Support Service"),
        }[r.source]
        holder = (
            ParentalResponsibilityHolder(
                person_id=r.parent_id, name="Leicester City Council", relationship="local authority"
            )
            if r.looked_after
            else ParentalResponsibilityHolder(
                person_id=r.parent_id, name=f"Sam {r.family_name}", relationship="parent"
            )
        )
        return ReferralRequested(
            request_id=r.request_id,
            requested_on=r.requested_on,
            requester=Requester(
                kind=kind,
                person_id=f"senco-{r.school_urn}"
                if r.source == "school_senco"
                else f"{r.source}-{r.number:03d}",
                name=f"{who[0]} ({r.number})",
                organisation=who[1],
                school_urn=r.school_urn if r.source == "school_senco" else None,
            ),
            child=ChildDetails(
                given_name=r.given_name,
                family_name=r.family_name,
                date_of_birth=r.date_of_birth,
                school_urn=r.school_urn,
                home_language="English",
                looked_after=r.looked_after,
                child_in_need=r.looked_after,
                parental_responsibility=(holder,),
                social_worker_id=r.social_worker_id,
            ),
            concerns=r.concerns,
            priority_groups=(PriorityGroup.LOOKED_AFTER,)
            if r.looked_after
            else (PriorityGroup.COMPLEX_SEND,),
            graduated_approach=GraduatedApproachEvidence(
                sen_support_since=r.requested_on - timedelta(days=400),
                review_cycles_completed=2,
                strategies_tried=("small-group phonics", "visual timetable", "soft start"),
                attainment_summary="Working below age-related expectations in reading.",
                attendance_percent=91.5,
            )
            if r.source == "school_senco"
            else None,
        )

    async def _referral(self, r: Referral) -> None:
        try:
            await self._walk_referral(r)
        except DemoError as e:
            raise DemoError(f"referral {r.case_ref} ({r.source}, to {r.target}): {e}") from e
        self.progress.advance("referrals")

    async def _walk_referral(self, r: Referral) -> None:
        await self._school_registered(r.school_urn)
        request = self._request(r)
        principal = self.principal
        if r.via_upstream:
            await self.api.publish(
                request,
                system="case-management",
                read_by="referrals",
                event_id=demo_id(self.la.tenant, "event", r.request_id),
            )

            async def became() -> dict[str, Any] | None:
                url = f"/referrals/requests/{r.request_id}"
                response = await self.api.call("referrals", "GET", url, principal, ok=(200, 404))
                shown = response.json() if response.status_code == 200 else {}
                return shown.get("referral")

            referral_id = (await eventually(became, "the referral registered"))["referral_id"]
        else:  # the same request again is the same referral: its id comes back
            who = self.senco(r.school_urn) if r.source == "school_senco" else self.coordinator
            submitted = await self.api.call(
                "referrals",
                "POST",
                f"/referrals/sources/{r.source}",
                who,
                content=request.model_dump_json(),
            )
            referral_id = submitted.json()["referral_id"]
        view = await self._referral_view(referral_id)
        if view["status"] in ("received", "awaiting_consent") and r.target != "awaiting_consent":
            await self._consent(r, referral_id, view.get("named_ep_id"))
            view = await self._wait_status(
                referral_id,
                lambda s: s != "awaiting_consent" and s != "received",
                "consent reaching the referral",
            )
        if r.target in ("awaiting_consent", "awaiting_triage"):
            return
        ep = self.ep(view["named_ep_id"])
        status = view["status"]
        if status == "awaiting_triage":
            if r.target == "declined":
                await self._act(
                    referral_id,
                    "decline",
                    ep,
                    {
                        "reason": "Needs can be met by the"
                        " school's graduated approach; advice given to the SENCO."
                    },
                )
                return
            if r.target == "redirected":
                body = {
                    "destination": "inclusion_forum",
                    "reason": "Behaviour at risk of exclusion: the partnership's Inclusion"
                    " Forum offers early help (tier 2).",
                }
                await self._act(referral_id, "redirect", ep, body)
                return
            status = (await self._act(referral_id, "accept", ep))["status"]
        if r.target in ("accepted", "declined", "redirected"):
            return
        last = "review" if r.target in ("closed", "review") else r.target
        if r.target == "paused":
            last = "consultation"
        for stage in CASEWORK[: CASEWORK.index(last) + 1]:
            if status == "accepted" or (
                status in CASEWORK and CASEWORK.index(status) < CASEWORK.index(stage)
            ):
                status = (await self._act(referral_id, "casework", ep, {"stage": stage}))["status"]
        if r.appointment_on is not None:
            await self._casework_visit(r, referral_id, view["named_ep_id"])
        if r.target == "closed" and status != "closed":
            await self._act(referral_id, "close", ep, _feedback(self.la.school(r.school_urn).name))
        if r.target == "paused" and status != "paused":
            withdrawal = {
                "consenter_id": r.parent_id,
                "scope": "involvement",
                "decision": "withdrawn",
                "method": "verbal",
                "decided_on": self.la.today.isoformat(),
            }
            await self.api.call(
                "consent", "POST", f"/consent/{referral_id}/decisions", ep, json=withdrawal
            )
            await self._wait_status(referral_id, lambda s: s == "paused", "casework paused")

    async def _referral_view(self, referral_id: str) -> dict[str, Any]:
        url = f"/referrals/{referral_id}"
        view: dict[str, Any] = (await self.api.call("referrals", "GET", url, self.principal)).json()
        return view

    async def _wait_status(
        self, referral_id: str, wanted: Callable[[str], bool], what: str
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            view = await self._referral_view(referral_id)
            return view if wanted(view["status"]) else None

        return await eventually(probe, what)

    async def _act(
        self, referral_id: str, action: str, ep: dict[str, str], body: Any = None
    ) -> dict[str, Any]:
        url = f"/referrals/{referral_id}/{action}"
        shown: dict[str, Any] = (
            await self.api.call("referrals", "POST", url, ep, json=body)
        ).json()
        return shown

    async def _consent(self, r: Referral, referral_id: str, named_ep_id: str | None) -> None:
        ep = self.ep(named_ep_id)
        url = f"/consent/{referral_id}"

        consenters = [r.parent_id] + ([r.social_worker_id] if r.social_worker_id else [])
        for n, consenter in enumerate(consenters):
            decision = {
                "consenter_id": consenter,
                "scope": "involvement",
                "decision": "granted",
                "method": "signed_form",
                "decided_on": r.requested_on.isoformat(),
                "evidence_ref": f"{r.case_ref}-consent-{n + 1}",
            }

            async def recorded(decision: dict[str, Any] = decision) -> bool:
                # 404 until the referral's news has reached consent and opened the case
                response = await self.api.call(
                    "consent", "POST", f"{url}/decisions", ep, json=decision, ok=(201, 404)
                )
                return response.status_code == 201

            await eventually(recorded, "the consent case opened")

    async def _casework_visit(self, r: Referral, referral_id: str, ep_id: str | None) -> None:
        """A visit in the named EP's diary for the child (core time), once: looked for by its
        case reference first. Consent reaches scheduling by Kafka, so it may be asked again."""
        assert r.appointment_on is not None
        ep_id = ep_id or self.la.principal.ep_id
        if await self._appointment(r.school_urn, r.case_ref, r.appointment_on) is not None:
            return
        day = r.appointment_on
        for _ in range(10):  # a part-time EP's day off or a full diary: the next working day
            body = {
                "kind": "assessment_visit",
                "funding_stream": "core",
                "starts_at": london(day, 15).isoformat(),
                "duration_minutes": 60,
                "ep_id": ep_id,
                "school_urn": r.school_urn,
                "referral_id": referral_id,
                "case_ref": r.case_ref,
            }

            async def booked(body: dict[str, Any] = body) -> tuple[int, Any] | None:
                response = await self.api.call(
                    "scheduling",
                    "POST",
                    "/scheduling/appointments",
                    self.ep(ep_id),
                    json=body,
                    ok=(201, 409, 422),
                )
                if response.status_code == 422 and "referral_id" in response.text:
                    return None  # consent has not reached scheduling yet
                return response.status_code, response.json()

            status, shown = await eventually(booked, "the casework visit booked")
            if status == 201:
                self.loaded.add("appointments")
                return
            if status == 422:
                raise DemoError(f"casework visit refused: {shown}")
            day = weekday_on_or_after(day + timedelta(days=1))
        raise DemoError(f"no room for {r.case_ref}'s visit")

    async def _appointment(self, urn: str, case_ref: str, day: date) -> dict[str, Any] | None:
        """The appointment with this case reference at the school within a fortnight of
        ``day`` (a visit moved for an incident is still the same visit)."""
        window = {
            "start": london(day - timedelta(days=14), 0).isoformat(),
            "end": london(day + timedelta(days=28), 0).isoformat(),
        }
        rows = (
            await self.api.call(
                "scheduling",
                "GET",
                f"/scheduling/schools/{urn}/appointments",
                self.admin,
                params=window,
            )
        ).json()
        return next((a for a in rows if a["case_ref"] == case_ref), None)

    # --- statutory advice -------------------------------------------------------------------

    async def _advice(self, a: AdviceRequest) -> None:
        try:
            await self._walk_advice(a)
        except DemoError as e:
            raise DemoError(f"advice {a.la_case_ref} (to {a.target}): {e}") from e
        self.progress.advance("statutory advice")

    async def _walk_advice(self, a: AdviceRequest) -> None:
        await self._school_registered(a.school_urn)
        request = PsychologicalAdviceRequested(
            request_id=a.request_id,
            requested_at=a.requested_at,
            assessment_requested_on=a.requested_at.date() - timedelta(days=35),
            la_case_ref=a.la_case_ref,
            child_id=a.child_id,
            child_given_name=a.given_name,
            child_family_name=a.family_name,
            child_date_of_birth=a.date_of_birth,
            school_urn=a.school_urn,
            school_name=a.school_name,
        )
        await self.api.publish(
            request,
            system="sen-assessment-team",
            read_by="statutory",
            event_id=demo_id(self.la.tenant, "event", a.request_id),
        )
        principal = self.principal

        async def applied() -> dict[str, Any] | None:
            url = f"/statutory/requests/{a.request_id}"
            response = await self.api.call("statutory", "GET", url, principal, ok=(200, 404))
            return (response.json() if response.status_code == 200 else {}).get("advice")

        advice = await eventually(applied, "the request for advice received")
        url = f"/statutory/advice/{advice['advice_id']}"
        ep = self.ep(advice["ep_id"])
        if a.target == "open":
            return
        if a.target == "exception":
            view = (await self.api.call("statutory", "GET", url, principal)).json()
            if not view.get("exceptions"):
                body = {
                    "kind": "child_or_parent_away",
                    "starts_on": (self.la.today - timedelta(days=10)).isoformat(),
                    "ends_on": (self.la.today + timedelta(days=21)).isoformat(),
                    "reason": "The family is abroad for five weeks; the"
                    " parents were told the advice will follow their return.",
                    "evidence": ["Email from the parent with travel dates"],
                    "parents_notified_on": (self.la.today - timedelta(days=9)).isoformat(),
                }
                await self.api.call("statutory", "POST", f"{url}/exceptions", ep, json=body)
            return
        if advice["status"] in ("requested", "allocated"):  # drafting follows the visit

            async def visit_booked() -> dict[str, Any] | None:
                shown = await applied()
                booked = shown and shown["status"] not in ("requested", "allocated")
                return shown if booked else None

            advice = await eventually(visit_booked, "the assessment visit booked")
            ep = self.ep(advice["ep_id"])
        if advice["version"] == 0:
            document = {
                h: f"{h.replace('_', ' ').capitalize()}: written by the EP after the"
                " assessment visit."
                for h in ADVICE_HEADINGS
            }
            await self.api.call("statutory", "PUT", f"{url}/draft", ep, json=document)
        if a.target == "submitted" and advice["status"] != "submitted":
            if advice["status"] != "approved":
                senior = self.api.as_("senior_ep", "sep-daniel-hughes")
                await self.api.call("statutory", "POST", f"{url}/approval", senior)
            await self.api.call("statutory", "POST", f"{url}/submission", ep)

    # --- traded work ------------------------------------------------------------------------

    async def _traded(self, v: TradedVisit) -> None:
        try:
            await self._walk_traded(v)
        except DemoError as e:
            raise DemoError(f"traded work {v.case_ref}: {e}") from e
        self.progress.advance("traded work")

    async def _walk_traded(self, v: TradedVisit) -> None:
        await self._school_registered(v.school_urn)
        ep = self.ep(v.ep_id)
        year = academic_year(v.day)
        purchase = {"purchase_id": str(v.purchase_id), "academic_year": year, "minutes": v.minutes}
        await self.api.call(
            "scheduling",
            "POST",
            f"/scheduling/schools/{v.school_urn}/traded-time",
            self.admin,
            json=purchase,
        )
        shown = await self._appointment(v.school_urn, v.case_ref, v.day)
        day = v.day
        for _ in range(10):
            if shown is not None:
                break
            body = {
                "kind": "consultation" if v.completed else "training",
                "funding_stream": "traded",
                "starts_at": london(day, v.hour).isoformat(),
                "duration_minutes": v.minutes,
                "ep_id": v.ep_id,
                "school_urn": v.school_urn,
                "case_ref": v.case_ref,
            }
            response = await self.api.call(
                "scheduling", "POST", "/scheduling/appointments", ep, json=body, ok=(201, 409)
            )
            if response.status_code == 201:
                shown = response.json()
                self.loaded.add("appointments")
            else:  # the EP's day off, or no room: the working day before (after, if ahead)
                step = timedelta(days=-1 if v.completed else 1)
                day = (weekday_on_or_before if v.completed else weekday_on_or_after)(day + step)
        if shown is None:
            raise DemoError(f"no room in the EP's diary: {response.text}")
        if v.completed and shown["status"] == "booked":
            url = f"/scheduling/appointments/{shown['appointment_id']}/complete"
            await self.api.call(
                "scheduling", "POST", url, ep, json={"delivered_minutes": v.minutes}
            )
            self.loaded.add("deliveries")

    # --- incidents --------------------------------------------------------------------------

    async def _incident(self, i: Incident) -> None:
        try:
            await self.walk_incident(i)
        except DemoError as e:
            raise DemoError(f"incident at {i.school_urn}: {e}") from e
        self.progress.advance("incidents")

    async def walk_incident(self, i: Incident) -> None:
        """Report an incident and see it answered and acknowledged; a closed one through first
        contact, a visit and follow-up to its close (each step only if not done yet)."""
        await self._school_registered(i.school_urn)
        await self._configured.wait()  # the coordinator on call, the escalation chain
        report = report_of(i)
        coordinator = self.coordinator_on_call()
        if i.via_upstream:
            await self.api.publish(
                report,
                system="safeguarding-hub",
                read_by="incidents",
                event_id=demo_id(self.la.tenant, "event", i.report_id),
            )
        else:
            body = report.model_dump(mode="json")
            await self.api.call("incidents", "POST", "/incidents", coordinator, json=body)

        async def reported() -> dict[str, Any] | None:
            url = f"/incidents/reports/{i.report_id}"
            response = await self.api.call("incidents", "GET", url, coordinator, ok=(200, 404))
            shown = response.json() if response.status_code == 200 else {}
            return shown.get("incident") or (shown if shown.get("incident_id") else None)

        incident = await eventually(reported, "the incident reported")
        url = f"/incidents/{incident['incident_id']}"

        async def answered() -> dict[str, Any] | None:
            view: dict[str, Any] = (
                await self.api.call("incidents", "GET", url, coordinator)
            ).json()
            return view if view["answered_at"] or view["status"] == "closed" else None

        view = await eventually(answered, "EPs allocated to the incident")
        if view["acknowledged_by"] is None:  # 409: someone acknowledged it meanwhile
            await self.api.call(
                "incidents", "POST", f"{url}/acknowledge", coordinator, ok=(200, 409)
            )
            view = (await self.api.call("incidents", "GET", url, coordinator)).json()
        if not i.closed:
            return
        going = [e["ep_id"] for e in view["allocated_eps"]] or [self.la.principal.ep_id]
        now = self.api.target.now()
        if view["first_contact_at"] is None:
            body = {"made_at": now.isoformat(), "made_by": going[0]}
            await self.api.call("incidents", "POST", f"{url}/first-contact", coordinator, json=body)
        if not view["visits"]:
            await self.api.call(
                "incidents",
                "POST",
                f"{url}/visits",
                coordinator,
                json={"visited_at": now.isoformat(), "ep_ids": going},
            )
        if view["follow_up"] is None:
            body = {
                "review_on": (self.la.today + timedelta(days=14)).isoformat(),
                "plan": "Review with the headteacher in two weeks; a drop-in for"
                " parents; bereavement resources shared with staff.",
            }
            await self.api.call("incidents", "POST", f"{url}/follow-up", coordinator, json=body)
        if view["status"] != "closed":
            body = {
                "summary": "Two EPs supported staff and pupils on the day and the next;"
                " the school's own support now in place."
            }
            await self.api.call("incidents", "POST", f"{url}/close", coordinator, json=body)


def report_of(i: Incident) -> IncidentReportSubmitted:
    """The report of an incident, as the school or the LA's system gives it."""
    return IncidentReportSubmitted(
        report_id=i.report_id,
        school_urn=i.school_urn,
        kind=IncidentKind(i.kind),
        occurred_at=i.occurred_at,
        reported_by=i.reported_by,
        pupils_affected=i.pupils_affected,
        staff_affected=i.staff_affected,
        level=i.level,
        description=i.description,
    )


def _feedback(school_name: str) -> dict[str, Any]:
    return {
        "purpose": "Understand the child's learning and regulation needs with school and home.",
        "child_views": "Likes drawing and football; finds noisy rooms hard.",
        "parents_views": "Worried about mornings and homework.",
        "strengths": "Kind, creative, good verbal reasoning.",
        "difficulties": "Phonological processing; transitions between activities.",
        "formulation": "A literacy difficulty compounded by anxiety at transitions.",
        "agreed_actions": {
            "objectives": ["Read CVC words fluently"],
            "outcomes": ["Reads a levelled book by the summer"],
            "strategies": ["Visual timetable", "Soft start"],
            "interventions": ["Precision teaching three times a week"],
        },
        "review_arrangements": "Review with the SENCO and parents next term.",
        "sent_to": [
            {"kind": "school", "name": school_name},
            {"kind": "parents", "name": "Parents"},
        ],
    }


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def gather(*steps: Awaitable[Any]) -> list[Any]:
    """Run steps together; the first failure cancels the rest and is raised (alone, not in an
    exception group, so that it reads as what went wrong)."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_awaited(step)) for step in steps]
    except BaseExceptionGroup as failed:
        first: BaseException = failed
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [t.result() for t in tasks]


async def _awaited(step: Awaitable[Any]) -> Any:
    return await step
