"""The Bicep bootstrap and the deployment guide, against the code they deploy.

No Azure here: every `.bicep` file is parsed with pycep, checkov (in its own venv, offline)
must report no failed check, the app settings the template defines must be exactly those the
code reads (plus the platform's), and docs/deploy.md may only use commands, routes, settings,
names and outputs that exist.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer.main
from pycep import BicepParser

from modelops import naming
from control_plane.settings import PLATFORM_SETTINGS, SETTINGS
from cli.app import app as mops_app
from cli.config import ENV_OVERRIDES
from tests.services import service_unavailable

ROOT = Path(__file__).resolve().parents[1]
BICEP_DIR = ROOT / "bicep_bootstrap"
BICEP_FILES = sorted(BICEP_DIR.rglob("*.bicep"))
MAIN = BICEP_DIR / "main.bicep"
GUIDE = ROOT / "docs" / "deploy.md"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CHECKOV_TIMEOUT_S = 120


@functools.cache
def bicep(path: Path) -> dict[str, Any]:
    return BicepParser().parse(file_path=path)


def references(value: Any) -> str | None:
    """The parameter or variable a Bicep value names (`x` or `string(x)`), else None."""
    if isinstance(value, dict) and value.get("function", {}).get("type") == "string":
        value = value["function"]["parameters"]["value_to_convert"]
    return value if isinstance(value, str) else None


def app_settings() -> dict[str, Any]:
    """The settings the template deploys: main.bicep's `appSettings`, handed whole to the Function App."""
    main = bicep(MAIN)
    assert references(main["modules"]["functionApp"]["config"]["params"]["appSettings"]) == "appSettings"
    site = bicep(BICEP_DIR / "modules" / "function-app.bicep")["resources"]["site"]["config"]
    loop = site["properties"]["siteConfig"]["appSettings"]["loop_type"]["detail"]["array_name"]["function"]
    assert loop == {"type": "items", "parameters": {"arg_1": "appSettings"}}, "the site must deploy every setting given"
    return main["variables"]["appSettings"]["value"]


def guide_text() -> str:
    return GUIDE.read_text()


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M)


# -- Bicep -------------------------------------------------------------------------------------


def test_the_bootstrap_has_a_subscription_scoped_main_and_modules():
    assert bicep(MAIN)["globals"]["scope"]["value"] == "subscription"
    modules = {Path(module["detail"]["path"]).name for module in bicep(MAIN)["modules"].values()}
    on_disk = {path.name for path in (BICEP_DIR / "modules").glob("*.bicep")}
    assert modules == on_disk, "every module is used, and every module used is here"


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda path: str(path.relative_to(BICEP_DIR)))
def test_every_bicep_file_parses(path):
    parsed = bicep(path)
    assert parsed.get("resources") or parsed.get("modules"), f"{path.name} declares nothing"


def test_the_parameters_file_sets_only_parameters_main_declares():
    document = json.loads((BICEP_DIR / "main.parameters.json").read_text())
    assert set(document["parameters"]) <= set(bicep(MAIN)["parameters"])


