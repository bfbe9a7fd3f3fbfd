"""The person's side of data rights: disclose after an agreement, revoke, hold vendors to it.

After the person countersigns, the agent sends the vendor only the attributes
the agreement's data terms request and the person has in their profile, sealed
to the vendor's key with a consent receipt (protocol.consent). A revocation is
signed with the person's pairwise key for that vendor; the vendor has
`DELETION_DEADLINE` seconds to answer with a valid deletion receipt, or the
consent is marked `breach` in the person's store and shown so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import trio

from intentcast.agents.conversation.channel import Channel
from intentcast.agents.conversation.control import ControlError, Error, Ok, exchange, pack
from intentcast.agents.conversation.data_wire import (
    Acked,
    Deleted,
    Disclose,
    Honoured,
    Redeem,
    Revoke,
    Stored,
    read_data_answer,
)
from intentcast.agents.conversation.driver import unix_clock
from intentcast.agents.errors import AgentError, Kind
from intentcast.agents.store import consents, credits
from intentcast.agents.store.db import Store
from intentcast.protocol import (
    Agreement,
    ConsentReceipt,
    IntentcastError,
    LoyaltyCredit,
    MasterKey,
    consent,
    digest,
    envelope,
    loyalty,
)

log = logging.getLogger("intentcast.person_data")

DELETION_DEADLINE = 30.0


class DataNetwork(Protocol):
    async def open_data(self, peer_id: str, addrs: list[str]) -> Channel: ...
    def peer_addrs(self, peer_id: str) -> list[str]: ...


class ConsentFailure(AgentError):
    """A consent action that could not be carried out; the message says why."""


class PersonData:
    def __init__(self, store: Store, master: MasterKey, network: DataNetwork, *,
                 clock: Callable[[], float] = time.time,
                 deadline: float = DELETION_DEADLINE) -> None:
        self.store = store
        self.master = master
        self.network = network
        self.now = unix_clock(clock)
        self.deadline = deadline

    async def _ask(self, peer: dict[str, Any], frame: bytes
                   ) -> Ok | Deleted | Stored | Honoured | Acked | Error:
        addrs = [a for a in peer.get("addrs") or [] if isinstance(a, str)]
        with trio.fail_after(self.deadline):
            stream = await self.network.open_data(str(peer["peer_id"]), addrs)
            answer = await exchange(stream, frame, peer="the vendor")
        return read_data_answer(answer)

    async def after_agreement(self, agreement_raw: bytes, vendor_peer: str) -> str | None:
        """Disclose what the agreement needs, if the person has it; the consent id or None."""
        agreement = envelope.read_stored(agreement_raw)
        assert isinstance(agreement, Agreement)
        values = {n: v for n in self.store.attribute_names()
                  if (v := self.store.get_attribute(n)) is not None}
        if consent.needed(agreement, set(values)) is None:
            return None
        stored = self.store.intent(agreement.intent_id)
        if stored is None or agreement.agent is not None:
            return None  # an assistant's deal: the person discloses nothing automatically
        now = self.now()
        receipt_raw, disclosure_raw = consent.disclose(
            agreement, values, buyer=self.master.intent_key(stored.nonce),
            pairwise=self.master.pairwise_key(agreement.vendor), now=now)
        peer: dict[str, Any] = {"peer_id": vendor_peer,
                                "addrs": self.network.peer_addrs(vendor_peer)}
        answer = await self._ask(peer, pack(Disclose(receipt=receipt_raw,
                                                     disclosure=disclosure_raw)))
        if not isinstance(answer, Stored):
            raise ConsentFailure(Kind.CONFLICT, f"the vendor refused the disclosure: "
                                 f"{getattr(answer, 'error', answer.op)}")
        receipt = envelope.read_stored(receipt_raw)
        assert isinstance(receipt, ConsentReceipt)
        consents.add(self.store, receipt, receipt_raw, party=agreement.vendor, now=now,
                     disclosure=disclosure_raw, peer=peer, audit_kind="disclosed",
                     audit_data={"consent_id": receipt.id, "agreement_id": agreement.id,
                                 "vendor": agreement.vendor, "fields": receipt.fields,
                                 "purposes": receipt.purposes,
                                 "retention_days": receipt.retention_days})
        if answer.credit is not None:
            self._keep_credit(answer.credit, agreement, receipt.subject)
        return receipt.id

    def _keep_credit(self, raw: bytes, agreement: Agreement, holder: str) -> None:
        """A loyalty credit the vendor gave our pseudonym with it; kept if it is one."""
        try:
            verified = envelope.open(raw, now=self.now())
        except IntentcastError as exc:
            log.info("ignored a malformed credit from %s: %s", agreement.vendor, exc)
            return
        credit = verified.message
        if not isinstance(credit, LoyaltyCredit) or verified.signer != agreement.vendor or (
                credit.holder, credit.issuer) != (holder, agreement.vendor):
            log.info("ignored a credit that is not ours from %s", agreement.vendor)
            return
        credits.keep(self.store, verified.digest, agreement.vendor, credit.value.amount,
                     credit.value.currency, raw, state="unused", ref=None, now=self.now(),
                     audit_kind="credit_earned")

    async def redeem(self, ref: str, vendor: str, vendor_peer: str, intent_id: str,
                     offer_digest: bytes) -> credits.Credit:
        """Present our best unused credit from `vendor` against its offer `ref`."""
        held = sorted((c for c in credits.all_(self.store)
                       if c.vendor == vendor and c.state == "unused"), key=lambda c: -c.value)
        if not held:
            raise ConsentFailure(Kind.CONFLICT, f"no unused loyalty credit from {vendor}")
        credit = held[0]
        redemption = loyalty.redeem(credit.raw, self.master.pairwise_key(vendor),
                                    intent_id=intent_id, offer=offer_digest, now=self.now())
        peer = {"peer_id": vendor_peer, "addrs": self.network.peer_addrs(vendor_peer)}
        answer = await self._ask(peer, pack(Redeem(credit=credit.raw, redemption=redemption)))
        if not isinstance(answer, Honoured):
            raise ConsentFailure(Kind.CONFLICT, f"the vendor did not honour the credit: "
                                 f"{getattr(answer, 'error', answer.op)}")
        credits.set_state(self.store, credit.digest, "presented", ref=ref, now=self.now(),
                          audit_kind="credit_presented")
        found = credits.by_ref(self.store, ref)
        assert found is not None
        return found

    def settle(self, ref: str) -> None:
        """After a deal on `ref`: a credit presented for it is spent."""
        credit = credits.by_ref(self.store, ref)
        if credit is not None and credit.state == "presented":
            credits.set_state(self.store, credit.digest, "spent", ref=ref, now=self.now(),
                              audit_kind="credit_spent")

    async def revoke(self, consent_id: str) -> consents.StoredConsent:
        """Withdraw a consent; the vendor deletes and proves it, or is marked in breach."""
        held = consents.get(self.store, consent_id)
        if held is None or held.peer is None:
            raise ConsentFailure(Kind.NOT_FOUND, f"no consent {consent_id}")
        if held.state != "active":
            raise ConsentFailure(Kind.CONFLICT, f"consent {consent_id} is {held.state} already")
        receipt = envelope.read_stored(held.receipt)
        assert isinstance(receipt, ConsentReceipt)
        now = self.now()
        revocation = consent.withdraw(held.receipt, self.master.pairwise_key(held.party),
                                      now=now, reason="consent withdrawn by the person")
        problem, proof = "", b""
        try:
            answer = await self._ask(held.peer, pack(Revoke(revocation=revocation)))
            if not isinstance(answer, Deleted):
                raise ControlError(getattr(answer, "error", answer.op))
            proof = answer.receipt
            deleted = envelope.open(proof, now=self.now())
            consent.check_deletion(receipt, deleted)
        except (ControlError, IntentcastError, OSError, trio.TooSlowError) as exc:
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # an unreachable peer fails in transport-specific ways
            problem = f"unreachable: {type(exc).__name__}"
        base = {"consent_id": consent_id, "agreement_id": held.agreement_id,
                "vendor": held.party, "fields": held.fields}
        if problem:
            log.info("vendor %s did not confirm deleting %s: %s", held.party, consent_id,
                     problem)
            consents.finish(self.store, consent_id, state="breach", now=self.now(),
                            deletion=None, audit_kind="consent_breach",
                            audit_data={**base, "why": problem[:280]})
        else:
            consents.finish(self.store, consent_id, state="deleted", now=self.now(),
                            deletion=proof, audit_kind="deletion_confirmed",
                            audit_data={**base, "deletion": digest(proof).hex()})
        found = consents.get(self.store, consent_id)
        assert found is not None
        return found
