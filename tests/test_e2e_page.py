"""The person's page in a real browser, against real processes: a daemon and two vendors on
libp2p. The person logs in with the link `intentcast open` prints, posts an intent, sees both
offers arrive without reloading (the conflicting one refused, its clause named), counters,
reads what accepting would disclose, accepts, sees the agreement, revokes the consent and
sees the deletion receipt arrive. A screenshot of each view is kept in the test's folder.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from browser import chromium
from e2e import Cluster
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

OUTDOOR = "/intentcast/1/intents/outdoor"
LIVE = 30_000
"""Milliseconds to wait for what a vendor or the network does (an offer, a receipt)."""


def login_link(cluster: Cluster, home: Path) -> str:
    done = subprocess.run([*cluster.python(), "--home", str(home), "open", "--no-browser"],
                          capture_output=True, text=True, env=cluster.env(), timeout=60,
                          check=True)
    found = re.search(r"http://127\.0\.0\.1:\d+/#login=[\w-]+", done.stdout)
    assert found, done.stdout
    return found.group(0)


def shoot(page: Page, folder: Path, name: str, shots: list[Path], *, whole: bool = True
          ) -> None:
    """Keep a picture of the view, once every control on it is labelled."""
    assert page.evaluate(UNLABELLED) == [], name
    path = folder / f"{len(shots) + 1}-{name}.png"
    page.screenshot(path=str(path), full_page=whole)
    shots.append(path)


UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea, button")]
    .filter((c) => c.offsetParent !== null || c.closest("dialog[open]"))
    .filter((c) => !(c.labels?.length || c.getAttribute("aria-label") || c.textContent.trim()))
    .map((c) => c.outerHTML.slice(0, 80))"""
"""Visible controls a screen reader could not name: every one needs a label."""


