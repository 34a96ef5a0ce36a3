"""Fault suite: a run resumed with a changed document is refused unless forced.

That a restart after a crash reports every trial once and closes every open trial is tested
on the same kill and restart as not repeating finished trials (tests/test_shared_studies.py)."""

import yaml

from tests.runner_processes import calls, finish, start_runner, write_run


def test_resuming_with_a_changed_document_is_refused_naming_the_change_unless_forced(tmp_path):
    spec = write_run(tmp_path, trials=4)
    log, out = tmp_path / "calls.log", tmp_path / "out"
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    finish(start_runner(spec, "changed", storage, out, log))

    more = finish(start_runner(spec, "changed", storage, out, log, "--trials", "6"))  # budget may grow
    assert more["n_trials"] == 6

    doc = yaml.safe_load(spec.read_text())
    doc["replicates"] = 3
    doc["parameters"]["x"]["high"] = 9.0
    spec.write_text(yaml.safe_dump(doc))
    simulated = len(calls(log))
    refused = start_runner(spec, "changed", storage, out, log, "--trials", "8")
    _, stderr = refused.communicate(timeout=120)
    assert refused.returncode == 2
    assert "different run document" in stderr and "parameters.x.high, replicates" in stderr and "--force" in stderr
    assert len(calls(log)) == simulated and "Traceback" not in stderr

    forced = finish(start_runner(spec, "changed", storage, out, log, "--trials", "8", "--force"))
    assert forced["status"] == "completed" and forced["n_trials"] == 8
