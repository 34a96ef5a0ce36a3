"""The ModelOps Function App: one blueprint per area.

HTTP API (`control_plane/api/`), orchestrations (`control_plane/orchestrators/`), activities per target
(`control_plane/activities/`). Every HTTP route needs the function key.
"""

import azure.durable_functions as df
import azure.functions as func

from control_plane.activities.azure import bp as azure_activities
from control_plane.activities.kubernetes import bp as kubernetes_activities
from control_plane.activities.local_target import bp as local_target_activities
from control_plane.activities.results import bp as results_activities
from control_plane.api.doctor import bp as doctor_api
from control_plane.api.environments import bp as environments_api
from control_plane.api.events import bp as events_api
from control_plane.api.runs import bp as runs_api
from control_plane.api.sweeper import bp as sweeper
from control_plane.orchestrators.cleanup import bp as cleanup_orchestration
from control_plane.orchestrators.environment import bp as environment_orchestration
from control_plane.orchestrators.run import bp as run_orchestration

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (
    runs_api,
    environments_api,
    doctor_api,
    events_api,
    sweeper,
    run_orchestration,
    environment_orchestration,
    cleanup_orchestration,
    local_target_activities,
    azure_activities,
    kubernetes_activities,
    results_activities,
):
    app.register_functions(blueprint)
