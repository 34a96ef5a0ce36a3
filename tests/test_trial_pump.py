"""The trial pump's own port: who it serves, what a call and an answer look like, and when its lanes close."""

import asyncio
import pickle
import socket
import threading
import time

import dask
import pytest
from distributed import Client, LocalCluster

from modelops.spec import parse_spec, preflight
from modelops_contracts import SimTask, UniqueParameterSet
from runner import trial_pump
from runner.dispatch import Dispatcher
from runner.trial_pump import HEADER, METHODS, OK, RAISED, tune
from tests.documents import quadratic_doc, write_curve
from tests.runner_processes import wait_until


@pytest.fixture
def pump(tmp_path):
    """(host, port, token) of a one-thread pump on an in-process worker."""
    write_curve(tmp_path)
    spec = parse_spec(quadratic_doc())
    targets = {name: t.model_dump() | {"output": spec.target_output(name)} for name, t in spec.targets.items()}
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield next(iter(client.run(trial_pump.start, preflight(spec, tmp_path), targets, None, 1).values()))


def lane(host: str, port: int, token: bytes) -> socket.socket:
    connection = socket.create_connection((host, port), timeout=60)
    connection.sendall(token)
    return connection


def call(connection: socket.socket, method: str, payload) -> tuple[int, object]:
    body = pickle.dumps(payload)
    connection.sendall(HEADER.pack(METHODS.index(method), len(body)) + body)
    stream = connection.makefile("rb")
    status, size = HEADER.unpack(stream.read(HEADER.size))
    return status, pickle.loads(stream.read(size))


def trial(x: float) -> list[SimTask]:
    pset = UniqueParameterSet.from_dict({"x": x, "y": 0.0})
    return [SimTask("installed", "tests.models:quadratic", pset, seed, outputs=("curve",)) for seed in (1, 2)]


def test_a_connection_without_the_token_is_closed_and_takes_no_lane(pump):
    host, port, token = pump
    stranger = lane(host, port, bytes(len(token)))
    assert stranger.recv(1) == b""  # closed on it
    status, outcomes = call(lane(host, port, token), "run_trials", [trial(1.0)])
    assert status == OK and [o["status"] for o in outcomes] == ["completed"]


def test_a_method_that_raises_answers_with_the_exception_and_the_lane_serves_on(pump):
    host, port, token = pump
    connection = lane(host, port, token)
    status, error = call(connection, "simulate_group", "not a list of tasks")
    assert status == RAISED and isinstance(error, Exception)
    status, replicates = call(connection, "simulate_group", trial(1.0))
    assert status == OK and len(replicates) == 2


def test_the_pump_serves_as_many_lanes_as_its_worker_has_threads(pump):
    host, port, token = pump
    assert call(lane(host, port, token), "run_trials", [trial(1.0)])[0] == OK
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # it stops listening once its one lane is taken
        try:
            lane(host, port, token).close()
        except ConnectionRefusedError:
            return
        time.sleep(0.01)
    pytest.fail("the pump still takes connections after its last lane")


def test_a_pump_lives_as_long_as_its_lanes():
    """Its thread ends when the runner closes the lane (or its process goes), and a pump whose runner never
    connects stops listening after ACCEPT_SECONDS."""
    earlier = set(threading.enumerate())  # other tests' lanes may still be ending
    pumps = lambda: [t for t in threading.enumerate() if t.name.startswith("trial-pump") and t not in earlier]  # noqa: E731
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client, pytest.MonkeyPatch.context() as patch:
            patch.setattr(trial_pump, "ACCEPT_SECONDS", 3.0)  # long enough to see both threads on a busy machine
            (host, port, token), = client.run(trial_pump.start, {}, {}, None, 2).values()
            connection = lane(host, port, token)
            wait_until(lambda: len(pumps()) == 2, 60, 0.01, what="the lane's thread and the listener's")
            wait_until(lambda: len(pumps()) == 1, 60, what="the listener to stop, its second lane unused")
            with pytest.raises(ConnectionRefusedError):
                lane(host, port, token)
            connection.close()
            wait_until(lambda: not pumps(), 60, what="the lane's thread to end")


def test_a_lane_notices_a_vanished_peer_within_dasks_tcp_timeout():
    """No FIN comes from a machine that vanished: keepalive probes (while idle) and a timeout on unacknowledged
    data end the connection within `distributed.comm.timeouts.tcp`, as for Dask's own comms."""
    with socket.create_server(("127.0.0.1", 0)) as listener, dask.config.set({"distributed.comm.timeouts.tcp": "40s"}):
        with socket.create_connection(listener.getsockname()) as connection:
            tune(connection)
            option = lambda name: connection.getsockopt(socket.IPPROTO_TCP, getattr(socket, name))  # noqa: E731
            assert connection.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) and option("TCP_NODELAY")
            idle, interval, probes = option("TCP_KEEPIDLE"), option("TCP_KEEPINTVL"), option("TCP_KEEPCNT")
            assert idle + interval * probes <= 40 and option("TCP_USER_TIMEOUT") == 40_000


START = trial_pump.start
ASKED, ANSWER, STARTED = threading.Event(), threading.Event(), threading.Event()  # Client.run pickles by name


async def slow_start(*args, dask_worker):
    """`trial_pump.start`, once ANSWER is set."""
    ASKED.set()
    while not ANSWER.is_set():
        await asyncio.sleep(0.01)
    try:
        return START(*args, dask_worker=dask_worker)
    finally:
        STARTED.set()


def test_a_dispatcher_closed_while_its_pump_starts_leaves_no_lane_open(monkeypatch):
    """Closing must also stop a pump still starting, or it connects lanes that nobody closes (a thread each)."""
    for event in (ASKED, ANSWER, STARTED):
        event.clear()
    monkeypatch.setattr(trial_pump, "start", slow_start)
    monkeypatch.setattr(trial_pump, "ACCEPT_SECONDS", 0.5)
    earlier = set(threading.enumerate())  # other tests' lanes may still be ending
    threads = lambda name: [t for t in threading.enumerate() if t.name == name and t not in earlier]  # noqa: E731
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            dispatcher = Dispatcher(client, {}, {}, None, lambda *done: None)
            assert ASKED.wait(60)
            dispatcher.close()
            ANSWER.set()
            assert STARTED.wait(60)
            wait_until(lambda: not threads("trial-pump-accept"), 60, 0.01, what="its listener to stop")
            assert not threads("trial-pump")
