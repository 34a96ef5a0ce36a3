import psycopg
import pytest
from azure.storage.blob import BlobServiceClient

from tests.services import PostgresService, free_ports, service_unavailable


def test_azurite_serves_a_blob_round_trip(azurite):
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.create_container("services-check")
    container.upload_blob("hello.txt", b"hello azurite")
    assert container.download_blob("hello.txt").readall() == b"hello azurite"
    assert azurite.blob_endpoint.endswith("/devstoreaccount1")
    assert azurite.queue_endpoint != azurite.blob_endpoint != azurite.table_endpoint


def test_postgres_answers_select_1(postgres: PostgresService):
    with psycopg.connect(host=postgres.host, port=postgres.port, user=postgres.user,
                         dbname=postgres.dbname) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert postgres.url == f"postgresql+psycopg://postgres@127.0.0.1:{postgres.port}/postgres"


def test_each_test_gets_a_fresh_empty_database(postgres: PostgresService, postgres_url: str):
    other = postgres.create_database()
    assert other != postgres_url
    dbname = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(host=postgres.host, port=postgres.port, user=postgres.user,
                         dbname=dbname) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_free_ports_are_distinct():
    ports = free_ports(3)
    assert len(set(ports)) == 3


def test_missing_service_skips_by_default(monkeypatch):
    monkeypatch.delenv("MODELOPS_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no azurite here"):
        service_unavailable("no azurite here")


@pytest.mark.parametrize("value", ["0", "", "yes"])
def test_only_exactly_1_requires_services(monkeypatch, value):
    monkeypatch.setenv("MODELOPS_REQUIRE_SERVICES", value)
    with pytest.raises(pytest.skip.Exception):
        service_unavailable("optional")


def test_missing_service_fails_when_required(monkeypatch):
    monkeypatch.setenv("MODELOPS_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="required service unavailable: no postgres"):
        service_unavailable("no postgres")
