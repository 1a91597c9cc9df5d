"""The status page as a user runs it: ``python -m runners.status_page`` (waitress, a subprocess)
on a free 127.0.0.1 port over a replay-filled database, hit over real HTTP; its refusals at
start; and a real headless Chromium (Debian's ``chromium`` and ``/usr/bin/chromedriver``, driven
by selenium) reading the page: the banner, a position row, the equity chart and the price chart
with its zones. Without Chromium the browser test is skipped with the reason, except under CI
(``CI=true``), where it must run."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.status_page_support import BUSY_YAML, WEEK_1M, env, run_replay

TOKEN = "server-test-token-0123456789abcdef"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(folder: Path, port: int, host: str = "127.0.0.1", extra: str = "") -> Path:
    path = folder / f"status-{port}.yaml"
    path.write_text(f"status_page:\n  host: {host}\n  port: {port}\n  refresh_seconds: 2\n{extra}")
    return path


class Server:
    """``python -m runners.status_page`` in a subprocess, until ``stop()``."""

    def __init__(self, folder: Path, db: Path, **environ):
        self.port = free_port()
        config = write_config(folder, self.port)
        self.log_path = folder / f"server-{self.port}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 - open for the server's lifetime
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runners.status_page", "--config", str(config), "--db",
             f"sqlite:///{db}"], cwd=folder, env=env(**environ), stdout=self.log,
            stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the server did not start: {self.output()}") from None
                time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, path, method="GET", headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def stop(self) -> int:
        """SIGTERM, then the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        self.log.close()
        return code


@pytest.fixture(scope="module")
def replay_db(tmp_path_factory):
    return run_replay(tmp_path_factory.mktemp("server-replay"))


@pytest.fixture(scope="module")
def server(replay_db, tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("server"), replay_db)
    yield srv
    assert srv.stop() == 0, srv.log_path.read_text()


