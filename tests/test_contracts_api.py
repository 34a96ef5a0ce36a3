"""The public surface is importable from the package root, so upstream can be swapped in."""

import ast
import pathlib
import sys

import modelops_contracts
from modelops_contracts import ContractViolationError, EntrypointFormatError, Scalar

PACKAGE = pathlib.Path(modelops_contracts.__file__).parent


def test_all_names_are_exported_and_resolve():
    expected = {
        "Scalar", "TrialStatus", "UniqueParameterSet", "TrialResult", "SeedInfo",
        "make_param_id", "AdaptiveAlgorithm", "SimTask", "SimReturn", "TableArtifact",
        "ErrorInfo", "SimulationService", "make_task_id", "Entrypoint", "parse_entrypoint",
        "ContractViolationError", "EntrypointFormatError",
    }
    assert expected <= set(modelops_contracts.__all__)
    for name in modelops_contracts.__all__:
        assert hasattr(modelops_contracts, name), name


def test_error_hierarchy():
    assert issubclass(ContractViolationError, Exception)
    assert not issubclass(ContractViolationError, ValueError)
    assert issubclass(EntrypointFormatError, ValueError)


def test_scalar_is_bool_int_float_str():
    assert Scalar == bool | int | float | str


def test_package_uses_only_the_standard_library():
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert roots <= sys.stdlib_module_names, (path.name, roots)
