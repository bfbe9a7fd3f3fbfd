"""Field types and checks the local API's request bodies share.

Category and field names are the protocol's own types, so the API refuses
exactly what a message would refuse.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from typing import Annotated

from pydantic import StringConstraints

from intentcast.agents.errors import AgentError, Kind
from intentcast.protocol import EXPONENTS, Category, FieldName, parse_amount

Amount = Annotated[str, StringConstraints(pattern=r"^\d{1,13}(\.\d{1,3})?$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
PostcodePrefix = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,5}$")]


def minor_units(amount: str | None, currency: str, *, field: str = "max_price") -> int | None:
    """A decimal amount in `currency` as integer minor units; a one-line 422 if it is not."""
    if currency not in EXPONENTS:
        raise AgentError(Kind.INVALID, f"currency: {currency} is not an ISO 4217 code")
    if amount is None:
        return None
    try:
        return parse_amount(amount, currency)
    except ValueError as exc:
        raise AgentError(Kind.INVALID, f"{field}: {exc}") from exc


__all__ = ["Amount", "Category", "Country", "Currency", "FieldName", "PostcodePrefix",
           "minor_units"]
