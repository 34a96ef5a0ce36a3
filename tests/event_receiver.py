"""A webhook on 127.0.0.1 that records CloudEvents batches, for event tests."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """A webhook that records each POST and answers `statuses` in turn, then `default`.

    With `hold`, every answer waits until `release()` (or 5 s).
    """

    def __init__(self, statuses=(), default=200, hold=False):
        self.requests = []
        self.arrived = threading.Event()
        self._gate = threading.Event()
        if not hold:
            self._gate.set()
        statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.headers, json.loads(body)))  # case-insensitive
                receiver.arrived.set()
                receiver._gate.wait(5)
                self.send_response(statuses.pop(0) if statuses else default)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/runtime/webhooks/eventgrid"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def release(self):
        self._gate.set()

    def batches(self):
        return [body for _, body in self.requests]

    def close(self):
        self._gate.set()
        self._server.shutdown()
        self._server.server_close()
