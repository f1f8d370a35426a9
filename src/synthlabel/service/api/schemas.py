"""Pydantic models shared by the routers (requests and responses; the OpenAPI schema)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

T = TypeVar("T")

# No control characters (PostgreSQL refuses NUL; none belong in these fields).
_NO_CTRL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def _s(min_length: int, max_length: int) -> StringConstraints:
    return StringConstraints(
        min_length=min_length, max_length=max_length, pattern=_NO_CTRL, strip_whitespace=True
    )


def _as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Name200 = Annotated[str, _s(1, 200)]
Code32 = Annotated[str, _s(1, 32)]
Code64 = Annotated[str, _s(1, 64)]
Code100 = Annotated[str, _s(1, 100)]
Str64 = Annotated[str, _s(0, 64)]
Str300 = Annotated[str, _s(0, 300)]
Url500 = Annotated[str, _s(0, 500)]
Text5000 = Annotated[str, _s(0, 5000)]
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
ProviderKind = Literal["generation", "platform", "both"]
FilingStatus = Literal["pending", "filed", "revoked", "cancelled"]
AssessmentStatus = Literal["not_required", "pending", "passed", "failed"]
Role = Literal["admin", "reviewer", "provider", "public"]
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class ORM(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ProviderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name200
    credit_code: Code32 | None = Field(default=None, description="unified social credit code")
    kind: ProviderKind = "generation"
    contact: Str300 | None = None
    provider_code: Code64 | None = Field(default=None, description="code written in AIGC records")


class ProviderPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name200 | None = None
    credit_code: Code32 | None = None
    kind: ProviderKind | None = None
    contact: Str300 | None = None
    provider_code: Code64 | None = None


class ProviderOut(ORM):
    id: int
    name: str
    credit_code: str | None
    kind: str
    contact: str | None
    provider_code: str | None
    created_at: datetime
    updated_at: datetime | None


class ServiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name200
    url: Url500 | None = None
    description: Text5000 | None = None


class ServicePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name200 | None = None
    url: Url500 | None = None
    description: Text5000 | None = None


class ServiceOut(ORM):
    id: int
    provider_id: int
    name: str
    url: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime | None


class FilingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    algorithm_name: Name200
    filing_no: Code100
    filing_kind: Str64 | None = None
    service_id: Id | None = None
    status: FilingStatus = "filed"
    security_assessment_status: AssessmentStatus = "not_required"
    valid_from: UtcDatetime | None = None
    valid_to: UtcDatetime | None = None


class FilingPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    algorithm_name: Name200 | None = None
    filing_no: Code100 | None = None
    filing_kind: Str64 | None = None
    service_id: Id | None = None
    status: FilingStatus | None = None
    security_assessment_status: AssessmentStatus | None = None
    valid_from: UtcDatetime | None = None
    valid_to: UtcDatetime | None = None


class FilingOut(ORM):
    id: int
    provider_id: int
    service_id: int | None
    algorithm_name: str
    filing_no: str
    filing_kind: str | None
    status: str
    security_assessment_status: str
    valid_from: datetime | None
    valid_to: datetime | None
    created_at: datetime
    updated_at: datetime | None


class ImportResult(BaseModel):
    rows: int
    providers_created: int
    providers_updated: int
    services_created: int
    filings_created: int
    filings_updated: int
