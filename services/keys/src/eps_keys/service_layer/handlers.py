"""The keys service's handlers: one function per command, ``(command, uow, kek)``. A data key
is made here (random, 256 bits), wrapped under the KEK before it is kept, and unwrapped only to
be handed to the caller."""

from __future__ import annotations

import os

from eps_chassis.errors import Gone

from eps_keys.adapters.kek import KeyEncryptionKey
from eps_keys.domain import commands
from eps_keys.domain.model import (
    ChildKey,
    DeadLetterKey,
    child_binding,
    dead_letter_binding,
    dead_letters_expire_before,
)
from eps_keys.service_layer.unit_of_work import KeysUnitOfWork

DATA_KEY_BYTES = 32


async def provide_child_key(
    cmd: commands.ProvideChildKey, uow: KeysUnitOfWork, kek: KeyEncryptionKey
) -> bytes:
    """The child's data key; made now when ``cmd.create`` and none exists. Gone once shredded;
    never made (and not asked to make): Gone too, as nothing could have been sealed with it."""
    bound_to = child_binding(uow.tenant, cmd.child_id)
    key = await uow.children.get(cmd.child_id)
    if key is None:
        if not cmd.create:
            raise Gone(f"child {cmd.child_id} has no data key", field="child_id")
        key = await uow.children.add(
            ChildKey(
                tenant=uow.tenant,
                child_id=cmd.child_id,
                wrapped_key=kek.wrap(os.urandom(DATA_KEY_BYTES), bound_to),
                kek_id=kek.kek_id,
                created_at=uow.clock(),
            )
        )
    return kek.unwrap(key.wrapped(), bound_to)


async def shred_child_key(cmd: commands.ShredChildKey, uow: KeysUnitOfWork) -> ChildKey:
    """Destroy the child's key (a key never made is recorded as shredded, so none is made
    later); every service is told (``ChildKeyShredded``)."""
    key = await uow.children.get(cmd.child_id)
    if key is None:
        key = await uow.children.add(
            ChildKey(
                tenant=uow.tenant,
                child_id=cmd.child_id,
                wrapped_key=b"",  # replaced at once: the row exists only to say it was shredded
                kek_id="none",
                created_at=uow.clock(),
            )
        )
    key.shred(uow.clock(), uow.actor, cmd.erasure_id)
    await uow.children.save(key)
    return key


async def provide_dead_letter_key(
    cmd: commands.ProvideDeadLetterKey, uow: KeysUnitOfWork, kek: KeyEncryptionKey
) -> bytes:
    bound_to = dead_letter_binding(cmd.service, cmd.day)
    key = await uow.dead_letters.get(cmd.service, cmd.day)
    if key is None:
        key = await uow.dead_letters.add(
            DeadLetterKey(
                service=cmd.service,
                day=cmd.day,
                wrapped_key=kek.wrap(os.urandom(DATA_KEY_BYTES), bound_to),
                kek_id=kek.kek_id,
                created_at=uow.clock(),
            )
        )
    return kek.unwrap(key.wrapped(), bound_to)


async def destroy_expired_dead_letter_keys(
    cmd: commands.DestroyExpiredDeadLetterKeys, uow: KeysUnitOfWork
) -> int:
    """Destroy the dead-letter keys past their retention (UTC days); how many."""
    now = uow.clock()
    return await uow.dead_letters.destroy_before(
        dead_letters_expire_before(now.date(), cmd.retention_days), now
    )
