"""AdaptiveAlgorithm is a runtime-checkable protocol of ask/tell/finished."""

from modelops_contracts import AdaptiveAlgorithm, TrialResult, UniqueParameterSet


class OneShot:
    def ask(self, n: int) -> list[UniqueParameterSet]:
        return [UniqueParameterSet.from_dict({"x": i}) for i in range(n)]

    def tell(self, results: list[TrialResult]) -> None:
        return None

    def finished(self) -> bool:
        return True


def test_a_class_with_ask_tell_finished_satisfies_the_protocol():
    assert isinstance(OneShot(), AdaptiveAlgorithm)


def test_a_class_missing_finished_does_not():
    class NoFinished:
        def ask(self, n): ...
        def tell(self, results): ...

    assert not isinstance(NoFinished(), AdaptiveAlgorithm)
