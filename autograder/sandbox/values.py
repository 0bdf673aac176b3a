"""Values that come back across the boundary: decoded markers, the size the grader may compute with, and the
shape of a well-formed reply. Everything here reads answers that a student's process sent; nothing trusts them."""

from __future__ import annotations

import math
import reprlib
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from autograder.sandbox.failures import MalformedReply
from autograder.worker import protocol


class Unsupported:
    """Stands in for a student's return value that could not cross the process boundary."""

    def __init__(self, type_name: str, detail: str = ""):
        self.type_name, self.detail = type_name, detail

    def __repr__(self) -> str:
        return f"<{self.type_name}{': ' + self.detail if self.detail else ''}>"


class UnusableTensor(Unsupported):
    """A tensor that crossed the boundary but cannot be graded as numbers: another layout (sparse), quantized,
    complex, an unusual dtype or device, or a view that stands for more numbers than could have crossed.
    ``hint`` says what to return instead."""

    def __init__(self, description: str, hint: str):
        super().__init__("torch.Tensor", description)
        self.description, self.hint = description, hint


class NumpyArray:
    """A numpy array a student returned: graded by its values like a tensor, but named as what it is."""

    def __init__(self, tensor: Tensor):
        self.tensor = tensor

    def __repr__(self) -> str:
        return f"<numpy array {str(self.tensor.dtype).removeprefix('torch.')} {tuple(self.tensor.shape)}>"


def describe(value: Any) -> str:
    """A short description of a value for messages: type, and shape/dtype/device for tensors. Total: whatever a
    student returned, this gives a line of text (an integer of 400 digits, a list whose repr fails)."""
    try:
        return _describe(value)
    except Exception:
        return f"a {type(value).__name__}"


def _integer(value: int) -> str:
    """An integer as a message shows it; Python refuses to print one of more than 4300 digits."""
    if abs(value) < 10**16:
        return str(value)
    return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"


def _describe(value: Any) -> str:
    if isinstance(value, UnusableTensor):
        return value.description
    if isinstance(value, Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)} on {value.device}"
    if isinstance(value, Unsupported):
        return f"an object of type {value.type_name}"
    if isinstance(value, NumpyArray):
        return (f"a numpy {str(value.tensor.dtype).removeprefix('torch.')} array of shape {tuple(value.tensor.shape)} "
                "(not a torch tensor)")
    if isinstance(value, bool):
        return f"a Python bool ({value})"
    if isinstance(value, int):
        return f"a Python int ({_integer(value)}), not a tensor"
    if isinstance(value, float):
        return f"a Python float ({value:.8g}), not a tensor"
    if value is None:
        return "None"
    return f"a {type(value).__name__} ({short_repr(value)})"


def short_repr(value: Any) -> str:
    """``repr(value)`` cut short, for a message; total (a repr that raises gives the type's name)."""
    try:
        return _SHORT.repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong, _SHORT.maxlevel = 60, 60, 40, 3


@dataclass
class Reply:
    """A successful call: the decoded value, tensors passed in as they were afterwards, and what the worker
    read of each model after the call (``zoo.describe_model``: state_dict, hooks, probe)."""

    value: Any
    args_after: list
    models: list[dict] = field(default_factory=list)

    def __post_init__(self):
        # Both lists come from the student's process: one shorter than the test's arguments or models is the
        # student's malformed answer when a test reads past its end, and each model's tensors are graded as
        # tensors are (an UnusableTensor for a sparse or quantized one).
        self.args_after = _Answers(self.args_after, "the arguments after the call")
        self.models = _Answers([_decoded_model(model) for model in self.models], "a report on each model")


def _decoded_model(model: Any) -> Any:
    if not isinstance(model, dict):
        return model
    decoded = dict(model)
    if isinstance(model.get("state_dict"), dict):
        decoded["state_dict"] = {key: _decode(value) for key, value in model["state_dict"].items()}
    if isinstance(model.get("probe"), Tensor):
        decoded["probe"] = _gradable(model["probe"])
    return decoded


