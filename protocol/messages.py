"""The intentcast messages: frozen pydantic models, one per `type`.

Every message has `v` (protocol version), `type`, `id`, `issued_at` and
`expires_at` (integer Unix seconds). Every field is critical: an unknown field
fails the schema (`extra="forbid"`), and a new field means a new version.
Strings and lists are bounded so a hostile peer cannot make us hold much.
The CDDL for each message is in specs/protocol.md.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from .currencies import EXPONENTS
from .identity import public_key_from_did
from .terms import CustomerTerms, FieldName, Purpose, VendorTerms

PROTOCOL_VERSION = 1
MAX_NEGOTIATION_ROUNDS = 16
"""Upper bound on counter rounds any message may claim; agents may set lower."""
DAY = 86_400
MOVE_LIFETIME = DAY
"""Longest life of a negotiation move (offer, counter, accept, reject, withdraw) and of a
redemption: they matter for minutes, so a replay guard holds each for at most a day."""
INTENT_LIFETIME = 30 * DAY
RECORD_LIFETIME = 3650 * DAY
"""Longest life of what is kept rather than answered: agreements, acknowledgements,
receipts, credits, delegations, revocations, reports."""


def _did(value: str) -> str:
    public_key_from_did(value)
    return value


def _currency(value: str) -> str:
    if value not in EXPONENTS:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


Did = Annotated[str, StringConstraints(max_length=64), AfterValidator(_did)]
MessageId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Timestamp = Annotated[int, Field(ge=0, le=2**40)]
Digest = Annotated[bytes, Field(min_length=32, max_length=32)]
Nonce = Annotated[bytes, Field(min_length=16, max_length=32)]
Category = Annotated[
    str,
    StringConstraints(
        max_length=128, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*){0,7}$"
    ),
]
Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
ShortText = Annotated[str, StringConstraints(max_length=280)]
Text = Annotated[str, StringConstraints(max_length=1000)]
Quantity = Annotated[int, Field(ge=1, le=1_000_000)]
Round = Annotated[int, Field(ge=0, le=MAX_NEGOTIATION_ROUNDS)]
MAX_CHAIN_LINKS = 4
"""Links a delegation chain may have: person → assistant → sub-assistant → …"""
Link = Annotated[bytes, Field(min_length=1, max_length=4096)]
Chain = Annotated[list[Link], Field(min_length=1, max_length=MAX_CHAIN_LINKS)]


def new_id() -> str:
    """A fresh random message id (128 bits, URL-safe base64)."""
    return secrets.token_urlsafe(16)


def digest(envelope: bytes) -> bytes:
    """The SHA-256 of an envelope's bytes: how messages name one another."""
    return hashlib.sha256(envelope).digest()


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Money(_Model):
    """An integer amount of minor units and its ISO 4217 code: 1050 EUR is 10.50 EUR."""

    amount: int = Field(ge=0, le=10**15)
    currency: Annotated[str, AfterValidator(_currency)]


class Location(_Model):
    """A coarse location: a postcode prefix, or a centre and a radius."""

    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    postcode_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,5}$")] | None = None
    lat_e6: Annotated[int, Field(ge=-90_000_000, le=90_000_000)] | None = None
    lon_e6: Annotated[int, Field(ge=-180_000_000, le=180_000_000)] | None = None
    radius_km: Annotated[int, Field(ge=1, le=1000)] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Location:
        circle = (self.lat_e6, self.lon_e6, self.radius_km)
        has_circle = all(v is not None for v in circle)
        if any(v is not None for v in circle) and not has_circle:
            raise ValueError("a radius needs lat_e6, lon_e6 and radius_km together")
        if not has_circle and self.postcode_prefix is None and self.country is None:
            raise ValueError("a location needs a country, a postcode prefix or a radius")
        return self


class Constraints(_Model):
    """What the person asks for, in a form vendors can match."""

    max_price: Money | None = None
    quantity: Quantity = 1
    needed_by: Timestamp | None = None
    location: Location | None = None


class ReplyTo(_Model):
    """Where vendors open the negotiation stream: a libp2p peer id and addresses."""

    peer_id: Annotated[str, StringConstraints(pattern=r"^[1-9A-HJ-NP-Za-km-z]{32,64}$")]
    addrs: list[Annotated[str, StringConstraints(pattern=r"^/[!-~]{1,255}$")]] = Field(
        default_factory=list, max_length=8
    )


class _Message(_Model):
    v: Literal[1] = 1
    id: MessageId
    issued_at: Timestamp
    expires_at: Timestamp

    @model_validator(mode="after")
    def _lifetime(self) -> _Message:
        if self.expires_at <= self.issued_at:
            raise ValueError("expires_at must be after issued_at")
        longest = MAX_LIFETIME[self.type]  # type: ignore[attr-defined]
        if self.expires_at - self.issued_at > longest:
            raise ValueError(f"a {self.type} lives at most {longest} s")  # type: ignore[attr-defined]
        return self


