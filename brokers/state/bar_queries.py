"""The one SQL query over the recorded bars, for the store and for the status page's raw
read-only connection: rows ``open_time_ms, open, high, low, close, volume``, oldest first."""

from __future__ import annotations

from typing import Any

__all__ = ["bars_query"]

_SELECT = ("SELECT open_time_ms, open, high, low, close, volume FROM bars WHERE account_id = ? "
           "AND symbol = ? AND interval = ?")


def bars_query(account_id: int, symbol: str, interval: str, *, since_ms: int | None = None,
               after_ms: int | None = None, until_ms: int | None = None,
               last: int | None = None) -> tuple[str, tuple[Any, ...]]:
    """``(sql, params)`` for the bars of one series opened at or after ``since_ms``, after
    ``after_ms`` and before ``until_ms`` (each optional), only the ``last`` N of them if given."""
    sql = _SELECT
    params: list[Any] = [account_id, symbol, interval]
    for bound, condition in ((since_ms, ">="), (after_ms, ">"), (until_ms, "<")):
        if bound is not None:
            sql += f" AND open_time_ms {condition} ?"
            params.append(bound)
    if last is not None:
        sql = f"SELECT * FROM ({sql} ORDER BY open_time_ms DESC LIMIT ?) ORDER BY open_time_ms"
        params.append(last)
    else:
        sql += " ORDER BY open_time_ms"
    return sql, tuple(params)
