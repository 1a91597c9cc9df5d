"""One backtest, start to finish, as a function: klines in, result and report out.

``runners.backtest`` (the CLI) and ``engine.lookahead`` (the prefix re-runs) both call
``run_backtest``; the report dict it builds is the stable JSON contract described in README.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import backtrader as bt
import numpy as np

from analyzers.equity_curve import mark_to_market, sample_times
from analyzers.metrics import buy_hold, summarize
from analyzers.report import trade_entry
from brokers.bar_broker import BarBroker
from brokers.costs import configure_costs
from brokers.ledger import FillLedger
from core.errors import UserInputError
from core.exchange_rules import backtest_rules
from core.records import ExitReason, TradeRecord
from core.timeframes import signal_feed_name, timeframe_ms
from core.times import ms_to_iso
from feeds.array_feed import ArrayFeed
from feeds.resample import htf_stamp_offset_ms, resample_bars
from klines import Klines
from strategies.settings import StrategySettings
from strategies.setups import Structure
from strategies.smc_strategy import SmcStrategy

log = logging.getLogger("smc.backtest")


class NotEnoughData(UserInputError):
    """The period holds no complete bar of the signal timeframe."""


@dataclass
class BacktestResult:
    """Everything a run produced; ``report`` is the JSON-ready summary.

    ``trades`` are the trade records (by entry time), ``signals`` the backtest report's signal
    dicts, and ``equity_times_ms``/``equity_values`` the per-bar mark-to-market equity (each
    value is the equity at the close of the bar opening at that time; the last one less the
    liquidation fees of positions still open), ``equity_in_market`` whether a position was open
    then. ``analyses`` holds ``get_analysis()`` of each extra analyzer given to ``run_backtest``.
    """

    report: dict
    trades: list[TradeRecord]
    signals: list[dict]
    equity_times_ms: np.ndarray
    equity_values: np.ndarray
    equity_in_market: np.ndarray | None = None
    analyses: dict = field(default_factory=dict)


def execution_timeframe(klines_by_symbol: Mapping[str, Klines]) -> str:
    """The common interval of the data files; they must all share one."""
    frames = {k.timeframe for k in klines_by_symbol.values()}
    if len(frames) != 1:
        listing = ", ".join(f"{s}={k.timeframe}" for s, k in klines_by_symbol.items())
        raise UserInputError(f"--data: all files must have the same interval, got {listing}")
    return frames.pop()


def run_backtest(config, klines_by_symbol: Mapping[str, Klines],
                 progress: Callable[[float], None] | None = None,
                 analyzers: Mapping[str, type] | None = None, gate=None,
                 detection: Mapping[str, Structure] | None = None) -> BacktestResult:
    """Run the SMC strategy over ``klines_by_symbol`` (symbol -> Klines) with ``config``.

    ``analyzers``: extra backtrader analyzers by name (tests, benchmarks); their
    ``get_analysis()`` is returned in ``BacktestResult.analyses``. ``gate`` (a
    ``strategies.gate.MarketGate``, default: always open) lets a replay of a live record hold
    entries as the live engine did (the readiness drift check). ``detection`` (symbol ->
    ``strategies.setups.Structure``) hands in SMC detection already made over a symbol's signal
    bars with this config's SMC settings (``research`` reuses it across runs that vary only risk
    or threshold settings); one that does not fit is refused."""
    exec_tf = execution_timeframe(klines_by_symbol)
    exec_ms = timeframe_ms(exec_tf)
    rules = backtest_rules(klines_by_symbol, config.exchanges.binance.rules)
    signal_tf = config.strategy.signal_timeframe
    signal_ms = timeframe_ms(signal_tf)
    if signal_ms < exec_ms or signal_ms % exec_ms:
        raise UserInputError(
            f"strategy.signal_timeframe {signal_tf} must be a whole multiple of the data's "
            f"interval {exec_tf}; use data of {signal_tf} or finer")

    cerebro = bt.Cerebro(stdstats=False, runonce=False, preload=True)
    cerebro.broker = BarBroker()
    cerebro.broker.setcash(config.paper_trading.initial_balance)
    configure_costs(cerebro.broker, config.risk_manager.fee_percent / 100.0,
                    config.risk_manager.slippage_percent / 100.0)
    exec_bars, signal_stamps = {}, []
    for symbol, klines in klines_by_symbol.items():
        bars = klines.bars()
        if len(bars) == 0:
            raise UserInputError(f"{klines.path}: no bars in the selected period")
        exec_feed = cerebro.adddata(ArrayFeed(bars=bars, name=symbol))
        exec_bars[symbol] = bars
        if signal_ms != exec_ms:
            signal_bars = resample_bars(bars, signal_tf)
            if len(signal_bars) == 0:
                raise NotEnoughData(
                    f"{klines.path}: no complete {signal_tf} bar between {klines.frame.index[0]} "
                    f"and {klines.frame.index[-1]}; give a longer period")
            offset = htf_stamp_offset_ms(exec_ms, signal_ms)
            cerebro.adddata(ArrayFeed(bars=signal_bars, name=signal_feed_name(symbol),
                                      stamp_offset_ms=offset, clock=exec_feed))
            signal_stamps.append(signal_bars.open_time_ms + offset)
    settings = StrategySettings.from_config(config, symbols=list(exec_bars), rules=rules,
                                            exec_bar_ms=exec_ms, signal_bar_ms=signal_ms)
    ledger = FillLedger(cash_after=cerebro.broker.cash_after)
    cerebro.addstrategy(SmcStrategy, settings=settings, sink=ledger, progress=progress, gate=gate,
                        detection=detection)
    for symbol, r in rules.items():
        log.info("%s order rules: tick %g, step %g, min qty %g, min notional %g USDT", symbol,
                 r.tick_size, r.lot_step, r.min_qty, r.min_notional)
    log.info("Backtest: %s, execution %s, signals %s, %s", ", ".join(exec_bars), exec_tf, signal_tf,
             "; ".join(f"{s}: {len(k.frame)} bars "
                       f"{k.frame.index[0]:%Y-%m-%d} .. {k.frame.index[-1]:%Y-%m-%d}"
                       for s, k in klines_by_symbol.items()))
    for name, analyzer in (analyzers or {}).items():
        cerebro.addanalyzer(analyzer, _name=name)
    strategy = cerebro.run()[0]
    # The per-bar equity, rebuilt from the bars and the fills exactly as the broker values the
    # account (analyzers.equity_curve): the paper report uses the same function on its records.
    times = sample_times([b.open_time_ms for b in exec_bars.values()], signal_stamps)
    values, in_market = mark_to_market(
        times, {s: (b.open_time_ms, b.close) for s, b in exec_bars.items()}, ledger.fills,
        config.paper_trading.initial_balance)
    return _collect(config, klines_by_symbol, strategy, exec_tf, signal_tf, exec_ms, times,
                    values, in_market, analyzers)


def _collect(config, klines_by_symbol, strategy, exec_tf, signal_tf, exec_ms, times, values,
             in_market, analyzers) -> BacktestResult:
    trades = sorted(strategy.trades_closed, key=lambda t: (t.entry_ms, t.symbol))
    # Open positions were closed in the trade list at the last close less the exit fee; the final
    # equity is that liquidation value, so the trades' P&L adds up to the equity change.
    liquidation_fees = sum(t.exit_fee for t in trades if t.exit_reason == ExitReason.END_OF_DATA)
    if len(values):
        values[-1] -= liquidation_fees
    # Buy and hold: each symbol over its own data, and an equal-weight basket over the period
    # all symbols share (analyzers.metrics.buy_hold).
    basket, bh = buy_hold({s: (k.frame.index.as_unit("ms").asi8, k.frame["close"].to_numpy())
                           for s, k in klines_by_symbol.items()})
    basket_first = 1.0 if basket is not None else None
    metrics = summarize(times=times, values=values, in_market=in_market,
                        initial_equity=config.paper_trading.initial_balance, trades=trades,
                        first_price=basket_first, last_price=basket)
    starts = [k.frame.index[0] for k in klines_by_symbol.values()]
    ends = [k.frame.index[-1] for k in klines_by_symbol.values()]
    report = {
        "symbols": list(klines_by_symbol),
        "timeframe": exec_tf,
        "signal_timeframe": signal_tf,
        "start": min(starts).isoformat(),
        "end": ms_to_iso(int(max(ends).value // 1_000_000) + exec_ms),
        "bars": int(sum(len(k.frame) for k in klines_by_symbol.values())),
        **metrics,
        "buy_hold_by_symbol_pct": bh,
        "signals": len(strategy.signals),
        "signals_traded": sum(1 for s in strategy.signals if s.traded),
        "data_quality": {
            s: {"path": k.path, "bars": len(k.frame), "gaps": len(k.gaps),
                "missing_bars": k.missing_bars,
                "largest_gap_bars": k.largest_gap.missing_bars if k.gaps else 0,
                "duplicates_dropped": k.duplicates_dropped, "reordered": k.reordered,
                "format": k.source_format}
            for s, k in klines_by_symbol.items()},
        "trade_list": [trade_entry(t) for t in trades],
        "config": config.as_dict(),
    }
    analyses = {name: getattr(strategy.analyzers, name).get_analysis() for name in analyzers or {}}
    return BacktestResult(report, trades, [s.as_dict() for s in strategy.signals], times, values,
                          in_market, analyses)
