"""Entrypoint grammar: 'pkg.mod:object' or 'pkg.mod.Class/scenario', never both."""

import pytest

from modelops_contracts import Entrypoint, EntrypointFormatError, parse_entrypoint

EXPECTED = "expected 'pkg.mod:object' or 'pkg.mod.Class/scenario'"


def test_object_form_splits_module_and_attribute():
    assert parse_entrypoint("pkg.mod:run") == Entrypoint("pkg.mod", "run", None)
    assert parse_entrypoint("mod:run") == Entrypoint("mod", "run", None)


def test_class_form_splits_module_class_and_scenario():
    assert parse_entrypoint("pkg.mod.SIR/baseline") == Entrypoint("pkg.mod", "SIR", "baseline")
    assert parse_entrypoint("mod.SIR/high_r0-v2.1") == Entrypoint("mod", "SIR", "high_r0-v2.1")


@pytest.mark.parametrize("text", ["pkg.mod:run", "pkg.mod.SIR/baseline"])
def test_str_round_trips(text):
    assert str(parse_entrypoint(text)) == text


def test_entrypoint_is_frozen_and_errors_are_value_errors():
    entrypoint = parse_entrypoint("a:b")
    with pytest.raises(AttributeError):
        entrypoint.module = "c"  # type: ignore[misc]
    assert issubclass(EntrypointFormatError, ValueError)


@pytest.mark.parametrize("scenario", ["a", "0", "a" * 64, "a-b_c.d"])
def test_valid_scenario_slugs(scenario):
    assert parse_entrypoint(f"m.C/{scenario}").scenario == scenario


@pytest.mark.parametrize(
    "scenario", ["", "A", "base line", "-a", "a-", "_a", "a.", "a" * 65, "a/b", "ab\n", "é"]
)
def test_invalid_scenario_slugs(scenario):
    text = f"m.C/{scenario}"
    with pytest.raises(EntrypointFormatError, match="must be a lowercase slug") as info:
        parse_entrypoint(text)
    assert repr(text) in str(info.value) and EXPECTED in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("pkg.mod:Class/baseline", "contains both '/' and ':'"),
        ("pkg/mod:x", "contains both '/' and ':'"),
        ("pkg.mod", "has neither ':' nor '/'"),
        ("", "must be a non-empty string"),
        ("a:b:c", "more than one ':'"),
        ("SIR/baseline", "needs a module path before the class name"),
        ("1pkg.mod:run", "module '1pkg.mod' must be dotted Python identifiers"),
        ("pkg..mod:run", "must be dotted Python identifiers"),
        ("pkg.class:run", "must be dotted Python identifiers"),
        (":run", "must be dotted Python identifiers"),
        (" pkg.mod:run", "must be dotted Python identifiers"),
        ("pkg.mod:", "attribute '' must be a Python identifier"),
        ("pkg.mod:a.b", "attribute 'a.b' must be a Python identifier"),
        ("pkg.mod.1C/baseline", "attribute '1C' must be a Python identifier"),
    ],
)
def test_invalid_strings_quote_the_input_and_say_what_is_expected(text, fragment):
    with pytest.raises(EntrypointFormatError) as info:
        parse_entrypoint(text)
    message = str(info.value)
    assert fragment in message
    assert f"invalid entrypoint {text!r}" in message
    assert EXPECTED in message


def test_non_string_input_is_rejected():
    with pytest.raises(EntrypointFormatError, match="must be a non-empty string"):
        parse_entrypoint(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "parts", [("a", "b.c", "x"), ("a.b", "c:d", None), ("a", "B", "Bad"), ("a", "B", 5)]
)
def test_constructing_an_entrypoint_directly_is_validated(parts):
    with pytest.raises(EntrypointFormatError, match="invalid entrypoint"):
        Entrypoint(*parts)
