"""The run document: one pydantic model, the single source of truth.

The CLI, the HTTP API, validation messages and the JSON Schema all come from
`RunSpec`. It checks structure only; checks that need the model's code or the
target files (which the control plane does not have) live in `preflight`.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from modelops_contracts import EntrypointFormatError, parse_entrypoint

from . import schema_rules as rules
from .sampler_options import ABC_SMC, SAMPLER_OPTIONS, AbcSmcOptions, SamplerOptions, sampler_options
from .strict import StrictModel

UINT64_MAX = 2**64 - 1
MAX_TRIALS = 1_000_000
MAX_REPLICATES = 10_000
BUILTIN_LOSSES = ("mse", "rmse", "mae", "poisson")
# Each likelihood (`modelops.likelihoods`) and what it needs beside the simulated value.
LIKELIHOOD_NEEDS: dict[str, tuple[str, ...]] = {
    "poisson": (),
    "negative_binomial": ("dispersion",),
    "binomial": ("size",),
    "beta_binomial": ("size", "dispersion"),
    "normal": ("sd",),
}
LIKELIHOODS = tuple(LIKELIHOOD_NEEDS)
_NAME = re.compile(rules.NAME_PATTERN)
_IDENTIFIER = re.compile(rules.IDENTIFIER_PATTERN)

Scalar = bool | int | float | str


def _check_entrypoint(value: str) -> str:
    try:
        parse_entrypoint(value)
    except EntrypointFormatError as exc:
        raise ValueError(str(exc)) from None
    return value


class Model(StrictModel):
    """Where the simulation lives and what it returns."""

    entrypoint: str = Field(
        description="'pkg.module:function' called as fn(params, seed), or "
        "'pkg.module.Class/scenario' called as Class().simulate(params, seed, scenario=...); "
        "returns a mapping of output name to polars DataFrame or Arrow table.",
        examples=["examples.sir.model:simulate"],
        json_schema_extra={"pattern": rules.ENTRYPOINT_PATTERN},
    )
    bundle: str | None = Field(
        None,
        pattern=r"^(installed|sha256:[0-9a-f]{64})$",
        description="Where the model's code and data come from. Omitted: `mops run` bundles the document's folder "
        "(minus .modelopsignore) and runs from that bundle; 'sha256:<hex>': a bundle already pushed to the bundle "
        "store; 'installed': importable where the runner and workers run (e.g. baked into the runner image).",
    )
    timeout_seconds: float | None = Field(
        None,
        gt=0,
        description="Longest one simulation may run; a simulation running longer is stopped "
        "and its trial fails ('timed out after N s'). No limit if unset.",
    )

    _entrypoint = field_validator("entrypoint")(_check_entrypoint)

    @property
    def bundle_ref(self) -> str:
        """The `bundle_ref` of this model's simulation tasks."""
        return self.bundle or "installed"


class Parameter(StrictModel):
    """One dimension of the parameter space."""

    model_config = ConfigDict(json_schema_extra=rules.PARAMETER_RULES)

    type: Literal["float", "int", "categorical"] = "float"
    low: float | None = Field(None, description="Lower bound (float and int).")
    high: float | None = Field(None, description="Upper bound, inclusive (float and int).")
    log: bool = Field(False, description="Sample on a log scale (needs low > 0).")
    step: int | None = Field(None, ge=1, description="Step of an int parameter.")
    choices: list[Scalar] | None = Field(
        None, min_length=1, description="Values of a categorical parameter.", json_schema_extra={"uniqueItems": True}
    )

    @model_validator(mode="before")
    @classmethod
    def _infer_categorical(cls, data: Any) -> Any:
        if isinstance(data, dict) and "choices" in data and "type" not in data:
            return {**data, "type": "categorical"}
        return data

    @model_validator(mode="after")
    def _check_kind(self) -> Parameter:
        if self.type == "categorical":
            if self.choices is None:
                raise ValueError("a categorical parameter needs 'choices'")
            extra = [f for f in ("low", "high", "step") if getattr(self, f) is not None]
            if extra or self.log:
                raise ValueError(f"a categorical parameter takes only 'choices', not {extra or ['log']}")
            if len(set(map(repr, self.choices))) != len(self.choices):
                raise ValueError("'choices' must not repeat a value")
            return self
        if self.choices is not None:
            raise ValueError(f"a {self.type} parameter takes 'low' and 'high', not 'choices'")
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs both 'low' and 'high'")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("'low' and 'high' must be finite")
        if self.low >= self.high:
            raise ValueError(f"'low' ({self.low:g}) must be below 'high' ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale parameter needs 'low' > 0")
        if self.type == "int":
            if self.low != int(self.low) or self.high != int(self.high):
                raise ValueError("an int parameter needs whole-number bounds")
            if self.log and self.step not in (None, 1):
                raise ValueError("an int parameter cannot have both 'log' and a 'step' above 1")
        elif self.step is not None:
            raise ValueError("'step' applies to int parameters only")
        return self


