"""Providers, their services and algorithm filings: CRUD and CSV import.

Reading: admin, reviewer, provider. Writing: admin.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Response, UploadFile
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from synthlabel.service import audit
from synthlabel.service.api.deps import DB, Admin, RegistryReader
from synthlabel.service.api.errors import ApiProblem, ProblemItem, problem_responses
from synthlabel.service.api.schemas import (
    FilingIn,
    FilingOut,
    FilingPatch,
    Id,
    ImportResult,
    Page,
    ProviderIn,
    ProviderOut,
    ProviderPatch,
    ServiceIn,
    ServiceOut,
    ServicePatch,
)
from synthlabel.service.db.models import (
    FILING_STATUSES,
    PROVIDER_KINDS,
    SECURITY_ASSESSMENT_STATUSES,
    AlgorithmFiling,
    Provider,
    ProviderService,
)

router = APIRouter(prefix="/api/v1", tags=["providers"])
READ = problem_responses(401, 403, 404, 422)
WRITE = problem_responses(401, 403, 404, 409, 422)

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=2**62)]


def _get(db: Session, model: type[Any], id_: int, what: str) -> Any:
    obj = db.get(model, id_)
    if obj is None:
        raise ApiProblem(404, "Not found", f"no {what} with id {id_}")
    return obj


def _apply(obj: Any, patch: BaseModel) -> None:
    for key, value in patch.model_dump(exclude_unset=True).items():
        setattr(obj, key, value)


def _page(db: Session, stmt: Any, out: type[BaseModel], limit: int, offset: int) -> Any:
    total = db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.execute(stmt.limit(limit).offset(offset)).scalars().all()
    return {
        "items": [out.model_validate(r) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


# --- providers ------------------------------------------------------------------------------


@router.get("/providers", response_model=Page[ProviderOut], responses=READ)
def list_providers(
    _actor: RegistryReader,
    db: DB,
    q: Annotated[str | None, Query(max_length=200, description="name or credit code")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    stmt = select(Provider).order_by(Provider.id)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(Provider.name.like(like), Provider.credit_code.like(like)))
    return _page(db, stmt, ProviderOut, limit, offset)


@router.post("/providers", response_model=ProviderOut, status_code=201, responses=WRITE)
def create_provider(body: ProviderIn, _actor: Admin, db: DB) -> Any:
    provider = Provider(**body.model_dump())
    db.add(provider)
    db.commit()
    return ProviderOut.model_validate(provider)


@router.get("/providers/{provider_id}", response_model=ProviderOut, responses=READ)
def get_provider(provider_id: Id, _actor: RegistryReader, db: DB) -> Any:
    return ProviderOut.model_validate(_get(db, Provider, provider_id, "provider"))


@router.patch("/providers/{provider_id}", response_model=ProviderOut, responses=WRITE)
def update_provider(provider_id: Id, body: ProviderPatch, _actor: Admin, db: DB) -> Any:
    provider = _get(db, Provider, provider_id, "provider")
    if body.name is None and "name" in body.model_fields_set:
        raise ApiProblem(422, "Invalid input", "name cannot be null")
    if body.kind is None and "kind" in body.model_fields_set:
        raise ApiProblem(422, "Invalid input", "kind cannot be null")
    _apply(provider, body)
    db.commit()
    return ProviderOut.model_validate(provider)


@router.delete("/providers/{provider_id}", status_code=204, responses=WRITE)
def delete_provider(provider_id: Id, _actor: Admin, db: DB) -> Response:
    """Delete a provider with its services and filings."""
    provider = _get(db, Provider, provider_id, "provider")
    db.delete(provider)
    db.commit()
    return Response(status_code=204)


# --- services -------------------------------------------------------------------------------


@router.get("/providers/{provider_id}/services", response_model=Page[ServiceOut], responses=READ)
def list_services(
    provider_id: Id, _actor: RegistryReader, db: DB, limit: Limit = 50, offset: Offset = 0
) -> Any:
    _get(db, Provider, provider_id, "provider")
    stmt = (
        select(ProviderService)
        .where(ProviderService.provider_id == provider_id)
        .order_by(ProviderService.id)
    )
    return _page(db, stmt, ServiceOut, limit, offset)


@router.post(
    "/providers/{provider_id}/services",
    response_model=ServiceOut,
    status_code=201,
    responses=WRITE,
)
def create_service(provider_id: Id, body: ServiceIn, _actor: Admin, db: DB) -> Any:
    _get(db, Provider, provider_id, "provider")
    service = ProviderService(provider_id=provider_id, **body.model_dump())
    db.add(service)
    db.commit()
    return ServiceOut.model_validate(service)


@router.get("/services/{service_id}", response_model=ServiceOut, responses=READ)
def get_service(service_id: Id, _actor: RegistryReader, db: DB) -> Any:
    return ServiceOut.model_validate(_get(db, ProviderService, service_id, "service"))


@router.patch("/services/{service_id}", response_model=ServiceOut, responses=WRITE)
def update_service(service_id: Id, body: ServicePatch, _actor: Admin, db: DB) -> Any:
    service = _get(db, ProviderService, service_id, "service")
    if body.name is None and "name" in body.model_fields_set:
        raise ApiProblem(422, "Invalid input", "name cannot be null")
    _apply(service, body)
    db.commit()
    return ServiceOut.model_validate(service)


@router.delete("/services/{service_id}", status_code=204, responses=WRITE)
def delete_service(service_id: Id, _actor: Admin, db: DB) -> Response:
    db.delete(_get(db, ProviderService, service_id, "service"))
    db.commit()
    return Response(status_code=204)


# --- filings --------------------------------------------------------------------------------


def _check_filing(db: Session, provider_id: int, service_id: int | None) -> None:
    if service_id is None:
        return
    service = db.get(ProviderService, service_id)
    if service is None or service.provider_id != provider_id:
        raise ApiProblem(
            422, "Invalid input", f"service_id {service_id} is not a service of this provider"
        )


@router.get("/filings", response_model=Page[FilingOut], responses=READ)
def list_filings(
    _actor: RegistryReader,
    db: DB,
    provider_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    filing_no: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    stmt = select(AlgorithmFiling).order_by(AlgorithmFiling.id)
    if provider_id is not None:
        stmt = stmt.where(AlgorithmFiling.provider_id == provider_id)
    if filing_no is not None:
        stmt = stmt.where(AlgorithmFiling.filing_no == filing_no)
    return _page(db, stmt, FilingOut, limit, offset)


@router.post(
    "/providers/{provider_id}/filings",
    response_model=FilingOut,
    status_code=201,
    responses=WRITE,
)
def create_filing(provider_id: Id, body: FilingIn, _actor: Admin, db: DB) -> Any:
    _get(db, Provider, provider_id, "provider")
    _check_filing(db, provider_id, body.service_id)
    filing = AlgorithmFiling(provider_id=provider_id, **body.model_dump())
    db.add(filing)
    db.commit()
    return FilingOut.model_validate(filing)


@router.get("/filings/{filing_id}", response_model=FilingOut, responses=READ)
def get_filing(filing_id: Id, _actor: RegistryReader, db: DB) -> Any:
    return FilingOut.model_validate(_get(db, AlgorithmFiling, filing_id, "filing"))


@router.patch("/filings/{filing_id}", response_model=FilingOut, responses=WRITE)
def update_filing(filing_id: Id, body: FilingPatch, _actor: Admin, db: DB) -> Any:
    filing = _get(db, AlgorithmFiling, filing_id, "filing")
    for required in ("algorithm_name", "filing_no", "status", "security_assessment_status"):
        if required in body.model_fields_set and getattr(body, required) is None:
            raise ApiProblem(422, "Invalid input", f"{required} cannot be null")
    if "service_id" in body.model_fields_set:
        _check_filing(db, filing.provider_id, body.service_id)
    _apply(filing, body)
    db.commit()
    return FilingOut.model_validate(filing)


@router.delete("/filings/{filing_id}", status_code=204, responses=WRITE)
def delete_filing(filing_id: Id, _actor: Admin, db: DB) -> Response:
    db.delete(_get(db, AlgorithmFiling, filing_id, "filing"))
    db.commit()
    return Response(status_code=204)


# --- CSV import -----------------------------------------------------------------------------

CSV_COLUMNS: dict[str, tuple[int, str]] = {
    # column: (max length, what it is)
    "provider_name": (200, "provider name (required)"),
    "credit_code": (32, "unified social credit code; the provider's key when given"),
    "provider_kind": (16, "generation | platform | both"),
    "contact": (300, "contact"),
    "provider_code": (64, "the provider code written in AIGC records"),
    "service_name": (200, "a service of the provider (created if new)"),
    "service_url": (500, "the service's URL"),
    "algorithm_name": (200, "filed algorithm (with filing_no)"),
    "filing_no": (100, "filing number; the filing's key"),
    "filing_kind": (64, "filing kind"),
    "filing_status": (16, "pending | filed | revoked | cancelled"),
    "security_assessment_status": (16, "not_required | pending | passed | failed"),
    "valid_from": (32, "YYYY-MM-DD or ISO 8601"),
    "valid_to": (32, "YYYY-MM-DD or ISO 8601"),
}
MAX_IMPORT_ROWS = 20_000


@dataclass
class _Row:
    number: int
    values: dict[str, str]
    valid_from: datetime | None
    valid_to: datetime | None


def _parse_when(text: str) -> datetime:
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _parse_csv(data: bytes, filename: str) -> list[_Row]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApiProblem(
            422, "Invalid input", f"{filename}: not UTF-8 text (byte {exc.start})"
        ) from None
    if "\x00" in text:
        raise ApiProblem(422, "Invalid input", f"{filename}: contains NUL bytes; not a CSV file")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise ApiProblem(422, "Invalid input", f"{filename}: empty file (no header row)")
    unknown = [h for h in header if h not in CSV_COLUMNS]
    errors: list[ProblemItem] = [
        ProblemItem(loc=["header"], column=h, msg=f"unknown column {h!r}") for h in unknown
    ]
    if "provider_name" not in header:
        errors.append(ProblemItem(loc=["header"], msg="missing required column 'provider_name'"))
    if len(set(header)) != len(header):
        errors.append(ProblemItem(loc=["header"], msg="a column name appears twice"))
    if errors:
        raise ApiProblem(422, "Invalid input", f"{filename}: bad header", errors=errors)
    reader.fieldnames = header
    rows: list[_Row] = []
    seen_filings: dict[str, int] = {}
    try:
        for number, raw in enumerate(reader, start=1):
            if number > MAX_IMPORT_ROWS:
                raise ApiProblem(
                    422, "Invalid input", f"{filename}: more than {MAX_IMPORT_ROWS} rows"
                )
            if None in raw:
                errors.append(
                    ProblemItem(loc=[number], row=number, msg="more fields than header columns")
                )
                continue
            values = {k: (v or "").strip() for k, v in raw.items() if k is not None}
            if not any(values.values()):
                continue
            row_errors = _check_row(number, values, seen_filings)
            dates: dict[str, datetime | None] = {"valid_from": None, "valid_to": None}
            for col in dates:
                if values.get(col):
                    try:
                        dates[col] = _parse_when(values[col])
                    except ValueError as exc:
                        row_errors.append(_item(number, col, str(exc)))
            errors.extend(row_errors)
            rows.append(_Row(number, values, dates["valid_from"], dates["valid_to"]))
    except csv.Error as exc:
        raise ApiProblem(
            422, "Invalid input", f"{filename}: line {reader.line_num}: {exc}"
        ) from None
    if errors:
        raise ApiProblem(
            422,
            "Invalid input",
            f"{filename}: {len(errors)} problem(s); nothing was imported",
            errors=errors,
        )
    if not rows:
        raise ApiProblem(422, "Invalid input", f"{filename}: no data rows")
    return rows


def _item(row: int, column: str, msg: str) -> ProblemItem:
    return ProblemItem(loc=[row, column], row=row, column=column, msg=msg)


def _check_row(number: int, v: dict[str, str], seen_filings: dict[str, int]) -> list[ProblemItem]:
    errors: list[ProblemItem] = []
    for col, value in v.items():
        limit = CSV_COLUMNS[col][0]
        if len(value) > limit:
            errors.append(_item(number, col, f"longer than {limit} characters"))
        if any(ord(c) < 32 and c not in "\t\n\r" for c in value):
            errors.append(_item(number, col, "contains control characters"))
    if not v.get("provider_name"):
        errors.append(_item(number, "provider_name", "required"))
    choices = {
        "provider_kind": PROVIDER_KINDS,
        "filing_status": FILING_STATUSES,
        "security_assessment_status": SECURITY_ASSESSMENT_STATUSES,
    }
    for col, allowed in choices.items():
        if v.get(col) and v[col] not in allowed:
            errors.append(_item(number, col, f"{v[col]!r}: expected one of {', '.join(allowed)}"))
    if bool(v.get("filing_no")) != bool(v.get("algorithm_name")):
        col = "algorithm_name" if v.get("filing_no") else "filing_no"
        errors.append(_item(number, col, "filing_no and algorithm_name go together"))
    filing_cols = ("filing_kind", "filing_status", "security_assessment_status")
    if not v.get("filing_no") and any(v.get(c) for c in (*filing_cols, "valid_from", "valid_to")):
        errors.append(_item(number, "filing_no", "filing columns given without a filing_no"))
    if v.get("service_url") and not v.get("service_name"):
        errors.append(_item(number, "service_name", "service_url given without service_name"))
    no = v.get("filing_no")
    if no:
        if no in seen_filings:
            errors.append(
                _item(number, "filing_no", f"{no!r} already appears in row {seen_filings[no]}")
            )
        else:
            seen_filings[no] = number
    return errors


def _import_rows(db: Session, rows: list[_Row]) -> tuple[ImportResult, list[ProblemItem]]:
    counts = dict.fromkeys(
        (
            "providers_created",
            "providers_updated",
            "services_created",
            "filings_created",
            "filings_updated",
        ),
        0,
    )
    errors: list[ProblemItem] = []
    touched: set[int] = set()
    for row in rows:
        v = row.values
        code = v.get("credit_code") or None
        if code:
            provider = db.execute(
                select(Provider).where(Provider.credit_code == code)
            ).scalar_one_or_none()
        else:
            provider = (
                db.execute(
                    select(Provider)
                    .where(Provider.name == v["provider_name"], Provider.credit_code.is_(None))
                    .order_by(Provider.id)
                )
                .scalars()
                .first()
            )
        if provider is None:
            provider = Provider(
                name=v["provider_name"],
                credit_code=code,
                kind=v.get("provider_kind") or "generation",
                contact=v.get("contact") or None,
                provider_code=v.get("provider_code") or None,
            )
            db.add(provider)
            db.flush()
            counts["providers_created"] += 1
            touched.add(provider.id)
        else:
            changed = False
            for attr, col in (
                ("name", "provider_name"),
                ("kind", "provider_kind"),
                ("contact", "contact"),
                ("provider_code", "provider_code"),
            ):
                if v.get(col) and getattr(provider, attr) != v[col]:
                    setattr(provider, attr, v[col])
                    changed = True
            if changed and provider.id not in touched:
                counts["providers_updated"] += 1
            touched.add(provider.id)
        service_id: int | None = None
        if v.get("service_name"):
            service = db.execute(
                select(ProviderService).where(
                    ProviderService.provider_id == provider.id,
                    ProviderService.name == v["service_name"],
                )
            ).scalar_one_or_none()
            if service is None:
                service = ProviderService(
                    provider_id=provider.id,
                    name=v["service_name"],
                    url=v.get("service_url") or None,
                )
                db.add(service)
                db.flush()
                counts["services_created"] += 1
            elif v.get("service_url"):
                service.url = v["service_url"]
            service_id = service.id
        if v.get("filing_no"):
            filing = db.execute(
                select(AlgorithmFiling).where(AlgorithmFiling.filing_no == v["filing_no"])
            ).scalar_one_or_none()
            fields: dict[str, Any] = {
                "filing_no": v["filing_no"],
                "algorithm_name": v["algorithm_name"],
                "filing_kind": v.get("filing_kind") or None,
                "status": v.get("filing_status") or "filed",
                "security_assessment_status": v.get("security_assessment_status") or "not_required",
                "valid_from": row.valid_from,
                "valid_to": row.valid_to,
                "service_id": service_id,
            }
            if filing is None:
                db.add(AlgorithmFiling(provider_id=provider.id, **fields))
                counts["filings_created"] += 1
            elif filing.provider_id != provider.id:
                errors.append(
                    _item(
                        row.number,
                        "filing_no",
                        f"{v['filing_no']!r} is filed under another provider "
                        f"(id {filing.provider_id})",
                    )
                )
            else:
                for key, value in fields.items():
                    setattr(filing, key, value)
                counts["filings_updated"] += 1
            db.flush()
    return ImportResult(rows=len(rows), **counts), errors


class CsvColumns(BaseModel):
    columns: dict[str, str]


@router.get("/providers/import/columns", response_model=CsvColumns, responses=READ)
def import_columns(_actor: RegistryReader) -> CsvColumns:
    """The CSV columns ``POST /providers/import`` accepts."""
    return CsvColumns(columns={k: d for k, (_, d) in CSV_COLUMNS.items()})


@router.post(
    "/providers/import",
    response_model=ImportResult,
    responses=problem_responses(401, 403, 409, 413, 422),
)
def import_providers(
    _actor: Admin, db: DB, file: Annotated[UploadFile, File(description="UTF-8 CSV")]
) -> ImportResult:
    """Import providers, services and filings from CSV (columns: ``GET
    /providers/import/columns``). All or nothing: any bad row and nothing is written; the
    422 answer lists every row error (``row`` 1 = the first data row)."""
    result = import_csv(db, file.file.read(), file.filename or "upload.csv")
    db.commit()
    return result


def import_csv(db: Session, data: bytes, name: str) -> ImportResult:
    """Import a providers CSV in ``db``'s transaction (the caller commits); ApiProblem 422
    listing every problem, after rolling back, when any row is bad. Shared with the web UI."""
    rows = _parse_csv(data, name)
    try:
        result, errors = _import_rows(db, rows)
    except ValidationError as exc:  # pragma: no cover - rows were validated above
        db.rollback()
        raise ApiProblem(422, "Invalid input", f"{name}: {exc}") from None
    if errors:
        db.rollback()
        raise ApiProblem(
            422, "Invalid input", f"{name}: {len(errors)} problem(s); nothing was imported", errors
        )
    audit.record(db, "provider.import", "provider", None, {"file": name, **result.model_dump()})
    return result