class Intent(_Message):
    """A personal RFP: what the person wants, on the person's terms."""

    type: Literal["intent"] = "intent"
    category: Category
    description: Text
    constraints: Constraints = Constraints()
    disclosed: dict[FieldName, ShortText] = Field(default_factory=dict, max_length=32)
    terms: CustomerTerms
    reply_to: ReplyTo
    assistant: Did | None = None
    """The assistant the person named to negotiate: vendors then take buyer moves
    only from it (or its own delegates), each carrying its delegation chain."""

    @property
    def topic_category(self) -> str:
        """The top-level category: the gossipsub topic this intent travels on."""
        return self.category.split(".", 1)[0]


class _InNegotiation(_Message):
    intent_id: MessageId
    in_reply_to: Digest
    """The digest of the envelope this message answers: the transcript's hash link."""


class Offer(_InNegotiation):
    """A vendor's signed proposal answering an intent."""

    type: Literal["offer"] = "offer"
    sku: Sku
    title: ShortText
    quantity: Quantity
    price: Money
    terms: VendorTerms = VendorTerms()


class _Delegated(_InNegotiation):
    delegation: Chain | None = None
    """On a buyer move signed by an assistant: the chain from the intent's key to it."""


class Counter(_Delegated):
    """A new price proposed by either side, in a bounded number of rounds."""

    type: Literal["counter"] = "counter"
    round: Annotated[int, Field(ge=1, le=MAX_NEGOTIATION_ROUNDS)]
    price: Money
    note: ShortText | None = None


class Accept(_Delegated):
    """The buyer accepts the proposal it answers, at the price it repeats."""

    type: Literal["accept"] = "accept"
    price: Money


class Reject(_Delegated):
    """Either side ends the negotiation."""

    type: Literal["reject"] = "reject"
    reason: ShortText


class Withdraw(_Message):
    """The buyer withdraws its intent, or a vendor its offer."""

    type: Literal["withdraw"] = "withdraw"
    intent_id: MessageId
    in_reply_to: Digest | None = None
    reason: ShortText


def terms_hash(
    *, sku: str, quantity: int, price: Money, customer: CustomerTerms, vendor: VendorTerms
) -> bytes:
    """SHA-256 over the deterministic CBOR of what both parties bind themselves to."""
    from .encoding import encode

    body: dict[str, Any] = {
        "sku": sku,
        "quantity": quantity,
        "price": price.model_dump(),
        "customer_terms": customer.model_dump(),
        "vendor_terms": vendor.model_dump(),
    }
    return hashlib.sha256(encode(body)).digest()


class Agreement(_Message):
    """The deal: both parties sign this same payload (COSE_Sign, one signature each)."""

    type: Literal["agreement"] = "agreement"
    intent_id: MessageId
    intent_hash: Digest
    offer_hash: Digest
    accept_hash: Digest
    """Head of the signed transcript: the digest of the buyer's Accept."""
    buyer: Did
    vendor: Did
    sku: Sku
    title: ShortText
    quantity: Quantity
    price: Money
    customer_terms: CustomerTerms
    vendor_terms: VendorTerms
    terms_hash: Digest
    countersign_by: Timestamp
    """The seller's deadline for the buyer's countersignature: until then the seller holds
    the stock; a countersignature it receives later is refused (spec §7)."""
    agent: Did | None = None
    """The assistant that accepted and signs for the buyer, when one did."""
    delegation: Chain | None = None
    """The agent's chain from `buyer` (the intent's key), as carried by its Accept."""

    @property
    def buyer_signer(self) -> str:
        """Who signs for the buyer: the agent when there is one, else the buyer."""
        return self.agent or self.buyer

    @model_validator(mode="after")
    def _hash_matches(self) -> Agreement:
        expected = terms_hash(
            sku=self.sku, quantity=self.quantity, price=self.price,
            customer=self.customer_terms, vendor=self.vendor_terms,
        )
        if self.terms_hash != expected:
            raise ValueError("terms_hash does not match the terms")
        if self.buyer == self.vendor:
            raise ValueError("buyer and vendor must differ")
        if (self.agent is None) != (self.delegation is None):
            raise ValueError("an agent and its delegation come together")
        if self.agent is not None and self.agent in (self.buyer, self.vendor):
            raise ValueError("the agent is neither the buyer nor the vendor")
        if not self.issued_at < self.countersign_by <= self.expires_at:
            raise ValueError("countersign_by is after issued_at and no later than expires_at")
        return self


class Scope(_Model):
    """What a delegation lets an assistant do."""

    categories: list[Category] = Field(min_length=1, max_length=16)
    max_price: Money | None = None
    may_counter: bool = False
    may_accept: bool = False
    may_disclose: list[FieldName] = Field(default_factory=list, max_length=32)


