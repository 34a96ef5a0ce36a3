"""Kubernetes for the `azure` and `existing` targets: manifests, a client per cluster binding, apply and wait."""
