"""The status page's routes over plain HTTP (no browser): its files open to anyone, its
data behind the API's token, the change feed telling of a fault as the daemon learns of
it, receipt previews laid out as the printer lays them out (Chinese included), and the
bounds that keep open pages from taking the connections a payment needs."""

from __future__ import annotations

import http.client
import json
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from posdriver.cashier.receipts import as_printed
from posdriver.printer.preview import receipt_html
from posdriver.service.page import MAX_STREAMS
from tests.support.served import SERVED_CONFIG, Served, serve

TOKEN = "page-token-0123456789"


def _get(served: Served, path: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    where = urlsplit(served.api)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        conn.request("GET", path, headers=headers)
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        conn.close()


class Feed:
    """``GET /ui/events`` read event by event."""

    def __init__(self, served: Served, token: str | None = None) -> None:
        where = urlsplit(served.api)
        self.conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.conn.request("GET", "/ui/events", headers=headers)
        self.answer = self.conn.getresponse()

    def next(self) -> tuple[str, dict[str, Any]]:
        name, data = "message", {}
        while True:
            line = self.answer.readline().decode()
            if line == "":
                raise EOFError("the feed ended")
            line = line.rstrip("\n")
            if not line:
                return name, data
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])

    def close(self) -> None:
        self.answer.close()  # the response holds the socket open too
        self.conn.close()


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Served]:
    with serve(tmp_path, SERVED_CONFIG + f'token = "{TOKEN}"\n') as served:
        yield served


def test_the_page_and_its_files_are_served_without_the_token_and_its_data_only_with_it(
    guarded: Served,
) -> None:
    status, headers, body = _get(guarded, "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script src="/ui/app.js"' in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    for name, kind in (
        ("app.js", "text/javascript"),
        ("app.css", "text/css"),
        ("icon.svg", "image/svg+xml"),
    ):
        status, headers, body = _get(guarded, f"/ui/{name}")
        assert status == 200 and headers["Content-Type"].startswith(kind) and body, name
    for path in ("/ui/events", "/ui/preview/1", "/v1/health"):
        status, _, body = _get(guarded, path)
        assert status == 401 and json.loads(body)["error"] == "missing or wrong bearer token", path
    status, _, _ = _get(guarded, "/v1/health", TOKEN)
    assert status in (200, 503)


def test_unknown_page_paths_are_404_and_other_methods_405(served: Served) -> None:
    status, _, body = _get(served, "/ui/../pyproject.toml")
    assert status == 404
    status, _, body = _get(served, "/ui/secrets.txt")
    assert status == 404 and "no such page" in json.loads(body)["error"]
    status, _, body = _get(served, "/ui/runbooks/../../README.md")
    assert status == 404
    status, headers, body = _get(served, "/ui/runbooks/05-charged-no-receipt.zh.md")
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "posdriver" in body.decode()
    status, _, body = _get(served, "/ui/events?since=3")
    assert status == 400 and "since" in json.loads(body)["error"]
    where = urlsplit(served.api)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    conn.request("POST", "/", body=b"{}", headers={"Content-Type": "application/json"})
    answer = conn.getresponse()
    assert answer.status == 405 and answer.getheader("Allow") == "GET"
    conn.close()


def test_the_feed_tells_of_a_fault_as_the_daemon_learns_of_it(served: Served) -> None:
    feed = Feed(served)
    try:
        assert feed.answer.getheader("Content-Type") == "text/event-stream; charset=utf-8"
        name, hello = feed.next()
        assert name == "hello" and hello["stopping"] is False
        served.fault("printer", "cover_open")
        started = time.monotonic()
        while True:
            name, data = feed.next()
            if name == "change" and "devices" in data["topics"]:
                break
            assert time.monotonic() - started < 5, "no change event for the open cover"
        took = time.monotonic() - started
        # the printer is polled every 0.2 s: the news comes with the next poll
        assert took < 1.0, f"the feed told of the cover {took:.2f} s after it opened"
        _, devices = served.get("/v1/devices")
        printer = next(d for d in devices if d["name"] == "receipt")
        assert printer["checks"]["cover"]["status"] == "critical"
        sale = served.sale("5.00")
        topics: set[str] = set()
        while "journal" not in topics:
            name, data = feed.next()
            topics |= set(data.get("topics", ()))
        served.await_state(sale, "approved", 20, "the sale")
    finally:
        served.fault("printer", "cover_open", False)
        feed.close()


