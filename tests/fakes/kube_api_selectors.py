"""Label selectors as the API server parses them, so list filters behave as on a cluster.

Terms: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`; commas AND them.
As on the server, `!=` and `notin` also match objects without the label, and a selector
that does not parse is a 400.
"""
import re
from collections.abc import Callable

from .kube_api_errors import bad_request

KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
VALUE = r"[-A-Za-z0-9_.]*"
EQUALITY = re.compile(rf"({KEY})\s*(==|=|!=)\s*({VALUE})")
SET = re.compile(rf"({KEY})\s+(in|notin)\s*\(([^()]*)\)")
EXISTS = re.compile(rf"(!?)\s*({KEY})")
OUTSIDE_PARENS = re.compile(r",(?![^(]*\))")

Test = Callable[[dict], bool]


def parse_selector(text: str) -> Test:
    """A predicate over an object's labels; the empty selector matches everything."""
    tests = [_term(term.strip()) for term in OUTSIDE_PARENS.split(text)] if text.strip() else []
    return lambda labels: all(test(labels) for test in tests)


def _term(term: str) -> Test:
    if match := EQUALITY.fullmatch(term):
        key, op, value = match.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := SET.fullmatch(term):
        key, op, listed = match.groups()
        values = {v.strip() for v in listed.split(",")}
        if not listed.strip() or not all(re.fullmatch(VALUE, v) for v in values):
            raise _unparsable(term)
        if op == "notin":
            return lambda labels: labels.get(key) not in values
        return lambda labels: labels.get(key) in values
    if match := EXISTS.fullmatch(term):
        negated, key = match.groups()
        return lambda labels: (key in labels) != bool(negated)
    raise _unparsable(term)


def _unparsable(term: str):
    return bad_request(f"unable to parse requirement: {term!r}")
