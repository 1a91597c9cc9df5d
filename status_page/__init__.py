"""The status page: a read-only window on the paper-trading engine, served over HTTP.

``create_app(config, db_url=...)`` builds the Flask app (``app.py``): an HTML page and a JSON
API over the state database, opened read-only (WAL readers never block the engine). The parts:

- ``database.py``: the database file as the page sees it (missing, empty, ready), one
  read transaction per request;
- ``queries.py``: the SQL the page runs (small, indexed reads);
- ``views.py``: what the page and the API show, as plain dicts (no Flask);
- ``record.py``: the paper record's metrics and equity, kept up to date incrementally with the
  backtest's own functions (``analyzers.equity_curve``, ``analyzers.metrics``);
- ``zones.py``: the SMC zones of the price chart (``strategies.smc.detect_smc`` as of the last bar);
- ``charts.py``: server-side SVG charts (no JavaScript, no network);
- ``security.py``: bind policy, bearer token, Host check, methods, response headers;
- ``api.py`` and ``page.py``: the two blueprints, thin adapters over ``views``.

``runners/status_page.py`` serves it with waitress.
"""

from .app import create_app

__all__ = ["create_app"]
