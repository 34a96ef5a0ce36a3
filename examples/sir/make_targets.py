"""Regenerate the example's target data from its true parameters.

    python -m examples.sir.make_targets

One simulation at the parameters in truth.json, with a fixed seed: its daily
incidence goes to data/incidence.csv, and its prevalence on every seventh day
(a weekly survey) to data/prevalence.csv. The calibration should recover
truth.json from them.
"""

from __future__ import annotations

import json
from pathlib import Path

from examples.sir.model import simulate

HERE = Path(__file__).parent
SEED = 20261129


def main() -> None:
    truth = json.loads((HERE / "truth.json").read_text())["params"]
    outputs = simulate(truth, SEED)
    (HERE / "data").mkdir(exist_ok=True)
    outputs["incidence"].write_csv(HERE / "data" / "incidence.csv")
    weekly = outputs["prevalence"].filter(outputs["prevalence"]["day"] % 7 == 0)
    weekly.write_csv(HERE / "data" / "prevalence.csv")


if __name__ == "__main__":
    main()
