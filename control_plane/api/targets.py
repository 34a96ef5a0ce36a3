"""What a target needs from the app's settings, read here so orchestrators never read the environment."""

from __future__ import annotations

from typing import Any

from control_plane.settings import setting


def target_settings(target: str, workers: int = 2) -> dict[str, Any]:
    """References and sizes for the environment orchestration (no secrets)."""
    if target == "local":
        return {}
    workspace = {"image": setting("MODELOPS_RUNNER_IMAGE"), "workers": workers}
    if setting("MODELOPS_IMAGE_PULL_SECRET"):
        workspace["image_pull_secret"] = setting("MODELOPS_IMAGE_PULL_SECRET")  # a name, not the credentials
    found: dict[str, Any] = {"workspace": workspace}
    if target == "azure":
        found["azure"] = {
            "subscription_id": setting("MODELOPS_SUBSCRIPTION_ID"),
            "location": setting("MODELOPS_LOCATION"),
            "username": setting("MODELOPS_USERNAME"),
            "kubernetes_version": setting("MODELOPS_KUBERNETES_VERSION"),
            "results_container_id": setting("MODELOPS_RESULTS_CONTAINER_ID"),
            "eventgrid_topic_id": setting("MODELOPS_EVENTGRID_TOPIC_ID"),
        }
    return found
