"""The report in a real browser (Debian's headless Chromium, driven over the DevTools protocol).

Every figure must load (naturalWidth > 0), the page must log no console error
or exception, and a screenshot is kept for a person to look at.
"""

import base64
import json
import shutil
import subprocess
import time
import urllib.request

import pytest
import websocket

from modelops import calibrate
from tests.documents import quadratic_doc, write_curve
from tests.services import service_unavailable, stop_process

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--window-size=1200,900"]  # fmt: skip
START_TIMEOUT_S = 60.0


class DevTools:
    """One page target over a websocket: commands by id, events collected as they come."""

    def __init__(self, ws_url: str):
        self.ws = websocket.create_connection(ws_url, timeout=START_TIMEOUT_S, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message["result"]
            self.events.append(message)

    def wait_for(self, method: str, deadline: float) -> dict:
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(f"no {method} event")


@pytest.fixture
def chromium(tmp_path):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        service_unavailable("chromium is not installed (make services-deps installs it)")
    profile = tmp_path / "profile"
    proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (port_file.is_file() and port_file.read_text().strip()):
            assert proc.poll() is None, f"chromium exited with {proc.returncode}"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as answer:
            page = next(t for t in json.load(answer) if t["type"] == "page")
        devtools = DevTools(page["webSocketDebuggerUrl"])
        yield devtools
        devtools.ws.close()
    finally:
        stop_process(proc, timeout=30)


@pytest.fixture
def report(tmp_path):
    write_curve(tmp_path)
    doc = quadratic_doc(budget={"trials": 12})
    doc["targets"]["curve"]["data"] = str(tmp_path / "curve.csv")
    return calibrate(doc, workers=1, results=tmp_path / "results", progress=False).report()


def test_the_report_renders_in_chromium_with_every_figure_and_no_console_error(chromium, report, tmp_path):
    for domain in ("Page", "Runtime", "Log"):
        chromium.send(f"{domain}.enable")
    chromium.send("Page.navigate", url=report.as_uri())
    chromium.wait_for("Page.loadEventFired", time.monotonic() + START_TIMEOUT_S)
    images = chromium.send(
        "Runtime.evaluate",
        expression="JSON.stringify(Array.from(document.images, i => [i.alt, i.complete, i.naturalWidth]))",
        returnByValue=True,
    )["result"]["value"]
    images = json.loads(images)
    assert len(images) == 5 and all(complete and width > 0 for _, complete, width in images), images
    errors = [e for e in chromium.events
              if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]  # fmt: skip
    assert errors == []
    shot = chromium.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    (report.parent / "screenshot.png").write_bytes(png)
