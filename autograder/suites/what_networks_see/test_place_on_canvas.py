"""Question: place_on_canvas(images, canvas_size, generator) -> each image whole at a uniform random place."""

import pytest
import torch

from autograder.grading import mistakes
from autograder.grading.cases import generator
from autograder.grading.checks import KNOWN_MISTAKE, as_tensor, unchanged
from autograder.sandbox.failures import GradingFailure

NAME = "place_on_canvas"


def items(shape, seed: int, dtype=torch.float32):
    """Images with no zero pixel, so the item's extent on the canvas is exactly its nonzero pixels."""
    return torch.rand(shape, generator=generator(seed)).add(0.1).to(dtype)


def placements(canvas, images, what: str, skip_broken: bool = False) -> list[tuple[int, int]]:
    """(top, left) of each image on its canvas; a GradingFailure naming the mistake if one is not whole
    (``skip_broken``: leave such images out instead, when another test charges for them)."""
    height, width = images.shape[-2:]
    found = []
    for index, (placed, image) in enumerate(zip(canvas, images)):
        rows = torch.nonzero(placed.reshape(-1, *placed.shape[-2:]).abs().sum(0).sum(1)).flatten()
        cols = torch.nonzero(placed.reshape(-1, *placed.shape[-2:]).abs().sum(0).sum(0)).flatten()
        if len(rows) == 0:
            raise GradingFailure(f"{what}: canvas {index} is all zeros, expected the image on it.")
        top, left = int(rows[0]), int(cols[0])
        spans = int(rows[-1]) - top + 1, int(cols[-1]) - left + 1
        window = placed[..., top:top + height, left:left + width]
        if spans == (height, width) and window.shape == image.shape and torch.equal(window, image):
            found.append((top, left))
            continue
        if skip_broken:
            continue
        if spans[0] < height or spans[1] < width:
            diagnosis = mistakes.CANVAS_CUT_OFF
        elif spans[0] > height or spans[1] > width:
            diagnosis = mistakes.CANVAS_WRAPPED
        else:
            diagnosis = None
        message = (f"{what}: image {index} does not appear whole on its canvas with zeros elsewhere (its nonzero "
                   f"pixels span {spans[0]}x{spans[1]}, the image is {height}x{width}).")
        raise GradingFailure(message + (f"\n{KNOWN_MISTAKE}{diagnosis}" if diagnosis else ""))
    return found


def place(student, images, canvas_size, generator_seed: int, request_seed: int = 0, what: str | None = None):
    what = what or (f"{NAME}(images of shape {tuple(images.shape)}, canvas_size={canvas_size}, "
                    f"generator=torch.Generator().manual_seed({generator_seed}))")
    reply = student.call(NAME, images.clone(), canvas_size, {"__generator__": generator_seed}, seed=request_seed)
    canvas = as_tensor(reply.value, what=what)
    expected = (*images.shape[:-2], *canvas_size)
    if tuple(canvas.shape) != expected:
        raise GradingFailure(f"{what}: got shape {tuple(canvas.shape)}, expected {expected}.")
    return canvas, reply, what


@pytest.mark.points(2)
@pytest.mark.public
def test_is_each_image_whole_on_a_zero_canvas(student):
    """Is every image pasted whole (all channels at one place) with zeros everywhere else, shape (N, ..., H, W)?"""
    for shape, canvas_size, seed in (((6, 1, 4, 5), (9, 11), 3), ((4, 3, 3, 3), (5, 8), 4)):
        images = items(shape, seed=800 + seed)
        canvas, _, what = place(student, images, canvas_size, seed)
        placements(canvas, images, what)


@pytest.mark.points(1)
def test_is_every_place_equally_likely_and_drawn_per_image(student):
    """2,000 images of 2x2 on a 4x5 canvas: are all 12 places used, about equally often (chi-square), and is each
    image's place drawn independently of the ones before (no period, no place following from the last)?"""
    images = items((2000, 1, 2, 2), seed=810)
    canvas, _, what = place(student, images, (4, 5), 11)
    counts = torch.zeros(3, 4)
    found = placements(canvas, images, what, skip_broken=True)
    for top, left in found:  # a cut item is charged on the test above
        counts[top, left] += 1
    message = f"{what}: the number of images at each (top, left):\n{counts.int().tolist()}"
    if counts.sum() == 0:
        raise GradingFailure(f"{what}: no image is whole on its canvas, so no place can be counted.")
    if (counts > 0).sum() == 1:
        raise GradingFailure(f"{message}\n{KNOWN_MISTAKE}{mistakes.CANVAS_ONE_PLACE_PER_BATCH}")
    if counts[-1].sum() == 0 or counts[:, -1].sum() == 0:
        raise GradingFailure(f"{message}\n{KNOWN_MISTAKE}{mistakes.CANVAS_LAST_PLACE_MISSED}")
    expected = float(counts.sum()) / counts.numel()
    chi_square = float(((counts - expected) ** 2 / expected).sum())
    # 11 degrees of freedom: a fair draw exceeds 45 with probability below 1e-5.
    if (counts == 0).any() or chi_square > 45:
        raise GradingFailure(f"{message}\nexpected about {expected:.0f} at each of the 12 places (chi-square "
                             f"{chi_square:.0f}, a uniform draw stays below 45). Draw the top row uniformly in "
                             "[0, H - h] and the left column in [0, W - w], both ends included.")
    dependence = serial_dependence([top * 4 + left for top, left in found], places=12)
    if dependence is not None:
        raise GradingFailure(f"{what}: uniform counts, but {dependence}\n{KNOWN_MISTAKE}"
                             f"{mistakes.CANVAS_NOT_INDEPENDENT}")


