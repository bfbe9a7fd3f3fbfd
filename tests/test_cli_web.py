"""What `intentcast watch` prints for an event, and what `offers --wait` accepts."""

from __future__ import annotations

import argparse

import pytest

from intentcast.agents.cli.web import describe, wait_seconds

VENDOR = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"


def test_events_read_as_sentences_with_money_and_short_keys():
    offer = {"ref": "ab12", "vendor": VENDOR, "title": "Ridgeline 2P tent",
             "price": {"amount": 20_000, "currency": "EUR"}, "conflicts": []}
    assert describe("offer_received", offer) == (
        "offer ab12 from vendor did:key:z6MkiT…ooWp: Ridgeline 2P tent, 200.00 EUR")
    refused = {**offer, "conflicts": [{"clause": "no_profiling"}, {"clause": "purposes"}]}
    assert describe("offer_refused", refused).endswith("breaks your terms (no_profiling, purposes)")
    assert describe("vendor_in_breach", {"consent_id": "c1", "vendor": VENDOR,
                                         "fields": ["email"]}).endswith("email: IN BREACH")


def test_an_event_of_a_kind_it_does_not_know_still_reads():
    assert describe("intent_echoed", {"id": "r-1", "kind": "intent_echoed", "at": 1,
                                      "intent_id": "i1", "peers": 3, "nested": {"x": 1}}) == (
        "intent echoed: intent_id=i1 peers=3")


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "3601", "ten", ""])
def test_a_wait_out_of_range_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        wait_seconds(text)


def test_a_wait_in_range_is_seconds():
    assert wait_seconds("0.5") == 0.5
    assert wait_seconds("3600") == 3600
