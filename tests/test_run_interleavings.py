"""Property: whatever the interleaving of progress, cancel, heartbeats and activity results,
no event is lost. Events reach the orchestration in batches as the Azure Storage provider
hands them over (several per replay, beside timers and activity completions).

Invariants: a run that got a cancel ends cancelled (or completed, if the runner's completion
got there too), one that got a completion ends completed (or cancelled); its plane is stopped
exactly once; counts shown never go down, and a run still going shows the counts of every
event it was sent. Each recorded episode replays identically."""

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.durable import InstanceGone
from tests.local_plane import fake, plane_driver, run_input, status, updates

TRIALS = 8
STREAM = updates(trials=TRIALS, budget=TRIALS, complete=True)
PROGRESS, COMPLETION = STREAM[:-1], STREAM[-1]

step = st.one_of(
    st.tuples(st.just("progress"), st.integers(0, len(PROGRESS) - 1)),
    st.tuples(st.just("complete"), st.just(0)),
    st.tuples(st.just("cancel"), st.booleans()),
    st.tuples(st.just("heartbeat"), st.integers(0, len(PROGRESS) - 1)),  # with an event during the check
    st.tuples(st.just("drain"), st.just(0)),
)


class Scenario:
    def __init__(self):
        self.driver = plane_driver(
            local_runner_status=self._runner_status, local_stop_run={"stopped": ["runner"]}, purge_results={"deleted": 1}
        )
        self.sent: list[dict] = []  # progress updates delivered (the instance was live)
        self.cancelled = self.completed = False
        self.during_check: list[int] = []
        self.shown = 0

    def _runner_status(self, payload):
        while self.during_check:
            self.send("progress", PROGRESS[self.during_check.pop()])
        return {"state": "running", "exit_code": None, "summary": None}

    def send(self, name, data):
        try:
            self.driver.raise_event("r1", name, data)
        except InstanceGone:
            return
        if name == "progress":
            self.sent.append(data)
            self.completed |= data.get("terminal") == "completed"
        else:
            self.cancelled = True

    def apply(self, kind, arg):
        if kind == "progress":
            self.send("progress", PROGRESS[arg])
        elif kind == "complete":
            self.send("progress", COMPLETION)
        elif kind == "cancel":
            self.send("cancel", {"purge": arg})
        elif kind == "heartbeat":
            self.during_check.append(arg)
            self.driver.advance(timedelta(seconds=61))
        else:
            self.driver.drain(fire_timers=False)
        self.check_monotone()

    def check_monotone(self):
        found = status(self.driver)
        done = ((found or {}).get("progress") or {}).get("done", 0)
        assert done >= self.shown, f"counts went down: {self.shown} -> {done}"
        self.shown = done


@given(before=st.lists(step, max_size=4), after=st.lists(step, max_size=12))
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_interleaving_loses_an_event(before, after):
    scenario = Scenario()
    driver = scenario.driver
    driver.start_new("run", "r1", run_input(budget=TRIALS, heartbeat=60, hours=23))
    for kind, arg in before:  # while provisioning: nothing has run yet
        scenario.apply(kind, arg)
    driver.drain(fire_timers=False)
    for kind, arg in after:
        scenario.apply(kind, arg)
    driver.drain(fire_timers=False)
    final = status(driver)
    stops = fake.names().count("local_stop_run")
    if scenario.cancelled or scenario.completed:
        allowed = {phase for phase, sent in (("cancelled", scenario.cancelled), ("completed", scenario.completed))
                   if sent}
        assert final["phase"] in allowed, (final["phase"], before, after)
        assert stops == 1
    else:
        assert final["phase"] == "running" and stops == 0
        assert final["progress"]["done"] == max((u["done"] for u in scenario.sent), default=0)
    if final["phase"] == "completed":
        assert final["progress"]["done"] == TRIALS
    if final["phase"] == "cancelled" and any(kind == "cancel" and arg for kind, arg in before + after):
        assert "purge_results" in fake.names() or not _first_cancel_purges(before + after)
    assert driver.replay_all_recorded() > 0


def _first_cancel_purges(steps):
    return next(arg for kind, arg in steps if kind == "cancel")
