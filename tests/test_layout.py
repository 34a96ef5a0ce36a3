import pathlib

import tests


def test_project_tests_package_is_not_shadowed():
    # azure-functions-durable ships a top-level `tests` package; ours must win.
    assert pathlib.Path(tests.__file__).resolve().parent == pathlib.Path(__file__).resolve().parent