class _Answers(list):
    """A list from the student's process: reading past its end raises MalformedReply, not IndexError."""

    def __init__(self, items, what: str):
        super().__init__(items if isinstance(items, (list, tuple)) else ())
        self.what = what

    def __getitem__(self, index):
        try:
            return super().__getitem__(index)
        except IndexError:
            raise MalformedReply(f"the process running your code sent the grader fewer answers than the test "
                                 f"needs ({self.what}): code that rewrites the worker's replies costs the test.") \
                from None


# What a graded tensor may be: the dtypes and devices the course's answers use, dense (strided) and not quantized.
GRADABLE_DTYPES = frozenset({torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8, torch.int8,
                             torch.int16, torch.int32, torch.int64, torch.bool})
GRADABLE_DEVICES = frozenset({"cpu", "cuda"})


def _gradable(tensor: Tensor) -> Tensor | UnusableTensor:
    """The tensor as the checks may compute with it, or an UnusableTensor that says why it cannot be graded.

    A tensor decoded by ``torch.load`` may be sparse, quantized, complex, of a bits or float8 dtype, on the meta
    device, or a view whose strides make a few stored numbers stand for billions (``expand``): computing with
    any of them would fail or exhaust the grader's memory, so each is the student's answer of the wrong kind."""
    shape = tuple(tensor.shape)
    kind = f"{str(tensor.dtype).removeprefix('torch.')} tensor of shape {shape}"
    if tensor.layout != torch.strided:
        return UnusableTensor(f"a {str(tensor.layout).removeprefix('torch.')} {kind}",
                              "Return a dense tensor (call .to_dense()).")
    if tensor.is_quantized:
        return UnusableTensor(f"a quantized {kind}", "Return a float tensor (call .dequantize()).")
    if tensor.is_complex():
        return UnusableTensor(f"a complex {kind}", "Return real values (take .real of an FFT's result).")
    if tensor.dtype not in GRADABLE_DTYPES:
        return UnusableTensor(f"a {kind}", "Return a float tensor with the input's dtype.")
    if tensor.device.type not in GRADABLE_DEVICES:
        return UnusableTensor(f"a {kind} on the {tensor.device.type} device, which holds no values",
                              "Return a tensor on the input's device.")
    numbers = math.prod(shape)
    if numbers * tensor.element_size() > protocol.MAX_FRAME_BYTES:
        return UnusableTensor(f"a {kind} ({numbers} numbers, a view of far fewer stored ones)",
                              "Return a tensor that holds its own values (call .contiguous()).")
    if numbers > tensor.untyped_storage().nbytes() // max(1, tensor.element_size()):
        return tensor.contiguous()  # an expanded view of a few numbers: the values it stands for, made plain
    return tensor


