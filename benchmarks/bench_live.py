"""Benchmark of the live paper path against a local ``FakeBinance`` (127.0.0.1 only).

    python benchmarks/bench_live.py [--bars N] [--idle-s S] [--skip-latency] [--skip-process]

Three measurements, each printed with its target:

1. latency (in-process): a ``PaperSession`` runs in a thread against a ``FakeBinance``
   (``speed=None``) serving the bundled ``data/BTCUSDT_spot_1m_2023-03-20_2023-03-26.csv``. An
   extra analyzer stamps ``time.perf_counter()`` and the strategy clock at each ``next`` (analyzers
   run right after the strategy's ``next`` of that bar: the decision is made). For each bar the
   publisher calls ``server.publish(1)``; it returns once the closing frame (the last one) is
   written, so latency = analyzer time - time right after ``publish`` returns (``t_sent``); the
   figures from before the call (``t0``) are printed too. Both ends are in one process and read the
   same clock. Target p99 < 10 ms.
2. resident memory: ``python -m runners.live_paper`` as its own process, with a temp config
   pointing at a ``FakeBinance`` in this process (1500 history bars, so the warm-up is the real
   one); a few hundred bars are published, then VmRSS/VmHWM are read from /proc. Target < 120 MB.
3. idle CPU: the same process, connected and caught up, with no bar published for ``--idle-s``
   seconds: (utime + stime) / wall from /proc/<pid>/stat, as % of one core. Target < 2 %. Then
   SIGTERM: it must exit 0 within 10 s.

Run by hand from anywhere; tests never time anything. Linux only (/proc). No extra dependency.
Exit status: 0 every measured target met; 1 a target missed, too few bars measured, or a
measurement that was asked for could not be made; 2 usage error. A part left out with
``--skip-latency``/``--skip-process`` is not judged.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import backtrader as bt
import numpy as np
import yaml

from core.config import apply_overrides, load_config
from core.times import num_to_ms
from fake_exchange import FakeBinance
from klines import load_klines

DATA = ROOT / "data" / "BTCUSDT_spot_1m_2023-03-20_2023-03-26.csv"
SYMBOL = "BTCUSDT"
HOUR_MS = 3_600_000

TARGET_P99_MS = 10.0
TARGET_RSS_MB = 120.0
TARGET_IDLE_CPU_PCT = 2.0
TARGET_EXIT_S = 10.0


# ----------------------------------------------------------------------------------- helpers

class LogTally(logging.Handler):
    """Counts the engine's WARNING+ records (kept: the first few, for the report)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record):
        self.count += 1
        if len(self.first) < 5:
            self.first.append(f"{record.levelname} {record.name}: {record.getMessage()}"[:200])


def percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def stats_ms(seconds: list[float]) -> tuple[float, float, float, float]:
    ms = [s * 1000.0 for s in seconds]
    return percentile(ms, 50), percentile(ms, 99), max(ms), float(np.mean(ms))


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def proc_kib(status: dict[str, str], key: str) -> int | None:
    value = status.get(key)
    return int(value.split()[0]) if value else None


