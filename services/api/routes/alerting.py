"""Alert routing, for admins: channels, routes and the delivery log; and an account manager's
own alerts (their address, set by an admin; each alert by e-mail or a daily digest, their
choice). Credentials (channel URLs, SMTP passwords) go in and never come out: answers mask
them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from services.alerting import store
from services.alerting.config import ChannelIn, RecipientIn, RouteIn
from services.api.deps import Pool, ProjectionSchema
from services.api.http.auth import Reader
from services.api.http.endpoints import endpoint, param
from services.api.http.errors import ApiError
from services.api.http.ownership import ensure_admin, ensure_admin_or_self
from services.api.http.params import AccountManagerIdPath, Limit, Offset
from services.api.schemas import errors
from services.api.schemas_alerting import (
    ChannelCreated,
    ChannelList,
    DeliveryList,
    Recipient,
    Route,
    RouteList,
)
from services.tokens import Principal

router = APIRouter(prefix="/v1", tags=["alert routing"])
_NOT_JSON = "the body is not JSON text (UTF-8)"


async def admin(who: Reader) -> Principal:
    ensure_admin(who, ApiError.field(403, "(token)", "only an admin may manage alert routing"))
    return who


Admin = Annotated[Principal, Depends(admin)]
ChannelIdPath = Annotated[str, Path(pattern=r"^ch_[0-9a-f]{12}$", description="the channel id")]
RouteIdPath = Annotated[str, Path(pattern=r"^rt_[0-9a-f]{12}$", description="the route id")]


@dataclass(frozen=True)
class _Deliveries:
    """Which deliveries the log lists, newest first: of a route, in a status, of an alert (each
    when given), a page of them; named as `store.deliveries` takes them."""

    route_id: Annotated[str | None, Query(pattern=r"^rt_[0-9a-f]{12}$")] = None
    status: Annotated[Literal["pending", "failing", "delivered", "dropped"] | None, Query()] = None
    alert_id: Annotated[str | None, Query(pattern=r"^[0-9a-f]{32}$")] = None
    limit: Limit = 100
    offset: Offset = 0


Wanted = Annotated[_Deliveries, Depends()]


# Channels and routes are two collections of one kind: each listed whole and removed by id
# (added by a route of its own, whose body and refusals differ).


def _listing(
    key: str,
    model: type[ChannelList] | type[RouteList],
    read: Callable[[Any], Awaitable[list[dict[str, Any]]]],
    summary: str,
) -> None:
    """GET /v1/alert-<key>: the whole collection, for an admin."""

    async def listed(pool: Pool, who: Admin) -> Any:
        return model.model_validate({key: await read(pool)})

    router.add_api_route(
        f"/alert-{key}",
        listed,
        methods=["GET"],
        name=f"alert_{key}",
        summary=summary,
        response_model=model,
        responses=errors(401, 403, 422),
    )


def _removal(
    kind: str, id_path: Any, remove: Callable[[Any, str], Awaitable[bool]], summary: str
) -> None:
    """DELETE /v1/alert-<kind>s/{<kind>_id}, for an admin: 204, or 404 when there is none."""
    key = f"{kind}_id"

    async def removed(pool: Any, who: Principal, **path: str) -> Response:
        if not await remove(pool, path[key]):
            raise ApiError.field(404, key, f"no {kind} {path[key]}")
        return Response(status_code=204)

    router.add_api_route(
        f"/alert-{kind}s/{{{key}}}",
        endpoint([param("pool", Pool), param("who", Admin), param(key, id_path)], removed),
        methods=["DELETE"],
        name=f"remove_alert_{kind}",
        summary=summary,
        status_code=204,
        responses={204: {"description": "removed"}, **errors(401, 403, 404, 422)},
    )


_listing("channels", ChannelList, store.channels, "The channels alerts go to (credentials masked)")


@router.post(
    "/alert-channels",
    summary="Add a channel: e-mail, Slack, Teams, Alertmanager or a signed webhook",
    status_code=201,
    responses=errors(400, 401, 403, 409, 422, e400=_NOT_JSON),
)
async def add_alert_channel(pool: Pool, who: Admin, body: ChannelIn) -> ChannelCreated:
    """`url` and `smtp_url` are credentials: kept, used, and shown masked from now on. A
    webhook channel's signing secret is in this answer only."""
    try:
        made, secret = await store.add_channel(pool, body)
    except store.NameTaken:
        raise ApiError.field(409, "name", f"a channel named {body.name} exists") from None
    return ChannelCreated.model_validate(made | {"signing_secret": secret})


_removal("channel", ChannelIdPath, store.remove_channel, "Remove a channel and the routes to it")


_listing("routes", RouteList, store.routes, "Which alerts go to which channel, and when")


@router.post(
    "/alert-routes",
    summary="Add a route: it carries the matching alerts raised from now on",
    status_code=201,
    responses=errors(
        400,
        401,
        403,
        409,
        422,
        e400=_NOT_JSON,
        e409="a route of that name exists, or its channel does not",
    ),
)
async def add_alert_route(pool: Pool, schema: ProjectionSchema, who: Admin, body: RouteIn) -> Route:
    try:
        made = await store.add_route(pool, body, schema)
    except store.NameTaken:
        raise ApiError.field(409, "name", f"a route named {body.name} exists") from None
    except store.UnknownChannel:
        raise ApiError.field(409, "channel", f"no channel named {body.channel}") from None
    return Route.model_validate(made)


_removal("route", RouteIdPath, store.remove_route, "Remove a route (its delivery log stays)")


@router.get(
    "/alert-deliveries",
    summary="Every delivery, newest first: when, where, outcome, tries",
    responses=errors(401, 403, 422),
)
async def alert_deliveries(pool: Pool, who: Admin, wanted: Wanted) -> DeliveryList:
    found = await store.deliveries(pool, **asdict(wanted))
    return DeliveryList.model_validate(
        {"deliveries": found, "limit": wanted.limit, "offset": wanted.offset}
    )


@router.get(
    "/alert-recipients/{account_manager_id}",
    summary="An account manager's own alerts: address and delivery (admin, or themselves)",
    responses=errors(401, 403, 422),
)
async def alert_recipient(
    pool: Pool, who: Reader, account_manager_id: AccountManagerIdPath
) -> Recipient:
    ensure_admin_or_self(who, account_manager_id)
    return Recipient.model_validate(await store.recipient(pool, account_manager_id))


@router.put(
    "/alert-recipients/{account_manager_id}",
    summary="Set an account manager's address (admin) or how they get their alerts",
    responses=errors(400, 401, 403, 422, e400=_NOT_JSON),
)
async def set_alert_recipient(
    pool: Pool,
    schema: ProjectionSchema,
    who: Reader,
    account_manager_id: AccountManagerIdPath,
    body: RecipientIn,
) -> Recipient:
    """`delivery`: `email` (each alert, the default), `digest` (one e-mail a day at
    `digest_at` in `timezone`) or `none`. Only an admin sets the address."""
    ensure_admin_or_self(who, account_manager_id)
    if body.email is not None:
        refused = "only an admin sets an account manager's address"
        ensure_admin(who, ApiError.field(403, "email", refused))
    done = await store.set_recipient(pool, schema, account_manager_id, body)
    return Recipient.model_validate(done)
