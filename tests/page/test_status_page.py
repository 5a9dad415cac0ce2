"""The status page in a real browser (headless Chromium) against a real daemon with
emulated devices: a fault shows within a second and clears, a payment in doubt is
settled from the page, a reprint from the page comes out of the emulated printer marked
DUPLICATE, the page speaks Chinese to a Chinese browser, and a daemon that stops
answering turns the page grey, never green.

``POSDRIVER_SCREENSHOTS=DIR`` saves a screenshot of each state in DIR (docs/images has
the ones the docs show).
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from posdriver.journal import Kind, State, open_journal
from posdriver.money import Money
from tests.page.browser import chromium
from tests.support.served import SERVED_CONFIG, Served, serve
from tests.support.timing import wait_until

SHOTS = os.environ.get("POSDRIVER_SCREENSHOTS")


@dataclass
class Desk:
    """A daemon and a browser showing its page."""

    served: Served
    browser: Any

    def open(self) -> None:
        self.browser.get(self.served.api + "/")
        wait_until(lambda: self.status("receipt") is not None, 15, "the page to show the printer")

    def find(self, css: str) -> Any:
        found = self.browser.find_elements("css selector", css)
        return found[0] if found else None

    def _js(self, script: str, css: str) -> Any:
        """Read the page in one step (a section drawn again between a find and a read
        would make the element found stale)."""
        return self.browser.execute_script(
            f"const node = document.querySelector(arguments[0]); return {script};", css
        )

    def status(self, device: str) -> str | None:
        status = self._js("node && node.dataset.status", f'[data-device="{device}"]')
        return None if status is None else str(status)

    def text(self, css: str) -> str:
        return str(self._js("node ? node.innerText : ''", css))

    def click(self, css: str) -> None:
        assert self._js("node !== null", css), f"nothing on the page matches {css}"
        self._js("node.click()", css)

    def fill(self, css: str, value: str) -> None:
        node = self.find(css)
        assert node is not None, f"nothing on the page matches {css}"
        node.clear()
        node.send_keys(value)

    def shot(self, name: str) -> None:
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            self.browser.save_screenshot(str(Path(SHOTS) / f"status-page-{name}.png"))

    def printed(self) -> list[dict[str, Any]]:
        """The receipts the emulated printer has cut, oldest first."""
        url = self.served.printer_control + "/receipts"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return list(json.loads(answer.read()))


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    with serve(tmp_path, SERVED_CONFIG) as served, chromium("en-GB") as browser:
        page = Desk(served, browser)
        page.open()
        yield page


def test_paper_out_turns_the_printer_red_within_a_second_and_back(desk: Desk) -> None:
    wait_until(lambda: desk.status("receipt") == "ok", 10, "the printer ok on the page")
    desk.shot("ok")
    desk.served.fault("printer", "paper_out")
    started = time.monotonic()
    wait_until(lambda: desk.status("receipt") == "critical", 5, "the printer red on the page")
    took = time.monotonic() - started
    assert took <= 1.0, f"the page showed paper out {took:.2f} s after it happened"
    assert "paper out" in desk.text('[data-device="receipt"] [data-check="paper"]')
    assert "runbook 05" in desk.text('[data-device="receipt"]')
    desk.shot("paper-out")
    desk.served.fault("printer", "paper_out", False)
    started = time.monotonic()
    wait_until(lambda: desk.status("receipt") == "ok", 5, "the printer green again")
    assert time.monotonic() - started <= 1.0


def test_a_payment_in_doubt_is_shown_and_settled_from_the_page(desk: Desk) -> None:
    """Left in doubt by a crash (journaled beside the daemon, as a command that died
    would leave it); the terminal has no transaction to settle it with, so a person
    decides, on the page, with a note, and the journal says who."""
    with open_journal(desk.served.state) as journal:
        op = journal.begin(Kind.SALE, Money(4400, "EUR"), terminal="desk")
        journal.attempt(op.id, "desk")
        journal.transition(op.id, State.SENT)
        journal.transition(op.id, State.IN_DOUBT, doubt_stage="after_accept", reason="crash")
    item = f'[data-operation="{op.id}"]'
    wait_until(lambda: desk.find(item) is not None, 10, "the payment in doubt on the page")
    assert "was this card charged" in desk.text("#attention")
    desk.fill("#staff", "Anna")
    desk.shot("in-doubt")
    desk.click(f'{item} [data-action="charged"]')
    desk.fill("#confirm-note", "terminal printout shows 44.00 approved, receipt 1")
    desk.click("#confirm-ok")
    wait_until(lambda: desk.find(item) is None, 10, "the payment to leave the list")
    assert "Recorded" in desk.text("#toast")
    answer = desk.served.get(f"/v1/operations/{op.id}")[1]["operation"]
    assert answer["state"] == "approved" and answer["resolved_by"] == "Anna"
    assert "44.00 approved" in answer["note"]


def test_a_reprint_from_the_page_prints_a_copy_marked_duplicate(desk: Desk) -> None:
    sale = desk.served.sale("23.40")
    desk.served.await_state(sale, "approved", 20, "the sale")
    wait_until(lambda: len(desk.printed()) >= 1, 10, "the original receipt")
    last4 = desk.served.get(f"/v1/operations/{sale}")[1]["operation"]["card_last4"]
    desk.fill("#staff", "Anna")
    desk.fill('#find [name="last4"]', last4)
    desk.fill('#find [name="amount"]', "23.40")
    desk.click('#find [type="submit"]')
    row = f'#found [data-operation="{sale}"]'
    wait_until(lambda: desk.find(row) is not None, 10, "the payment found")
    desk.click(f'{row} [data-action="preview"]')
    wait_until(lambda: "23.40" in desk.text("#preview .paper"), 10, "the receipt's preview")
    desk.shot("reprint")
    before = len(desk.printed())
    desk.click(f'{row} [data-action="reprint"]')
    wait_until(lambda: "DUPLICATE" in desk.text("#toast"), 10, "the page to say a copy is sent")
    wait_until(lambda: len(desk.printed()) > before, 15, "the copy to come out of the printer")
    copy = desk.printed()[-1]["text"]
    assert "DUPLICATE" in copy and "23.40" in copy
    jobs = desk.served.get(f"/v1/operations/{sale}")[1]["print_jobs"]
    assert [j["purpose"] for j in jobs] == ["original", "reprint"]


def test_the_page_speaks_chinese_to_a_chinese_browser(tmp_path: Path) -> None:
    with serve(tmp_path, SERVED_CONFIG) as served, chromium("zh-CN") as browser:
        desk = Desk(served, browser)
        desk.open()
        wait_until(lambda: desk.status("receipt") == "ok", 10, "the printer ok")
        assert desk.text("h1") == "前台设备状态"
        assert "小票打印机" in desk.text('[data-device="receipt"]')
        assert "正常" in desk.text('[data-device="receipt"] [data-check="paper"]')
        assert browser.find_element("css selector", "html").get_attribute("lang") == "zh-CN"
        desk.shot("zh")
        desk.click('[data-lang="en"]')
        wait_until(lambda: desk.text("h1") == "Front desk status", 5, "English on the switch")


def test_a_daemon_that_stops_answering_turns_the_page_grey_not_green(desk: Desk) -> None:
    wait_until(lambda: desk.status("receipt") == "ok", 10, "the printer ok")
    desk.served.process.kill()
    desk.served.process.wait()
    wait_until(lambda: desk.status("receipt") == "unknown", 15, "the printer unknown")
    assert desk.status("desk") == "unknown" and desk.status("journal") == "unknown"
    banner = desk.find("#banner")
    assert banner is not None and banner.is_displayed()
    assert "does not answer" in banner.text
    assert desk.find("#daemon").get_attribute("data-state") == "unreachable"
    assert not desk.browser.find_elements("css selector", ".card.ok, .check [data-status='ok']")
    desk.shot("unreachable")


def test_with_a_token_the_page_asks_for_it_and_shows_nothing_without_it(tmp_path: Path) -> None:
    token = "page-token-0123456789"
    config = SERVED_CONFIG + f'token = "{token}"\n'
    with serve(tmp_path, config) as served, chromium("en-GB") as browser:
        desk = Desk(served, browser)
        browser.get(served.api + "/")
        wait_until(lambda: desk._js("!node.hidden", "#login"), 10, "the page to ask for the token")
        assert desk.status("receipt") is None  # no data without the token
        desk.fill("#token", "wrong-token-0000000")
        desk.click('#login-form [type="submit"]')
        wait_until(lambda: desk._js("!node.hidden", "#login"), 10, "the wrong token refused")
        assert desk.status("receipt") is None
        desk.fill("#token", token)
        desk.click('#login-form [type="submit"]')
        wait_until(lambda: desk.status("receipt") == "ok", 15, "the printer shown with the token")
