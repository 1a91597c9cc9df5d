"""The same sweep on a real Dask cluster: a ``dask scheduler`` and two ``dask worker`` processes
started here on 127.0.0.1, reached through ``--scheduler``, give the in-process results task by
task, bit for bit."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.research_helpers import ETH_1H, ROOT, column, run_research, table, write_spec

DASK = Path(sys.executable).parent / "dask"
SPEC = {
    "data": [str(ETH_1H)],
    "windows": [{"from": "2023-01-01", "to": "2023-04-01"}, {"from": "2023-04-01",
                                                               "to": "2023-07-01"}],
    # Two SMC settings x two risk settings: the risk variants share one detection each.
    "params": {"smc.swing_lookback": [3, 5], "risk_manager.take_profit_ratio": [2.0, 3.0],
               "smc.htf_swing_lookback": [4, 20]},
    "objective": {"metric": "sharpe", "min_trades": 3},
    "walk_forward": {"train_months": 3, "test_months": 3, "from": "2023-01-01"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not DASK.exists():
        pytest.skip(f"no dask command next to {sys.executable}")
    logs = tmp_path_factory.mktemp("cluster")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    local = ["--host", "127.0.0.1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
    procs = []
    try:
        with open(logs / "scheduler.log", "w") as log:
            procs.append(subprocess.Popen([DASK, "scheduler", "--port", str(port), *local],
                                          env=env, stdout=log, stderr=subprocess.STDOUT))
        wait_for_port(port)
        for i in range(2):
            with open(logs / f"worker{i}.log", "w") as log:
                procs.append(subprocess.Popen(
                    [DASK, "worker", address, "--nworkers", "1", "--nthreads", "1",
                     "--name", f"worker-{i}", *local], env=env, stdout=log,
                    stderr=subprocess.STDOUT))
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=90)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return write_spec(tmp_path_factory.mktemp("spec"), SPEC)


def test_sweep_on_the_cluster_equals_the_in_process_run(cluster, spec, tmp_path):
    remote = run_research("sweep", spec, "--scheduler", cluster, "--results",
                          tmp_path / "remote.sqlite", "--json", tmp_path / "remote.json")
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout.startswith(f"16 task(s) run on {cluster} (2 workers)")
    local = run_research("sweep", spec, "--in-process", "--results", tmp_path / "local.sqlite",
                         "--json", tmp_path / "local.json", "--quiet")
    assert local.returncode == 0, local.stderr
    remote_rows, local_rows = table(tmp_path / "remote.sqlite"), table(tmp_path / "local.sqlite")
    assert len(remote_rows) == 16 and sorted(remote_rows) == sorted(local_rows)
    for task_id, row in local_rows.items():
        assert remote_rows[task_id] == row, task_id  # every column, every byte
    assert len(column(tmp_path / "local.sqlite",
                      "SELECT 1 FROM results WHERE status = 'ok'")) == 12
    assert (json.loads((tmp_path / "remote.json").read_text())
            == json.loads((tmp_path / "local.json").read_text()))
    assert "16/16 tasks, 4 failed" in remote.stderr
    from distributed import Client

    with Client(cluster, timeout=30) as client:  # both workers ran tasks
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert len(executed) == 2 and min(executed.values()) > 0, executed


def test_walk_forward_on_the_cluster_equals_the_in_process_run(cluster, spec, tmp_path):
    remote = run_research("walk-forward", spec, "--scheduler", cluster, "--results",
                          tmp_path / "remote.sqlite", "--json", tmp_path / "remote.json",
                          "--quiet")
    assert remote.returncode == 0, remote.stderr
    local = run_research("walk-forward", spec, "--in-process", "--results",
                         tmp_path / "local.sqlite", "--json", tmp_path / "local.json", "--quiet")
    assert local.returncode == 0, local.stderr
    assert table(tmp_path / "remote.sqlite") == table(tmp_path / "local.sqlite")
    assert (json.loads((tmp_path / "remote.json").read_text())
            == json.loads((tmp_path / "local.json").read_text()))


def test_an_address_without_a_scheme_is_one_line(spec, tmp_path):
    proc = run_research("sweep", spec, "--scheduler", "127.0.0.1:8786", "--results",
                        tmp_path / "r.sqlite")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: --scheduler 127.0.0.1:8786: expected an address like "
                                   "tcp://HOST:8786")


def test_no_scheduler_at_the_address_is_one_line(spec, tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    proc = run_research("sweep", spec, "--scheduler", address, "--results", tmp_path / "r.sqlite")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: --scheduler {address}: no Dask "
                                                   f"scheduler answered within 10 s")
