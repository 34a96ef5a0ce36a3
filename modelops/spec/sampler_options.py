"""The options each built-in algorithm accepts, validated in the run document.

`algorithm.options` is checked against the model of the chosen sampler, so a
misspelt or out-of-range option is a validation error naming the field, not a
`TypeError` from deep inside Optuna after the cluster is up. Options that take
code (callables, independent samplers) are not offered: a document is data.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from .schema_rules import TPE_RULES
from .strict import StrictModel

# TPE's good group is the 25 best, always kept; 500 recent trials estimate the rest's density well,
# and a fit on 500 costs half one on 1000 (TPE's per-trial Python loops dominate a cheap model's ask).
DEFAULT_HISTORY = 500


class SamplerOptions(StrictModel):
    def sampler_kwargs(self) -> dict[str, Any]:
        """What to pass the sampler: the options the document set (Optuna's defaults for the rest)."""
        return self.model_dump(exclude_unset=True)


class TpeOptions(SamplerOptions):
    """Optuna's TPESampler."""

    model_config = ConfigDict(json_schema_extra=TPE_RULES)

    n_startup_trials: int = Field(10, ge=0, description="Random trials before TPE models the history.")
    n_ei_candidates: int = Field(24, ge=1, description="Candidates scored by expected improvement per proposal.")
    multivariate: bool = Field(True, description="Model the parameters jointly (catches correlations).")
    group: bool = Field(False, description="With multivariate: model each group of co-occurring parameters.")
    constant_liar: bool = Field(True, description="Treat trials in flight as bad, so parallel proposals spread out.")
    history: int = Field(
        DEFAULT_HISTORY,
        ge=1,
        description="Finished trials TPE fits on, besides the 25 best and those in flight: the most recent ones. "
        "Bounds the cost of a proposal; below it TPE sees the whole study.",
    )

    def sampler_kwargs(self) -> dict[str, Any]:
        return {k: v for k, v in super().sampler_kwargs().items() if k != "history"}  # the runner's, not Optuna's

    @model_validator(mode="after")
    def _group_needs_multivariate(self) -> TpeOptions:
        if self.group and not self.multivariate:
            raise ValueError("'group' needs 'multivariate'")
        return self


class CmaesOptions(SamplerOptions):
    """Optuna's CmaEsSampler (float and int parameters only)."""

    sigma0: float | None = Field(None, gt=0, description="Initial step size; a sixth of the range if unset.")
    n_startup_trials: int = Field(1, ge=0, description="Random trials before CMA-ES starts.")
    popsize: int | None = Field(None, ge=2, description="Population size; 4 + 3 ln(dimensions) if unset.")
    restart_strategy: Literal["ipop", "bipop"] | None = Field(None, description="Restart with larger populations.")
    inc_popsize: int = Field(-1, description="Population growth factor at each IPOP restart (-1: default 2).")
    use_separable_cma: bool = Field(False, description="Diagonal covariance (cheaper, ignores correlations).")
    with_margin: bool = Field(False, description="CMA-ES with margin, for integer parameters.")
    lr_adapt: bool = Field(False, description="Adapt the learning rate (for noisy or multimodal losses).")


class QmcOptions(SamplerOptions):
    """Optuna's QMCSampler: low-discrepancy points, scrambled by the run's seed."""

    qmc_type: Literal["sobol", "halton"] = Field("sobol", description="Low-discrepancy sequence.")
    scramble: bool = Field(
        True, description="Randomise the sequence with the seed; unscrambled, every seed gives the same points."
    )

    def sampler_kwargs(self) -> dict[str, Any]:
        return {"scramble": self.scramble, **super().sampler_kwargs()}  # Optuna's default is unscrambled


class RandomOptions(SamplerOptions):
    """Optuna's RandomSampler: no options beyond the run's seed."""


class AbcSmcOptions(SamplerOptions):
    """The abc-smc algorithm (`runner.algorithms.abc_smc`): an approximate posterior, not a point."""

    particles: int = Field(200, ge=10, description="Accepted particles per generation.")
    generations: int = Field(8, ge=1, description="Generations at most (the first samples the prior).")
    quantile: float = Field(0.5, gt=0, lt=1, description="Each tolerance: this quantile of the last distances.")
    min_epsilon: float = Field(0.0, ge=0, description="Stop once the tolerance reaches this distance.")
    min_acceptance: float = Field(
        0.02, gt=0, le=1, description="Stop when a generation accepts fewer of its proposals than this."
    )
    kernel_scale: float = Field(2.0, gt=0, description="Perturbation covariance: this times the particles'.")


SAMPLER_OPTIONS: dict[str, type[SamplerOptions]] = {
    "tpe": TpeOptions,
    "cmaes": CmaesOptions,
    "random": RandomOptions,
    "qmc": QmcOptions,
}
SAMPLERS = tuple(SAMPLER_OPTIONS)
ABC_SMC = "abc-smc"


def sampler_options(sampler: str, options: dict[str, Any]) -> SamplerOptions:
    """`options` checked against `sampler`'s model (or abc-smc's); a `ValueError` names each bad option."""
    model = AbcSmcOptions if sampler == ABC_SMC else SAMPLER_OPTIONS[sampler]
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        accepted = ", ".join(model.model_fields) or "none"
        problems = []
        for err in exc.errors(include_url=False):
            where = ".".join(map(str, err["loc"])) or "(options)"
            what = "unknown option" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {what}")
        what = sampler if sampler == ABC_SMC else f"the {sampler} sampler"
        raise ValueError(f"{'; '.join(problems)} ({what} takes: {accepted})") from None
