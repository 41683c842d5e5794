"""``python -m freight dashboard``: the dashboard on a threaded stdlib WSGI server.

Loopback addresses are served as they are; any other address needs a token (``--token``,
``FREIGHT_DASHBOARD_TOKEN``, ``dashboard.token`` or ``dashboard.password``), or the
command refuses to start and says why.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import socket
import socketserver
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from freight.app import Application
from freight.dashboard.wsgi import Dashboard
from freight.errors import ConfigurationError

__all__ = ["ThreadingServer", "check_bind", "cmd_dashboard", "is_loopback", "make", "register"]

log = logging.getLogger("freight.dashboard")


class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    """A WSGI server answering each request in its own thread."""

    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(WSGIRequestHandler):
    """Logs requests through ``logging`` at DEBUG instead of printing them."""

    def log_message(self, format: str, *args: Any) -> None:
        """Log one request line."""
        log.debug("%s %s", self.address_string(), format % args)


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    addresses = {str(info[4][0]).split("%")[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def check_bind(host: str, dashboard: Dashboard) -> None:
    """Refuse (:class:`ConfigurationError`) a non-loopback ``host`` when no token protects the page."""
    if is_loopback(host) or dashboard.secret:
        return
    raise ConfigurationError(
        f"refusing to serve the dashboard on {host}: it is not a loopback address and no token is "
        "set, so anyone who can reach it could read job payloads and retry or delete failed jobs. "
        "Pass --token SECRET (or set FREIGHT_DASHBOARD_TOKEN, or dashboard.token/password in the "
        "configuration), or bind to 127.0.0.1"
    )


def make(app: Application, host: str = "127.0.0.1", port: int = 8000, token: str | None = None) -> WSGIServer:
    """A server for ``app``'s dashboard bound to ``host:port`` (port 0: any free port)."""
    dashboard = Dashboard(app, token=token)
    check_bind(host, dashboard)
    dashboard.readers.stores()  # connect (and import the drivers) now, not on the first page view
    return make_server(host, port, dashboard, server_class=ThreadingServer, handler_class=QuietHandler)


def register(sub: Any) -> None:
    """Add the ``dashboard`` sub-command."""
    parser = sub.add_parser("dashboard", help="serve the web dashboard (queues, jobs, workers, cache)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--token", default=None, help="token the page asks for (required off loopback)")
    parser.set_defaults(handler=cmd_dashboard)


def cmd_dashboard(args: argparse.Namespace, app: Application) -> int:
    """Serve until interrupted."""
    server = make(app, args.host, args.port, args.token)
    host, port = str(server.server_address[0]), int(server.server_address[1])
    print(f"freight dashboard on http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
