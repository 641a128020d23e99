"""A local authority's configuration of a service, one shape everywhere:
``GET`` and ``PUT /<service>/configuration/<name>``.

Figures the domain brief calls defaults an LA must be able to change (consent periods, the
minimum graduated-approach evidence, incident response targets, scheduling and statutory
policy) are read and replaced whole, as one model, by the roles the service names; every read
and change is audited, and a change applies to what happens from then on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from eps_contracts.base import ContractModel
from fastapi import APIRouter, Depends

from eps_chassis.access import audited_access
from eps_chassis.auth import Principal
from eps_chassis.http import json_body
from eps_chassis.service import ServiceRuntime, get_runtime

M = TypeVar("M", bound=ContractModel)


def configuration_routes(
    router: APIRouter,
    name: str,
    model: type[M],
    *,
    read: Callable[[Any], Awaitable[M]],
    write: Callable[[M, Any], Awaitable[M]],
    readers: Any,
    writers: Any,
    description: str,
) -> None:
    """Add ``GET`` and ``PUT {router.prefix}/configuration/{name}``: ``read(uow)`` gives the LA's
    configuration (its defaults when it has none); ``write(model, uow)`` replaces it and gives
    what is now in force. ``readers`` and ``writers`` are ``require_roles(...)``."""
    path, resource = f"/configuration/{name}", f"configuration/{name}"
    words = name.replace("-", "_")

    async def read_configuration(
        principal: Principal = readers, runtime: ServiceRuntime[Any] = Depends(get_runtime)
    ) -> M:
        async with audited_access(
            runtime.uow, principal, action="read-configuration", resource=resource
        ) as access:
            return await read(access.uow)

    async def replace_configuration(
        principal: Principal = writers,
        body: M = json_body(model),
        runtime: ServiceRuntime[Any] = Depends(get_runtime),
    ) -> M:
        async with audited_access(
            runtime.uow, principal, action="configure", resource=resource
        ) as access:
            return await write(body, access.uow)

    router.add_api_route(
        path,
        read_configuration,
        methods=["GET"],
        response_model=model,
        operation_id=f"read_{words}_configuration",
        summary=f"The LA's {name.replace('-', ' ')}",
        description=description,
    )
    router.add_api_route(
        path,
        replace_configuration,
        methods=["PUT"],
        response_model=model,
        operation_id=f"replace_{words}_configuration",
        summary=f"Replace the LA's {name.replace('-', ' ')}",
        description=description + " A change applies to what happens from then on.",
    )