class Target(StrictModel):
    """Observed data a simulation output is scored against."""

    data: str = Field(
        description="CSV or Parquet file, relative to the run document, or a blob URL "
        "(https://<account>.blob.core.windows.net/<container>/<path>)."
    )
    output: str | None = Field(None, description="Simulation output to compare; defaults to the target's name.")
    keys: list[str] = Field(
        min_length=1,
        description="Key columns matching simulated rows to observed rows.",
        json_schema_extra={"uniqueItems": True},
    )
    value: str = Field(description="Column compared between simulation and data.")
    loss: str | None = Field(
        None,
        description=f"One of {', '.join(BUILTIN_LOSSES)}, or 'pkg.module:function' taking the aligned "
        "frame (keys, replicate, simulated, observed) and returning a float; 'mse' when the target "
        "has neither a loss nor a likelihood.",
        json_schema_extra=rules.name_or_callable(list(BUILTIN_LOSSES)),
    )
    likelihood: Literal["poisson", "negative_binomial", "binomial", "beta_binomial", "normal"] | None = Field(
        None,
        description="Observation model; the target's loss is then -log of the replicates' mean likelihood "
        "of the data (summed over rows). A target has a loss or a likelihood, not both.",
    )
    dispersion: float | str | None = Field(
        None,
        description="negative_binomial: the size k (variance mu + mu^2/k); beta_binomial: the concentration "
        "alpha + beta. A number, or the name of a parameter to fit it.",
    )
    sd: float | str | None = Field(
        None, description="normal: the standard deviation; a number, or the name of a parameter to fit it."
    )
    size: str | None = Field(
        None, description="binomial, beta_binomial: the data column with the number of trials (the simulated "
        "value is the probability)."
    )
    weight: float = Field(1.0, gt=0, description="Weight in the total loss (a weighted sum).")

    @field_validator("loss")
    @classmethod
    def _check_loss(cls, value: str | None) -> str | None:
        if value is None or value in BUILTIN_LOSSES:
            return value
        if ":" not in value:
            raise ValueError(f"unknown loss {value!r}: use one of {', '.join(BUILTIN_LOSSES)} or 'pkg.module:function'")
        return _check_entrypoint(value)

    @model_validator(mode="after")
    def _check_likelihood(self) -> Target:
        if self.likelihood is None:
            extra = [f for f in ("dispersion", "sd", "size") if getattr(self, f) is not None]
            if extra:
                raise ValueError(f"{extra} apply to likelihood targets only")
            return self
        if self.loss is not None:
            raise ValueError("a target has a loss or a likelihood, not both")
        needs = LIKELIHOOD_NEEDS[self.likelihood]
        missing = [f for f in needs if getattr(self, f) is None]
        extra = [f for f in ("dispersion", "sd", "size") if f not in needs and getattr(self, f) is not None]
        if missing:
            raise ValueError(f"the {self.likelihood} likelihood needs {missing}")
        if extra:
            raise ValueError(f"the {self.likelihood} likelihood takes no {extra}")
        for name in ("dispersion", "sd"):
            value = getattr(self, name)
            if isinstance(value, float) and not (math.isfinite(value) and value > 0):
                raise ValueError(f"'{name}' must be a positive number or a parameter's name")
        if self.size in (*self.keys, self.value):
            raise ValueError(f"'size' column {self.size!r} is also a key or the value")
        return self

    def fitted(self) -> dict[str, str]:
        """Observation parameters fitted as run parameters: field -> parameter name."""
        return {f: getattr(self, f) for f in ("dispersion", "sd") if isinstance(getattr(self, f), str)}

    @model_validator(mode="after")
    def _check_columns(self) -> Target:
        if len(set(self.keys)) != len(self.keys):
            raise ValueError("'keys' must not repeat a column")
        if self.value in self.keys:
            raise ValueError(f"'value' column {self.value!r} is also in 'keys'")
        return self


