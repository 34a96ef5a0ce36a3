"""The ModelOps Function App: one blueprint per area.

HTTP API (`api/`), orchestrations (`orchestrators/`), activities per target
(`activities/`). Every HTTP route needs the function key.
"""

import azure.durable_functions as df
import azure.functions as func

from activities.azure import bp as azure_activities
from activities.kubernetes import bp as kubernetes_activities
from activities.local_target import bp as local_target_activities
from activities.results import bp as results_activities
from api.doctor import bp as doctor_api
from api.environments import bp as environments_api
from api.events import bp as events_api
from api.runs import bp as runs_api
from orchestrators.environment import bp as environment_orchestration
from orchestrators.run import bp as run_orchestration

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (
    runs_api,
    environments_api,
    doctor_api,
    events_api,
    run_orchestration,
    environment_orchestration,
    local_target_activities,
    azure_activities,
    kubernetes_activities,
    results_activities,
):
    app.register_functions(blueprint)