def test_checkov_reports_no_failed_check():
    if not CHECKOV.exists():
        service_unavailable(f"checkov is not installed in {CHECKOV.parent.parent.name} (make checkov)")
    found = subprocess.run(
        [str(CHECKOV), "--directory", str(BICEP_DIR), "--framework", "bicep", "--skip-download", "--output", "json"],
        capture_output=True, text=True, timeout=CHECKOV_TIMEOUT_S, cwd=ROOT,
    )  # fmt: skip
    assert found.stdout.strip(), f"checkov printed nothing (exit {found.returncode}): {found.stderr[-2000:]}"
    report = json.loads(found.stdout)
    assert isinstance(report, dict) and report["check_type"] == "bicep", report
    summary, results = report["summary"], report["results"]
    failed = [f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
              for check in results["failed_checks"]]  # fmt: skip
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0, results.get("parsing_errors")
    assert summary["resource_count"] > 0 and summary["passed"] > 0, summary
    makefile_pin = re.search(r"^CHECKOV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert summary["checkov_version"] == makefile_pin, "the checkov venv is stale: make checkov"
    for check in results["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        assert reason.strip(), f"{check['check_id']} skipped without a reason"


def test_every_checkov_skip_gives_its_reason_inline():
    for path in BICEP_FILES:
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                assert re.fullmatch(r"\s*//checkov:skip=CKV2?_AZURE_\d+:\S.{20,}", line), f"{path.name}: {line.strip()}"


def test_the_app_settings_are_exactly_those_the_code_reads():
    deployed = set(app_settings())
    local = set(json.loads((ROOT / "local.settings.sample.json").read_text())["Values"])
    known = set(SETTINGS) | set(PLATFORM_SETTINGS)
    for where, names in (("bicep_bootstrap/main.bicep", deployed), ("local.settings.sample.json", local)):
        assert not set(SETTINGS) - names, f"{where} lacks settings the code reads: {sorted(set(SETTINGS) - names)}"
        assert not names - known, f"{where} defines settings nothing reads: {sorted(names - known)}"


def test_no_app_setting_holds_a_secret():
    settings = app_settings()
    reference = settings["MODELOPS_EXISTING_KUBECONFIG"]
    assert reference.startswith("@Microsoft.KeyVault(SecretUri=") and reference.endswith(")"), reference
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert "AzureWebJobsStorage" not in settings, "the connection-string form carries an account key"
    text = "\n".join(path.read_text() for path in BICEP_FILES)
    for secret_maker in ("listKeys", "listSecrets", "AccountKey=", "SharedAccessSignature", "@secure()"):
        assert secret_maker not in text, f"{secret_maker} in the Bicep"
    storage = bicep(BICEP_DIR / "modules" / "storage.bicep")["resources"]["account"]["config"]["properties"]
    assert storage["allowSharedKeyAccess"] is False
    topic = bicep(BICEP_DIR / "modules" / "event-topic.bicep")["resources"]["topic"]["config"]["properties"]
    assert topic["disableLocalAuth"] is True and topic["inputSchema"] == "CloudEventSchemaV1_0"


def _data_role_grants() -> list[tuple[str, str, Any]]:
    """(resource, scope, what it grants) of every assignment that gives or may hand out a blob data role."""
    roles = bicep(BICEP_DIR / "modules" / "resource-roles.bicep")
    found = []
    for name, resource in roles["resources"].items():
        if resource["type"] != "Microsoft.Authorization/roleAssignments":
            continue
        config = resource["config"].get("config", resource["config"])  # `= if (...) {...}` nests it
        if "storageBlobData" in json.dumps(config["properties"]):
            found.append((name, config["scope"], config["properties"]["principalId"]))
    return found


def test_cluster_workloads_get_blob_data_rights_on_the_results_container_only():
    """Only the app itself holds data roles on the account that hosts its package and task hub:
    what it may hand out to clusters, and what the topic writes, is scoped to one container each."""
    grants = {name: (scope, principal) for name, scope, principal in _data_role_grants()}
    assert grants["appGrantsResultsWriter"] == ("results", "appPrincipalId")
    assert grants["topicDeadLetters"] == ("deadLetters", "topicPrincipalId")
    on_account = {name for name, (scope, _) in grants.items() if scope == "storage"}
    assert on_account == {"appBlobs"} and grants["appBlobs"][1] == "appPrincipalId"
    roles = bicep(BICEP_DIR / "modules" / "resource-roles.bicep")["resources"]
    assert roles["results"]["config"]["parent"] == "blobs" and roles["results"]["existing"]
    assert "resultsContainerId" in json.dumps(app_settings()["MODELOPS_RESULTS_CONTAINER_ID"])
    outputs = bicep(BICEP_DIR / "modules" / "storage.bicep")["outputs"]
    assert json.dumps(outputs["resultsContainerId"]["value"]) == json.dumps(
        {"operator": {"type": "property_accessor", "operands": {"operand_1": "results", "operand_2": "id"}}})
    subscription_wide = json.dumps(bicep(BICEP_DIR / "modules" / "subscription-roles.bicep"))
    assert "ba92f5b4-2d11-453d-a403-e96b0029c9fe" not in subscription_wide  # no blob data grant from the subscription


def test_no_kubernetes_version_is_written_down():
    """AKS retires versions every few months: the newest the region offers is read at creation."""
    assert SETTINGS["MODELOPS_KUBERNETES_VERSION"][0] == ""
    assert bicep(MAIN)["parameters"]["kubernetesVersion"]["default"] == ""
    assert json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]["MODELOPS_KUBERNETES_VERSION"] == ""
    version = re.compile(r"""['"]1\.[2-9][0-9](\.[0-9]+)?['"]""")
    sources = [*BICEP_FILES, *(ROOT / "control_plane").rglob("*.py"), *(ROOT / "cli").rglob("*.py")]
    written = [str(path.relative_to(ROOT)) for path in sources if version.search(path.read_text())]
    assert written == []


def test_setting_defaults_in_the_template_are_the_code_defaults():
    parameters = bicep(MAIN)["parameters"]
    compared = 0
    for name, value in app_settings().items():
        parameter = parameters.get(references(value) or "")
        default = parameter and parameter.get("default")
        # pycep spells a reference to another parameter (`= location`) as that parameter's name.
        if name in SETTINGS and isinstance(default, (str, int)) and default not in parameters:
            assert str(default) == SETTINGS[name][0], f"{name}: template {default!r}, code {SETTINGS[name][0]!r}"
            compared += 1
    assert compared >= 4


@functools.cache
def app_functions() -> list:
    """The real Function App's functions, as the host indexes them."""
    import function_app

    # Not app.get_functions(): it refuses to run twice on the same app (tests/durable/functions.py).
    return [builder.build() for builder in function_app.app._function_builders]


def event_grid_functions() -> dict[str, str]:
    """Event Grid triggered functions: name -> defining module."""
    return {
        function.get_function_name(): function.get_user_function().__module__
        for function in app_functions()
        if any(binding.type == "eventGridTrigger" for binding in function.get_bindings())
    }


def test_the_event_subscription_targets_the_event_grid_trigger():
    assert event_grid_functions() == {"on_progress_event": "control_plane.api.events"}
    main = bicep(MAIN)
    assert main["variables"]["progressFunctionName"]["value"] in event_grid_functions()
    subscription = main["modules"]["eventSubscription"]["config"]
    assert subscription["condition"] == "deployEventSubscription"
    assert subscription["config"]["params"]["functionResourceId"].endswith("/functions/${progressFunctionName}")
    module = bicep(BICEP_DIR / "modules" / "event-subscription.bicep")
    delivery = module["resources"]["toFunction"]["config"]["properties"]
    assert delivery["destination"]["endpointType"] == "AzureFunction"
    assert delivery["deadLetterWithResourceIdentity"]["deadLetterDestination"]["endpointType"] == "StorageBlob"
    assert delivery["retryPolicy"]["maxDeliveryAttempts"] > 1


def test_event_delivery_and_the_publisher_bound_control_plane_executions_together():
    """One event per trigger call is one orchestration execution: the runner's publisher must
    send remote sinks at most one trial snapshot per run every 2 s for that to be bounded."""
    from modelops.events.publisher import CONTROL_PLANE_INTERVAL, control_plane_options, trial_snapshot_key

    module = bicep(BICEP_DIR / "modules" / "event-subscription.bicep")
    destination = module["resources"]["toFunction"]["config"]["properties"]["destination"]["properties"]
    assert destination["maxEventsPerBatch"] == 1
    for url in ("https://topic.westeurope-1.eventgrid.azure.net/api/events", "http://127.0.0.1:7071/api/events"):
        assert control_plane_options(url) == {"flush_interval": CONTROL_PLANE_INTERVAL, "coalesce": trial_snapshot_key}
    assert CONTROL_PLANE_INTERVAL >= 2.0
    assert control_plane_options("console") == control_plane_options("events.jsonl") == {}


# -- The deployment guide ----------------------------------------------------------------------


def resolve(argv: list[str]):
    """Parse a `mops` command line with the real CLI, without running it (raises on a bad one)."""
    command, parent, name = typer.main.get_command(mops_app), None, "mops"
    while hasattr(command, "get_command"):  # a group: the next word names a subcommand
        context = command.make_context(name, [], parent=parent, resilient_parsing=True)
        assert argv, f"`{name}` needs a subcommand"
        name, *argv = argv
        subcommand = command.get_command(context, name)
        assert subcommand is not None, f"no such command: {name}"
        command, parent = subcommand, context
    return command.make_context(name, list(argv), parent=parent)


def test_every_mops_command_in_the_guide_parses():
    commands = [line.strip() for block in code_blocks(guide_text()) for line in block.splitlines()
                if line.strip().startswith("mops ")]  # fmt: skip
    assert len(commands) >= 8
    for line in commands:
        try:
            resolve(shlex.split(line, comments=True)[1:])
        except Exception as error:  # click's usage errors, or an unknown subcommand
            pytest.fail(f"docs/deploy.md: `{line}`: {error}")
    for needed in ("config init", "env up", "run", "results", "cancel", "env down"):
        assert any(line.startswith(f"mops {needed} ") for line in commands), f"the guide never runs mops {needed}"


def test_mops_commands_named_in_the_guide_text_exist():
    for span in re.findall(r"`(mops [^`]+)`", guide_text()):
        words = [word for word in shlex.split(span)[1:] if not word.startswith(("-", "<"))]
        command, parent = typer.main.get_command(mops_app), None
        for word in words:
            if not hasattr(command, "get_command"):
                break
            context = command.make_context("mops", [], parent=parent, resilient_parsing=True)
            found = command.get_command(context, word)
            assert found is not None, f"docs/deploy.md: `{span}`: no command {word!r}"
            command, parent = found, context


def http_routes() -> list[re.Pattern]:
    prefix = json.loads((ROOT / "host.json").read_text())["extensions"]["http"]["routePrefix"]
    routes = [
        binding.route
        for function in app_functions()
        for binding in function.get_bindings()
        if binding.type == "httpTrigger"
    ]
    return [re.compile("/" + prefix + "/" + re.sub(r"\{[^}]+\}", "[^/]+", route)) for route in routes]


def test_every_route_in_the_guide_exists():
    mentioned = set(re.findall(r"/api/[\w{}<>\-/]*[\w}>]", guide_text()))
    assert "/api/events" in mentioned and "/api/runs" in mentioned
    routes = http_routes()
    for path in mentioned:
        assert any(route.fullmatch(path) for route in routes), f"docs/deploy.md names {path}; the app has no such route"


def test_every_setting_named_in_the_guide_exists():
    names = set(re.findall(r"\b(MODELOPS_[A-Z0-9_]+|AzureWebJobs\w+|APPLICATIONINSIGHTS_\w+|FUNCTIONS_\w+|AZURE_\w+)",
                           guide_text()))  # fmt: skip
    known = set(SETTINGS) | set(PLATFORM_SETTINGS) | set(ENV_OVERRIDES.values())
    assert names, "the guide names no setting"
    assert not names - known, f"docs/deploy.md names unknown settings: {sorted(names - known)}"


def test_the_guide_uses_the_templates_outputs_parameters_and_names():
    text, main = guide_text(), bicep(MAIN)
    outputs = set(re.findall(r"\$\(output (\w+)\)", text)) | set(re.findall(r"output `(\w+)`", text))
    assert outputs and outputs <= set(main["outputs"]), sorted(outputs - set(main["outputs"]))
    named = set(re.findall(r"`([a-z]+[A-Z]\w*)`", text))  # camelCase: the template's parameters and outputs
    assert named and not named - set(main["parameters"]) - set(main["outputs"]), named
    parameters = set(re.findall(r"--parameters (\w+)=", text))
    assert parameters == {"deployEventSubscription"} and parameters <= set(main["parameters"])
    for container in main["variables"]["containers"]["value"].values():
        assert f"`{container}`" in text, f"the guide never names the {container} container"
    assert "on_progress_event" in text
    # The environment's names as the code makes them (modelops/naming.py), for env dev and a user.
    concrete = text.replace("$USERNAME", "someone").replace("<username>", "someone").replace("<env>", "dev")
    for name in (naming.resource_group_name("dev", "someone"), naming.registry_name("dev", "someone"),
                 naming.cluster_name("dev")):  # fmt: skip
        assert name in concrete, f"the guide never names {name} as the code does"


def test_the_readme_links_the_guide():
    assert "docs/deploy.md" in (ROOT / "README.md").read_text()
