"""The person's daemon side of fourth parties: the desk assistants talk to.

Serves `/intentcast/assistant/1` (agents/conversation/control.py): lets a granted assistant
in, hands it the intents that name it with a short link each, renews links
before each of its moves, and files a copy of everything it signs or receives
in the person's store and audit log. Revoking a grant stops renewals, tells
the assistant, and publishes revocations of its links still alive.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import trio

from intentcast.agents.conversation.channel import Channel
from intentcast.agents.conversation.control import (
    Assigned,
    ControlError,
    Error,
    Expiring,
    Hello,
    IntentEvent,
    Link,
    Ok,
    Record,
    Renew,
    Revoked,
    Welcome,
    pack,
    read_request,
)
from intentcast.agents.conversation.driver import first_frame, unix_clock
from intentcast.agents.conversation.limits import PeerSlots
from intentcast.agents.conversation.records import keep_agreement
from intentcast.agents.errors import AgentError, Kind
from intentcast.agents.store import audit, grants
from intentcast.agents.store.db import Store, StoredIntent
from intentcast.protocol import (
    Ack,
    Agreement,
    Intent,
    IntentcastError,
    MasterKey,
    ReplyTo,
    Report,
    Verified,
    check_ack,
    cose,
    did_from_public_key,
    digest,
    envelope,
    scope_covers,
)

log = logging.getLogger("intentcast.desk")

FIRST_FRAME_TIMEOUT = 10.0
STREAMS_PER_PEER = 8
STREAMS = 128
EXPIRING_NOTICE = 120
"""Seconds before an intent expires when its assistant is told so."""


class DeskNetwork(Protocol):
    async def publish_revocation(self, data: bytes) -> None: ...
    def peer_multiaddrs(self) -> list[str]: ...


@dataclass
class Connection:
    assistant: str
    peer_id: str
    addrs: list[str]
    channel: Channel
    lock: trio.Lock


class Desk:
    def __init__(self, store: Store, master: MasterKey, network: DeskNetwork, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.master = master
        self.network = network
        self.now = unix_clock(clock)
        self.connected: dict[str, Connection] = {}
        self._warned: set[str] = set()
        self.slots = PeerSlots(per_peer=STREAMS_PER_PEER, total=STREAMS)

    # -- what the person does ------------------------------------------------------------

    def reply_to(self, assistant: str, category: str) -> ReplyTo:
        """Where vendors should open negotiations for an intent handled by `assistant`."""
        found = grants.live_grant(self.store, assistant, self.now())
        if found is None:
            raise AgentError(Kind.CONFLICT, f"no active grant to {assistant}: "
                                 "run `intentcast assistant grant` first")
        if not scope_covers(found.scope, category):
            raise AgentError(Kind.INVALID, f"the grant to {assistant} does not cover {category}")
        connection = self.connected.get(assistant)
        if connection is None:
            raise AgentError(Kind.CONFLICT, f"assistant {assistant} is not connected: "
                                 "start it with `intentcast assistant run`")
        return ReplyTo(peer_id=connection.peer_id, addrs=connection.addrs[:8])

    async def announce(self, stored: StoredIntent, assistant: str) -> None:
        """Hand a freshly posted intent to its assistant, with its first link."""
        connection = self.connected.get(assistant)
        found = grants.live_grant(self.store, assistant, self.now())
        if connection is None or found is None:
            return
        link = grants.issue_link(self.store, self.master, found, stored.raw, stored.nonce,
                                 now=self.now())
        await self._push(connection, pack(IntentEvent(intent=stored.raw, link=link)))

    async def revoke(self, grant_id: str) -> int:
        """Revoke a grant; returns how many live links were revoked on the network."""
        revocations = grants.revoke_grant(self.store, self.master, grant_id, now=self.now())
        for raw in revocations:
            await self.network.publish_revocation(raw)
        found = grants.grant(self.store, grant_id)
        assert found is not None
        connection = self.connected.get(found.assistant)
        if connection is not None:
            await self._push(connection, pack(Revoked(grant_id=grant_id)))
        return len(revocations)

    async def watch_expiry(self) -> None:
        """Tell each assistant when one of its intents is about to expire."""
        while True:
            now = self.now()
            for stored in self.store.intents():
                if (stored.state != "open" or stored.id in self._warned
                        or stored.expires_at - now > EXPIRING_NOTICE):
                    continue  # cheap checks first: parsing every intent each second is not
                assistant = _assistant_of(stored.raw)
                connection = self.connected.get(assistant or "")
                if connection is not None:
                    self._warned.add(stored.id)
                    await self._push(connection, pack(Expiring(intent_id=stored.id)))
            await trio.sleep(1)

    # -- what assistants ask -------------------------------------------------------------

    async def handle(self, channel: Channel) -> None:
        """Serve one control stream: a request and its answer, or the event stream."""
        with self.slots.slot(channel.remote_peer_id) as granted:
            if not granted:  # any peer may knock; none may hold more than its share
                await channel.reset()
                return
            try:
                await self._serve(channel)
            finally:
                await channel.close()

    async def _serve(self, channel: Channel) -> None:
        data = await first_frame(channel, FIRST_FRAME_TIMEOUT)
        if data is None:
            return
        key = channel.remote_public_key
        assistant = did_from_public_key(key) if key is not None else ""
        try:
            request = read_request(data)
        except ControlError as exc:
            await channel.send(pack(Error(error=f"bad request: {exc}"[:280])))
            return
        found = grants.live_grant(self.store, assistant, self.now()) if assistant else None
        if found is None:
            await channel.send(pack(Error(error="no active grant to this peer's key")))
            return
        try:
            if isinstance(request, Hello):
                await self._hello(channel, assistant, found, request)
            elif isinstance(request, Renew):
                await channel.send(pack(Link(link=self._renew(found, request.intent_id))))
            else:
                self._record(assistant, request)
                await channel.send(pack(Ok()))
        except (AgentError, IntentcastError) as exc:
            await channel.send(pack(Error(error=str(exc)[:280])))

    async def _hello(self, channel: Channel, assistant: str, found: grants.Grant,
                     hello: Hello) -> None:
        grant_id = grants.check_grant_envelope(hello.grant, assistant, self.master,
                                               now=self.now())
        if grant_id != found.id:
            raise AgentError(Kind.CONFLICT,
                             "that grant is not the active one; ask the person for the "
                             "newest grant file")
        previous = self.connected.get(assistant)
        connection = Connection(assistant, channel.remote_peer_id, list(hello.addrs), channel,
                                trio.Lock())
        self.connected[assistant] = connection
        if previous is not None:
            await previous.channel.close()
        assigned = [Assigned(intent=s.raw, link=self._renew(found, s.id))
                    for s in self._open_intents(assistant)]
        peers = [a for a in self.network.peer_multiaddrs()
                 if not a.endswith("/p2p/" + channel.remote_peer_id)][:32]
        await self._push(connection, pack(Welcome(intents=assigned, peers=peers)))
        with self.store.transaction() as db:
            audit.append(db, at=self.now(), kind="assistant_connected",
                         data={"assistant": assistant, "grant_id": found.id})
        try:
            while await channel.receive() is not None:
                pass  # the assistant sends nothing more here; a frame is ignored
        finally:
            if self.connected.get(assistant) is connection:
                del self.connected[assistant]

    def _open_intents(self, assistant: str) -> list[StoredIntent]:
        now = self.now()
        return [s for s in self.store.intents() if s.state == "open" and now < s.expires_at
                and _assistant_of(s.raw) == assistant]

    def _renew(self, found: grants.Grant, intent_id: str) -> bytes:
        stored = self.store.intent(intent_id)
        if stored is None or _assistant_of(stored.raw) != found.assistant:
            raise AgentError(Kind.NOT_FOUND, f"no intent {intent_id} for this assistant")
        if stored.state != "open":
            raise AgentError(Kind.CONFLICT, f"intent {intent_id} is {stored.state}")
        return grants.issue_link(self.store, self.master, found, stored.raw, stored.nonce,
                                 now=self.now())

    def _record(self, assistant: str, record: Record) -> None:
        """File a copy of an envelope the assistant sent or received about our intent."""
        now = self.now()
        verified = envelope.open(record.envelope, now=now, require_complete=False)
        message = verified.message
        if isinstance(message, Ack):
            self._settle(assistant, verified)
            return
        intent_id = getattr(message, "intent_id", None)
        stored = self.store.intent(intent_id) if isinstance(intent_id, str) else None
        if stored is None or _assistant_of(stored.raw) != assistant:
            raise AgentError(Kind.NOT_FOUND,
                             "that envelope is not about an intent this assistant handles")
        ours = assistant in verified.signers
        self.store.record_envelope(record.envelope, digest=verified.digest, type=message.type,
                                   direction="in", at=now, intent_id=stored.id,
                                   counterparty=assistant if ours else verified.signer)
        if not ours:
            return
        data: dict[str, object] = {"assistant": assistant, "intent_id": stored.id,
                                   "type": message.type, "digest": verified.digest.hex()}
        for name in ("price", "reason", "note", "text"):
            value = getattr(message, name, None)
            if value is not None:
                data[name] = value.model_dump() if hasattr(value, "model_dump") else value
        if isinstance(message, Report):
            data["report"] = message.kind  # note, question or error
        if isinstance(message, Agreement) and message.agent == assistant and len(
                verified.signers) == 2:
            self._keep_agreement(record.envelope, message, stored, data)
            return
        kind = "assistant_report" if isinstance(message, Report) else "assistant_action"
        with self.store.transaction() as db:
            audit.append(db, at=now, kind=kind, data=data)

    def _keep_agreement(self, raw: bytes, agreement: Agreement, stored: StoredIntent,
                        data: dict[str, object]) -> None:
        if agreement.buyer != cose.parse(stored.raw).signatures[0].signer:
            raise AgentError(Kind.INVALID, "that agreement is not for this intent's key")
        if self.store.agreement(agreement.id) is not None:
            return
        # Pending until the assistant files the vendor's ack of it (spec §7.1).
        keep_agreement(self.store, raw, agreement, at=self.now(), state="pending", audit_data={
            **data, "vendor": agreement.vendor, "accepted_by": agreement.agent})

    def _settle(self, assistant: str, verified: Verified) -> None:
        """The vendor's ack of an agreement the assistant made for us: agreed, or void."""
        ack = verified.message
        assert isinstance(ack, Ack)
        for held in self.store.agreements():
            if held.state != "pending" or digest(held.raw) != ack.about:
                continue
            agreement = envelope.read_stored(held.raw)
            assert isinstance(agreement, Agreement)
            if agreement.agent != assistant:
                break
            check_ack(verified, about=held.raw, signer=agreement.vendor)
            stored = ack.outcome == "stored"
            with self.store.transaction() as db:
                self.store.settle_agreement(db, held.id, "agreed" if stored else "void",
                                            verified.raw)
                audit.append(db, at=self.now(), kind="agreement_acknowledged" if stored
                             else "agreement_void", data={"agreement_id": held.id,
                                                          "assistant": assistant})
            if stored:
                self.store.set_intent_state(held.intent_id, "agreed")
            return
        raise AgentError(Kind.NOT_FOUND, "no pending agreement of this assistant's has that ack")

    async def _push(self, connection: Connection, frame: bytes) -> None:
        async with connection.lock:
            try:
                await connection.channel.send(frame)
            except Exception as exc:  # the assistant went away; it reconnects with hello
                log.info("assistant %s unreachable: %s", connection.assistant, exc)
                if self.connected.get(connection.assistant) is connection:
                    del self.connected[connection.assistant]


def _assistant_of(intent_raw: bytes) -> str | None:
    message = envelope.read_stored(intent_raw)
    return message.assistant if isinstance(message, Intent) else None
