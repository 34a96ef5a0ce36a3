"""The Dask scheduler pod's own command, run here: its probes' /health answers, and its dashboard is served.

A probe pointed at a path the scheduler does not serve would restart a healthy scheduler
forever; a dashboard port without bokeh answers 404s. Both are checked against the real
`dask scheduler` the manifest starts, on free ports.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from control_plane.k8s import manifests as m
from tests.services import free_ports

START_TIMEOUT_S = 60.0


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_the_scheduler_serves_its_probes_path_and_the_dashboard(tmp_path) -> None:
    container = m.dask_scheduler_deployment("modelops-dev", "img", environment="dev")["spec"]["template"]["spec"][
        "containers"][0]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    scheduler_port, dashboard_port = free_ports(2)
    args = [a.replace(str(ports["scheduler"]), str(scheduler_port)).replace(str(ports["dashboard"]), str(dashboard_port))
            for a in container["args"]]
    assert args[:2] == ["dask", "scheduler"]
    dask = Path(sys.executable).with_name("dask")
    log = (tmp_path / "scheduler.log").open("w")
    process = subprocess.Popen([str(dask), *args[1:], "--host", "127.0.0.1"], stdout=log, stderr=subprocess.STDOUT)
    try:
        for probe in ("readinessProbe", "livenessProbe"):
            assert ports[container[probe]["httpGet"]["port"]] == ports["dashboard"]
        path = container["readinessProbe"]["httpGet"]["path"]
        deadline, status = time.monotonic() + START_TIMEOUT_S, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status, body = _get(f"http://127.0.0.1:{dashboard_port}{path}")
                break
            except OSError:
                time.sleep(0.2)
        assert (status, body) == (200, "ok"), (tmp_path / "scheduler.log").read_text()
        status, page = _get(f"http://127.0.0.1:{dashboard_port}/status")
        assert status == 200 and "bokeh" in page.lower(), "the dashboard needs bokeh installed beside distributed"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
