"""On CUDA, the reference passes the suites' GPU checks (device kept, batches moved to `device`)."""

import pytest

from autograder.grading.grade import grade_submission
from submissions import SOLUTIONS

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


@pytest.mark.parametrize("assignment", ["convolution", "training", "what_networks_see", "optimization"])
def test_do_the_gpu_checks_run_and_pass_for_the_reference(assignment):
    result = grade_submission(SOLUTIONS / f"{assignment}.py", assignment)
    gpu_tests = [t for t in result.tests if "CUDA" in t.name]
    assert gpu_tests and all(t.status == "passed" for t in gpu_tests), [(t.name, t.message) for t in gpu_tests]
    assert result.score == result.max_score
