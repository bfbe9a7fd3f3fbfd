"""protocol.identity: HKDF-SHA256, did:key and the per-intent / pairwise key derivation.

Expected values come from outside this project: RFC 5869 Appendix A (HKDF),
RFC 8032 §7.1 (Ed25519) and the W3C did:key example, plus the spec's own vectors
(specs/vectors/kdf.json) for the intentcast labels.
"""

from __future__ import annotations

import base64

import base58
import pytest
from vector_files import load

from intentcast.protocol.errors import DidError, IntentcastError, LocalProtocolError, Reason
from intentcast.protocol.identity import (
    KeyPair,
    MasterKey,
    did_from_public_key,
    hkdf_sha256,
    is_did,
    public_key_from_did,
    verify_signature,
)

# --- HKDF-SHA256, RFC 5869 Appendix A ---------------------------------------------------------


@pytest.mark.parametrize(
    ("ikm", "salt", "info", "length", "okm"),
    [
        pytest.param(
            "0b" * 22,
            "000102030405060708090a0b0c",
            "f0f1f2f3f4f5f6f7f8f9",
            42,
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
            id="A.1 basic",
        ),
        pytest.param(
            bytes(range(0x00, 0x50)).hex(),
            bytes(range(0x60, 0xB0)).hex(),
            bytes(range(0xB0, 0x100)).hex(),
            82,
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
            "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
            "cc30c58179ec3e87c14c01d5c1f3434f1d87",
            id="A.2 longer inputs, three blocks",
        ),
        pytest.param(
            "0b" * 22,
            "",
            "",
            42,
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
            id="A.3 empty salt and info",
        ),
    ],
)
def test_hkdf_sha256_matches_rfc_5869(
    ikm: str, salt: str, info: str, length: int, okm: str
) -> None:
    out = hkdf_sha256(
        bytes.fromhex(ikm), salt=bytes.fromhex(salt), info=bytes.fromhex(info), length=length
    )
    assert out.hex() == okm


def test_hkdf_default_length_is_32_bytes_of_the_same_stream() -> None:
    ikm, salt, info = b"\x0b" * 22, bytes(range(13)), bytes(range(0xF0, 0xFA))
    short = hkdf_sha256(ikm, salt=salt, info=info)
    assert short.hex() == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"


# --- Ed25519 and did:key ---------------------------------------------------------------------

W3C_DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
W3C_KEY = bytes.fromhex("2e6fcce36701dc791488e0d0b1745cc1e33a4c1c9fcc41c63bd343dbbe0970e6")


def test_the_w3c_did_key_example_decodes_to_its_ed25519_key() -> None:
    assert public_key_from_did(W3C_DID) == W3C_KEY


def test_the_w3c_example_key_encodes_to_the_w3c_did() -> None:
    assert did_from_public_key(W3C_KEY) == W3C_DID


def test_did_key_round_trips_both_ways() -> None:
    assert did_from_public_key(public_key_from_did(W3C_DID)) == W3C_DID
    for key in (bytes(32), b"\xff" * 32, bytes(range(32))):
        did = did_from_public_key(key)
        assert did.startswith("did:key:z6Mk")
        assert len(did) <= 64
        assert public_key_from_did(did) == key


