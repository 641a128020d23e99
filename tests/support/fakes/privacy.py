"""In-memory privacy records and unit of work, behind the service's port."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from dateutil.relativedelta import relativedelta
from eps_chassis.clock import Clock
from eps_privacy.adapters.repository import PrivacyRepository, Row
from eps_privacy.domain.rules import RetentionSchedule
from eps_privacy.service_layer.unit_of_work import PrivacyUnitOfWork

from tests.support.fakes import TENANT, FakeUnitOfWork


@dataclass
class FakePrivacyRepository(PrivacyRepository):
    births: dict[uuid.UUID, date | None] = field(default_factory=dict)
    kept_schedule: RetentionSchedule = field(default_factory=RetentionSchedule)
    requests: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    holds: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    erasures: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)

    async def learn_birth_date(self, child_id: uuid.UUID, born: date, source: str) -> None:
        self.births[child_id] = born

    async def schedule(self) -> RetentionSchedule:
        return self.kept_schedule

    async def set_schedule(self, schedule: RetentionSchedule) -> None:
        self.kept_schedule = schedule

    async def open_request(self, row: dict[str, Any]) -> None:
        self.requests[row["request_id"]] = {
            **row, "status": "open", "extension_months": 0, "reminded_for": None
        }  # fmt: skip

    async def request(self, request_id: uuid.UUID, *, lock: bool = False) -> Row | None:
        return self.requests.get(request_id)

    async def extend(self, request_id: uuid.UUID, months: int, reason: str, due_on: date) -> None:
        self.requests[request_id].update(
            extension_months=months, extension_reason=reason, due_on=due_on
        )

    async def answered(self, request_id: uuid.UUID, on: date) -> None:
        self.requests[request_id].update(status="answered", answered_on=on)

    async def due_soon(self, today: date, within_days: int) -> list[Row]:
        last = date.fromordinal(today.toordinal() + within_days)
        return [
            r
            for r in self.requests.values()
            if r["status"] == "open" and r["due_on"] <= last and r["reminded_for"] != r["due_on"]
        ]

    async def reminded(self, request_id: uuid.UUID, due_on: date) -> None:
        self.requests[request_id]["reminded_for"] = due_on

    async def place_hold(self, row: dict[str, Any]) -> None:
        self.holds[row["hold_id"]] = {**row, "lifted_at": None}

    async def hold(self, hold_id: uuid.UUID) -> Row | None:
        return self.holds.get(hold_id)

    async def lift_hold(self, hold_id: uuid.UUID, by: str, reason: str, at: datetime) -> None:
        self.holds[hold_id].update(lifted_by=by, lift_reason=reason, lifted_at=at)

    async def held(self, child_id: uuid.UUID) -> bool:
        return any(
            h["child_id"] == child_id and h["lifted_at"] is None for h in self.holds.values()
        )

    async def due_for_erasure(self, today: date, years: int) -> list[Row]:
        due: list[Row] = []
        for child_id, born in self.births.items():
            if born is None or await self.held(child_id) or await self.erasure_of(child_id):
                continue
            ends = born + relativedelta(years=years)
            if ends <= today:
                due.append({"child_id": child_id, "due": ends})
        return due

    async def erasure_of(self, child_id: uuid.UUID) -> Row | None:
        return next((e for e in self.erasures.values() if e["child_id"] == child_id), None)

    async def order_erasure(self, row: dict[str, Any]) -> None:
        self.erasures[row["erasure_id"]] = {**row, "confirmed": [], "completed_at": None}

    async def confirm_erasure(
        self, erasure_id: uuid.UUID, service: str, rows: int, at: datetime
    ) -> Row | None:
        erasure = self.erasures.get(erasure_id)
        if erasure is not None and service not in erasure["confirmed"]:
            erasure["confirmed"].append(service)
        return erasure

    async def complete_erasure(
        self, erasure_id: uuid.UUID, child_id: uuid.UUID, at: datetime
    ) -> None:
        self.erasures[erasure_id]["completed_at"] = at
        self.births[child_id] = None


class FakePrivacyUnitOfWork(FakeUnitOfWork, PrivacyUnitOfWork):
    records: FakePrivacyRepository

    def __init__(self, *, tenant: str = TENANT, clock: Clock | None = None) -> None:
        super().__init__(tenant=tenant, clock=clock)
        self.records = FakePrivacyRepository()
