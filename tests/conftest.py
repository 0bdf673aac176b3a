import random

import numpy
import pytest
import torch


@pytest.fixture(autouse=True)
def seeded_rng():
    """Seed every RNG and restore it afterwards, as torchvision's test/conftest.py does."""
    torch_state, python_state, numpy_state = torch.get_rng_state(), random.getstate(), numpy.random.get_state()
    torch.manual_seed(0), random.seed(0), numpy.random.seed(0)
    yield
    torch.set_rng_state(torch_state), random.setstate(python_state), numpy.random.set_state(numpy_state)


def pytest_collection_modifyitems(config, items):
    # Whole-notebook runs take 20-60 s each: start them first so that the two xdist workers
    # finish together instead of one of them running the longest tests at the end.
    # The Dask tests wait on real schedulers and workers: start them early too.
    items.sort(key=lambda item: item.path.name not in ("test_notebooks.py", "test_scaleout.py"))
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA: torch.cuda.is_available() is False on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
