"""Research tools: parameter sweeps and walk-forward analysis over many symbols and years.

Every number comes from ``engine.backtest.run_backtest``, the engine the backtest CLI
uses; this package only decides which backtests to run, runs them (in this process, on an
embedded Dask ``LocalCluster`` or on an existing Dask cluster), stores their results and reports
on them. Roles, one module each:

- ``spec``: the YAML research spec (datasets, windows, parameter ranges, search, objective,
  walk-forward), validated with one-line errors;
- ``space``: the candidate configurations (grid, seeded random, optuna when installed);
- ``data``: kline files loaded once per (symbol, file) and cut into windows;
- ``tasks``: one task = one backtest; its stable id, and the functions the workers run;
- ``store``: the SQLite results table a later run resumes from;
- ``execute``: running tasks in-process or on Dask, with progress and failures;
- ``objective``: the objective of a run (Sharpe, Calmar, PSR with a minimum trade count) and the
  deflated Sharpe threshold;
- ``sweep`` and ``walkforward``: the two studies;
- ``report``: the ranked table, the JSON for the readiness report, and the HTML report
  (``charts`` draws its figures).
"""