def test_open_pages_cannot_take_every_connection(served: Served) -> None:
    feeds = [Feed(served) for _ in range(MAX_STREAMS)]
    try:
        for feed in feeds:
            assert feed.next()[0] == "hello"
        status, headers, body = _get(served, "/ui/events")
        assert status == 429 and headers["Retry-After"] == "10"
        assert f"{MAX_STREAMS} status pages are open" in json.loads(body)["error"]
        assert served.get("/v1/health")[0] in (200, 503)  # the API still answers
    finally:
        for feed in feeds:
            feed.close()
    # a closed page gives its place back (once the daemon's next tick finds it gone)
    deadline = time.monotonic() + 10
    while True:
        again = Feed(served)  # its status only: a feed that opens never ends by itself
        status = again.answer.status
        again.close()
        if status == 200:
            break
        assert time.monotonic() < deadline, "the closed feeds' places never came back"
        time.sleep(0.2)


def test_a_receipt_preview_is_the_printers_layout(served: Served) -> None:
    sale = served.sale("12.50")
    served.await_state(sale, "approved", 20, "the sale")
    status, headers, body = _get(served, f"/ui/preview/{sale}")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    text = body.decode()
    assert text.startswith('<div class="paper" style="--columns:42">')
    assert "12.50 EUR" in text and "DUPLICATE" not in text
    status, _, body = _get(served, f"/ui/preview/{sale}?reprint=1&copy=merchant")
    assert status == 200 and "DUPLICATE" in body.decode() and "Reprint 1" in body.decode()
    status, _, body = _get(served, "/ui/preview/999")
    assert status == 404
    status, _, body = _get(served, f"/ui/preview/{sale}?copy=kitchen")
    assert status == 400 and "copy must be customer or merchant" in json.loads(body)["error"]


def test_a_chinese_receipt_preview_gives_each_wide_character_two_columns() -> None:
    lines = ["*** 顾客联 ***", "金额 12.50 EUR", "<b>&amp;"]
    receipt = as_printed(lines, at=datetime(2026, 12, 7, 15, 0), language="zh", columns=32)
    text = receipt_html(receipt)
    assert "--columns:32" in text
    assert '<span class="wide">顾</span><span class="wide">客</span>' in text
    assert "&lt;b&gt;&amp;amp;" in text and "<b>" not in text  # data, never markup
    # centred as the printer centres it: (32 - width) // 2 spaces before the banner
    banner = next(line for line in text.split('<div class="') if "顾" in line)
    width = 4 + 2 * 3 + 4  # "*** " + three wide characters + " ***"
    assert banner.count(" ") >= (32 - width) // 2
    reprint = receipt_html(
        as_printed(lines, at=datetime(2026, 12, 7, 15, 0), language="zh", columns=32, reprint_no=2)
    )
    assert "第2次重印" not in reprint  # split into wide cells, one per character
    assert '<span class="wide">重</span><span class="wide">印</span>' in reprint


def test_the_feed_says_the_daemon_is_stopping(served: Served) -> None:
    feed = Feed(served)
    try:
        assert feed.next()[0] == "hello"
        served.process.send_signal(signal.SIGTERM)
        # an idle daemon may be gone before its feed's last event is out: then the feed's
        # end is how the page learns it (it turns grey); an event that came says stopping
        while True:
            try:
                name, data = feed.next()
            except (EOFError, ConnectionError):
                assert served.process.wait(timeout=20) == 0
                return
            if "daemon" in data.get("topics", ()):
                break
        assert name == "change" and data["stopping"] is True
    finally:
        feed.close()
