"""Time-driven work of the keys service: destroying the dead-letter keys past their retention,
which makes those dead letters' original bytes unreadable for good."""

from __future__ import annotations

from eps_chassis.context import MessageContext
from eps_chassis.jobs import JobContext, PeriodicJob
from eps_chassis.logging import get_logger

from eps_keys.domain import commands
from eps_keys.service_layer import handlers
from eps_keys.settings import KeysSettings

log = get_logger()

DEAD_LETTER_RETENTION = "destroy-expired-dead-letter-keys"


def keys_jobs(settings: KeysSettings) -> list[PeriodicJob]:
    async def destroy(context: JobContext) -> None:
        # dead-letter keys belong to no local authority: the unit of work's LA is not used
        as_service = MessageContext("-", context.actor)
        async with context.uow(as_service) as uow:
            command = commands.DestroyExpiredDeadLetterKeys(
                settings.keys_dead_letter_retention_days
            )
            destroyed = await handlers.destroy_expired_dead_letter_keys(command, uow)
        if destroyed:
            log.info("dead-letter keys destroyed", count=destroyed)

    return [PeriodicJob(DEAD_LETTER_RETENTION, settings.keys_retention_interval_s, destroy)]
