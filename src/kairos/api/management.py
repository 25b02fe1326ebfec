"""`/v1/advertisers` … `/v1/placements`: the ad server's catalog over REST, behind API keys.

Each resource gets the same five routes (create, list, read, patch, delete), built from one
description so that they cannot drift apart. Lists are pages in id order: `limit` (≤ 500) and
an opaque `cursor`. DELETE removes a row nothing references and answers 409 otherwise: archive
it instead (PATCH `{"status": "archived"}`), which takes it and everything under it out of
the catalog the ad server loads. Every change bumps the catalog version.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import msgspec
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.responses import Response

from kairos.adserver import model
from kairos.api import creative_models as dco
from kairos.api import management_models as bodies
from kairos.api.auth import require
from kairos.api.sessions import db_session
from kairos.creative import model as creative
from kairos.db import catalog
from kairos.db.apikeys import Scope
from kairos.db.catalog import TABLES, Record, variant_errors

MAX_LIMIT = 500
DEFAULT_LIMIT = 100

router = APIRouter(prefix="/v1")
_READ = [Depends(require(Scope.READ))]
_WRITE = [Depends(require(Scope.WRITE))]
_EMPTY = inspect.Parameter.empty


@dataclass(frozen=True)
class Resource:
    path: str  # also the tag
    kind: type[Any]  # the struct in kairos.adserver.model
    create: type[BaseModel]
    out: type[BaseModel]
    id_prefix: str  # of generated ids

    @property
    def table(self) -> catalog.Table:
        return TABLES[self.kind]

    @property
    def noun(self) -> str:
        return self.table.noun

    @property
    def id_param(self) -> str:
        return f"{self.noun}_id"

    @property
    def item_path(self) -> str:
        return f"/{{{self.id_param}}}"

    @property
    def item_id(self) -> tuple[Any, Any]:
        """The path parameter, named after the resource (`flight_id`), passed as `item_id`."""
        return (str, Path(alias=self.id_param, description=f"The {self.noun}'s id"))


RESOURCES = (
    Resource("advertisers", model.Advertiser, bodies.AdvertiserCreate, bodies.Advertiser, "adv"),
    Resource("campaigns", model.Campaign, bodies.CampaignCreate, bodies.Campaign, "cmp"),
    Resource("flights", model.Flight, bodies.FlightCreate, bodies.Flight, "flt"),
    Resource("creatives", model.Creative, bodies.CreativeCreate, bodies.Creative, "crv"),
    Resource("ads", model.Ad, bodies.AdCreate, bodies.Ad, "ad"),
    Resource("sites", model.Site, bodies.SiteCreate, bodies.Site, "site"),
    Resource("zones", model.Zone, bodies.ZoneCreate, bodies.Zone, "zone"),
    Resource("placements", model.Placement, bodies.PlacementCreate, bodies.Placement, "plc"),
    Resource("feeds", creative.Feed, dco.FeedCreate, dco.Feed, "feed"),
    Resource(
        "templates",
        creative.Template,
        dco.TemplateCreate,
        dco.Template,
        "tpl",
    ),
    Resource("variants", creative.Variant, dco.VariantCreate, dco.Variant, "var"),
)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    said = {
        401: "No API key, or an unknown or revoked one",
        403: "The key lacks the scope",
        404: "No such item",
        409: "A duplicate id or div name, or children still reference the item",
        422: "Invalid field(s): `detail` names each with `loc`",
    }
    return {
        c: {"description": said[c]} | ({"model": bodies.ErrorBody} if c != 422 else {})
        for c in codes
    }


# --- conversions ----------------------------------------------------------------------------


def _respond(
    out: type[BaseModel],
    record: Record[Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        _out(out, record).model_dump_json(),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def _out(out: type[BaseModel], record: Record[Any]) -> BaseModel:
    stamps = {"created_at": record.created_at, "updated_at": record.updated_at}
    return out.model_validate(msgspec.to_builtins(record.item) | stamps)


def _invalid(errors: list[dict[str, Any]]) -> NoReturn:
    raise RequestValidationError(errors)


def _body_errors(exc: ValidationError) -> NoReturn:
    _invalid([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)])


def _check_references(session: Session, item: Any) -> None:
    errors = catalog.reference_errors(session, item)
    if isinstance(item, creative.Variant) and not errors:
        errors = variant_errors(session, item)
    if errors:
        _invalid(
            [
                {
                    "type": "reference",
                    "loc": ("body", field),
                    "msg": msg,
                    "input": getattr(item, field),
                }
                for field, msg in errors.items()
            ]
        )


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        msg = "not a cursor from a previous page's next_cursor"
        _invalid([{"type": "cursor", "loc": ("query", "cursor"), "msg": msg, "input": cursor}])


def _endpoint(fn: Callable[..., Any], **params: tuple[Any, Any]) -> Callable[..., Any]:
    """Give `fn` the signature FastAPI reads: name → (annotation, default). The annotations
    differ per resource (bodies, filters), which a plain `def` cannot express."""
    kind = inspect.Parameter.KEYWORD_ONLY
    signature = inspect.Signature(
        [inspect.Parameter(n, kind, annotation=a, default=d) for n, (a, d) in params.items()]
    )
    fn.__signature__ = signature  # type: ignore[attr-defined]
    return fn


# --- the five routes of a resource ----------------------------------------------------------

_SESSION = (Session, Depends(db_session))


def _route(res: Resource, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
    router.add_api_route(f"/{res.path}{path}", endpoint, tags=[res.path], **options)


def _add_create(res: Resource) -> None:
    def create(request: Request, body: BaseModel, session: Session) -> Response:
        values = body.model_dump()
        values["id"] = values["id"] or f"{res.id_prefix}_{secrets.token_hex(8)}"
        item = msgspec.convert(values, res.kind)
        _check_references(session, item)
        record = catalog.insert(session, item)
        session.commit()
        location = request.url_for(f"get_{res.noun}", **{res.id_param: record.item.id})
        return _respond(res.out, record, 201, {"Location": str(location)})

    params = {"request": (Request, _EMPTY), "body": (res.create, _EMPTY), "session": _SESSION}
    _route(
        res,
        "",
        _endpoint(create, **params),
        methods=["POST"],
        status_code=201,
        response_model=res.out,
        dependencies=_WRITE,
        name=f"create_{res.noun}",
        summary=f"Create a {res.noun}",
        responses=_errors(401, 403, 409, 422),
    )


def _add_list(res: Resource) -> None:
    page_model = bodies.page_of(res.out)

    def list_(session: Session, limit: int, cursor: str | None, **where: Any) -> Response:
        found = catalog.page(
            session,
            res.kind,
            limit=limit + 1,
            after=decode_cursor(cursor),
            where={k: str(v) for k, v in where.items() if v is not None},
        )
        more = len(found) > limit
        page = page_model(
            items=[_out(res.out, r) for r in found[:limit]],
            next_cursor=encode_cursor(found[limit - 1].item.id) if more else None,
        )
        return Response(page.model_dump_json(), media_type="application/json")

    params: dict[str, tuple[Any, Any]] = {
        "session": _SESSION,
        "limit": (int, Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size")),
        "cursor": (str | None, Query(None, description="`next_cursor` of the previous page")),
    }
    for ref in res.table.refs:
        said = f"Only those of this {TABLES[ref.kind].noun}"
        params[ref.field] = (str | None, Query(None, description=said))
    if res.table.archivable:
        said = "Only those in this status"
        params["status"] = (model.Status | None, Query(None, description=said))
    _route(
        res,
        "",
        _endpoint(list_, **params),
        methods=["GET"],
        response_model=page_model,
        dependencies=_READ,
        name=f"list_{res.path}",
        summary=f"List {res.path}, a page at a time in id order",
        responses=_errors(401, 403, 422),
    )


def _add_read(res: Resource) -> None:
    def read(item_id: str, session: Session) -> Response:
        return _respond(res.out, catalog.get(session, res.kind, item_id))

    _route(
        res,
        res.item_path,
        _endpoint(read, item_id=res.item_id, session=_SESSION),
        methods=["GET"],
        response_model=res.out,
        dependencies=_READ,
        name=f"get_{res.noun}",
        summary=f"Read a {res.noun}",
        responses=_errors(401, 403, 404),
    )


def _add_patch(res: Resource) -> None:
    fixed = {"id", *(ref.field for ref in res.table.refs)}
    patch_model = bodies.patch_of(res.create, fixed)

    def patch(item_id: str, body: BaseModel, session: Session) -> Response:
        stored = catalog.get(session, res.kind, item_id).item
        merged = msgspec.to_builtins(stored) | body.model_dump(exclude_unset=True)
        try:  # the result as a whole, so that e.g. a new end is checked against the old start
            valid = res.create.model_validate(merged)
        except ValidationError as exc:
            _body_errors(exc)
        record = catalog.replace(session, msgspec.convert(valid.model_dump(), res.kind))
        session.commit()
        return _respond(res.out, record)

    params = {"item_id": res.item_id, "body": (patch_model, _EMPTY), "session": _SESSION}
    _route(
        res,
        res.item_path,
        _endpoint(patch, **params),
        methods=["PATCH"],
        response_model=res.out,
        dependencies=_WRITE,
        name=f"patch_{res.noun}",
        summary=f"Change some fields of a {res.noun} (parents cannot change)",
        responses=_errors(401, 403, 404, 409, 422),
    )


def _add_delete(res: Resource) -> None:
    def delete(item_id: str, session: Session) -> Response:
        catalog.delete(session, res.kind, item_id)
        session.commit()
        return Response(status_code=204)

    _route(
        res,
        res.item_path,
        _endpoint(delete, item_id=res.item_id, session=_SESSION),
        methods=["DELETE"],
        status_code=204,
        response_class=Response,
        dependencies=_WRITE,
        name=f"delete_{res.noun}",
        summary=f"Delete a {res.noun} nothing references (else 409: archive it instead)",
        responses=_errors(401, 403, 404, 409),
    )


for _resource in RESOURCES:
    for _add in (_add_create, _add_list, _add_read, _add_patch, _add_delete):
        _add(_resource)


@router.get(
    "/catalog/version",
    tags=["catalog"],
    dependencies=_READ,
    summary="The catalog version: it changes with every change to the catalog",
    responses=_errors(401, 403),
)
def get_catalog_version(session: Session = Depends(db_session)) -> dict[str, str]:
    return {"version": catalog.catalog_version(session)}
