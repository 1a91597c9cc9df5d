"""What the status page and its JSON API show, as plain JSON-safe dicts (no Flask here).

A ``View`` is built per request from one database connection (one consistent snapshot) and the
current time; each method gives one section (``health``, ``account``, ``positions``, ``trades``,
``signals``, ``equity``, ``market``, ``candles``, ``readiness``). The page renders them, the API
returns them as they are, so both always say the same.

Clocks: ages of the engine's heartbeat and of the last data are wall-clock (how long ago the
engine wrote); the trading day, the daily loss, and the age of a position are on the market's
clock (the time of the latest price), as the engine's own guards count them, so a replay of
2023 data reads like the day it replays.

Definitions: equity = cash + the open positions at the latest price (signed size x price, as
``analyzers.equity_curve`` values them); today's P&L = equity - the equity at the start of the
market's UTC day (the last snapshot before it, as ``brokers.restore.day_start_equity`` reads it);
unrealized P&L = side x (price - entry) x size - the entry fee (the exit fee is not paid yet);
R so far = unrealized P&L / the trade's planned risk; open risk = the planned risk (loss at the
stop, fees and slippage included) of the open positions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.records import FeedStatus, RunMode, RunStatus, Side
from core.timeframes import DAY_MS, timeframe_ms
from core.times import ms_to_iso
from readiness.latest import latest_report_paths

from . import queries
from .database import MISSING, StateDatabase, Unavailable
from .record import RecordCache, RecordKey
from .zones import DETECT_BARS, Lru, ZoneCache, smc_params

__all__ = ["BadParameter", "Context", "View"]
MODE_LABELS = {"real": "REAL", str(RunMode.PAPER): "PAPER", str(RunMode.REPLAY): "REPLAY"}


class BadParameter(ValueError):
    """A query parameter is out of its range or not understood (the API answers 400)."""


@dataclass
class Context:
    """What every view shares for the life of the app."""

    config: Any                                 # core.config.AppConfig
    database: StateDatabase
    records: RecordCache = field(init=False)
    zone_cache: ZoneCache = field(default_factory=ZoneCache)
    # Results that only change with the account's data (keys carry the account's version).
    cache: Lru = field(default_factory=lambda: Lru(64))

    def __post_init__(self):
        self.records = RecordCache(self.database)


def _age_s(now_ms: int, then_ms: int | None) -> float | None:
    return None if then_ms is None else round(max(now_ms - then_ms, 0) / 1000.0, 1)


def _r(x: float | None, digits: int = 10) -> float | None:
    return None if x is None else float(f"{x:.{digits}g}")


class View:
    """One request's view of the database (``conn`` None: there is no database to read)."""

    def __init__(self, ctx: Context, conn, now_ms: int, unavailable: Unavailable | None = None):
        self.ctx, self.conn, self.now_ms, self.unavailable = ctx, conn, now_ms, unavailable
        self.acc = queries.shown_account(conn) if conn is not None else None
        self.run = queries.latest_run(conn, self.acc["id"]) if self.acc else None
        self.cfg = self.run["config"] if self.run else ctx.config.as_dict()
        self._market: list[dict] | None = None
        self._open: list[dict] | None = None
        self._account: dict[str, Any] | None = None
        self._last_bar: dict[str, int | None] = {}   # symbol -> newest signal bar (one read)

    @property
    def version(self) -> tuple | None:
        """Changes whenever the account's trades change: every fill sets its cash and update
        time (bars and prices are keyed separately)."""
        if self.acc is None:
            return None
        return (self.acc["id"], self.acc["updated_ms"], self.acc["cash"])

    # ------------------------------------------------------------------ shared pieces
    @property
    def symbols(self) -> list[str]:
        return list(self.cfg["exchanges"]["binance"]["symbols"])

    @property
    def market_rows(self) -> dict[str, dict]:
        if self._market is None:
            self._market = queries.market(self.conn) if self.conn is not None else []
        return {m["symbol"]: m for m in self._market}

    @property
    def open_rows(self) -> list[dict]:
        if self._open is None:
            self._open = (queries.open_trades(self.conn, self.acc["id"]) if self.acc else [])
        return self._open

    @property
    def market_now_ms(self) -> int:
        """The market's clock: the time of the latest price (else the latest bar, else now)."""
        times = [m["last_price_ms"] for m in self.market_rows.values() if m["last_price_ms"]]
        if times:
            return max(times)
        bars = [m["last_closed_bar_ms"] for m in self.market_rows.values()
                if m["last_closed_bar_ms"]]
        return max(bars) if bars else self.now_ms

    def price(self, symbol: str) -> float | None:
        row = self.market_rows.get(symbol)
        return None if row is None else row["last_price"]

    def mode(self) -> dict[str, str]:
        """The mode banner: REAL (red), PAPER (yellow) or REPLAY."""
        mode = (self.run["mode"] if self.run else self.acc["mode"] if self.acc
                else self.ctx.config.app.mode)
        return {"mode": mode, "label": MODE_LABELS.get(mode, mode.upper())}

    # ------------------------------------------------------------------ health
    def engine(self) -> dict[str, Any]:
        stale_s = self.ctx.config.status_page.heartbeat_stale_seconds
        if self.run is None:
            return {"running": False, "run_id": None, "run_status": None, "last_heartbeat": None,
                    "heartbeat_age_s": None, "started": None}
        age = _age_s(self.now_ms, self.run["last_heartbeat_ms"])
        return {"running": self.run["status"] == RunStatus.RUNNING and age is not None
                and age <= stale_s,
                "run_id": self.run["id"], "run_status": self.run["status"],
                "last_heartbeat": ms_to_iso(self.run["last_heartbeat_ms"] // 1000 * 1000),
                "heartbeat_age_s": age,
                "started": ms_to_iso(self.run["started_ms"] // 1000 * 1000)}

    def market(self) -> list[dict[str, Any]]:
        """Per traded symbol: last price, feed status and the age of the last data."""
        out = []
        rows = self.market_rows
        for symbol in dict.fromkeys([*self.symbols, *rows]):
            m = rows.get(symbol)
            out.append({
                "symbol": symbol,
                "last_price": None if m is None else m["last_price"],
                "price_time": None if m is None else ms_to_iso(m["last_price_ms"]),
                "feed_status": None if m is None else m["feed_status"],
                "last_data_age_s": None if m is None else _age_s(self.now_ms,
                                                                  m["last_message_ms"]),
                "last_closed_bar": None if m is None else ms_to_iso(m["last_closed_bar_ms"]),
                "traded": symbol in self.symbols})
        return out

    def health(self) -> tuple[bool, dict[str, Any]]:
        """``(ok, body)``: ok when the engine's heartbeat is fresh and every feed is LIVE."""
        reasons: list[str] = []
        engine = self.engine()
        feeds = [f for f in self.market() if f["traded"]]
        if self.conn is None:
            reasons.append(self.unavailable.message if self.unavailable else "no database")
        elif self.run is None:
            reasons.append("the engine has not run on this database yet")
        elif not engine["running"]:
            if self.run["status"] != RunStatus.RUNNING:
                reasons.append(f"the engine is not running (run {self.run['id']} "
                               f"{self.run['status']}; last heartbeat {_ago(engine)})")
            else:
                stale = self.ctx.config.status_page.heartbeat_stale_seconds
                reasons.append(f"the engine is not running: last heartbeat {_ago(engine)} "
                               f"(more than {stale:g} s)")
        if self.run is not None:
            for f in feeds:
                if f["feed_status"] is None:
                    reasons.append(f"{f['symbol']}: no feed status recorded yet")
                elif f["feed_status"] != FeedStatus.LIVE:
                    reasons.append(f"{f['symbol']} feed is {f['feed_status']}")
        account = self.account()
        body = {
            "status": "ok" if not reasons else "unavailable",
            "reasons": reasons,
            "mode": self.mode()["label"],
            "engine": engine,
            "feeds": [{"symbol": f["symbol"], "status": f["feed_status"],
                       "last_data_age_s": f["last_data_age_s"]} for f in feeds],
            "circuit_breaker": self._circuit_breaker(engine, feeds),
            "daily_loss_halt": account["daily_loss"]["halted"],
            "database": {"state": "ready" if self.conn is not None else
                         (self.unavailable.state if self.unavailable else MISSING),
                         "size_bytes": self.ctx.database.size_bytes()},
        }
        return not reasons, body

    @staticmethod
    def _circuit_breaker(engine: dict, feeds: list[dict]) -> dict[str, Any]:
        """New entries are held while any feed is not LIVE (the engine's circuit breaker)."""
        held = [f"{f['symbol']} {f['feed_status'] or 'unknown'}" for f in feeds
                if f["feed_status"] != FeedStatus.LIVE]
        active = bool(engine["running"] and held)
        return {"active": active, "reason": ("feeds not LIVE: " + ", ".join(held)) if active
                else None}

    # ------------------------------------------------------------------ account and positions
    def account(self) -> dict[str, Any]:
        if self._account is None:
            self._account = self._no_account() if self.acc is None else self._account_now()
        return self._account

    def _account_now(self) -> dict[str, Any]:
        acc = self.acc
        held = [t for t in self.open_rows if t["status"] == "open"]
        equity = acc["cash"]
        for t in held:
            price = self.price(t["symbol"]) or t["entry_price"]
            equity += Side(t["side"]).sign * t["size"] * price
        market_ms = self.market_now_ms
        day_start = (market_ms // DAY_MS) * DAY_MS
        start = queries.day_start_equity(self.conn, acc["id"], day_start)
        if start is None:
            start = queries.first_equity_of_day(self.conn, acc["id"], day_start)
        if start is None:
            start = acc["initial_balance"]
        today = equity - start
        limit = float(self.cfg["risk_manager"]["max_daily_loss"])
        halted = today <= -limit
        return {
            "account_id": acc["id"], "mode": self.mode()["label"],
            "initial_balance": _r(acc["initial_balance"]), "cash": _r(acc["cash"]),
            "equity": _r(equity), "open_positions": len(held),
            "pending_entries": sum(1 for t in self.open_rows if t["status"] == "pending"),
            "open_risk": _r(sum(t["risk"] for t in held)),
            "daily_loss": {
                "day": ms_to_iso(day_start)[:10], "today_pnl": _r(today), "limit": _r(limit),
                "used_pct": round(min(max(-today, 0.0) / limit * 100.0, 100.0), 2) + 0.0,
                "halted": halted,
                "until": ms_to_iso(day_start + DAY_MS) if halted else None},
            "market_time": ms_to_iso(market_ms),
            "updated": ms_to_iso(acc["updated_ms"]),
        }

    def _no_account(self) -> dict[str, Any]:
        """A fresh install: the account as it will start (no trades yet)."""
        initial = float(self.cfg["paper_trading"]["initial_balance"])
        limit = float(self.cfg["risk_manager"]["max_daily_loss"])
        return {"account_id": None, "mode": self.mode()["label"], "initial_balance": initial,
                "cash": initial, "equity": initial, "open_positions": 0, "pending_entries": 0,
                "open_risk": 0.0,
                "daily_loss": {"day": None, "today_pnl": 0.0, "limit": limit, "used_pct": 0.0,
                               "halted": False, "until": None},
                "market_time": None, "updated": None, "note": "no trades yet"}

    def positions(self) -> list[dict[str, Any]]:
        out = []
        market_ms = self.market_now_ms
        for t in self.open_rows:
            price = self.price(t["symbol"])
            entry = t["entry_price"]
            unrealized = r_now = None
            if t["status"] == "open" and price is not None:
                unrealized = Side(t["side"]).sign * (price - entry) * t["size"] - \
                    (t["entry_fee"] or 0.0)
                r_now = unrealized / t["risk"] if t["risk"] else None
            out.append({
                "trade_id": t["id"], "symbol": t["symbol"], "side": t["side"],
                "status": t["status"], "entry": _r(entry if entry is not None
                                                   else t["planned_entry"]),
                "size": _r(t["size"]), "stop_loss": _r(t["stop_loss"]),
                "take_profit": _r(t["take_profit"]), "last_price": _r(price),
                "unrealized_pnl": _r(unrealized), "r_multiple": _r(r_now, 4),
                "risk": _r(t["risk"]),
                "opened": ms_to_iso(t["entry_time_ms"]),
                "age_s": None if t["entry_time_ms"] is None else
                round(max(market_ms - t["entry_time_ms"], 0) / 1000.0)})
        return out

    # ------------------------------------------------------------------ trades and signals
    def trades(self, limit: int, offset: int) -> dict[str, Any]:
        if self.acc is None:
            return {"total": 0, "limit": limit, "offset": offset, "trades": []}
        key = ("closed", self.version)
        total = self.ctx.cache.get(key)
        if total is None:
            total = self.ctx.cache.put(key, queries.closed_count(self.conn, self.acc["id"]))
        rows = queries.closed_trades_page(self.conn, self.acc["id"], limit, offset)
        return {"total": total, "limit": limit, "offset": offset,
                "trades": [_closed_trade(t) for t in rows]}

    def signals(self, limit: int) -> list[dict[str, Any]]:
        if self.acc is None:
            return []
        return [{"id": s["id"], "time": ms_to_iso(s["time_ms"]), "symbol": s["symbol"],
                 "side": s["side"], "confidence": _r(s["confidence"], 4),
                 "entry": _r(s["entry"]), "stop_loss": _r(s["stop_loss"]),
                 "take_profit": _r(s["take_profit"]), "reasons": s["reasons"],
                 "traded": s["traded"], "decision": s["decision"]}
                for s in queries.signals(self.conn, self.acc["id"], limit)]

    # ------------------------------------------------------------------ metrics and equity
    def record_key(self) -> RecordKey | None:
        return RecordKey.of(self.acc, self.cfg) if self.acc else None

    def equity(self, points: bool = True) -> dict[str, Any]:
        """The paper record's metrics (the backtest's definitions) and its equity and drawdown
        (``points``: also as ISO-stamped lists, for the API)."""
        key = self.record_key()
        if key is None:
            return {"metrics": None, "equity_curve": [], "points": [], "drawdown": [],
                    "_points_ms": [], "_drawdown_ms": [], "_version": None}
        summary = self.ctx.records.summary(self.conn, key)
        metrics = {k: v for k, v in summary.metrics.items() if k != "equity_curve"}
        return {"metrics": metrics, "equity_curve": summary.metrics["equity_curve"],
                "points": [[ms_to_iso(t), _r(v)] for t, v in summary.equity] if points else [],
                "drawdown": ([[ms_to_iso(t), _r(v, 6)] for t, v in summary.drawdown] if points
                             else []),
                "_points_ms": summary.equity, "_drawdown_ms": summary.drawdown,
                "_version": (summary.key, summary.fingerprint)}

    # ------------------------------------------------------------------ candles and zones
    def candles(self, symbol: str | None, limit: int) -> dict[str, Any]:
        """The latest ``limit`` signal-timeframe bars of ``symbol`` with the SMC zones known at
        the last one, the trades on them and the open position's stop and target."""
        known = self.symbols
        if symbol is None:
            symbol = known[0]
        elif symbol not in known:
            raise BadParameter(f"symbol: {symbol!r} is not traded on this account; "
                               f"expected one of {', '.join(known)}")
        interval = self.cfg["strategy"]["signal_timeframe"]
        out: dict[str, Any] = {"symbol": symbol, "interval": interval, "bars": [],
                               "zones": {"order_blocks": [], "fvgs": [], "swings": [],
                                         "breaks": []},
                               "trades": [], "position": None}
        if self.acc is None:
            return out
        key = self.candles_key(symbol, limit)
        cached = self.ctx.cache.get(key)
        if cached is None:
            cached = self.ctx.cache.put(key, self._candles(out, symbol, interval, limit))
        return cached

    def candles_key(self, symbol: str, limit: int) -> tuple:
        """What ``candles(symbol, limit)`` depends on: the newest bar and the account's trades."""
        interval = self.cfg["strategy"]["signal_timeframe"]
        if symbol not in self._last_bar:
            self._last_bar[symbol] = (queries.last_bar_open(self.conn, self.acc["id"], symbol,
                                                            interval) if self.acc else None)
        return ("candles", symbol, interval, self._last_bar[symbol], limit, self.version)

    def _candles(self, out: dict[str, Any], symbol: str, interval: str, limit: int
                 ) -> dict[str, Any]:
        history = queries.bars(self.conn, self.acc["id"], symbol, interval,
                               last=max(DETECT_BARS, limit))
        if not len(history):
            return out
        params, max_age = smc_params(self.cfg)
        zones = self.ctx.zone_cache.zones((self.acc["id"], symbol, interval), history, params,
                                          max_age)
        shown = history[-limit:]
        first_ms = int(shown[0, 0])
        end_ms = int(shown[-1, 0]) + timeframe_ms(interval)
        out["bars"] = [[int(b[0]), *(_r(float(v)) for v in b[1:])] for b in shown]
        out["zones"] = {
            "order_blocks": zones["order_blocks"], "fvgs": zones["fvgs"],
            "swings": [s for s in zones["swings"] if s["time"] >= first_ms],
            "breaks": zones["breaks"]}
        for t in queries.trades_in_window(self.conn, self.acc["id"], symbol, first_ms, end_ms):
            out["trades"].append({
                "trade_id": t["id"], "side": t["side"], "status": t["status"],
                "entry_time": t["entry_time_ms"], "entry_price": t["entry_price"],
                "exit_time": t["exit_time_ms"], "exit_price": t["exit_price"],
                "exit_reason": t["exit_reason"]})
        held = [t for t in self.open_rows if t["symbol"] == symbol and t["status"] == "open"]
        if held:
            t = held[-1]
            out["position"] = {"trade_id": t["id"], "side": t["side"], "entry": t["entry_price"],
                               "stop_loss": t["stop_loss"], "take_profit": t["take_profit"]}
        return out

    # ------------------------------------------------------------------ readiness
    def readiness(self) -> dict[str, Any] | None:
        """The go-live readiness report written next to the database, if there is one."""
        html_path, path = latest_report_paths(self.ctx.database.path)
        if not path.is_file():
            return None
        html = html_path.is_file()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            verdict = data["verdict"]
            generated = int(data["generated_ms"])
            reasons = [str(r) for r in data.get("reasons", [])]
        except (OSError, ValueError, KeyError, TypeError):
            return {"verdict": None, "error": f"{path.name} cannot be read", "html": html}
        return {"verdict": str(verdict), "reasons": reasons, "generated": ms_to_iso(generated),
                "age_s": _age_s(self.now_ms, generated), "html": html}


def readiness_html(database: StateDatabase) -> Path | None:
    path = latest_report_paths(database.path)[0]
    return path if path.is_file() else None


def _ago(engine: dict) -> str:
    age = engine["heartbeat_age_s"]
    return "never" if age is None else f"{human_age(age)} ago"


def human_age(seconds: float | None) -> str:
    """``42 s``, ``5 min``, ``3 h 10 min``, ``2 d 4 h``."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 2 * 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _closed_trade(t: dict) -> dict[str, Any]:
    fees = (t["entry_fee"] or 0.0) + (t["exit_fee"] or 0.0)
    return {"trade_id": t["id"], "symbol": t["symbol"], "side": t["side"],
            "entry_time": ms_to_iso(t["entry_time_ms"]), "exit_time": ms_to_iso(t["exit_time_ms"]),
            "entry_price": _r(t["entry_price"]), "exit_price": _r(t["exit_price"]),
            "size": _r(t["size"]), "stop_loss": _r(t["stop_loss"]),
            "take_profit": _r(t["take_profit"]), "pnl": _r(t["pnl"]), "fees": _r(fees),
            "r_multiple": _r(t["pnl"] / t["risk"], 4) if t["risk"] else None,
            "exit_reason": t["exit_reason"], "confidence": _r(t["confidence"], 4)}
