"""The status page's security rules, in one place: binding, bearer token, Host check, methods,
response headers.

- **Binding** (``bind_policy``): a loopback address (127.0.0.0/8, ::1, localhost) needs nothing;
  any other address needs a token in the environment variable named by
  ``status_page.token_env``, or the server refuses to start with one line.
- **Token**: when one is set (whatever the address), every request must carry
  ``Authorization: Bearer <token>``, compared in constant time (``hmac.compare_digest``); else
  401. One exception, on purpose: ``/api/health`` (and its alias ``/api/trading/data-health``)
  answers a request without the token with its status code (200 or 503) and ``{"status": ...}``
  only, so an uptime monitor can watch it without holding the token; the reasons and every other
  detail need the token.
- **Host check**: the Host header must name the bind address, a loopback name, or one of
  ``status_page.allowed_hosts``; anything else is refused (400) before any view runs, which
  defeats DNS rebinding (a hostile page whose name resolves to 127.0.0.1).
- **Read-only**: GET and HEAD only; every other method is 405. No CORS header is ever sent.
- **Headers** on every response: the Content-Security-Policy below, ``X-Content-Type-Options:
  nosniff``, ``Referrer-Policy: no-referrer``, ``X-Frame-Options: DENY``; ``Cache-Control:
  no-store`` on the API and the page.

Nothing here logs or returns the token.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Mapping

from flask import Flask, Response, g, request

from core.errors import ConfigError

from .request_context import json_error

__all__ = ["CSP", "HEALTH_PATHS", "READINESS_CSP", "bind_policy", "host_allowed", "install",
           "is_loopback"]

CSP = "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# The readiness report is one self-contained file (embedded images and styles, no script): it
# may use those, and nothing else, not even a script from this server.
READINESS_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                 "object-src 'none'; frame-ancestors 'none'; base-uri 'none'")
HEALTH_PATHS = ("/api/health", "/api/trading/data-health")
SAFE_METHODS = ("GET", "HEAD")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_policy(host: str, token_env: str, environ: Mapping[str, str] | None = None
                ) -> str | None:
    """The token the server must require (None: none set), or ConfigError when ``host`` is not
    a loopback address and there is no token."""
    env = os.environ if environ is None else environ
    token = env.get(token_env) or None
    if token is not None and len(token) < 16:
        raise ConfigError(f"status_page.token_env: the token in {token_env} is too short "
                          f"(at least 16 characters; e.g. python -c 'import secrets; "
                          f"print(secrets.token_urlsafe(32))')")
    if not is_loopback(host) and token is None:
        raise ConfigError(f"status_page.host {host} is not a loopback address: set a token in "
                          f"the environment variable {token_env} (status_page.token_env) or "
                          f"bind 127.0.0.1")
    return token


def _host_name(header: str) -> str:
    """The name part of a Host header: ``example.lan:8000`` -> ``example.lan``, ``[::1]:80``
    -> ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    name = header.rsplit(":", 1)[0] if header.count(":") == 1 else header
    return name.rstrip(".")


def host_allowed(header: str | None, bind_host: str, allowed: tuple[str, ...]) -> bool:
    if not header:
        return False
    name = _host_name(header)
    names = {n.lower() for n in (*LOOPBACK_NAMES, *allowed)}
    if bind_host not in ("0.0.0.0", "::", ""):
        names.add(bind_host.lower().strip("[]"))
    return name in names


def _bearer_ok(header: str | None, token: str) -> bool:
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer "):].strip().encode(), token.encode())


def install(app: Flask, *, token: str | None, bind_host: str, allowed_hosts: tuple[str, ...]
            ) -> None:
    """Register the checks (before every view) and the headers (on every response)."""

    @app.before_request
    def _guard():
        if request.method not in SAFE_METHODS:
            return json_error(405, f"method {request.method} is not allowed: the status page is "
                               f"read-only (GET only)", Allow="GET, HEAD")
        if not host_allowed(request.headers.get("Host"), bind_host, allowed_hosts):
            return json_error(400, "Host header not allowed: use the address the status page is "
                               "bound to, or add the name to status_page.allowed_hosts")
        g.authorized = token is None or _bearer_ok(request.headers.get("Authorization"), token)
        if not g.authorized and request.path not in HEALTH_PATHS:
            return json_error(401, "missing or wrong bearer token (send Authorization: Bearer "
                               "<token>)", **{"WWW-Authenticate": 'Bearer realm="status"'})
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        h = response.headers
        h["Content-Security-Policy"] = READINESS_CSP if request.path == "/readiness" else CSP
        h["X-Content-Type-Options"] = "nosniff"
        h["Referrer-Policy"] = "no-referrer"
        h["X-Frame-Options"] = "DENY"
        if not request.path.startswith("/static/"):
            h["Cache-Control"] = "no-store"
        for name in [n for n, _ in h.items() if n.lower().startswith("access-control-")]:
            del h[name]
        return response
