"""runners.download against FakeBinance serving a slice of the bundled 1h history."""

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from fake_exchange import FakeBinance
from klines import load_klines
from runners import download

ROOT = Path(__file__).resolve().parent.parent
HOURLY = ROOT / "data" / "BTCUSDT_spot_1h_2017-08-17_2023-12-31.csv.gz"
START, END = "2020-02-01", "2020-06-01"  # 2,895 bars with 7 gaps: three pages of 1000


@pytest.fixture(scope="module")
def source_lines() -> list[str]:
    """The bundled file's own text lines for [START, END)."""
    with gzip.open(HOURLY, "rt") as fh:
        return [line for line in fh if START <= line[:10] < END]


@pytest.fixture(scope="module")
def source_bars():
    return load_klines(HOURLY, start=START, end=END).bars()


@pytest.fixture
def server(source_bars):
    # all bars but the last are closed; the last one is forming at the server clock
    with FakeBinance({"BTCUSDT": source_bars}, "1h", history_bars=len(source_bars) - 1) as fake:
        yield fake


def read_lines(path: Path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as fh:
        return fh.readlines()


def run(server, out, *args) -> int:
    return download.main(["--symbol", "BTCUSDT", "--timeframe", "1h", "--out", str(out),
                          "--rest-url", server.rest_url, "--quiet", *map(str, args)])


def klines_calls(server) -> list[str]:
    return [path for path in server.rest_requests if path.startswith("/api/v3/klines")]


@pytest.mark.parametrize("name", ["BTCUSDT_spot_1h.csv.gz", "BTCUSDT_spot_1h.csv"])
def test_download_matches_the_source_row_by_row(server, source_lines, tmp_path, name):
    out = tmp_path / name
    assert run(server, out, "--from", START) == 0
    lines = read_lines(out)
    assert lines[0] == "timestamp,open,high,low,close,volume\n"
    assert lines[1:] == source_lines[:-1]  # the forming last bar is not written
    assert len(klines_calls(server)) == 3
    assert load_klines(out).timeframe == "1h"
    assert not list(tmp_path.glob(".*.part"))


def test_resume_appends_exactly_the_missing_bars(server, source_lines, source_bars, tmp_path):
    out = tmp_path / "BTCUSDT_spot_1h.csv.gz"
    assert run(server, out, "--from", START, "--to", "2020-03-01") == 0
    first = read_lines(out)
    assert first[-1].startswith("2020-02-29T23:00:00Z")
    first_bytes = out.read_bytes()
    server.rest_requests.clear()

    server.publish(1)  # the last bar closes
    assert run(server, out) == 0
    assert read_lines(out)[1:] == source_lines  # every bar once, in order, the new last one too
    assert out.read_bytes().startswith(first_bytes)  # earlier rows never rewritten
    # the resume starts one interval after the last bar: 2020-02-29T23:00Z + 1h
    assert klines_calls(server)[0].endswith("startTime=1583020800000")

    server.rest_requests.clear()
    before = out.read_bytes()
    assert run(server, out) == 0  # nothing new: file untouched
    assert out.read_bytes() == before


def test_interrupted_run_keeps_whole_pages_and_resumes(server, source_lines, tmp_path, monkeypatch):
    out = tmp_path / "BTCUSDT_spot_1h.csv.gz"
    real = download.format_rows
    calls = []

    def interrupt_second_page(bars):
        calls.append(len(bars))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(bars)

    monkeypatch.setattr(download, "format_rows", interrupt_second_page)
    assert run(server, out, "--from", START) == 130      # Ctrl-C: 130, as in every runner
    assert read_lines(out)[1:] == source_lines[:1000]  # one whole page, file valid
    assert len(load_klines(out).frame) == 1000
    assert not list(tmp_path.glob(".*.part"))

    monkeypatch.setattr(download, "format_rows", real)
    assert run(server, out, "--from", START) == 0
    assert read_lines(out)[1:] == source_lines[:-1]


def test_killed_run_leaves_the_old_file_and_a_stray_temp_is_ignored(server, source_lines, tmp_path):
    out = tmp_path / "BTCUSDT_spot_1h.csv"
    assert run(server, out, "--from", START, "--to", "2020-02-02") == 0
    stray = tmp_path / f".{out.name}.dead.part"  # what a killed run leaves behind
    stray.mkdir()
    (stray / out.name).write_text("timestamp,open\ngarbage")
    assert run(server, out) == 0
    assert read_lines(out)[1:] == source_lines[:-1]


def test_rate_limit_during_download_is_retried(server, source_lines, tmp_path):
    out = tmp_path / "BTCUSDT_spot_1h.csv"
    server.fail_rest(429, count=1, retry_after=0)
    assert run(server, out, "--from", START, "--to", "2020-02-03") == 0
    assert read_lines(out)[1:] == source_lines[:48]


def test_bad_symbol_exits_2_with_one_line(server, tmp_path, capsys):
    out = tmp_path / "XRPUSDT_spot_1h.csv"
    code = download.main(["--symbol", "XRPUSDT", "--timeframe", "1h", "--from", START,
                          "--out", str(out), "--rest-url", server.rest_url])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [f"error: unknown symbol XRPUSDT on {server.rest_url}"]
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--out", "BTCUSDT_1h.txt", "--from", START], "must end in .csv or .csv.gz"),
    (["--out", "/proc/no/such/x.csv", "--from", START], "cannot create folder"),
    (["--out", "x.csv", "--from", START, "--rest-url", "notaurl"], "--rest-url 'notaurl'"),
    (["--out", "x.csv", "--from", START, "--rest-url", "ftp://h"], "must start with http://"),
    (["--out", "new.csv"], "give --from"),
    (["--out", "new.csv", "--from", END, "--to", START], "is not before"),
])
def test_bad_input_exits_2(server, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    code = download.main(["--symbol", "BTCUSDT", "--timeframe", "1h", "--rest-url", server.rest_url,
                          *args])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]


