"""The Flask app factory: ``create_app(config, db_url=..., token=..., bind_host=...)``.

Everything the app needs is injected (the config, the database URL, the token, a clock), so tests
build one on a temporary database and drive it with ``app.test_client()``. The app holds one
``views.Context`` (the read-only database, the record and zone caches); each request gets its
own connection and read transaction (``request_context.current_view``), closed at teardown.
Errors are JSON ``{"error": ...}`` with their status code, on every path; a crash is logged and
answered with a plain 500, never a traceback.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, g
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from core.config import load_config

from . import api, page, security
from .database import StateDatabase
from .request_context import EXTENSION, json_error
from .views import BadParameter, Context

__all__ = ["create_app"]

log = logging.getLogger("smc.status")


def create_app(config=None, *, db_url: str | None = None, db_option: str = "database.url",
               token: str | None = None, bind_host: str | None = None, clock=time.time) -> Flask:
    """The status page over the database at ``db_url`` (default: ``config.database.url``).

    ``token``: the bearer token every request must carry (None: none). ``bind_host``: the
    address served on, for the Host check (default ``status_page.host``)."""
    config = config if config is not None else load_config()
    app = Flask(__name__)
    app.config.update(JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=1024)
    app.json.sort_keys = False
    database = StateDatabase(db_url or config.database.url, db_option)
    app.extensions[EXTENSION] = {"context": Context(config, database), "clock": clock}
    security.install(app, token=token, bind_host=bind_host or config.status_page.host,
                     allowed_hosts=tuple(config.status_page.allowed_hosts))
    app.register_blueprint(api.bp, url_prefix="/api")
    app.register_blueprint(page.bp)

    @app.errorhandler(BadParameter)
    def _bad_parameter(exc: BadParameter):
        return json_error(400, str(exc))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if isinstance(exc, NotFound):
            message = "no such page or endpoint (see /api/health, /api/account, ...)"
        elif isinstance(exc, MethodNotAllowed):
            message = "method not allowed: the status page is read-only (GET only)"
        else:
            message = exc.description or exc.name
        return json_error(exc.code or 500, message)

    @app.errorhandler(Exception)
    def _crash(exc: Exception):
        log.exception("status page: internal error")
        return json_error(500, "internal error (the details are in the status page's log)")

    @app.teardown_appcontext
    def _close_connection(_exc):
        conn = g.pop("status_conn", None)
        if conn is not None:
            conn.close()

    return app

