"""The dispatcher's lanes: which calls wait on a busy worker, which wait in the runner, and what a lost worker costs."""

import queue

import pytest
from distributed import Client, LocalCluster

from modelops.spec import parse_spec, preflight
from modelops_contracts import SimTask, UniqueParameterSet
from runner import dispatch
from runner.cluster import local_client
from runner.dispatch import Dispatcher
from tests.documents import quadratic_doc, write_curve
from tests.runner_processes import wait_until


def dispatcher_for(client, folder) -> tuple[Dispatcher, queue.SimpleQueue]:
    write_curve(folder)
    spec = parse_spec(quadratic_doc())
    targets = {name: t.model_dump() | {"output": spec.target_output(name)} for name, t in spec.targets.items()}
    ended: queue.SimpleQueue = queue.SimpleQueue()
    return Dispatcher(client, preflight(spec, folder), targets, None, lambda *done: ended.put(done)), ended


def trial(x: float, entrypoint: str) -> list[SimTask]:
    pset = UniqueParameterSet.from_dict({"x": x, "y": 0.0})
    return [SimTask("installed", entrypoint, pset, seed, outputs=("curve",)) for seed in (1, 2)]


def test_a_call_waiting_behind_one_that_kills_its_worker_is_not_failed_and_runs_on_the_restarted_worker(tmp_path):
    """On a lane only the first unanswered call runs: the one behind it never started, so it is not its fault."""
    with local_client(1) as client:
        dispatcher, ended = dispatcher_for(client, tmp_path)
        try:
            poison = dispatcher.run([trial(1.0, "tests.models:kills_its_worker_at_one")], split=2, trial_seconds=0.1)
            behind = dispatcher.run([trial(0.0, "tests.models:kills_its_worker_at_one")], split=2, trial_seconds=0.1)
            results = dict(ended.get(timeout=120) for _ in range(2))
        finally:
            dispatcher.close()
    assert isinstance(results[poison], BaseException)
    assert [outcome["status"] for outcome in results[behind]] == ["completed"]


BLOCKED = "tests.models:waits_for_release"  # at x == 1 it runs until `release` exists


@pytest.fixture
def one_thread(tmp_path, monkeypatch):
    """(cluster, client, dispatcher, ended, release) on one in-process single-thread worker, surveyed often."""
    monkeypatch.setattr(dispatch, "SURVEY_SECONDS", 0.05)
    release = tmp_path / "release"
    monkeypatch.setenv("MODELOPS_TEST_RELEASE", str(release))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            dispatcher, ended = dispatcher_for(client, tmp_path)
            try:
                yield cluster, client, dispatcher, ended, release
            finally:
                release.touch()
                dispatcher.close()


@pytest.mark.parametrize("may_queue", [True, False])
def test_only_a_short_call_waits_on_a_busy_worker_a_long_one_takes_the_next_free_worker(one_thread, may_queue):
    cluster, _, dispatcher, ended, release = one_thread
    seconds = dispatch.QUEUE_SECONDS if may_queue else 2 * dispatch.QUEUE_SECONDS  # a whole trial is one call
    running = dispatcher.run([trial(1.0, BLOCKED)], split=2)  # runs until released
    second = dispatcher.run([trial(0.0, BLOCKED)], split=2, trial_seconds=seconds)
    cluster.scale(2)  # a worker joins while the first call runs
    if may_queue:  # the second waits on the first worker's lane; the new worker takes a third
        third = dispatcher.run([trial(2.0, BLOCKED)], split=2)
        assert ended.get(timeout=60)[0] is third and ended.empty()
        release.touch()
        order = [ended.get(timeout=60)[0] for _ in range(2)]
        assert order == [running, second]
    else:  # the second waits here for a free thread: the new worker's
        assert ended.get(timeout=60)[0] is second
        release.touch()
        assert ended.get(timeout=60)[0] is running


def test_a_lane_that_closes_under_a_running_call_fails_it_and_the_worker_gets_a_new_pump(one_thread):
    """The worker lives on but a lane of its pump closed (not by the runner): the call running there fails once
    (counted against its trial, as for a dead worker), and the next survey starts a new pump there."""
    _, client, dispatcher, ended, release = one_thread
    lanes = lambda: [lane for pump in dispatcher._pumps.values() for lane in pump.lanes]  # noqa: E731
    running = dispatcher.run([trial(1.0, BLOCKED)], split=2)  # runs until released
    wait_until(lambda: any(lane.calls for lane in lanes()), 60, 0.01, what="the call on a lane")
    closed = lanes()
    client.loop.add_callback(closed[0].transport.close)
    job, error = ended.get(timeout=60)
    assert job is running and isinstance(error, ConnectionError)
    release.touch()
    again = dispatcher.run([trial(2.0, BLOCKED)], split=2)
    job, outcomes = ended.get(timeout=60)
    assert job is again and [o["status"] for o in outcomes] == ["completed"]
    assert not set(lanes()) & set(closed)


def test_a_fault_in_the_runners_own_handling_of_an_answer_ends_the_job_with_it(one_thread, monkeypatch):
    """Split trials are scored here, on the client's loop: an error there must reach the engine, not hang the job."""

    def broken(*args):
        raise RuntimeError("scoring broke")

    monkeypatch.setattr(dispatch, "score_trial", broken)
    _, _, dispatcher, ended, _ = one_thread
    job = dispatcher.run([trial(1.0, "tests.models:quadratic")], split=1)  # a group per replicate
    done, error = ended.get(timeout=60)
    assert done is job and isinstance(error, RuntimeError) and "scoring broke" in str(error)
    after = dispatcher.run([trial(2.0, "tests.models:quadratic")], split=2)  # the lane still works
    assert ended.get(timeout=60)[0] is after
