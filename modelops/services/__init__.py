"""Simulation services: where `SimTask`s run."""
