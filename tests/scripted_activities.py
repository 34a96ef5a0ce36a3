"""Activities that do what a test scripts, for driving orchestrations without the systems behind them."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df


class ScriptedActivities:
    """A blueprint of activities named `names`; each records its call and answers from `script`.

    A script entry is a value to return, a callable of the payload, or an exception to raise.
    """

    def __init__(self, names: tuple[str, ...]):
        self.calls: list[tuple[str, dict]] = []
        self.script: dict[str, Any] = {}
        self.bp = df.Blueprint()
        for name in names:
            self.bp.activity_trigger(input_name="payload", activity=name)(self._activity(name))

    def _activity(self, name: str):
        def activity(payload: dict) -> Any:
            self.calls.append((name, payload))
            behaviour = self.script[name]
            if isinstance(behaviour, Exception):
                raise behaviour
            return behaviour(payload) if callable(behaviour) else behaviour

        activity.__name__ = name
        return activity

    def reset(self, **script: Any) -> None:
        self.calls.clear()
        self.script.clear()
        self.script.update(script)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]
