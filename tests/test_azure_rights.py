"""The custom roles in the Bicep hold every right the azure target's code uses, and nothing more.

The fake ARM authorizes each request against the app identity's role assignments as the
Bicep writes them (tests/fakes/arm_authz.py). An environment's whole life (up, down with its
resource group) must pass with those rights, use each of them, and fail, naming ARM's
AuthorizationFailed, when any single one is deleted.
"""

import pytest

from tests.azure_clouds import azure_clouds, bicep_rights
from tests.function_app_harness import AppHarness

ALL = sorted(bicep_rights().actions)


def lifecycle(monkeypatch, rights) -> tuple[list[dict], list[str]]:
    """PUT then DELETE (with its resource group) the environment `dev`: the outcome of each, and
    the actions ARM refused on the way (a refused step may pass on a retry: a refusal still counts)."""
    with azure_clouds(monkeypatch, rights) as (arm, _):
        app = AppHarness()
        outcomes = []
        for method, query in (("PUT", {}), ("DELETE", {"delete_rg": "true"})):
            body = {"target": "azure"} if method == "PUT" else None
            code, _, _ = app.http("change_environment", method, "/api/environments/dev", body, route={"env": "dev"},
                                  params=query)
            assert code == 202
            app.driver.drain()
            outcomes.append(app.http("get_environment", "GET", "/api/environments/dev", route={"env": "dev"})[1])
            if outcomes[-1]["phase"] == "failed":
                break
        return outcomes, [action.lower() for action in arm.refused]


def test_an_environments_life_passes_with_the_bicep_rights_and_uses_every_one(monkeypatch):
    rights = bicep_rights()
    (up, down), refused = lifecycle(monkeypatch, rights)
    assert (up["phase"], down["phase"]) == ("ready", "removed"), (up, down)
    assert refused == []
    unused = sorted(rights.actions - rights.used)
    assert unused == [], f"granted to the app but never needed: {unused}"


@pytest.mark.parametrize(("role", "action"), ALL, ids=[f"{r}:{a}" for r, a in ALL])
def test_deleting_any_one_action_from_the_bicep_fails_the_environment(monkeypatch, role, action):
    outcomes, refused = lifecycle(monkeypatch, bicep_rights().without(role, action))
    assert action.lower() in refused, refused
    if outcomes[-1]["phase"] == "failed":  # else a retry got past it (ACR's status poll: the next attempt reads the registry)
        assert "AuthorizationFailed" in outcomes[-1]["error"]["reason"]
