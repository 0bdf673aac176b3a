"""Train the reference CNN and MLP on the course digits; print accuracy, time, memory and shift tables.

Run on demand (not part of ``make test``):

    .venv/bin/python benchmarks/train_reference.py [--epochs 20] [--max-shift 6]

Each model trains in a forked child process so that its peak memory can be
reported on its own (ru_maxrss of the child, minus the RSS it inherited).
Target (issue 3): the CNN reaches >= 97% on the 1,000 held-out digits in < 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
import warnings

import torch
from torch import nn

from autograder.course.data import OfflineFallbackWarning, load_digits, make_loader
from solutions.shifted_mnist import evaluate_shifted, random_shift
from solutions.training import build_cnn, build_mlp, evaluate, train_epoch


def current_rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def train_one(model_name: str, epochs: int, augment_shift: int, max_shift: int, seed: int, queue) -> None:
    """Child process: train one model, evaluate it, and put a result dict on ``queue``."""
    inherited_mib = current_rss_mib()
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OfflineFallbackWarning)
        data = load_digits()
    model = build_cnn() if model_name == "cnn" else build_mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    test_loader = make_loader(data.test_images, data.test_labels, batch_size=500)
    start = time.perf_counter()
    for epoch in range(epochs):
        images = data.train_images
        if augment_shift:
            images = random_shift(images, augment_shift, generator=torch.Generator().manual_seed(seed + epoch))
        train_epoch(model, make_loader(images, data.train_labels, batch_size=64, shuffle=True, seed=seed + epoch),
                    optimizer, loss_fn, "cpu")
    seconds = time.perf_counter() - start
    _, accuracy = evaluate(model, test_loader, loss_fn, "cpu")
    shifts = {direction: [(s * ddx, s * ddy) for s in range(max_shift + 1)]
              for direction, (ddx, ddy) in {"horizontal": (1, 0), "vertical": (0, 1), "diagonal": (1, 1)}.items()}
    shifted = {direction: evaluate_shifted(model, data.test_images, data.test_labels, offsets, "cpu", 500)
               for direction, offsets in shifts.items()}
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(dict(model=model_name, augment=augment_shift, epochs=epochs, seconds=seconds, accuracy=accuracy,
                   peak_extra_mib=peak_mib - inherited_mib, shifted=shifted, source=data.source))


def run_isolated(*args) -> dict:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=train_one, args=(*args, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--max-shift", type=int, default=6)
    parser.add_argument("--augment-shift", type=int, default=4,
                        help="max random shift (pixels) for the augmented CNN run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    runs = [("cnn", 0), ("mlp", 0), ("cnn", args.augment_shift), ("mlp", args.augment_shift)]
    results = [run_isolated(name, args.epochs, augment, args.max_shift, args.seed) for name, augment in runs]
    print(f"data: {results[0]['source']}\n")

    def label(result):
        return result["model"].upper() + (f" + random shifts <= {result['augment']}px" if result["augment"] else "")

    print(f"{'model':<32} {'epochs':>6} {'wall s':>8} {'test acc':>9} {'peak MiB':>9}")
    for result in results:
        print(f"{label(result):<32} {result['epochs']:>6} {result['seconds']:>8.1f} "
              f"{result['accuracy']:>9.2%} {result['peak_extra_mib']:>9.0f}")

    for direction in ("horizontal", "vertical", "diagonal"):
        print(f"\nAccuracy under {direction} shifts (pixels), trained on centred digits unless noted")
        print(f"{'model':<32} " + " ".join(f"{s:>6}" for s in range(args.max_shift + 1)))
        for result in results:
            accuracies = result["shifted"][direction].values()
            print(f"{label(result):<32} " + " ".join(f"{a:>6.1%}" for a in accuracies))
    cnn, mlp = results[0]["shifted"], results[1]["shifted"]
    losses = [f"{d} {s}px" for d in cnn for s, (c, m) in enumerate(zip(cnn[d].values(), mlp[d].values()))
              if s > 0 and c <= m]
    print("\nShifts where the centred-trained CNN does not beat the MLP:", ", ".join(losses) or "none")


if __name__ == "__main__":
    main()