def test_a_person_deals_through_their_own_page(cluster, tmp_path):
    started = time.monotonic()
    person, home = cluster.person()
    addr = person.events[0]["addrs"][0]
    cluster.vendor("trailhead", "trailhead.toml", addr)
    cluster.vendor("bargainblast", "bargainblast.toml", addr)
    cluster.api(home).call("GET", "/v1/peers", params={"topic": OUTDOOR, "count": 2, "wait": 15})
    url = login_link(cluster, home)
    folder = tmp_path / "screenshots"
    folder.mkdir()
    shots: list[Path] = []
    problems: list[str] = []

    with chromium(tmp_path / "chromium-profile", viewport={"width": 1280, "height": 900},
                  locale="en-GB", timezone_id="Europe/Berlin") as browser:
        page = browser.new_page()
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(url)
        expect(page.locator("#connection")).to_have_text("Live: connected to your agent")
        assert "#login=" not in page.url  # the one-time code leaves the address bar
        page.evaluate("window.neverReloaded = true")

        # The profile holds the email but no shipping address.
        page.get_by_role("link", name="Your data").click()
        page.get_by_label("Name").fill("email")
        page.get_by_label("Value").fill("ada@example.org")
        page.get_by_role("button", name="Save, sealed").click()
        expect(page.get_by_role("status").filter(has_text="email saved")).to_be_visible()
        expect(page.locator(".profile")).to_contain_text("email")
        expect(page.locator(".profile")).not_to_contain_text("ada@example.org")  # on demand
        page.get_by_role("button", name="Show email").click()
        expect(page.locator(".profile output")).to_have_text("ada@example.org")

        # Post an intent; both offers arrive live.
        page.get_by_role("link", name="Intents & offers").click()
        page.get_by_label("What kind of thing").fill("outdoor.camping.tents")
        page.get_by_label("What you want, in your words").fill("Two-person backpacking tent")
        page.get_by_label("The most you will pay").fill("200")
        page.get_by_role("button", name="Post intent").click()
        expect(page.get_by_text("Posted: 2 peers heard it")).to_be_visible()
        trailhead = page.locator("li.offer", has_text="Ridgeline 2P tent")
        bargain = page.locator("li.offer", has_text="Budget dome tent")
        expect(trailhead).to_be_visible(timeout=LIVE)
        expect(bargain).to_be_visible(timeout=LIVE)
        expect(trailhead).to_contain_text("€200.00")
        expect(trailhead).to_contain_text("Fits your terms")
        expect(trailhead).to_contain_text("shipping address, for delivery, kept 30 days")
        expect(bargain).to_contain_text("Refused by your agent: it breaks your terms")
        expect(bargain.locator("[data-clause=no_profiling]")).to_contain_text(
            "email would be used for profiling")
        expect(bargain.locator("[data-clause=delete_on_revocation]")).to_be_visible()
        expect(page.locator("#feed")).to_contain_text("Refused Budget dome tent")
        shoot(page, folder, "offers", shots)

        # Counter; the vendor's answer replaces the price.
        trailhead.get_by_label("Your price (EUR)").fill("180")
        trailhead.get_by_role("button", name="Counter").click()
        expect(trailhead.locator(".price")).to_have_text("€190.00", timeout=LIVE)
        expect(page.locator("#feed")).to_contain_text("answered your counter: €190.00")
        page.evaluate("window.scrollTo(0, 0)")
        shoot(page, folder, "countered", shots, whole=False)  # the README's picture

        # The preview says what will be sealed, until when, and what is missing.
        trailhead.get_by_role("button", name="Accept…").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Accept Ridgeline 2P tent, 1.9 kg for €190.00")
        expect(dialog.locator("ul.sealed")).to_have_text("email")
        expect(dialog).to_contain_text("Used only for sending a receipt, kept until")
        expect(dialog.get_by_role("alert")).to_contain_text(
            "The vendor asks for your shipping address, which your profile does not hold")
        shoot(page, folder, "preview", shots, whole=False)
        page.keyboard.press("Escape")  # by keyboard: Escape closes, Enter opens and signs
        expect(dialog).to_be_hidden()
        trailhead.get_by_role("button", name="Accept…").focus()
        page.keyboard.press("Enter")
        expect(dialog.get_by_role("button", name="Accept and sign")).to_be_focused()
        page.keyboard.press("Enter")
        result = dialog.locator("#accept-result")
        expect(result).to_contain_text(re.compile(r"Agreed: signed by both|Signed by both. The "
                                                  r"vendor has not yet confirmed"), timeout=LIVE)
        dialog.get_by_role("button", name="Close").click()
        expect(trailhead).to_contain_text(re.compile("Agreed|Signed by both"))

        # The agreement: both signatures verified, the terms in words.
        page.get_by_role("link", name="Agreements").click()
        agreement = page.locator("article.agreement")
        expect(agreement).to_contain_text("Both signatures verified: vendor")
        expect(agreement).to_contain_text("You buy 1 \u00d7 Ridgeline 2P tent, 1.9 kg")
        expect(agreement).to_contain_text("for €190.00")
        expect(agreement).to_contain_text("email, for sending a receipt, kept 30 days")
        shoot(page, folder, "agreement", shots)

        # The consent: revoke it, and the deletion receipt arrives.
        page.get_by_role("link", name="Your data").click()
        consent = page.locator("article.consent")
        expect(consent).to_contain_text("Active: the vendor holds this data", timeout=LIVE)
        expect(consent).to_contain_text("For sending a receipt")
        consent.get_by_role("button", name="Revoke consent").click()
        expect(consent).to_contain_text("Deleted: the vendor sent a signed deletion receipt",
                                        timeout=LIVE)
        expect(page.locator("#feed")).to_contain_text("deleted email and sent a signed "
                                                      "deletion receipt")
        shoot(page, folder, "data", shots)

        # The audit log, verified.
        page.get_by_role("link", name="Audit log").click()
        expect(page.locator(".timeline li").first).to_contain_text("deleted email")
        page.get_by_role("button", name="Verify the chain").click()
        expect(page.get_by_text(re.compile(r"Intact: \d+ entries"))).to_be_visible()
        shoot(page, folder, "audit", shots)

        for name in ("Assistants", "Cart & credits"):
            page.get_by_role("link", name=name).click()
            expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()
            shoot(page, folder, name.split()[0].lower(), shots)

        # At phone width, nothing is wider than the screen.
        page.set_viewport_size({"width": 390, "height": 844})
        page.get_by_role("link", name="Intents & offers").click()
        expect(trailhead).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shoot(page, folder, "phone", shots)
        assert page.evaluate("window.neverReloaded") is True

    assert problems == []
    print(f"\nthe page's deal in {time.monotonic() - started:.1f} s; screenshots:")
    for path in shots:
        print(f"  {path}")
