"""A 10,000-trial run's event stream through the intake and the orchestration stays small."""

import pytest

from tests.control_plane_load import replay, trial_stream

TRIALS = 10_000
LIMIT_UTF16 = 16 * 1024


@pytest.fixture(scope="module")
def stream():
    return trial_stream(TRIALS)


def test_webhook_batches_of_a_hundred_keep_every_execution_and_status_small(stream):
    measured = replay([stream[i:i + 100] for i in range(0, len(stream), 100)])  # the publisher's max_batch
    print(measured)
    assert measured["phase"] == "completed" and measured["done"] == TRIALS
    assert measured["max_history"] < 300 and measured["max_status_utf16"] < LIMIT_UTF16
    assert measured["executions"] <= measured["deliveries"] + 2


def test_one_event_per_trigger_call_with_many_in_one_replay_loses_nothing(stream):
    measured = replay([[event] for event in stream], per_replay=25)  # 25 events pending per replay
    print(measured)
    assert measured["phase"] == "completed" and measured["done"] == TRIALS
    assert measured["max_history"] < 300 and measured["max_status_utf16"] < LIMIT_UTF16
    assert measured["executions"] <= measured["deliveries"] // 25 + 3