class Algorithm(StrictModel):
    """What proposes parameter sets."""

    model_config = ConfigDict(
        json_schema_extra=rules.sampler_option_rules(
            {name: model.model_json_schema() for name, model in SAMPLER_OPTIONS.items()},
            {ABC_SMC: AbcSmcOptions.model_json_schema()},
        )
    )

    name: str = Field(
        "optuna",
        description="'optuna' (an optimiser: the best parameter set), 'abc-smc' (an approximate posterior), "
        "or 'pkg.module:Factory' for a custom AdaptiveAlgorithm built as Factory(space=..., budget=..., seed=...).",
        json_schema_extra=rules.name_or_callable(["optuna", ABC_SMC]),
    )
    sampler: Literal["tpe", "cmaes", "random", "qmc"] = Field("tpe", description="Optuna sampler.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the sampler (validated per sampler: see `modelops.spec.sampler_options`), "
        "or keyword arguments of a custom Factory.",
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if value in ("optuna", ABC_SMC):
            return value
        if ":" not in value:
            raise ValueError(f"unknown algorithm {value!r}: use 'optuna', 'abc-smc' or 'pkg.module:Factory'")
        return _check_entrypoint(value)

    @field_validator("options")
    @classmethod
    def _check_options(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if info.data.get("name") == ABC_SMC:
            sampler_options(ABC_SMC, value)
        elif info.data.get("name") == "optuna" and "sampler" in info.data:
            sampler_options(info.data["sampler"], value)
        return value

    def sampler_options(self) -> SamplerOptions:
        """The validated options of the Optuna sampler, or of abc-smc."""
        return sampler_options(ABC_SMC if self.name == ABC_SMC else self.sampler, self.options)


class Budget(StrictModel):
    trials: int = Field(ge=1, le=MAX_TRIALS, description="Parameter sets to evaluate.")
    target_loss: float | None = Field(None, description="Stop early once the best loss is at or below this.")


class Confirm(StrictModel):
    """Re-scoring of the best candidates after the search, with fresh replicate seeds.

    The minimum of noisy evaluations is optimistic (the winner's curse), so the
    `top` candidates are each evaluated `repeats` more times, every time with
    `replicates` new seeds from the confirmation stream; the best is the one
    with the lowest mean of those fresh losses. That mean is the minimum of
    `top` noisy means, optimistic in turn, so the best is evaluated `holdout`
    more times with seeds the choice did not see, and those give its reported
    loss and standard error. Extra budget: at most `top * repeats + holdout`
    evaluations beyond `budget.trials`.
    """

    top: int = Field(10, ge=0, description="Candidates re-scored (the search's lowest losses); 0 turns it off.")
    repeats: int = Field(4, ge=2, description="Fresh evaluations per candidate, to choose the best by their mean.")
    holdout: int = Field(
        4, ge=2, description="Further fresh evaluations of the chosen best: its reported loss and standard error."
    )

    @property
    def extra_trials(self) -> int:
        return self.top * self.repeats + (self.holdout if self.top else 0)


class CentralStore(StrictModel):
    """A PostgreSQL study shared by the run's runners (provisioned per run in the cluster)."""

    size: str = Field("10Gi", pattern=r"^[0-9]+(Mi|Gi|Ti)$", description="Volume size.")
    storage_class: str | None = Field(None, description="Kubernetes storage class; the cluster default if unset.")
    version: Literal["15", "16"] = "15"


class Compute(StrictModel):
    runners: int = Field(1, ge=1, description="Runner processes sharing the study; more than one needs a central_store.")
    workers: int | None = Field(None, ge=1, description="Dask workers; locally defaults to the number of cores.")
    threads_per_worker: int = Field(1, ge=1)
    in_flight: int | None = Field(
        None, ge=1, description="Trials kept in flight; defaults to twice the worker threads."
    )
    replicates_per_task: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto", description="Replicates simulated per Dask task; 'auto' groups cheap simulations."
    )


class RunSpec(StrictModel):
    """A calibration run: model, parameter space, targets, algorithm, budget, compute."""

    model_config = ConfigDict(populate_by_name=True, json_schema_extra=rules.document_header)

    api_version: Literal["modelops/v1"] = Field("modelops/v1", alias="apiVersion")
    kind: Literal["Calibration"] = "Calibration"
    name: str = Field(
        description="Lowercase letters, digits and '-', at most 40 characters.",
        json_schema_extra={"pattern": rules.NAME_PATTERN, "minLength": 1, "maxLength": 40},
    )
    model: Model
    parameters: dict[str, Parameter] = Field(
        min_length=1,
        description="The parameter space, by name (identifiers).",
        json_schema_extra={"propertyNames": {"pattern": rules.IDENTIFIER_PATTERN}},
    )
    targets: dict[str, Target] = Field(min_length=1, description="Observed data, by name.")
    algorithm: Algorithm = Algorithm()
    budget: Budget
    replicates: int = Field(
        1, ge=1, le=MAX_REPLICATES, description="Simulations per parameter set, each with its own seed."
    )
    seed: int | None = Field(None, ge=0, le=UINT64_MAX, description="Seed of the algorithm; fixed for reproducible runs.")
    confirm: Confirm = Confirm()
    compute: Compute = Compute()
    central_store: CentralStore | None = Field(
        None, validate_default=True, description="Keep the study in a per-run PostgreSQL."
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} is not a valid name: lowercase letters, digits and '-', at most 40 characters")
        return value

    @field_validator("parameters")
    @classmethod
    def _check_parameter_names(cls, value: dict[str, Parameter]) -> dict[str, Parameter]:
        bad = [name for name in value if not _IDENTIFIER.match(name)]
        if bad:
            raise ValueError(f"parameter names must be identifiers (letters, digits, '_'): {bad}")
        return value

    @model_validator(mode="after")
    def _abc_smc_fits_float_parameters_with_one_runner(self) -> RunSpec:
        if self.algorithm.name != ABC_SMC:
            return self
        other = [name for name, p in self.parameters.items() if p.type != "float"]
        if other:
            raise ValueError(f"algorithm abc-smc samples float parameters only, not {other}")
        if self.compute.runners != 1:
            raise ValueError("algorithm abc-smc keeps its population in one runner: compute.runners must be 1")
        return self

    @model_validator(mode="after")
    def _fitted_observation_parameters_exist(self) -> RunSpec:
        for name, target in self.targets.items():
            for field, parameter in target.fitted().items():
                p = self.parameters.get(parameter)
                if p is None:
                    raise ValueError(f"targets.{name}.{field}: no parameter {parameter!r} to fit it")
                if p.type != "float" or p.low <= 0:
                    raise ValueError(f"targets.{name}.{field}: parameter {parameter!r} must be a float above 0")
        return self

    @field_validator("central_store", mode="after")
    @classmethod
    def _runners_need_a_central_store(cls, value: CentralStore | None, info: ValidationInfo) -> CentralStore | None:
        compute = info.data.get("compute")
        if value is None and compute is not None and compute.runners > 1:
            raise ValueError(
                f"required when compute.runners > 1 (it is {compute.runners}): runners share the study "
                "through PostgreSQL; SQLite and in-memory studies serve one runner"
            )
        return value

    def target_output(self, target: str) -> str:
        return self.targets[target].output or target


def json_schema() -> dict[str, Any]:
    """The run document's JSON Schema (by alias, as users write it)."""
    return RunSpec.model_json_schema(by_alias=True)
