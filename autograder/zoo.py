"""Small fixed models that both the grader and the worker can build by name.

Training tests send a model's name and state dict across the process boundary,
never a pickled module. Each model records, at every forward pass, whether it
was in training mode, whether autograd was recording, the input's device and the
batch size: the suites read that to tell a missing ``eval()`` from a missing
``no_grad``, or a batch that was not moved to ``device``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

IMAGE_SIZE = 12  # small inputs keep training tests fast


class NotYetMoved(torch.Tensor):
    """A batch as the DataLoader yields it, before ``.to(device)``.

    On a CPU-only grader a batch that is never moved still works, so a missing move would go unseen:
    the model notes whether its input is still of this type. ``.to`` returns a plain tensor.
    """

    def to(self, *args, **kwargs):
        return super().to(*args, **kwargs).as_subclass(torch.Tensor)


def plain(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.as_subclass(torch.Tensor) if isinstance(tensor, NotYetMoved) else tensor


class RecordingModel(nn.Module):
    """Wraps a network and appends one observation per forward pass to ``self.observations``."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network
        self.observations: list[dict] = []

    def report(self) -> dict:
        """What the grader reads after a call: weights, mode, the forward passes, and hooks left registered."""
        hooks = sum(len(module._forward_hooks) + len(module._forward_pre_hooks) + len(module._backward_hooks)
                    for module in self.modules())
        return {"state_dict": {key: value.detach().cpu() for key, value in self.state_dict().items()},
                "training": self.training, "observations": self.observations, "hooks": hooks}

    def forward(self, inputs):
        self.observations.append(dict(training=self.training, grad_enabled=torch.is_grad_enabled(),
                                      device=str(inputs.device), batch_size=int(inputs.shape[0]),
                                      moved=not isinstance(inputs, NotYetMoved)))
        return self.network(plain(inputs))


def _tiny_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Dropout(0.3), nn.Linear(3 * 5 * 5, 10))


def _dropout_mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(IMAGE_SIZE * IMAGE_SIZE, 16), nn.ReLU(),
                         nn.Dropout(0.5), nn.Linear(16, 10))


ARCHITECTURES = {"tiny_cnn": _tiny_cnn, "dropout_mlp": _dropout_mlp}


def build(name: str, seed: int = 0) -> RecordingModel:
    """Build architecture ``name`` with weights drawn from ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return RecordingModel(ARCHITECTURES[name]())


def loss_function(name: str):
    return {"cross_entropy": nn.CrossEntropyLoss()}[name]


def optimizer(spec: dict, parameters) -> torch.optim.Optimizer:
    spec = dict(spec)
    kind = spec.pop("name")
    return {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[kind](parameters, **spec)


def conv_square_loss(kernel: torch.Tensor):
    """f(x) = sum(conv(x, kernel)^2), the loss of the gradient exercises."""
    def loss(x: torch.Tensor) -> torch.Tensor:
        return (F.conv2d(x[None, None], kernel[None, None].to(x.dtype))[0, 0] ** 2).sum()
    return loss


def cubic_loss(weights: torch.Tensor):
    """f(x) = sum(weights * x^3): curved enough that a forward difference is visibly off."""
    def loss(x: torch.Tensor) -> torch.Tensor:
        return (weights.to(x.dtype) * x ** 3).sum()
    return loss


def quadratic(matrix: torch.Tensor, target: torch.Tensor):
    """x -> (f(x), grad f(x)) for f(x) = (x - target)^T matrix (x - target) / 2, matrix symmetric."""
    def loss_and_gradient(x: torch.Tensor):
        gap = x - target.to(x.dtype)
        return float(gap @ matrix.to(x.dtype) @ gap) / 2, matrix.to(x.dtype) @ gap
    return loss_and_gradient


def conv1d_same(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """k * x over the last axis of x, by F.conv1d with "same" zero padding (K odd)."""
    flat = x.reshape(-1, 1, x.shape[-1])
    return F.conv1d(flat, kernel.to(x.dtype)[None, None], padding=kernel.shape[0] // 2).reshape(x.shape)


def blur_objective(target: torch.Tensor, kernel: torch.Tensor):
    """x -> (f(x), grad f(x)) for the blur distance f(x) = ||k * x - target||^2 / N, by F.conv1d.

    The adjoint of a cross-correlation with k is the cross-correlation with the mirrored kernel.
    """
    def loss_and_gradient(x: torch.Tensor):
        residual = conv1d_same(x, kernel) - target.to(x.dtype)
        return float((residual ** 2).sum()) / len(target), 2 / len(target) * conv1d_same(residual, kernel.flip(0))
    return loss_and_gradient


FUNCTIONS = {"conv_square_loss": conv_square_loss, "cubic_loss": cubic_loss, "quadratic": quadratic,
             "blur_objective": blur_objective}


def materialize(value, context: dict):
    """Build objects that cannot cross the process boundary from their recipes (plain dicts).

    ``{"__model__": name, "state_dict": ..., "train": bool, "device": str}`` -> a RecordingModel
    ``{"__loader__": {"images", "labels", "batch_size", "shuffle", "seed"}}`` -> a DataLoader
    ``{"__optimizer__": {"name": "sgd", "lr": ...}}`` -> an optimizer over the last model built
    ``{"__layer__": "network.1"}`` -> that submodule of the last model built
    ``{"__generator__": seed}`` -> a ``torch.Generator`` seeded with ``seed``
    ``{"__loss__": "cross_entropy"}``, ``{"__function__": name, "args": [...]}``, ``{"__device__": "cpu"}``
    Models built are appended to ``context["models"]``. The grader and the worker both call this,
    so the reference and the student see identical objects.
    """
    if isinstance(value, dict):
        if "__model__" in value:
            model = build(value["__model__"])
            model.load_state_dict(value["state_dict"])
            model.train(value.get("train", True))
            model.to(value.get("device", "cpu"))
            context["models"].append(model)
            return model
        if "__loader__" in value:
            spec = value["__loader__"]
            generator = torch.Generator().manual_seed(spec.get("seed", 0)) if spec.get("shuffle") else None
            dataset = torch.utils.data.TensorDataset(spec["images"].as_subclass(NotYetMoved),
                                                     spec["labels"].as_subclass(NotYetMoved))
            return torch.utils.data.DataLoader(dataset,
                                               batch_size=spec["batch_size"], shuffle=bool(spec.get("shuffle")),
                                               generator=generator)
        if "__optimizer__" in value:
            return optimizer(value["__optimizer__"], context["models"][-1].parameters())
        if "__layer__" in value:
            return context["models"][-1].get_submodule(value["__layer__"])
        if "__generator__" in value:
            return torch.Generator().manual_seed(int(value["__generator__"]))
        if "__loss__" in value:
            return loss_function(value["__loss__"])
        if "__function__" in value:
            return FUNCTIONS[value["__function__"]](*value.get("args", ()))
        if "__device__" in value:
            return torch.device(value["__device__"])
        return {key: materialize(item, context) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(materialize(item, context) for item in value)
    return value