def test_real_server_answers_over_http(server):
    status, headers, body = server.request("/api/health")
    assert status == 503 and json.loads(body)["engine"]["run_status"] == "stopped"
    status, headers, body = server.request("/api/account")
    account = json.loads(body)
    assert status == 200 and account["mode"] == "REPLAY" and account["open_positions"] == 1
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"
    status, _, body = server.request("/api/trades?limit=2")
    assert status == 200 and len(json.loads(body)["trades"]) == 2
    status, headers, page = server.request("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"<strong>REPLAY</strong>" in page


def test_real_server_refuses_writes_bad_hosts_and_bad_values(server):
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        status, _, body = server.request("/api/account", method=method)
        assert status == 405 and "read-only" in json.loads(body)["error"]
    status, _, body = server.request("/api/account", headers={"Host": "rebind.evil.example"})
    assert status == 400 and "Host header not allowed" in json.loads(body)["error"]
    status, _, body = server.request("/api/trades?offset=-1")
    assert status == 400 and json.loads(body)["error"].startswith("offset: ")
    status, _, body = server.request("/no/such/path")
    assert status == 404 and "error" in json.loads(body)


def test_health_follows_a_running_engine_from_fresh_install_to_stopped(tmp_path):
    """The page started before the engine's first run (no database yet), then a replay running
    (heartbeat fresh, feed LIVE: 200), then the replay done (503, engine not running)."""
    db = tmp_path / "state" / "paper.db"
    srv = Server(tmp_path, db)
    try:
        status, _, body = srv.request("/api/health")
        assert status == 503 and "no database yet" in json.loads(body)["reasons"][0]
        assert b"no trades yet" in srv.request("/")[2].lower()
        (tmp_path / "busy.yaml").write_text(BUSY_YAML)
        engine = subprocess.Popen(
            [sys.executable, "-m", "runners.live_paper", "--config", str(tmp_path / "busy.yaml"),
             "--replay", str(WEEK_1M), "--history-bars", "9000", "--speed", "40", "--db",
             f"sqlite:///{db}", "--log-file", str(tmp_path / "engine.log")], cwd=tmp_path,
            env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            seen = []
            deadline = time.monotonic() + 240
            while engine.poll() is None and time.monotonic() < deadline:
                status, _, body = srv.request("/api/health")
                seen.append((status, json.loads(body)))
                if status == 200:
                    break
                time.sleep(0.5)
            assert seen[-1][0] == 200, seen[-3:]
            assert seen[-1][1]["engine"]["running"] and seen[-1][1]["feeds"][0]["status"] == "LIVE"
            assert json.loads(srv.request("/api/account")[2])["mode"] == "REPLAY"
            assert engine.wait(timeout=240) == 0
        finally:
            if engine.poll() is None:
                engine.kill()
        status, _, body = srv.request("/api/health")
        health = json.loads(body)
        assert status == 503 and health["engine"]["run_status"] == "stopped"
        assert health["reasons"][0].startswith("the engine is not running")
    finally:
        srv.stop()


def test_server_with_a_token(replay_db, tmp_path):
    srv = Server(tmp_path, replay_db, SMC_STATUS_TOKEN=TOKEN)
    try:
        assert srv.request("/api/account")[0] == 401
        status, _, body = srv.request("/api/account", headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and TOKEN.encode() not in body
        status, _, body = srv.request("/api/health")
        assert status == 503 and json.loads(body) == {"status": "unavailable"}
    finally:
        code = srv.stop()
    output = srv.log_path.read_text()
    assert code == 0 and "bearer token required, from $SMC_STATUS_TOKEN" in output
    assert TOKEN not in output


def test_non_loopback_without_a_token_refuses_to_start(tmp_path):
    config = write_config(tmp_path, free_port(), host="0.0.0.0")
    clean = {k: v for k, v in env().items() if k != "SMC_STATUS_TOKEN"}
    proc = subprocess.run([sys.executable, "-m", "runners.status_page", "--config", str(config)],
                          cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "0.0.0.0 is not a loopback address" in lines[0]
    assert "SMC_STATUS_TOKEN" in lines[0] and "Traceback" not in proc.stderr


def test_bad_db_and_busy_port_are_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "runners.status_page", "--db", "postgres://x"],
                          cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "--db: only SQLite is supported" in proc.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = write_config(tmp_path, taken.getsockname()[1])
        proc = subprocess.run([sys.executable, "-m", "runners.status_page", "--config",
                               str(config)], cwd=tmp_path, env=env(), capture_output=True,
                              text=True, timeout=60)
    assert proc.returncode == 2 and "cannot listen there" in proc.stderr
    assert proc.stderr.count("\n") == 1
    proc = subprocess.run([sys.executable, "-m", "runners.status_page", "--threads", "0"],
                          cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr == (
        "error: argument --threads: must be a whole number from 1 to 32, got '0' (see --help)\n")


# ----------------------------------------------------------------- a real browser

def _browser_or_skip():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        reason = (f"{' and '.join(missing)} not installed (apt-get install chromium "
                  f"chromium-driver)")
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser test must run under CI: {reason}")
        pytest.skip(reason)


@pytest.fixture()
def browser(tmp_path):
    _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1100,2400",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_browser_shows_banner_position_and_charts(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.url + "/")
    banner = browser.find_element(By.ID, "mode-banner")
    assert banner.text.startswith("REPLAY") and "mode-replay" in banner.get_attribute("class")
    assert banner.value_of_css_property("background-color") == "rgba(91, 110, 225, 1)"
    rows = browser.find_elements(By.CSS_SELECTOR, "#positions tr.position-row.open")
    assert len(rows) == 1 and rows[0].text.startswith("BTCUSDT long")
    equity = browser.find_element(By.CSS_SELECTOR, "#equity-chart svg polyline.line")
    assert len(equity.get_attribute("points").split()) > 100
    chart = browser.find_element(By.CSS_SELECTOR, "#price-BTCUSDT svg.price-chart")
    assert chart.size["width"] > 300 and chart.size["height"] > 100
    assert len(chart.find_elements(By.CSS_SELECTOR, "g.candle")) == 120
    assert chart.find_elements(By.CSS_SELECTOR, "rect.ob")
    assert chart.find_elements(By.CSS_SELECTOR, "rect.fvg")
    assert chart.find_elements(By.CSS_SELECTOR, "g.sl") and chart.find_elements(
        By.CSS_SELECTOR, "g.tp")
    ob_fill = chart.find_element(By.CSS_SELECTOR, "rect.ob").value_of_css_property("fill-opacity")
    assert float(ob_fill) < 0.5                      # the style sheet loaded: shaded, not solid
    # The script (no inline script: the CSP holds) refreshes the live part in place.
    marker = browser.execute_script(
        "document.getElementById('account').setAttribute('data-old', '1'); return 1")
    assert marker == 1
    WebDriverWait(browser, 20).until(
        lambda d: "updated" in d.find_element(By.ID, "refresh-state").text)
    assert browser.find_element(By.ID, "account").get_attribute("data-old") is None
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    shot = tmp_path / "status-page.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
