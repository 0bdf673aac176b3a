"""How often a correct place_on_canvas fails the hidden test of random places (issue 33, item 6).

Draws the places the way the reference does (all tops, then all lefts, from the generator) and the way a loop
does (top then left for each image), for many generator seeds, and applies the test's statistics to each:
the uniform counts (chi-square above 45) and serial_dependence (each lag's differences, the pairs). Prints the
failures per statistic and the largest value seen against its limit. ``--seeds N`` (default 20,000).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from autograder.suites.what_networks_see import test_place_on_canvas as suite  # noqa: E402

IMAGES, ROWS, COLS = 2000, 3, 4  # the test: 2,000 images of 2x2 on a 4x5 canvas


def reference_places(seed: int) -> list[int]:
    generator = torch.Generator().manual_seed(seed)
    tops = torch.randint(0, ROWS, (IMAGES,), generator=generator)
    lefts = torch.randint(0, COLS, (IMAGES,), generator=generator)
    return (tops * COLS + lefts).tolist()


def loop_places(seed: int) -> list[int]:
    generator = torch.Generator().manual_seed(seed)
    return [int(torch.randint(0, ROWS, (1,), generator=generator)) * COLS
            + int(torch.randint(0, COLS, (1,), generator=generator)) for _ in range(IMAGES)]


def chi_square(counts: torch.Tensor) -> float:
    expected = float(counts.sum()) / counts.numel()
    return float(((counts - expected) ** 2 / expected).sum())


def statistics(places: list[int]) -> dict[str, float]:
    values = torch.tensor(places)
    found = {"uniform": chi_square(torch.bincount(values, minlength=12).double())}
    found["worst lag"] = max(chi_square(torch.bincount((values[lag:] - values[:-lag]) % 12, minlength=12).double())
                             for lag in suite.LAGS)
    pairs = values.reshape(-1, 2)
    found["pairs"] = chi_square(torch.bincount(pairs[:, 0] * 12 + pairs[:, 1], minlength=144).double())
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20_000)
    seeds = parser.parse_args().seeds
    limits = {"uniform": 45.0, "worst lag": suite.LAG_LIMIT, "pairs": suite.PAIRS_LIMIT}
    print("| draw | seeds | statistic | limit | largest seen | failures | whole test fails |")
    print("|---|---|---|---|---|---|---|")
    for name, draw, count in (("reference", reference_places, seeds), ("loop", loop_places, max(seeds // 20, 1))):
        largest, failures, failed = dict.fromkeys(limits, 0.0), dict.fromkeys(limits, 0), 0
        for seed in range(count):
            places = draw(seed)
            found = statistics(places)
            for key, value in found.items():
                largest[key] = max(largest[key], value)
                failures[key] += value > limits[key]
            failed += found["uniform"] > 45 or suite.serial_dependence(places, places=12) is not None
        for key in limits:
            print(f"| {name} | {count} | {key} | {limits[key]} | {largest[key]:.1f} | {failures[key]} | {failed} |")


if __name__ == "__main__":
    main()