def proc_cpu_s(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    # after the ")" closing comm: fields[0] is field 3 (state); utime is field 14, stime 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "MISSED")


# ------------------------------------------------------------------------- 1. latency


def make_latency_analyzer(cond: threading.Condition, seen: dict[int, float]):
    """An analyzer class writing into ``seen`` (bar open ms -> perf_counter() of the decision):
    cerebro makes the instance inside ``session.run()``, so the dict is shared by closure."""

    class LatencyAnalyzer(bt.Analyzer):
        def next(self):  # also called for prenext (bt.Analyzer's default)
            now = time.perf_counter()
            open_ms = num_to_ms(float(self.strategy.datetime[0]))   # strategy clock: bar open
            if open_ms not in seen:
                seen[open_ms] = now
                with cond:
                    cond.notify_all()

        def get_analysis(self):
            return seen

    return LatencyAnalyzer


def bench_latency(args, results: dict) -> None:
    from runners.paper_session import PaperSession

    print(f"\n[1] latency: in-process PaperSession, {args.history_bars} history bars, "
          f"{args.bars} published bars {args.gap_ms:.0f} ms apart")
    bars = load_klines(DATA).bars()
    tally = LogTally()
    root = logging.getLogger()
    root.addHandler(tally)
    root.setLevel(logging.WARNING)
    cond = threading.Condition()
    seen: dict[int, float] = {}
    analyzer_cls = make_latency_analyzer(cond, seen)
    server = FakeBinance({SYMBOL: bars}, interval="1m", speed=None,
                         history_bars=args.history_bars).start()
    session = None
    thread = None
    errors: list[BaseException] = []
    with tempfile.TemporaryDirectory(prefix="bench_live_") as tmp:
        try:
            cfg = apply_overrides(load_config(), {"database.url": f"sqlite:///{tmp}/bench.db"})
            session = PaperSession(cfg, ws_url=server.ws_url, rest_url=server.rest_url,
                                   symbols=[SYMBOL], exec_interval="1m",
                                   analyzers={"latency": analyzer_cls})

            def run():
                try:
                    session.run()
                except BaseException as exc:
                    errors.append(exc)

            began = time.perf_counter()
            thread = threading.Thread(target=run, name="paper-session", daemon=True)
            thread.start()
            if not server.wait_connections(1, timeout=60):
                raise RuntimeError("the engine never connected to the local server")
            last_history_ms = int(server.open_times_ms[server.published_index - 1])
            deadline = time.monotonic() + 120
            while True:  # the analyzer exists once cerebro runs; wait for the last warm-up bar
                if (last_history_ms in seen
                        and session.manager.connects_handled >= 1):
                    break
                if errors or not thread.is_alive():
                    raise RuntimeError(f"the session ended during warm-up: {errors!r}")
                if time.monotonic() > deadline:
                    raise RuntimeError("warm-up not done within 120 s")
                time.sleep(0.01)
            warmup_s = time.perf_counter() - began
            _print_warmup(seen, warmup_s)

            lat_sent, lat_t0, publish_s, hour_close, timeouts = [], [], [], [], 0
            for _ in range(args.bars):
                if server.published_index >= server.total_bars:
                    break
                open_ms = int(server.open_times_ms[server.published_index])
                t0 = time.perf_counter()
                server.publish(1)
                t_sent = time.perf_counter()
                with cond:
                    ok = cond.wait_for(lambda open_ms=open_ms: open_ms in seen, timeout=5.0)
                if not ok:
                    timeouts += 1
                    continue
                t_dec = seen[open_ms]
                lat_sent.append(t_dec - t_sent)
                lat_t0.append(t_dec - t0)
                publish_s.append(t_sent - t0)
                hour_close.append((open_ms + 60_000) % HOUR_MS == 0)
                time.sleep(args.gap_ms / 1000.0)
        finally:
            if session is not None:
                session.stop()
            if thread is not None:
                thread.join(30)
            server.stop()
            root.removeHandler(tally)

    if errors:
        print(f"    the session raised: {errors[0]!r}")
    if not lat_sent:
        print("    no bar measured")
        results["latency"] = None
        return
    negative = sum(1 for x in lat_sent if x < 0)
    p50, p99, mx, mean = stats_ms(lat_sent)
    q50, q99, qmx, _ = stats_ms(lat_t0)
    b50, b99, bmx, _ = stats_ms(publish_s)
    print(f"    bars measured: {len(lat_sent)} (timeouts: {timeouts}); both ends in this process, "
          f"same perf_counter clock")
    print(f"    {'':34s} {'p50':>8s} {'p99':>8s} {'max':>8s}   (ms)")
    print(f"    {'frame written -> decision':34s} {p50:8.2f} {p99:8.2f} {mx:8.2f}")
    print(f"    {'publish() called -> decision':34s} {q50:8.2f} {q99:8.2f} {qmx:8.2f}")
    print(f"    {'publish() itself (3 frames)':34s} {b50:8.2f} {b99:8.2f} {bmx:8.2f}")
    hours = [x for x, h in zip(lat_sent, hour_close, strict=True) if h]
    minutes = [x for x, h in zip(lat_sent, hour_close, strict=True) if not h]
    if hours:
        h50, h99, hmx, _ = stats_ms(hours)
        print(f"    {'  bars closing a 1h signal bar':34s} {h50:8.2f} {h99:8.2f} {hmx:8.2f}"
              f"   (n={len(hours)})")
    if minutes:
        m50, m99, mmx, _ = stats_ms(minutes)
        print(f"    {'  other bars':34s} {m50:8.2f} {m99:8.2f} {mmx:8.2f}   (n={len(minutes)})")
    if negative:
        print(f"    note: {negative} bar(s) decided before publish() returned (decision raced the "
              f"return of the call)")
    print(f"    engine warnings/errors logged: {tally.count}")
    for line in tally.first:
        print(f"      {line}")
    results["latency"] = {"n": len(lat_sent), "p50": p50, "p99": p99, "max": mx,
                          "enough": len(lat_sent) >= 300}



def _print_warmup(seen: dict[int, float], warmup_s: float) -> None:
    """Warm-up bars reach the strategy in one burst up to the last complete signal hour; the bars
    after it are timed separately (each one may wait for the idle signal feed)."""
    opens = sorted(seen)
    times = [seen[ms] for ms in opens]
    print(f"    warm-up: {len(opens)} bars through the strategy {warmup_s:.2f} s after start "
          f"(connect + REST + strategy)")
    last_hour = max((i for i, ms in enumerate(opens) if (ms + 60_000) % HOUR_MS == 0), default=None)
    if last_hour is None or last_hour == len(opens) - 1:
        return
    tail = len(opens) - 1 - last_hour
    tail_s = times[-1] - times[last_hour]
    head_s = times[last_hour] - times[0]
    print(f"    of which: first {last_hour + 1} bars (up to the last complete 1h bar) "
          f"in {head_s:.2f} s; the {tail} bar(s) after it in {tail_s:.2f} s "
          f"({tail_s / tail * 1000:.0f} ms/bar)")


# ------------------------------------------------------------- 2 + 3. memory and idle CPU


def _import_baseline_kib() -> int | None:
    """VmRSS of a fresh interpreter that only imports the live engine (no data, no threads)."""
    code = ("import runners.paper_session, runners.live_paper\n"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')][0])")
    try:
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
        return int(out.stdout.strip())
    except (subprocess.SubprocessError, ValueError):
        return None


def _max_equity_ms(db_path: Path) -> int | None:
    """Newest equity snapshot time: the strategy writes one at each completed 1h signal bar."""
    if not db_path.exists():
        return None
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
        try:
            row = con.execute("SELECT MAX(time_ms) FROM equity_snapshots").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def _wait_equity(db_path: Path, proc, at_least_ms: int, timeout: float) -> float | None:
    began = time.monotonic()
    while time.monotonic() - began < timeout and proc.poll() is None:
        newest = _max_equity_ms(db_path)
        if newest is not None and newest >= at_least_ms:
            return time.monotonic() - began
        time.sleep(0.05)
    return None


def _last_closed_bar_ms(db_path: Path) -> int | None:
    """market_status.last_closed_bar_ms as the engine's status thread wrote it (every 2 s)."""
    if not db_path.exists():
        return None
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
        try:
            row = con.execute("SELECT last_closed_bar_ms FROM market_status WHERE symbol = ?",
                              (SYMBOL,)).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def bench_process(args, results: dict) -> None:
    print(f"\n[2+3] python -m runners.live_paper as a subprocess: {args.sub_history} history bars "
          f"(warm-up), then {args.sub_bars} bars {args.gap_ms:.0f} ms apart, "
          f"then {args.idle_s:.0f} s idle")
    bars = load_klines(DATA).bars()
    server = FakeBinance({SYMBOL: bars}, interval="1m", speed=None,
                         history_bars=args.sub_history).start()
    proc = None
    tmp = Path(tempfile.mkdtemp(prefix="bench_live_proc_"))
    log_file, out_file = tmp / "x.log", tmp / "stdout.txt"
    try:
        with open(ROOT / "config.yaml") as fh:
            raw = yaml.safe_load(fh)
        raw["exchanges"]["binance"]["ws_url"] = server.ws_url
        raw["exchanges"]["binance"]["rest_url"] = server.rest_url
        raw["exchanges"]["binance"]["symbols"] = [SYMBOL]
        db_path = tmp / "bench.db"
        raw["database"]["url"] = f"sqlite:///{db_path}"
        cfg_path = tmp / "bench.yaml"
        with open(cfg_path, "w") as fh:
            yaml.safe_dump(raw, fh)
        warmup_bars = int(raw.get("strategy", {}).get("warmup_bars", 1500))

        env = dict(os.environ, PYTHONPATH=str(ROOT))
        started = time.monotonic()
        with open(out_file, "w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "runners.live_paper", "--config",
                                     str(cfg_path), "--log-file", str(log_file)],
                                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        pid = proc.pid
        if not server.wait_connections(1, timeout=60):
            raise RuntimeError("the live_paper process never connected")
        connect_s = time.monotonic() - started
        # warm-up: warm-up bars are history (no equity snapshots for them); the status thread
        # writes the last delivered bar every 2 s: wait for the last history bar, then a moment
        last_history_open = int(server.open_times_ms[args.sub_history - 1])
        warm_s = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if (_last_closed_bar_ms(db_path) or 0) >= last_history_open:
                warm_s = time.monotonic() - started - connect_s
                break
            time.sleep(0.1)
        if proc.poll() is not None:
            raise RuntimeError(f"live_paper exited early with code {proc.returncode}")
        if warm_s is None:
            raise RuntimeError("the engine did not deliver the end of the warm-up within 180 s")
        time.sleep(1.0)
        rss_after_warmup = proc_kib(proc_status(pid), "VmRSS")
        print(f"    connected {connect_s:.2f} s after spawn; strategy through the warm-up "
              f"({min(warmup_bars, args.sub_history)} bars) "
              f"{connect_s + warm_s:.2f} s after spawn; RSS then {rss_after_warmup / 1024:.1f} MB")

        published = 0
        pub_began = time.monotonic()
        cpu_pub0 = proc_cpu_s(pid)
        while server.published_index < server.total_bars:
            open_ms = int(server.open_times_ms[server.published_index])
            server.publish(1)
            published += 1
            # go on past sub_bars up to a bar closing an hour: its equity snapshot proves the
            # strategy (not only the feed) has every bar
            if published >= args.sub_bars and (open_ms + 60_000) % HOUR_MS == 0:
                break
            time.sleep(args.gap_ms / 1000.0)
        last_ms = int(server.open_times_ms[server.published_index - 1])
        published_s = time.monotonic() - pub_began
        catch_s = _wait_equity(db_path, proc, last_ms + 60_000, timeout=60)
        if proc.poll() is not None:
            raise RuntimeError(f"live_paper exited early with code {proc.returncode}")
        time.sleep(2.5)  # let the status thread write its row (every 2 s)
        delivered = _last_closed_bar_ms(db_path)
        pub_wall = time.monotonic() - pub_began
        pub_cpu = proc_cpu_s(pid) - cpu_pub0
        status = proc_status(pid)
        rss_kib, hwm_kib = proc_kib(status, "VmRSS"), proc_kib(status, "VmHWM")
        threads = status.get("Threads", "?")
        caught = ("strategy caught up " + (f"{catch_s:.2f} s after the last publish" if catch_s
                  is not None else "NOT within 60 s (no equity snapshot for the last hour)"))
        closed = "= last published" if delivered == last_ms else f"{delivered} != {last_ms}"
        print(f"    published {published} bars in {published_s:.1f} s; {caught}; status row "
              f"last closed bar {closed}")
        print(f"    CPU while publishing + catching up: {pub_cpu:.2f} s in {pub_wall:.1f} s "
              f"({pub_cpu / max(published, 1) * 1000:.1f} ms per bar, 3 frames each)")
        print(f"    VmRSS {rss_kib / 1024:.1f} MB, VmHWM (peak) {hwm_kib / 1024:.1f} MB, "
              f"threads {threads}")
        base = _import_baseline_kib()
        if base is not None:
            print(f"    for scale: a fresh interpreter that only imports the engine "
                  f"(runners.paper_session, runners.live_paper) has VmRSS {base / 1024:.1f} MB")
        results["rss"] = {"rss_mb": rss_kib / 1024, "hwm_mb": hwm_kib / 1024}

        # idle: connected, caught up, nothing published
        c0, w0 = proc_cpu_s(pid), time.monotonic()
        samples = []
        next_t = w0
        while time.monotonic() - w0 < args.idle_s:
            next_t += 5.0
            time.sleep(max(0.0, min(next_t, w0 + args.idle_s) - time.monotonic()))
            samples.append(proc_cpu_s(pid))
            if proc.poll() is not None:
                raise RuntimeError(f"live_paper exited during the idle period: {proc.returncode}")
        wall = time.monotonic() - w0
        cpu = proc_cpu_s(pid) - c0
        pct = cpu / wall * 100
        per_window = np.diff([c0] + samples)
        print(f"    idle {wall:.1f} s: CPU {cpu:.3f} s = {pct:.2f} % of one core "
              f"(per 5 s window: {', '.join(f'{x / 5 * 100:.1f}' for x in per_window)} %; "
              f"clock tick {1000 / os.sysconf('SC_CLK_TCK'):.0f} ms)")
        results["idle"] = {"pct": pct}

        # SIGTERM
        t_term = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=TARGET_EXIT_S)
            exit_s = time.monotonic() - t_term
        except subprocess.TimeoutExpired:
            code, exit_s = None, None
        print(f"    SIGTERM: exit code {code}, "
              f"{'did not exit' if exit_s is None else f'exited in {exit_s:.2f} s'}")
        results["exit"] = {"code": code, "seconds": exit_s}
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        server.stop()
        problems = _log_problems(log_file, out_file)
        if problems is not None:
            count, first = problems
            print(f"    subprocess log: {count} WARNING/ERROR/Traceback line(s)")
            for line in first:
                print(f"      {line}")
        if args.keep_logs:
            print(f"    logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _log_problems(log_file: Path, out_file: Path):
    lines = []
    for path in (log_file, out_file):
        if path.exists():
            lines = path.read_text(errors="replace").splitlines()
            if lines:
                break
    if not lines:
        return None
    bad = [line for line in lines
           if " WARNING " in line or " ERROR " in line or " CRITICAL " in line
           or "Traceback" in line]
    if out_file.exists() and log_file.exists():  # a crash before logging was set up only shows here
        extra = [line for line in out_file.read_text(errors="replace").splitlines()
                 if line.startswith(("Traceback", "error:"))]
        bad += [line for line in extra if line not in bad]
    return len(bad), [line[:200] for line in bad[:8]]


# -------------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=400, help="[1] bars measured (>= 300)")
    parser.add_argument("--history-bars", type=int, default=400, help="[1] warm-up history bars")
    parser.add_argument("--gap-ms", type=float, default=20.0, help="pause between bars")
    parser.add_argument("--sub-history", type=int, default=1500, help="[2] history bars")
    parser.add_argument("--sub-bars", type=int, default=300, help="[2] bars published")
    parser.add_argument("--idle-s", type=float, default=30.0, help="[3] idle period")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-process", action="store_true")
    parser.add_argument("--keep-logs", action="store_true", help="keep the subprocess's temp dir")
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        print("error: this benchmark reads /proc (Linux only)", file=sys.stderr)
        return 2

    print(f"bench_live: {DATA.name}, python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), "
          f"switch interval {sys.getswitchinterval() * 1000:.0f} ms")
    results: dict = {}
    why: dict[str, str] = {}
    if not args.skip_latency:
        try:
            bench_latency(args, results)
        except Exception as exc:
            why["latency"] = f"{type(exc).__name__}: {exc}"
            print(f"    could not measure latency: {why['latency']}")
    if not args.skip_process:
        try:
            bench_process(args, results)
        except Exception as exc:
            why["process"] = f"{type(exc).__name__}: {exc}"
            print(f"    could not measure the subprocess: {why['process']}")

    lat, rss, idle, ext = (results.get(k) for k in ("latency", "rss", "idle", "exit"))
    rows = [
        ("latency p99 (frame -> decision)", f"{lat['p99']:.2f} ms (n={lat['n']})" if lat else "-",
         f"< {TARGET_P99_MS:.0f} ms",
         None if not lat else lat["p99"] < TARGET_P99_MS and lat["enough"]),
        ("resident memory (VmRSS)",
         f"{rss['rss_mb']:.1f} MB (peak {rss['hwm_mb']:.1f})" if rss else "-",
         f"< {TARGET_RSS_MB:.0f} MB", None if not rss else rss["rss_mb"] < TARGET_RSS_MB),
        ("idle CPU", f"{idle['pct']:.2f} %" if idle else "-", f"< {TARGET_IDLE_CPU_PCT:.0f} %",
         None if not idle else idle["pct"] < TARGET_IDLE_CPU_PCT),
        ("SIGTERM exit", "-" if not ext else
         f"code {ext['code']}"
         + (f" in {ext['seconds']:.2f} s" if ext["seconds"] is not None else ""),
         f"0 within {TARGET_EXIT_S:.0f} s", None if not ext else ext["code"] == 0),
    ]
    print(f"\n{'measure':34s} {'value':28s} {'target':16s} result")
    for name, value, target, ok in rows:
        print(f"{name:34s} {value:28s} {target:16s} {verdict(ok)}")
    if lat and not lat["enough"]:
        print(f"note: only {lat['n']} bars measured (target needs >= 300)")
    if rss and rss["hwm_mb"] >= TARGET_RSS_MB > rss["rss_mb"]:
        print("note: the peak (VmHWM) is above the target although the current RSS is below")
    for part, reason in why.items():
        print(f"not measured ({part}): {reason}")
    print()
    for name, _value, target, ok in rows:
        print(f"{name} {target}: {verdict(ok)}")
    asked = [not args.skip_latency] + [not args.skip_process] * 3  # one per row, in order
    failed = [name for (name, _value, _target, ok), wanted in zip(rows, asked, strict=True)
              if wanted and not ok]  # missed, or asked for and not measured
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
