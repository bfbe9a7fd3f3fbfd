"""specs/vectors/ in both directions: our code gives every expected outcome, and
the generator still produces exactly the checked-in files."""

from __future__ import annotations

import hashlib
import hmac

import nacl.signing
import pytest
from vector_files import generator, load

from intentcast.protocol import delegation
from intentcast.protocol.encoding import decode, encode
from intentcast.protocol.envelope import open as open_envelope
from intentcast.protocol.errors import IntentcastError
from intentcast.protocol.identity import MasterKey, did_from_public_key, public_key_from_did
from intentcast.protocol.terms import CustomerTerms, VendorTerms, check


def _ids(vectors):
    return [v["name"] for v in vectors]


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    # Written out from RFC 5869 for one 32-byte block, independent of protocol.identity.
    prk = hmac.digest(salt, ikm, "sha256")
    return hmac.digest(prk, info + b"\x01", "sha256")


def test_generator_reproduces_the_checked_in_files():
    built = generator().build()
    for name, text in built.items():
        on_disk = (generator().OUT / name).read_text("utf-8")
        assert on_disk == text, f"specs/vectors/{name} is stale: run make vectors"


def test_kdf_vectors():
    v = load("kdf.json")
    master = MasterKey(bytes.fromhex(v["master_seed"]))
    assert master.root.did == v["master_did"]
    for case in v["cases"]:
        seed = _hkdf(master.seed, bytes.fromhex(v["salt"]), bytes.fromhex(case["info"]))
        assert seed.hex() == case["derived_seed"]
        public = bytes(nacl.signing.SigningKey(seed).verify_key)
        assert public.hex() == case["public_key"]
        if case["kind"] == "intent":
            key = master.intent_key(bytes.fromhex(case["intent_nonce"]))
        else:
            key = master.pairwise_key(case["counterparty"])
        assert (key.seed.hex(), key.did) == (case["derived_seed"], case["did"])


def test_did_vectors():
    v = load("did.json")
    for case in v["valid"]:
        assert public_key_from_did(case["did"]).hex() == case["public_key"]
        assert did_from_public_key(bytes.fromhex(case["public_key"])) == case["did"]
    for case in v["invalid"]:
        with pytest.raises(IntentcastError) as err:
            public_key_from_did(case["did"])
        assert err.value.reason.value == case["reason"], case["name"]


@pytest.mark.parametrize("case", load("encoding.json"), ids=_ids(load("encoding.json")))
def test_encoding_vector(case):
    data = bytes.fromhex(case["hex"])
    if case["valid"]:
        assert encode(decode(data)) == data
    else:
        with pytest.raises(IntentcastError) as err:
            decode(data)
        assert err.value.reason.value == case["reason"]


@pytest.mark.parametrize("case", load("envelopes.json"), ids=_ids(load("envelopes.json")))
def test_envelope_vector(case):
    data = bytes.fromhex(case["hex"])
    if not case["valid"]:
        with pytest.raises(IntentcastError) as err:
            open_envelope(data, now=case["now"])
        assert err.value.reason.value == case["reason"]
        return
    verified = open_envelope(data, now=case["now"])
    assert verified.message.type == case["type"]
    assert list(verified.signers) == case["signers"]
    assert verified.digest == hashlib.sha256(data).digest()
    assert verified.digest.hex() == case["digest"]
    dumped = verified.message.model_dump(exclude_none=True)
    assert _hexed(dumped) == case["message"]


def _hexed(value):
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _hexed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hexed(v) for v in value]
    return value


@pytest.mark.parametrize("case", load("delegations.json"), ids=_ids(load("delegations.json")))
def test_delegation_vector(case):
    known = delegation.Revocations()
    for raw in case["revocations"]:
        known.add(open_envelope(bytes.fromhex(raw), now=case["now"]))
    chain = [bytes.fromhex(link) for link in case["chain"]]
    if not case["valid"]:
        with pytest.raises(IntentcastError) as err:
            delegation.verify_chain(chain, root=case["root"], now=case["now"], revocations=known)
        assert err.value.reason.value == case["reason"]
        return
    authority = delegation.verify_chain(
        chain, root=case["root"], now=case["now"], revocations=known
    )
    assert authority.delegate == case["delegate"]
    assert list(authority.chain) == case["chain_dids"]
    assert _hexed(authority.scope.model_dump(exclude_none=True)) == case["scope"]


@pytest.mark.parametrize("case", load("terms.json"), ids=_ids(load("terms.json")))
def test_terms_vector(case):
    conflicts = check(
        CustomerTerms(**case["customer_terms"]), VendorTerms(**case["vendor_terms"])
    )
    assert [{"clause": c.clause, "field": c.field} for c in conflicts] == case["conflicts"]
