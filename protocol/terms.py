"""The person's own terms, a vendor's data requests, and the check between them.

Inspired by IEEE 7012 machine-readable personal privacy terms and Customer
Commons: the person states the purposes their data may serve, how long it may
be kept, no resale, no profiling, deletion on revocation. A vendor states each
field it needs, why and for how long. An agreement exists only where `check`
finds no conflict; each conflict names the clause it breaks.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Purpose = Literal[
    "fulfilment", "delivery", "receipt", "support", "warranty",
    "marketing", "analytics", "personalisation",
]
"""What a vendor may use data for. Closed list: an unknown purpose fails the schema."""

FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
"""A personal attribute name such as `postcode`, `email`, `shipping_address`."""

Clause = Literal["purposes", "retention_days", "no_resale", "no_profiling", "delete_on_revocation"]

MAX_RETENTION_DAYS = 3650


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class CustomerTerms(_Model):
    """The person's terms of service, carried by every intent."""

    purposes: list[Purpose] = Field(min_length=1, max_length=8)
    retention_days: int = Field(ge=0, le=MAX_RETENTION_DAYS)
    no_resale: bool = True
    no_profiling: bool = True
    delete_on_revocation: bool = True

    @field_validator("purposes")
    @classmethod
    def _unique(cls, value: list[Purpose]) -> list[Purpose]:
        if len(set(value)) != len(value):
            raise ValueError("purposes must not repeat")
        return value


class DataRequest(_Model):
    """One field a vendor needs, why, and for how long."""

    field: FieldName
    purpose: Purpose
    retention_days: int = Field(ge=0, le=MAX_RETENTION_DAYS)
    resale: bool = False
    profiling: bool = False


class VendorTerms(_Model):
    """What an offer asks of the person's data."""

    requests: list[DataRequest] = Field(default_factory=list, max_length=16)
    delete_on_revocation: bool = True


class Conflict(_Model):
    """A vendor request that breaks one clause of the person's terms."""

    clause: Clause
    field: str | None
    detail: str


def check(terms: CustomerTerms, vendor: VendorTerms) -> list[Conflict]:
    """Every conflict between the person's terms and the vendor's, in request order."""
    conflicts: list[Conflict] = []
    for req in vendor.requests:
        if req.purpose not in terms.purposes:
            conflicts.append(Conflict(
                clause="purposes", field=req.field,
                detail=f"{req.field} is asked for {req.purpose}, which the person does not allow",
            ))
        if req.retention_days > terms.retention_days:
            conflicts.append(Conflict(
                clause="retention_days", field=req.field,
                detail=f"{req.field} would be kept {req.retention_days} days; "
                f"the person allows {terms.retention_days}",
            ))
        if req.resale and terms.no_resale:
            conflicts.append(Conflict(
                clause="no_resale", field=req.field,
                detail=f"{req.field} would be resold; the person forbids resale",
            ))
        if req.profiling and terms.no_profiling:
            conflicts.append(Conflict(
                clause="no_profiling", field=req.field,
                detail=f"{req.field} would be used for profiling; the person forbids it",
            ))
    if terms.delete_on_revocation and not vendor.delete_on_revocation:
        conflicts.append(Conflict(
            clause="delete_on_revocation", field=None,
            detail="the vendor will not delete data when consent is revoked",
        ))
    return conflicts
