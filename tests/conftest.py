"""Shared pytest configuration.

`tests` is a package so that helpers import as `tests.<module>`; the
durable SDK wheel installs its own top-level `tests`, which must never win.
"""

import os
from collections.abc import Iterator

import pytest

from tests.services import AzuriteService, PostgresService, run_azurite, run_postgres


@pytest.fixture(scope="session", autouse=True)
def bundle_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Bundles that tests build and fetch are unpacked in the session's temp folder, not the home folder."""
    saved = os.environ.get("MODELOPS_BUNDLE_CACHE")
    os.environ["MODELOPS_BUNDLE_CACHE"] = str(tmp_path_factory.mktemp("bundle-cache"))
    yield
    if saved is None:
        os.environ.pop("MODELOPS_BUNDLE_CACHE", None)
    else:
        os.environ["MODELOPS_BUNDLE_CACHE"] = saved


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteService]:
    """A real Azurite for the whole session; skips (or fails in CI) when missing."""
    with run_azurite(tmp_path_factory.mktemp("azurite")) as service:
        yield service


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresService]:
    """A real PostgreSQL for the whole session; skips (or fails in CI) when missing."""
    with run_postgres() as service:
        yield service


@pytest.fixture
def postgres_url(postgres: PostgresService) -> str:
    """A SQLAlchemy URL of a database created empty for this one test."""
    return postgres.create_database()


@pytest.fixture(scope="session")
def dask_client() -> Iterator:
    """A small in-process Dask cluster (two single-thread workers) shared by engine tests."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield client