def test_rfc_8032_test_1_key_pair_signs_and_names_itself() -> None:
    # RFC 8032 §7.1, TEST 1: secret key, public key and the signature of the empty message.
    secret = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
    pair = KeyPair(bytes.fromhex(secret))
    public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    signature = (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert pair.public_key.hex() == public
    assert pair.sign(b"").hex() == signature
    assert pair.did == "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw"
    assert verify_signature(pair.public_key, b"", bytes.fromhex(signature))
    assert not verify_signature(pair.public_key, b"x", bytes.fromhex(signature))
    assert not verify_signature(W3C_KEY, b"", bytes.fromhex(signature))


def _did(raw: bytes) -> str:
    """did:key:z + base58btc of `raw`, to build DIDs with the wrong content on purpose."""
    return "did:key:z" + base58.b58encode(raw).decode("ascii")


@pytest.mark.parametrize(
    "did",
    [
        pytest.param("", id="empty"),
        pytest.param("did:web:example.com", id="another DID method"),
        pytest.param("did:key:" + W3C_DID[len("did:key:z") :], id="did:key: without multibase z"),
        pytest.param("DID:KEY:" + W3C_DID[len("did:key:") :], id="upper-case scheme"),
        pytest.param("key:" + W3C_DID[len("did:key:") :], id="no did: scheme"),
        pytest.param(
            "did:key:u" + base64.urlsafe_b64encode(b"\xed\x01" + W3C_KEY).decode().rstrip("="),
            id="multibase u (base64url) of a valid Ed25519 key",
        ),
        pytest.param(
            "did:key:m7QEub8zjZwHceRSI4NCxdFzB4zpMHJ/MQcY700Pbvglw5g",
            id="multibase m (base64) of the same key",
        ),
        pytest.param(W3C_DID[:-1] + "0", id="0 is not base58"),
        pytest.param(W3C_DID[:-1] + "O", id="O is not base58"),
        pytest.param(W3C_DID[:-1] + "I", id="I is not base58"),
        pytest.param(W3C_DID[:-1] + "l", id="l is not base58"),
        pytest.param(W3C_DID[:-1] + "ä", id="non-ASCII character"),
        pytest.param(W3C_DID[:20] + " " + W3C_DID[20:], id="space inside"),
        pytest.param(W3C_DID + "\n", id="trailing newline (not canonical)"),
        pytest.param(W3C_DID + "#key-1", id="with a fragment"),
        pytest.param(_did(b"\xec\x01" + W3C_KEY), id="X25519 multicodec 0xec01"),
        pytest.param(_did(b"\xe7\x01\x02" + W3C_KEY), id="secp256k1 multicodec 0xe701"),
        pytest.param(_did(b"\x80\x24\x02" + W3C_KEY), id="P-256 multicodec 0x1200"),
        pytest.param(
            "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme", id="a secp256k1 did:key"
        ),
        pytest.param("did:key:z1" + W3C_DID[len("did:key:z") :], id="leading zero byte"),
        pytest.param(_did(b"\xed\x01" + W3C_KEY[:31]), id="31-byte key"),
        pytest.param(_did(b"\xed\x01" + W3C_KEY + b"\x00"), id="33-byte key"),
        pytest.param(_did(b"\xed\x01"), id="no key at all"),
        pytest.param("did:key:z", id="nothing after the prefix"),
        pytest.param(W3C_DID + "z" * (65 - len(W3C_DID)), id="65 characters"),
    ],
)
def test_malformed_dids_are_refused_with_bad_did(did: str) -> None:
    with pytest.raises(DidError) as err:
        public_key_from_did(did)
    assert err.value.reason is Reason.BAD_DID
    assert err.value.message  # a sentence for humans, not just the code
    assert not is_did(did)


@pytest.mark.parametrize("value", [W3C_DID.encode(), None, 42])
def test_a_did_must_be_text(value: object) -> None:
    with pytest.raises(DidError) as err:
        public_key_from_did(value)  # type: ignore[arg-type]
    assert err.value.reason is Reason.BAD_DID
    assert not is_did(value)  # type: ignore[arg-type]


def test_is_did_accepts_a_valid_did() -> None:
    assert is_did(W3C_DID)


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_a_public_key_of_the_wrong_size_has_no_did(size: int) -> None:
    with pytest.raises(DidError) as err:
        did_from_public_key(b"\x01" * size)
    assert err.value.reason is Reason.BAD_KEY


# --- MasterKey: derivation ---------------------------------------------------------------------

SEED = bytes(range(32))
OTHER_SEED = bytes(range(1, 33))
NONCE = b"n" * 16
VENDOR = W3C_DID
OTHER_VENDOR = "did:key:z6MkhFwXNFWosLeugvSf4wcL9t3uuRXueGSFTRgSvHhWj5G2"


def test_the_same_seed_gives_the_same_keys() -> None:
    first, second = MasterKey(SEED), MasterKey(bytes(SEED))
    assert first.intent_key(NONCE).seed == second.intent_key(NONCE).seed
    assert first.intent_key(NONCE).did == second.intent_key(NONCE).did
    assert first.pairwise_key(VENDOR).seed == second.pairwise_key(VENDOR).seed
    assert first.pairwise_key(VENDOR).did == second.pairwise_key(VENDOR).did
    assert first.root.did == second.root.did


def test_derivation_follows_the_spec_labels() -> None:
    # specs/protocol.md §2.2: HKDF-SHA256(master, "intentcast/kdf/1", label, 32).
    master = MasterKey(SEED)
    salt = b"intentcast/kdf/1"
    intent = hkdf_sha256(SEED, salt=salt, info=b"intent\x00" + NONCE, length=32)
    pairwise = hkdf_sha256(SEED, salt=salt, info=b"pairwise\x00" + VENDOR.encode(), length=32)
    assert master.intent_key(NONCE).seed == intent
    assert master.pairwise_key(VENDOR).seed == pairwise


def test_derivation_matches_the_spec_vectors() -> None:
    v = load("kdf.json")
    master = MasterKey(bytes.fromhex(v["master_seed"]))
    assert master.root.did == v["master_did"]
    intent = next(c for c in v["cases"] if c["kind"] == "intent")
    pairwise = next(c for c in v["cases"] if c["kind"] == "pairwise")
    key = master.intent_key(bytes.fromhex(intent["intent_nonce"]))
    assert (key.seed.hex(), key.public_key.hex(), key.did) == (
        intent["derived_seed"],
        intent["public_key"],
        intent["did"],
    )
    key = master.pairwise_key(pairwise["counterparty"])
    assert (key.seed.hex(), key.public_key.hex(), key.did) == (
        pairwise["derived_seed"],
        pairwise["public_key"],
        pairwise["did"],
    )


def test_different_intent_nonces_give_different_keys() -> None:
    master = MasterKey(SEED)
    nonces = [b"n" * 16, b"n" * 15 + b"o", b"n" * 17, b"\x00" * 16]
    dids = {master.intent_key(n).did for n in nonces}
    assert len(dids) == len(nonces)


def test_different_counterparties_give_different_pairwise_keys() -> None:
    master = MasterKey(SEED)
    assert master.pairwise_key(VENDOR).did != master.pairwise_key(OTHER_VENDOR).did


def test_different_seeds_give_different_keys() -> None:
    one, two = MasterKey(SEED), MasterKey(OTHER_SEED)
    assert one.root.did != two.root.did
    assert one.intent_key(NONCE).did != two.intent_key(NONCE).did
    assert one.pairwise_key(VENDOR).did != two.pairwise_key(VENDOR).did


def test_intent_pairwise_and_root_keys_are_all_different() -> None:
    master = MasterKey(SEED)
    dids = {
        master.root.did,
        master.intent_key(NONCE).did,
        master.pairwise_key(VENDOR).did,
    }
    assert len(dids) == 3
    assert master.intent_key(NONCE).seed != SEED


def test_a_derived_key_signs_verifiably() -> None:
    key = MasterKey(SEED).intent_key(NONCE)
    signature = key.sign(b"intent")
    assert verify_signature(public_key_from_did(key.did), b"intent", signature)
    other = MasterKey(OTHER_SEED).intent_key(NONCE)
    assert not verify_signature(other.public_key, b"intent", signature)


@pytest.mark.parametrize(
    "seed",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x01" * 16, id="16 bytes"),
        pytest.param(b"\x01" * 31, id="31 bytes"),
        pytest.param(b"\x01" * 33, id="33 bytes"),
        pytest.param(b"\x01" * 64, id="64 bytes"),
        pytest.param(bytearray(32), id="bytearray, not bytes"),
        pytest.param("x" * 32, id="text"),
    ],
)
def test_a_master_seed_of_the_wrong_size_or_type_is_refused(seed: object) -> None:
    with pytest.raises(LocalProtocolError) as err:
        MasterKey(seed)  # type: ignore[arg-type]
    assert err.value.reason is Reason.BAD_KEY
    with pytest.raises(LocalProtocolError):
        KeyPair(seed)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, 15, 65])
def test_an_intent_nonce_outside_16_to_64_bytes_is_refused(size: int) -> None:
    with pytest.raises(LocalProtocolError) as err:
        MasterKey(SEED).intent_key(b"\x01" * size)
    assert err.value.reason is Reason.BAD_KEY


@pytest.mark.parametrize("size", [16, 64])
def test_intent_nonces_at_the_bounds_are_accepted(size: int) -> None:
    assert is_did(MasterKey(SEED).intent_key(b"\x01" * size).did)


@pytest.mark.parametrize("did", ["", "did:web:example.com", W3C_DID[:-1]])
def test_a_pairwise_key_needs_a_valid_counterparty_did(did: str) -> None:
    with pytest.raises(DidError) as err:
        MasterKey(SEED).pairwise_key(did)
    assert err.value.reason is Reason.BAD_DID
    assert isinstance(err.value, IntentcastError)