@pytest.mark.points(1)
@pytest.mark.requires_values("test_is_each_image_whole_on_a_zero_canvas")
def test_do_the_places_come_from_the_generator_and_leave_the_input_alone(student):
    """The same generator seed gives the same canvases whatever torch's global seed, another seed other ones;
    the dtype is kept and the input is not modified."""
    images = items((8, 1, 4, 4), seed=820, dtype=torch.float64)
    first, reply, what = place(student, images, (10, 10), 5, request_seed=1)
    again, _, _ = place(student, images, (10, 10), 5, request_seed=2)
    other, _, _ = place(student, images, (10, 10), 6, request_seed=1)
    if not torch.equal(first, again):
        raise GradingFailure(f"{what}: two calls with the same generator seed, under different global seeds, "
                             f"gave different canvases.\n{KNOWN_MISTAKE}{mistakes.SEED_IGNORED}")
    if torch.equal(first, other):
        raise GradingFailure(f"{NAME}: generators seeded 5 and 6 gave the same canvases: draw the positions from "
                             "the generator you are given.")
    if first.dtype != images.dtype:
        raise GradingFailure(f"{what}: got dtype {first.dtype}, expected {images.dtype} (the input's).")
    if not unchanged(reply.args_after[0], images):
        raise GradingFailure(f"{NAME} modified its input images: build a new canvas instead.")


# Thresholds for serial_dependence, each a chi-square quantile with a tail of 1e-7: with its 37 statistics a
# fair draw fails it with probability below 4e-6 (the uniform counts' 45 adds 5e-6). Measured by
# benchmarks/place_on_canvas_false_failures.py: no failure in 20,000 generator seeds of the reference's draws
# and 1,000 of a per-image loop's (largest lag statistic 50.3, largest pairs statistic 212.2).
LAGS = range(1, 37)
LAG_LIMIT = 54.4      # 11 degrees of freedom
PAIRS_LIMIT = 248.9   # 143 degrees of freedom


def serial_dependence(sequence: list[int], places: int) -> str | None:
    """What shows that the consecutive places in ``sequence`` (indices in [0, places)) are not independent
    draws, or None.

    Two statistics, both exact for independent uniform draws: for each lag L in LAGS the differences
    (p[i + L] - p[i]) mod places are themselves independent and uniform, so a period L, or a place that follows
    from the one before, gives a chi-square far above LAG_LIMIT; and the non-overlapping pairs
    (p[2i], p[2i + 1]) fall uniformly in the places x places table.
    """
    values = torch.tensor(sequence, dtype=torch.int64)
    for lag in LAGS:
        if len(values) <= lag * places:
            break
        differences = torch.bincount((values[lag:] - values[:-lag]) % places, minlength=places).double()
        expected = float(differences.sum()) / places
        chi_square = float(((differences - expected) ** 2 / expected).sum())
        if chi_square > LAG_LIMIT:
            return (f"the places of images i and i + {lag} are related: their difference (as place indices, "
                    f"mod {places}) was each value this often: {differences.int().tolist()}, expected about "
                    f"{expected:.0f} each (chi-square {chi_square:.0f}, independent draws stay below {LAG_LIMIT:.0f}).")
    pairs = values[:len(values) // 2 * 2].reshape(-1, 2)
    counts = torch.bincount(pairs[:, 0] * places + pairs[:, 1], minlength=places * places).double()
    expected = float(counts.sum()) / counts.numel()
    chi_square = float(((counts - expected) ** 2 / expected).sum())
    if chi_square > PAIRS_LIMIT:
        used = int((counts > 0).sum())
        return (f"the pairs of places of images (2i, 2i + 1) use {used} of the {places * places} combinations "
                f"unevenly (chi-square {chi_square:.0f}, independent draws stay below {PAIRS_LIMIT:.0f}).")
    return None
