"""The course's manifest: each assignment's questions and their point totals, and where its suite lives.

This is the one place that lists each assignment's questions and their totals. The points themselves sit
beside each test (``@pytest.mark.points(n)``); ``tests/test_suites_manifest.py`` checks that they add up to
these totals. It lives below every layer that needs it (grading orders the questions, reports and the
gradebook lay out columns, the platforms build cells and zips); the suites themselves sit above grading.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SUITES_DIR = PROJECT_ROOT / "autograder" / "suites"
SOLUTIONS_DIR = PROJECT_ROOT / "solutions"

ASSIGNMENTS: dict[str, dict[str, int]] = {
    "convolution": {"compute_convolution_at_position": 3, "apply_convolution": 5, "sobel_magnitude": 3},
    "conv_gradients": {"conv_gradient_wrt_input": 4, "conv_gradient_wrt_kernel": 4, "numerical_gradient": 3,
                       "maximize_response": 3},
    "training": {"build_cnn": 3, "train_epoch": 4, "evaluate": 3},
    "shifted_mnist": {"shift_images": 4, "evaluate_shifted": 2},
    "deconvolution": {"blur": 4, "blur_distance_gradient": 4, "gradient_descent": 4, "metric_gradient": 3},
    "what_networks_see": {"place_on_canvas": 4, "confusion_matrix": 4, "misclassified": 4, "generate_image": 5},
    "optimization": {"conv2d": 5, "max_pool2d": 3, "avg_pool2d": 3, "sgd_step": 4, "adam_step": 4,
                     "plateau_learning_rates": 4, "fit_line": 3, "train_module": 3},
}

# What every worker of an assignment switches off before it loads the student's code (autograder.worker.blocks).
# No graded function of these two needs autograd, and their gradients must be derived by hand: one that calls
# backward() or autograd.grad raises in every test, so it loses its whole question. (The implement-it-yourself
# checks block library convolutions too, in a worker of their own: grading.checks.CHECK_BLOCKS.)
WORKER_BLOCKS: dict[str, tuple[str, ...]] = {"conv_gradients": ("autograd",), "deconvolution": ("autograd",)}

# Top-level constants that a suite reads directly (student.get), beside the graded functions.
GRADED_CONSTANTS: dict[str, tuple[str, ...]] = {"convolution": ("SOBEL_X", "SOBEL_Y")}


def suite_dir(assignment: str) -> Path:
    if assignment not in ASSIGNMENTS:
        raise KeyError(f"unknown assignment {assignment!r}; expected one of {', '.join(ASSIGNMENTS)}")
    return SUITES_DIR / assignment


def max_score(assignment: str) -> float:
    """The assignment's total points: the sum of its questions' totals."""
    return float(sum(ASSIGNMENTS[assignment].values()))
