"""The incident room in a real browser: headless Chromium (Debian's, driven by Playwright) on
the console, incidents and scheduling running as separate processes, as `make run` starts them,
on the real broker and database.

A coordinator signs in, reports a level-2 incident through the form, and watches the allocation
appear on a board opened before the report, without reloading it; acknowledges, and the
acknowledge clock stops. Every page is checked with axe-core in the same browser (no serious
or critical violations) and photographed (``var/test-output/screenshots``)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import standins
from eps_chassis.auth import Role, ensure_local_keys
from eps_chassis.london import LONDON
from eps_chassis.service import installed_services
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.integration.test_incidents import SCHOOL, report_body
from tests.support.clock import suite_now
from tests.support.console import eps_ready_for_the_school
from tests.support.infra import REPO, Infra
from tests.support.services import KEYS_DIR, Namespace, create_topics, drop_namespace
from tests.support.system import LOG_ROOT, La, System

pytestmark = pytest.mark.integration

CHROMIUM = Path(os.environ.get("EPS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_INSTALLED = CHROMIUM.exists()
AXE = REPO / "services" / "console" / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / "var" / "test-output" / "screenshots"
SERVICES = ("incidents", "scheduling", "notifications", "console")


class IncidentRoom(System):
    """The services the incident room needs; the console acts through this incidents."""

    def environment(self, name: str) -> dict[str, str]:
        environment = super().environment(name)
        if name == "incidents":  # escalations as soon as they are due, for the clock test
            environment["EPS_INCIDENTS_ESCALATION_INTERVAL_S"] = "1"
        if name == "console":
            private, _ = ensure_local_keys(KEYS_DIR)
            environment |= {
                "EPS_CONSOLE_INCIDENTS_URL": self.processes["incidents"].url,
                "EPS_CONSOLE_DEV_SIGN_IN": "true",
                "EPS_CONSOLE_DEV_SIGNING_KEY_FILE": str(private),
            }
        return environment


@pytest.fixture(scope="module")
async def room(infra: Infra) -> AsyncIterator[IncidentRoom]:
    ns = Namespace.new()
    definitions = {d.name: d for d in installed_services() if d.name in SERVICES}
    started = IncidentRoom(infra=infra, ns=ns, log_dir=LOG_ROOT / ns.tag, definitions=definitions)
    try:
        await create_topics(infra, ns)  # each service waits for those others own
        started.paging_far_ends = standins.launch(
            started.log_dir, started.notify_port, started.smtp_port
        )
        started.wait_ready([started.start(name) for name in SERVICES if name != "console"])
        started.wait_ready([started.start("console")])  # it is told where incidents is
        yield started
    finally:
        started.stop_all()
        await drop_namespace(infra, ns)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM_INSTALLED:
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's (make chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            await launched.close()


@contextlib.asynccontextmanager
async def person(
    browser: Browser, room: System, role: Role, *, tenant: str, subject: str
) -> AsyncIterator[tuple[BrowserContext, Page]]:
    """A browser of its own, signed in through the development sign-in page."""
    context = await browser.new_context(base_url=room.processes["console"].url)
    page = await context.new_page()
    refusals = watch_for_refusals(page)
    try:
        await page.goto("/console/dev/sign-in")
        await page.check(f"#role-{role.value}")
        await page.fill("#subject", subject)
        await page.fill("#la", tenant)
        await page.click("button[type=submit]")
        await page.wait_for_load_state()
        yield context, page
        assert not refusals, f"the browser refused what the page asked for: {refusals}"
    finally:
        await context.close()


def watch_for_refusals(page: Page) -> list[str]:
    """What the browser refused (a content security policy violation, a script error)."""
    found: list[str] = []
    page.on(
        "console",
        lambda m: (
            found.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text
            else None
        ),
    )
    page.on("pageerror", lambda e: found.append(str(e)))
    return found


async def accessible(page: Page, name: str) -> None:
    """axe-core in this page finds nothing serious or critical; the page is photographed.

    axe is run by Playwright's evaluate (the DevTools protocol), which the page's content
    security policy (no inline script) does not apply to, so the pages are checked as served."""
    await page.evaluate(AXE.read_text())
    result = await page.evaluate("async () => await axe.run(document)")
    severe = [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not severe, f"{name}: " + json.dumps(severe, indent=1)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def prepare(room: System, la: La, school: str = SCHOOL) -> None:
    """Two EPs free at any hour, the school with its named EP, a coordinator on call and a
    backup, and the principal EP at the end of the chain."""
    now = suite_now()
    async with room.client("scheduling") as scheduling, room.client("incidents") as incidents:
        await eps_ready_for_the_school(
            scheduling, la.as_(Role.ADMIN), ("ep-named", "ep-second"), school
        )
        policy = {
            "acknowledge_within_minutes": 15,
            "principal_ep_id": "pep-1",
            "rota_gap_lookahead_hours": 48,
        }
        put = await incidents.put(
            "/incidents/configuration/policy", json=policy, headers=la.as_(Role.PRINCIPAL_EP)
        )
        assert put.status_code == 200, put.text
        for who, position in (("coord-1", "primary"), ("coord-2", "backup")):
            entry = {
                "coordinator_id": who,
                "position": position,
                "starts_at": (now - timedelta(hours=1)).isoformat(),
                "ends_at": (now + timedelta(hours=6)).isoformat(),
            }
            added = await incidents.post(
                "/incidents/rota/entries", json=entry, headers=la.as_(Role.PRINCIPAL_EP)
            )
            assert added.status_code == 201, added.text
    async with room.client("notifications") as notifications:
        people = ("coord-1", "coord-2", "pep-1", "ep-named", "ep-second")
        contacts = {
            "contacts": [
                {"person_id": p, "mobile": f"0770090{i:04d}"} for i, p in enumerate(people)
            ]
        }
        put = await notifications.put(
            "/notifications/configuration/contacts",
            json=contacts,
            headers=la.as_(Role.PRINCIPAL_EP),
        )
        assert put.status_code == 200, put.text


async def test_a_coordinator_reports_watches_the_allocation_arrive_and_acknowledges(
    room: System, browser: Browser
) -> None:
    la = La.new("console-browser")
    await prepare(room, la)
    async with person(browser, room, Role.COORDINATOR, tenant=la.tenant, subject="coord-1") as (
        context,
        board,
    ):
        # the board, open before anything is reported
        await board.goto("/console/board")
        await board.locator("#live-status", has_text="Live").wait_for()  # the stream listens
        await board.evaluate("window.notReloaded = true")
        await accessible(board, "board-empty")

        # the phone call: the report form, in another tab
        form = await context.new_page()
        await form.goto("/console/report")
        await form.fill("#school_urn", SCHOOL)
        await form.select_option("#kind", "sudden_death_of_pupil")
        occurred = (suite_now() - timedelta(minutes=10)).astimezone(LONDON)
        await form.fill("#occurred_at", occurred.strftime("%Y-%m-%dT%H:%M"))
        await form.fill("#reported_by", "Headteacher, by telephone")
        await form.fill("#pupils_affected", "30")
        await form.fill("#staff_affected", "4")
        await form.check("#level-2")
        await accessible(form, "report")
        await form.click("button:has-text('Report the incident')")
        await form.wait_for_url("**/console/incidents/*")
        incident_id = form.url.rsplit("/", 1)[1]

        # the board shows it, with both EPs, without being reloaded
        row = board.locator(f"tr[data-incident='{incident_id}']")
        await row.locator("[data-testid=eps]", has_text="ep-second").wait_for(timeout=10_000)
        assert await row.locator("[data-testid=eps]").inner_text() == "ep-named, ep-second"
        assert await board.evaluate("window.notReloaded === true")
        acknowledge_clock = row.locator("[data-clock=acknowledge]")
        assert await acknowledge_clock.get_attribute("data-state") == "due"
        await accessible(board, "board")

        # the incident page: acknowledge, and the acknowledge clock stops
        await form.reload()
        await form.locator("[data-testid=eps]", has_text="ep-second").wait_for()
        paged = form.locator("[data-testid=sent] tr[data-recipient=coord-1]")
        await paged.first.wait_for(timeout=15_000)  # paging told the coordinator on call
        await form.click("button:has-text('Acknowledge')")
        await form.locator("[data-clock=acknowledge][data-state=met]").wait_for(timeout=10_000)
        await form.locator("[data-testid=timeline]", has_text="Acknowledged by coord-1").wait_for()
        await accessible(form, "incident")
        # ... and on the board too, still without a reload
        await row.locator("[data-clock=acknowledge][data-state=met]").wait_for(timeout=10_000)
        assert await board.evaluate("window.notReloaded === true")

        # a refused action shows incidents' reason in place, as an error summary
        await form.click("summary:has-text('Close the incident')")
        await form.click("button:has-text('Close')")
        summary = form.locator("[data-testid=refused]")
        await summary.wait_for(timeout=10_000)
        assert "summary" in (await summary.inner_text()).lower()
        await accessible(form, "incident-refused")

        on_call = await context.new_page()
        await on_call.goto("/console/on-call")
        await accessible(on_call, "on-call")
        sent = await context.new_page()
        await sent.goto("/console/sent")
        await sent.locator("[data-testid=sent] tr[data-recipient=coord-1]").first.wait_for()
        await accessible(sent, "sent")


async def test_the_report_form_names_each_field_the_service_refuses(
    room: System, browser: Browser
) -> None:
    la = La.new("console-browser-form")
    async with person(browser, room, Role.COORDINATOR, tenant=la.tenant, subject="coord-9") as (
        _,
        page,
    ):
        await page.goto("/console/report")
        await page.fill("#school_urn", "12")
        await page.fill("#pupils_affected", "-3")
        await page.click("button:has-text('Report the incident')")
        await page.locator("[data-testid=error-school_urn]").wait_for(timeout=10_000)
        for field in ("school_urn", "kind", "pupils_affected", "level"):
            assert await page.locator(f"[data-testid=error-{field}]").count() == 1, field
        await accessible(page, "report-errors")


async def test_the_pages_of_sign_in_and_of_an_ep_are_accessible(
    room: System, browser: Browser
) -> None:
    context = await browser.new_context(base_url=room.processes["console"].url)
    try:
        page = await context.new_page()
        await page.goto("/console")
        await page.wait_for_url("**/console/sign-in")
        await accessible(page, "sign-in")
        await page.goto("/console/dev/sign-in")
        await accessible(page, "dev-sign-in")
    finally:
        await context.close()
    la = La.new("console-browser-ep")
    async with person(browser, room, Role.EP, tenant=la.tenant, subject="ep-named") as (_, page):
        await page.wait_for_url("**/console/my-incidents")
        await accessible(page, "my-incidents")


async def test_nobody_acknowledges_and_the_next_person_is_paged_once_the_clock_passes(
    room: System, browser: Browser
) -> None:
    """Last in this module: incidents runs on with its clock past the acknowledge timeout."""
    la = La.new("console-browser-escalation")
    await prepare(room, la, school="654321")
    async with person(browser, room, Role.COORDINATOR, tenant=la.tenant, subject="coord-1") as (
        _,
        page,
    ):
        async with room.client("incidents") as incidents:
            report = {**report_body(suite_now() - timedelta(minutes=1)), "school_urn": "654321"}
            created = await incidents.post(
                "/incidents", json=report, headers=la.as_(Role.COORDINATOR, subject="coord-1")
            )
            assert created.status_code == 201, created.text
        incident_id = created.json()["incident_id"]
        await page.goto("/console/board")
        row = page.locator(f"tr[data-incident='{incident_id}'] [data-testid=eps]")
        await row.filter(has_text=",").wait_for(timeout=15_000)  # the board has it, allocated
        # opened by its address: the board's rows are replaced as each change is pushed
        await page.goto(f"/console/incidents/{incident_id}")
        sent = page.locator("[data-testid=sent]")
        await sent.locator("tr[data-recipient=coord-1]").first.wait_for(timeout=15_000)
        assert await sent.locator("tr[data-recipient=coord-2]").count() == 0

        room.restart("incidents", clock_ahead=timedelta(minutes=16))  # past the 15 minutes
        await sent.locator("tr[data-recipient=coord-2]").first.wait_for(timeout=30_000)
        timeline = page.locator("[data-testid=timeline]")
        assert "Escalated from coord-1 to coord-2" in await timeline.inner_text()
        await accessible(page, "incident-escalated")