def test_output_folder_is_created(server, source_lines, tmp_path):
    out = tmp_path / "new" / "folder" / "BTCUSDT_spot_1h.csv"
    assert run(server, out, "--from", START, "--to", "2020-02-02") == 0
    assert read_lines(out)[1:] == source_lines[:24]


def test_bad_rest_url_is_one_line_and_exit_2_from_the_command_line(tmp_path):
    """A new user's typo: one line, exit 2, no traceback (before the fix: a traceback, exit 1)."""
    proc = subprocess.run([sys.executable, "-m", "runners.download", "--symbol", "BTCUSDT",
                           "--timeframe", "1h", "--from", START, "--out", str(tmp_path / "x.csv"),
                           "--rest-url", "notaurl"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --rest-url 'notaurl': must start with http:// or https:// followed by a host, "
        "e.g. https://api.binance.com"]


def test_existing_file_of_another_timeframe_is_refused(server, tmp_path, capsys):
    out = tmp_path / "BTCUSDT_spot_1m.csv"
    out.write_text("timestamp,open,high,low,close,volume\n"
                   "2020-02-01T00:00:00Z,1.0,2.0,0.5,1.5,3.0\n2020-02-01T00:01:00Z,1.0,2.0,0.5,1.5,3.0\n")
    before = out.read_bytes()
    assert download.main(["--symbol", "BTCUSDT", "--timeframe", "1h", "--out", str(out),
                          "--rest-url", server.rest_url]) == 2
    assert "holds 1m bars, not 1h" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_rest_url_comes_from_the_config(server, source_lines, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(f"exchanges:\n  binance:\n    rest_url: {server.rest_url}\n")
    out = tmp_path / "BTCUSDT_spot_1h.csv"
    assert download.main(["--symbol", "btcusdt", "--timeframe", "1h", "--from", START, "--to",
                          "2020-02-02", "--out", str(out), "--config", str(config), "--quiet"]) == 0
    assert read_lines(out)[1:] == source_lines[:24]


def test_cli_entry_point_help_and_bad_timeframe():
    env_cmd = [sys.executable, "-m", "runners.download"]
    ok = subprocess.run([*env_cmd, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "exit codes" in ok.stdout
    bad = subprocess.run([*env_cmd, "--symbol", "BTCUSDT", "--timeframe", "7m", "--out", "x.csv"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown timeframe '7m'" in bad.stderr
