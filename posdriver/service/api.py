"""The local HTTP+JSON API for the front-desk software (described by ``/openapi.json``).

Money requests return at once with the operation's journal id (``202``); the result is
polled or awaited (``GET /v1/operations/{id}?wait=SECONDS``). Amounts are decimal
strings. An ``Idempotency-Key`` (header or ``idempotency_key`` field) makes a retried
request return the first one's operation instead of charging again. Errors are JSON
``{"error": "..."}`` naming what is wrong: 400 bad input (an unknown query parameter or
body field too), 401 no or wrong token, 404 unknown, 405 wrong method, 409 refused in
the state things are in (the refund guard, an operation not in doubt, a job already
printed), 503 stopping.

Everything the CLI's journal commands do has an endpoint here, so that while the daemon
owns the devices the CLI asks it instead of opening them (:class:`posdriver.desk.RemoteDesk`).

Served by the standard library's threading HTTP server: the API is small, local and
low-traffic, and every request is a few journal reads or a queued device operation. Its
connections are bounded in number and time (:mod:`.http_server`), so a client that
opens connections and forgets them cannot stop a payment.

This module is what the rest of posdriver imports (the daemon starts the API with
:func:`start_api`, ``posdriver check`` reads the refresh waits); the work is split by
job: :mod:`.api_http` the plumbing every request goes through, :mod:`.api_fields` what
a request's fields must be, :mod:`.api_desk` money and devices, :mod:`.api_records` the
journal, incidents, print jobs and refund plans. What the desk does is
:class:`posdriver.desk.LocalDesk`, over the daemon's journal and workers
(:mod:`.api_devices`); the handlers read the request, call it and answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .api_desk import MONEY_KINDS, REFRESH_ALL_WAIT, REFRESH_WAIT, DeskApi
from .api_http import ROUTES, ApiError, Route, find_route, serve
from .api_records import RecordsApi
from .openapi import PATHS
from .page import Page

if TYPE_CHECKING:
    from ..config import Address
    from .daemon import Daemon
    from .http_server import BoundedHTTPServer


class Api(DeskApi, RecordsApi):
    """The request logic, apart from HTTP plumbing (so it reads as what it does): one
    object answering every route in :data:`ROUTES` by the method the route names, and
    the status page's (``page``, :mod:`.page`) beside them."""

    page: Page


def start_api(daemon: Daemon, address: Address) -> tuple[BoundedHTTPServer, int]:
    """Serve the API for ``daemon`` on ``address``; returns the server and its port. An
    address beyond this machine needs a token: the API moves money."""
    token = daemon.config.service.token
    if not address.loopback and token is None:
        raise ValueError(f"the API on {address} is beyond this machine: a token is required")
    api = Api(daemon)
    api.page = Page(api)
    server, port = serve(api, address, token, daemon.config.service)
    daemon.api = api
    return server, port


__all__ = [
    "MONEY_KINDS",
    "PATHS",
    "REFRESH_ALL_WAIT",
    "REFRESH_WAIT",
    "ROUTES",
    "Api",
    "ApiError",
    "Route",
    "find_route",
    "start_api",
]
