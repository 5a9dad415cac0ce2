"""The emulator's control API: JSON over HTTP on 127.0.0.1.

=========================  ===========================================================
``GET /state``             the device model's state, its link URL and active faults
``GET /faults``            supported and active fault names
``POST /faults``           ``{"fault": "paper_out", "active": true}``; a terminal's
                           ``slow_host`` also takes ``"seconds": 8``
``GET /receipts``          the cut receipts kept: index, text, interrupted (printers)
``GET /receipts/N.png``    a PNG preview of receipt N (printers)
``GET /ledger``            the transactions the terminal keeps, with their state (terminals)
``GET /card``              the card the next transaction uses, and the known cards
``POST /card``             ``{"card": "declined"}`` chooses it (terminals); more fields
                           (``pan``, ``brand``, ``card_type``, ``expiry``, ``result``)
                           define or change that card first
=========================  ===========================================================

Errors are JSON ``{"error": "..."}`` with a 4xx status that says what was wrong.
"""

from __future__ import annotations

import json
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .device import EmulatedDevice, UnknownFault

_PNG = re.compile(r"^/receipts/(\d+)\.png$")
MAX_BODY = 64 * 1024


class ControlServer:
    """Serves one device's control API on its own thread."""

    def __init__(
        self,
        device: EmulatedDevice,
        host: str = "127.0.0.1",
        port: int = 0,
        extra_state: dict[str, Any] | None = None,
    ) -> None:
        self.device = device
        self.extra_state = extra_state or {}
        handler = type("Handler", (_Handler,), {"control": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}"

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    control: ControlServer
    server_version = "posdriver-emulator"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the emulator's stdout carries only its JSON device lines."""

    def _reply(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body, indent=1).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._reply(status, {"error": message})

    def do_GET(self) -> None:
        device = self.control.device
        path = self.path.split("?", 1)[0]
        if path == "/state":
            self._reply(200, {**device.state(), **self.control.extra_state})
        elif path == "/faults":
            self._reply(
                200,
                {
                    "supported": list(device.faults_supported),
                    "active": sorted(device.active_faults),
                },
            )
        elif path == "/ledger" and hasattr(device, "ledger"):
            self._reply(200, device.ledger())
        elif path == "/card" and hasattr(device, "select_card"):
            self._reply(200, _cards(device))
        elif path == "/receipts" and hasattr(device, "receipts"):
            receipts = device.receipts
            self._reply(
                200,
                [
                    {"index": r.index, "text": r.text, "interrupted": r.interrupted}
                    for r in receipts
                ],
            )
        elif (match := _PNG.match(path)) and hasattr(device, "receipts"):
            index = int(match.group(1))
            receipts = device.receipts
            found = [r for r in receipts if r.index == index]
            if not found:
                self._error(HTTPStatus.NOT_FOUND, _no_receipt(index, receipts))
                return
            self._reply(200, found[0].png(), "image/png")
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no such resource {path!r}")

    def _body(self) -> tuple[bool, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
            return False, None
        try:
            return True, json.loads(self.rfile.read(length) or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self._error(HTTPStatus.BAD_REQUEST, f"body is not JSON: {exc}")
            return False, None

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        device = self.control.device
        if path == "/card" and hasattr(device, "select_card"):
            ok, body = self._body()
            if ok:
                self._post_card(body)
            return
        if path != "/faults":
            self._error(HTTPStatus.NOT_FOUND, f"no such resource {path!r}")
            return
        ok, body = self._body()
        if not ok:
            return
        if not isinstance(body, dict) or not isinstance(body.get("fault"), str):
            self._error(
                HTTPStatus.BAD_REQUEST,
                'expected {"fault": "<name>", "active": true|false}',
            )
            return
        active = body.get("active", True)
        if not isinstance(active, bool):
            self._error(HTTPStatus.BAD_REQUEST, f"'active' must be true or false, got {active!r}")
            return
        seconds = body.get("seconds")
        try:
            if seconds is not None and hasattr(device, "set_fault_option"):
                if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                    raise ValueError(f"'seconds' must be a number, got {seconds!r}")
                if body["fault"] in device.faults_supported:
                    device.set_fault_option(body["fault"], float(seconds))
            device.set_fault(body["fault"], active)
        except (UnknownFault, ValueError) as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        self._reply(200, {"active": sorted(device.active_faults)})

    def _post_card(self, body: Any) -> None:
        device: Any = self.control.device
        if not isinstance(body, dict) or not isinstance(body.get("card"), str):
            self._error(
                HTTPStatus.BAD_REQUEST,
                'expected {"card": "<name>"} (plus pan, brand, card_type, expiry, result '
                "to define it)",
            )
            return
        definition = {k: v for k, v in body.items() if k != "card"}
        allowed = {"pan", "brand", "card_type", "expiry", "result"}
        unknown = sorted(set(definition) - allowed)
        if unknown:
            self._error(
                HTTPStatus.BAD_REQUEST,
                f"unknown card field(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(allowed))}",
            )
            return
        try:
            device.select_card(body["card"], **definition)
        except (KeyError, ValueError, TypeError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            self._error(HTTPStatus.BAD_REQUEST, str(message))
            return
        self._reply(200, _cards(device))


def _cards(device: Any) -> dict[str, Any]:
    with device.lock:
        return {
            "card": device.card_name,
            "cards": {name: card.describe() for name, card in sorted(device.cards.items())},
        }


def _no_receipt(index: int, kept: list[Any]) -> str:
    """Why there is no receipt ``index``: let go (a printer keeps only its newest
    receipts), or not cut yet."""
    if kept and index < kept[0].index:
        return (
            f"receipt {index} is no longer kept: the printer keeps its newest {len(kept)}, "
            f"{kept[0].index} to {kept[-1].index} (receipts_kept)"
        )
    cut = kept[-1].index + 1 if kept else 0
    return f"no receipt {index}; there are {cut} (numbered from 0)"
