"""Fixtures shared by every hidden suite. The ``student`` fixture comes from the runner's plugin."""

import random

import numpy
import pytest
import torch


@pytest.fixture(autouse=True)
def seeded_rng():
    """Seed every RNG and restore it afterwards (as torchvision's test/conftest.py does)."""
    states = torch.get_rng_state(), random.getstate(), numpy.random.get_state()
    torch.manual_seed(0), random.seed(0), numpy.random.seed(0)
    yield
    torch.set_rng_state(states[0]), random.setstate(states[1]), numpy.random.set_state(states[2])


@pytest.fixture
def cuda():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA: torch.cuda.is_available() is False on the grading machine")
    return "cuda"
