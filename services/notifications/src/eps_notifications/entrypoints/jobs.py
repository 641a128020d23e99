"""Time-driven work of the notifications service: sending what is due (first attempts and
retries) and asking Notify what became of what it accepted.

Each attempt is two short transactions around the network call (claim, then outcome), never a
transaction held open while a far end answers; a round takes what is due across every local
authority, each message in a unit of work of its own LA.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from eps_chassis.jobs import JobContext, PeriodicJob
from eps_chassis.logging import get_logger

from eps_notifications import metrics
from eps_notifications.adapters.channels import Senders
from eps_notifications.adapters.repository import (
    Due,
    awaiting_delivery,
    due_for_sending,
    waiting_counts,
)
from eps_notifications.domain import commands
from eps_notifications.domain.model import RetryPolicy
from eps_notifications.service_layer import handlers
from eps_notifications.settings import NotificationsSettings

log = get_logger()

SEND = "send-due-notifications"
SENDS_AT_ONCE = 4  # one message slow to answer holds up no other (within the pool's size)
DELIVERY = "check-delivery-status"


def retry_policy(settings: NotificationsSettings) -> RetryPolicy:
    return RetryPolicy(
        first=timedelta(seconds=settings.notifications_retry_first_s),
        longest=timedelta(seconds=settings.notifications_retry_max_s),
        max_attempts=settings.notifications_max_attempts,
    )


def notifications_jobs(settings: NotificationsSettings, senders: Senders) -> list[PeriodicJob]:
    retry = retry_policy(settings)
    in_doubt_after = timedelta(seconds=settings.notifications_in_doubt_after_s)

    async def send_due(context: JobContext) -> None:
        async with context.uow.pool.acquire() as conn:
            due = await due_for_sending(conn, context.clock(), in_doubt_after)
            counts, oldest = await waiting_counts(conn, context.clock())
        for status in metrics.WAITING_STATUSES:
            metrics.WAITING.labels(context.service, status).set(counts.get(status, 0))
        metrics.OLDEST_PENDING.labels(context.service).set(oldest)
        at_once = asyncio.Semaphore(SENDS_AT_ONCE)

        async def send(message: Due) -> None:
            async with at_once:
                try:
                    await _send_one(context, message)
                except Exception as exc:  # left as it was: retried (or looked up) next round
                    log.error(
                        "sending failed",
                        notification_id=str(message.notification_id),
                        error=repr(exc),
                    )

        async with asyncio.TaskGroup() as group:
            for message in due:
                group.create_task(send(message))

    async def _send_one(context: JobContext, message: Due) -> None:
        as_service = message.context(context.actor)
        async with context.uow(as_service) as uow:
            claim = commands.ClaimForSending(message.notification_id, in_doubt_after)
            order = await handlers.claim_for_sending(claim, uow)
        if order is None:
            return
        outcome = await senders.send(order)
        async with context.uow(as_service) as uow:
            cmd = commands.RecordSendOutcome(message.notification_id, outcome, retry)
            await handlers.record_send_outcome(cmd, uow)

    async def check_delivery(context: JobContext) -> None:
        async with context.uow.pool.acquire() as conn:
            sent = await awaiting_delivery(conn)
        for message, provider_id in sent:
            status = await senders.delivery_status(provider_id)
            async with context.uow(message.context(context.actor)) as uow:
                cmd = commands.RecordDeliveryStatus(message.notification_id, status, retry)
                await handlers.record_delivery_status(cmd, uow)

    return [
        PeriodicJob(SEND, settings.notifications_send_interval_s, send_due),
        PeriodicJob(DELIVERY, settings.notifications_status_interval_s, check_delivery),
    ]
