"""Go-live readiness: is the paper record good enough for real money, and how sure is it?

``record`` reads the paper account from the state database, ``confidence`` measures what its
returns and trades prove, ``drift`` replays the backtest on its recorded bars and compares the
trades, ``backtests`` and ``sweep`` add backtest evidence and the number of configurations
tried, ``criteria`` judges every figure against ``go_live`` and gives the verdict, ``assess``
puts it together, ``render`` and ``plots`` write the report, and ``gate`` is what
``app.mode: real`` must pass. ``runners.readiness`` is the command line. Pure statistics live in
``analyzers.statistics``; nothing here imports Flask, and backtrader only through the backtest.
"""