class Delegation(_Message):
    """A person (or an assistant, narrowing its own) lets a delegate act within a scope."""

    type: Literal["delegation"] = "delegation"
    issuer: Did
    delegate: Did
    scope: Scope
    not_before: Timestamp
    nonce: Nonce
    parent: Digest | None = None


class Revocation(_Message):
    """Withdraws a delegation or a consent, named by its envelope digest."""

    type: Literal["revocation"] = "revocation"
    target: Digest
    target_type: Literal["delegation", "consent"]
    reason: ShortText | None = None


class ConsentReceipt(_Message):
    """The person's signed record of what was disclosed, to whom, why, for how long."""

    type: Literal["consent_receipt"] = "consent_receipt"
    agreement_id: MessageId
    terms_hash: Digest
    subject: Did
    controller: Did
    fields: list[FieldName] = Field(min_length=1, max_length=32)
    purposes: list[Purpose] = Field(min_length=1, max_length=8)
    retention_days: int = Field(ge=0, le=3650)


class Disclosure(_Message):
    """Attributes sealed to one vendor under one consent receipt, signed by the
    person's pairwise key for that vendor (the receipt's subject)."""

    type: Literal["disclosure"] = "disclosure"
    agreement_id: MessageId
    consent: Digest
    """The digest of the consent receipt's envelope that covers this disclosure."""
    recipient: Did
    sealed: Annotated[bytes, Field(min_length=48, max_length=40_000)]
    """A libsodium sealed box to the recipient's key holding a CBOR map of fields."""


class LoyaltyCredit(_Message):
    """A vendor's signed credit to the person's pairwise pseudonym, earned with an agreement.

    No account, no card: only the holder of the pseudonym's key can present it,
    and only to its issuer, since no other vendor knows that pseudonym."""

    type: Literal["loyalty_credit"] = "loyalty_credit"
    issuer: Did
    holder: Did
    agreement_id: MessageId
    value: Money


class Redemption(_Message):
    """The holder presents a credit against one open offer from its issuer."""

    type: Literal["redemption"] = "redemption"
    credit: Digest
    """The digest of the loyalty credit's envelope."""
    intent_id: MessageId
    offer: Digest
    """The digest of the issuer's offer the credit is to lower."""


class DeletionReceipt(_Message):
    """The vendor's signed statement that it deleted what a consent covered."""

    type: Literal["deletion_receipt"] = "deletion_receipt"
    consent_id: MessageId
    agreement_id: MessageId
    controller: Did
    fields: list[FieldName] = Field(min_length=1, max_length=32)
    deleted_at: Timestamp
    cause: Literal["revocation", "retention"]


class Report(_Message):
    """An assistant's signed account to the person: a note, a question, an explanation."""

    type: Literal["report"] = "report"
    intent_id: MessageId
    kind: Literal["note", "question", "error"]
    text: Text
    about: Digest | None = None
    """The envelope the report is about (an offer, a counter), by digest."""


class Ack(_Message):
    """A signed acknowledgement: the signer stored the envelope `about` (outcome `stored`)
    or will not keep it (`refused`, with a reason): an agreement's countersignature that
    came after `countersign_by`, say. A party says "done" only once it holds this."""

    type: Literal["ack"] = "ack"
    about: Digest
    outcome: Literal["stored", "refused"]
    reason: ShortText | None = None

    @model_validator(mode="after")
    def _reason_with_refusal(self) -> Ack:
        if (self.outcome == "refused") != (self.reason is not None):
            raise ValueError("a refusal carries a reason, and only a refusal does")
        return self


Message = Annotated[
    Intent | Offer | Counter | Accept | Reject | Withdraw | Agreement
    | Delegation | Revocation | ConsentReceipt | DeletionReceipt | Report | Disclosure
    | LoyaltyCredit | Redemption | Ack,
    Field(discriminator="type"),
]
MESSAGE_TYPES: dict[str, type[BaseModel]] = {
    cls.model_fields["type"].default: cls
    for cls in (Intent, Offer, Counter, Accept, Reject, Withdraw, Agreement,
                Delegation, Revocation, ConsentReceipt, DeletionReceipt, Report, Disclosure,
                LoyaltyCredit, Redemption, Ack)
}
MAX_LIFETIME: dict[str, int] = {
    name: (INTENT_LIFETIME if name == "intent"
           else MOVE_LIFETIME if name in ("offer", "counter", "accept", "reject", "withdraw",
                                          "redemption")
           else RECORD_LIFETIME)
    for name in MESSAGE_TYPES
}
"""The longest `expires_at - issued_at` of each message type (spec §5): a replay guard
holds a message until it expires, so its memory is bounded by rate times lifetime."""
MESSAGE_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)


def to_cbor_map(message: BaseModel) -> dict[str, Any]:
    """The payload map of a message: absent optionals are left out, not sent as null."""
    return message.model_dump(mode="python", exclude_none=True)