def _decode(value: Any, depth: int = 0) -> Any:
    """Markers back into what they stand for, and tensors that cannot be graded into UnusableTensor. The worker's
    own encoder nests at most 20 deep (to_wire)."""
    if depth > 32:
        raise RecursionError("nested too deeply")
    if isinstance(value, Tensor):
        return _gradable(value)
    if isinstance(value, dict):
        if set(value) == {protocol.UNSUPPORTED_KEY}:
            return Unsupported(str(value[protocol.UNSUPPORTED_KEY]))
        if set(value) == {protocol.NUMPY_KEY} and isinstance(value[protocol.NUMPY_KEY], torch.Tensor):
            decoded = _gradable(value[protocol.NUMPY_KEY])
            return NumpyArray(decoded) if isinstance(decoded, Tensor) else decoded
        return {key: _decode(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_decode(item, depth + 1) for item in value)
    return value


def describe_arguments(args: tuple, kwargs: dict) -> str:
    """The test's inputs, for a message: "a torch.float64 tensor of shape (6, 8), 0.5" (a model or loader by kind)."""
    recipes = {"__model__": "model", "__loader__": "DataLoader", "__optimizer__": "optimizer", "__loss__": "loss",
               "__function__": "function", "__device__": "device", "__layer__": "layer of the model",
               "__generator__": "torch.Generator"}

    def one(value) -> str:
        if isinstance(value, dict) and set(value) & set(recipes):  # a recipe the worker turns into an object
            return "a " + recipes[next(key for key in value if key in recipes)]
        return describe(value)

    parts = [one(value) for value in args] + [f"{key}={one(value)}" for key, value in kwargs.items()]
    return ", ".join(parts)


def _extent(value: Any, depth: int = 0) -> int:
    """How many numbers ``value`` stands for, counting every axis of a tensor at least once: a (0, 2**26) tensor
    weighs 2**26, since an answer computed from it can reach that size."""
    if depth > 32:
        raise RecursionError("nested too deeply")
    if isinstance(value, torch.Tensor):
        return math.prod(max(1, size) for size in value.shape)
    if isinstance(value, NumpyArray):
        return _extent(value.tensor, depth + 1)
    if isinstance(value, (list, tuple)):
        return len(value) + sum(_extent(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return len(value) + sum(_extent(item, depth + 1) for item in value.values())
    if isinstance(value, str):
        return len(value)
    return 1


def _on_meta(value: Any) -> Any:
    """The same arguments with every tensor on torch's meta device: shapes and dtypes, no memory."""
    if isinstance(value, NumpyArray):
        value = value.tensor
    if isinstance(value, torch.Tensor):
        return torch.empty(value.shape, dtype=value.dtype, device="meta")
    if isinstance(value, (list, tuple)):
        return type(value)(_on_meta(item) for item in value)
    if isinstance(value, dict):
        return {key: _on_meta(item) for key, item in value.items()}
    return value


def _is_tensor_dict(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())


def _check_reply(reply: dict, op: str) -> None:
    """Raise MalformedReply unless ``reply`` has the shape the worker's own code gives an ``op`` reply."""
    def bad(what: str):
        raise MalformedReply(f"the process running your code sent the grader a malformed answer ({what}). Code "
                             "that writes to the grader's pipes or rewrites the worker costs the tests it reaches.")

    if not isinstance(reply.get("output", ""), str):
        bad("its output is not text")
    if op == "load":
        if not isinstance(reply.get("defined"), dict) or not all(
                isinstance(k, str) and type(v) is bool for k, v in reply["defined"].items()):
            bad("the names defined")
        if not isinstance(reply.get("errors"), list) or not all(isinstance(e, str) for e in reply["errors"]):
            bad("the loading errors")
        return
    if type(reply.get("ok")) is not bool:
        bad("no ok flag")
    if not reply["ok"]:
        error = reply.get("error")
        if not isinstance(error, dict) or not isinstance(error.get("kind"), str) or not all(
                isinstance(error.get(key, ""), str) for key in ("function", "type", "message", "traceback")):
            bad("an error without its kind, type and message")
        if not (isinstance(error.get("types", []), list) and all(isinstance(name, str) for name in error.get("types", []))
                and type(error.get("errno")) in (int, type(None))
                and (error.get("blocked") is None or (isinstance(error["blocked"], list) and len(error["blocked"]) == 2
                                                      and all(isinstance(part, str) for part in error["blocked"])))):
            bad("an error whose types, errno or blocked call are not of the protocol")
        return
    if "value" not in reply:
        bad("no value")
    if op == "call":
        if not isinstance(reply.get("args_after"), list) or not isinstance(reply.get("models", []), list):
            bad("the arguments after the call")
        for model in reply.get("models", []):
            if not (isinstance(model, dict) and _is_tensor_dict(model.get("state_dict")) and type(model.get("hooks"))
                    is int and isinstance(model.get("probe"), (torch.Tensor, str))):
                bad("a model's report")
