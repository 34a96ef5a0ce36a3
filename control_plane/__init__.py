"""The Azure Functions control plane: HTTP API, orchestrations, activities and the targets they drive.

It imports the core library (`modelops`, `modelops_contracts`) and nothing of the
runner or the CLI; `function_app.py` at the repository root registers its blueprints.
"""
