"""What a worker switches off before it loads any student code: library convolutions, autograd.

A worker started with blocks installs them first and keeps them until it exits, so student code never
runs without them and can hold no reference saved from before. Each block sits where Python code in the
worker cannot take it away:

- **convolution**: every operator of the convolution family that torch registers (``aten::convolution``
  and the kernels under it, ``conv_transpose``, ``unfold``, ``im2col``/``col2im``, mkldnn, quantized,
  cudnn, ...; found by name in the dispatcher's list, not from a hand-kept list) gets a kernel that
  raises, for the CPU and CUDA backends and their autograd keys. The registration's handle is leaked
  on purpose: nothing in Python refers to it, so nothing can destroy it. Dispatch modes switched off,
  other threads, ``inference_mode`` and direct ``torch.ops`` calls all reach the same kernels. numpy's
  convolve/correlate (and its ``sliding_window_view``, its ``unfold``) and torch's own Python
  decompositions of ``unfold``/``im2col`` are replaced in every module that holds them; scipy.signal's
  and scipy.ndimage's convolutions likewise, as soon as either is imported (again, too), by a finder that
  an audit hook keeps first on ``sys.meta_path``.
- **pooling**: every pooling operator torch registers (``aten::max_pool*``, ``max_pool2d_with_indices``,
  ``avg_pool*``, the adaptive, fractional and unpooling ones, mkldnn and quantized), found by name in the
  dispatcher's list as the convolutions are, blocked the same way.
- **optim**: ``torch.optim``. Its optimizers are Python classes, so ``Optimizer.__init__`` itself (on the class:
  every subclass, saved anywhere or made later, builds through it) and every function of the ``torch.optim``
  modules (the functional ``sgd``/``adam`` and the ``_single_tensor``/``_multi_tensor`` loops under them) are
  replaced wherever they are held, and the fused operators (``aten::_fused_adam_``, ...) in the dispatcher. A
  module of ``torch.optim`` reloaded by hand (``importlib.reload``) gives its functions back: that is beyond an
  in-process check, and the values are still compared with the reference.
- **autograd**: reverse mode is blocked on the engine's type (``torch._C._ImperativeEngine.run_backward``),
  so an engine saved anywhere or made anew is blocked too; forward mode by the ``_make_dual`` operator
  (``torch.func.jvp``, ``jacfwd``, ``forward_ad``); TorchScript and the JIT's own ``aten::grad`` and
  ``aten::backward`` cannot run.

A blocked call raises RuntimeError with ``BLOCKED`` in its message. The grader never trusts a worker's word
that nothing was blocked: a check passes only when the right values come back with the blocks in place.
What this cannot stop is code that rewrites the interpreter's memory (ctypes, /proc/self/mem), rewrites
this module's own objects, or gets a scipy compiled module (``_sigtools``) anew without this module's finder:
loaded by hand (``importlib.util.module_from_spec``), or imported again after taking the finder off
``sys.meta_path`` (Python hands out a compiled module it has loaded before without an audit event); such code is beyond any in-process check, and the values it returns are still
compared with the reference.
"""

from __future__ import annotations

import re
import sys
import warnings

BLOCKED = "blocked while grading"
KINDS = ("convolution", "autograd", "pooling", "optim")

# Operator names of the convolution family, in every namespace torch registers (aten, mkldnn, quantized, ...).
CONVOLUTION_OPS = re.compile(r"conv(?!ert)|im2col|col2im|^aten::unfold")
POOLING_OPS = re.compile(r"^(?!inductor::)\S*pool")
FUSED_OPTIMIZER_OPS = re.compile(r"^aten::_fused_(sgd|adam|adamw|adagrad)")
FORWARD_AD_OPS = re.compile(r"^aten::_make_dual|^aten::_unpack_dual")
DISPATCH_KEYS = ("CPU", "CUDA", "AutogradCPU", "AutogradCUDA", "MkldnnCPU", "QuantizedCPU", "QuantizedCUDA",
                 "SparseCPU", "SparseCUDA")
# JIT operators that run the autograd engine without passing through Python.
JIT_AUTOGRAD_OPS = ("aten::grad", "aten::backward", "aten::_make_dual", "aten::_unpack_dual")

ADVICE = {"convolution": "a library convolution; write the sum yourself",
          "autograd": "torch.autograd; derive the gradient by hand and compute it with sums",
          "pooling": "a library pooling; take the maximum or the mean of each window yourself",
          "optim": "torch.optim; write the update rule yourself"}



class Blocked(RuntimeError):
    """A blocked call: ``call`` names what was called, ``kind`` which block stopped it (one of KINDS)."""

    def __init__(self, call: str, kind: str):
        super().__init__(f"{call} is {BLOCKED}: it is {ADVICE[kind]}")
        self.call, self.kind = call, kind


def _raiser(name: str, kind: str):
    def blocked(*args, **kwargs):
        raise Blocked(name, kind)

    blocked.__name__ = f"blocked_{kind}"
    return blocked


def _leak(handle) -> None:
    """Keep ``handle`` alive for the life of the process with no Python reference to it left."""
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(handle))


def _block_operators(pattern: re.Pattern, kind: str) -> int:
    import torch

    handles, count = {}, 0
    with warnings.catch_warnings():  # "overriding a previously registered kernel": that is the point
        warnings.simplefilter("ignore")
        for qualified in torch._C._dispatch_get_all_op_names():
            if not pattern.search(qualified):
                continue
            namespace, name = qualified.split("::", 1)
            for key in DISPATCH_KEYS:
                handle = handles.get((namespace, key))
                if handle is None:
                    handle = handles[namespace, key] = torch._C._dispatch_library("IMPL", namespace, key, "", 0)
                try:
                    handle.impl(name, key, _raiser(qualified, kind), False)
                    count += 1
                except RuntimeError:
                    continue  # an operator this key cannot take (say, a schema without tensors)
    for handle in handles.values():
        _leak(handle)
    return count


def _replace_everywhere(originals: dict[int, tuple[object, object]]) -> None:
    """Put each replacement wherever a loaded module (or torch's decomposition table) holds the original."""
    for module in list(sys.modules.values()):
        try:
            names = list(vars(module).items())
        except TypeError:
            continue
        for attribute, value in names:
            entry = originals.get(id(value))
            if entry is not None and entry[0] is value:
                try:
                    setattr(module, attribute, entry[1])
                except (AttributeError, TypeError):
                    continue
    try:
        from torch._decomp import decomposition_table
    except ImportError:
        return
    for key, value in list(decomposition_table.items()):
        entry = originals.get(id(value))
        if entry is not None and entry[0] is value:
            decomposition_table[key] = entry[1]


def _python_convolutions() -> list[tuple[str, object]]:
    """numpy's convolutions (its C functions too) and torch's Python unfold/im2col: loaded with torch already."""
    found = []
    try:
        import numpy
        from numpy.lib import stride_tricks

        core = getattr(numpy, "_core", None) or numpy.core
        found += [("numpy.convolve", numpy.convolve), ("numpy.correlate", numpy.correlate),
                  ("numpy.lib.stride_tricks.sliding_window_view", stride_tricks.sliding_window_view)]
        found += [(f"numpy multiarray.{name}", getattr(core.multiarray, name))
                  for name in ("correlate", "correlate2") if hasattr(core.multiarray, name)]
    except ImportError:
        pass
    try:
        import torch._decomp.decompositions as decompositions
        import torch._refs as refs

        found += [(f"torch._refs.{name}", getattr(refs, name)) for name in ("unfold", "unfold_copy")
                  if hasattr(refs, name)]
        found += [(f"torch._decomp.{name}", getattr(decompositions, name)) for name in dir(decompositions)
                  if re.fullmatch(r"im2col|col2im|unfold\w*", name)]
    except ImportError:
        pass
    return found


def _scipy_convolutions() -> list[tuple[str, object]]:
    """scipy.signal's and scipy.ndimage's convolutions and the C functions under them (imports both)."""
    import importlib

    # From sys.modules, not the packages' attributes: a module loaded again is there before its package's is set.
    scipy_signal, _sigtools = (importlib.import_module(name) for name in ("scipy.signal", "scipy.signal._sigtools"))
    scipy_ndimage, _nd_image = (importlib.import_module(name) for name in ("scipy.ndimage", "scipy.ndimage._nd_image"))

    found = [(f"scipy.signal.{name}", getattr(scipy_signal, name)) for name in
             ("convolve", "correlate", "convolve2d", "correlate2d", "fftconvolve", "oaconvolve")]
    found += [(f"scipy.ndimage.{name}", getattr(scipy_ndimage, name)) for name in
              ("convolve", "correlate", "convolve1d", "correlate1d")]
    found += [(f"scipy.signal._sigtools.{name}", getattr(_sigtools, name)) for name in dir(_sigtools)
              if re.search("conv|correl", name)]
    found += [(f"scipy.ndimage._nd_image.{name}", getattr(_nd_image, name)) for name in dir(_nd_image)
              if re.search("correl", name)]
    return [(name, function) for name, function in found
            if not getattr(function, "__name__", "").startswith("blocked_")]


def _block_convolutions(found: list[tuple[str, object]]) -> None:
    _replace_everywhere({id(function): (function, _raiser(name, "convolution")) for name, function in found})


# scipy's two packages of convolutions: blocked when they are imported, not imported up front (see below).
SCIPY_PACKAGES = ("scipy.signal", "scipy.ndimage")


def _in_scipy_packages(name: str) -> bool:
    return any(name == package or name.startswith(package + ".") for package in SCIPY_PACKAGES)


def _block_scipy_when_imported() -> None:
    """Replace scipy's convolutions whenever a module of scipy.signal or scipy.ndimage is loaded.

    Not by importing scipy here: that import is 0.8 s of a blocked worker's 2.4 s start (benchmarks/startup.py),
    paid by every submission, and most never import scipy. We write our own finder because importlib has no
    "after this module loads" hook: a finder first on ``sys.meta_path`` wraps the loader of each module of the
    two packages, and once the outermost load is done the convolutions are replaced wherever they are held,
    before the import returns to the code that asked for it. A module deleted from ``sys.modules`` and
    imported again (which would give the library's own functions back) goes through the same finder.
    An audit hook, which no Python code can remove, refuses any import of those modules while that finder
    is not first on ``sys.meta_path`` (all but a compiled module loaded before, for which Python raises no
    event).
    """
    import importlib.abc

    loading = [0]  # nested loads of the two packages in progress: replace once the outermost is done

    class BlockingLoader(importlib.abc.Loader):
        def __init__(self, inner):
            self.inner = inner

        def create_module(self, spec):
            return self.inner.create_module(spec)

        def exec_module(self, module):
            loading[0] += 1
            try:
                self.inner.exec_module(module)
            finally:
                loading[0] -= 1
            if loading[0] == 0:
                loading[0] += 1
                try:
                    _block_convolutions(_scipy_convolutions())
                finally:
                    loading[0] -= 1

        def __getattr__(self, name):  # get_code, is_package, resource readers: the library's own loader's
            if name == "inner":  # not set yet (a copy being made): no endless lookup
                raise AttributeError(name)
            return getattr(self.inner, name)

    class BlockingFinder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if not _in_scipy_packages(name):
                return None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    if spec.loader is not None:
                        spec.loader = BlockingLoader(spec.loader)
                    return spec
            return None

    finder = BlockingFinder()
    sys.meta_path.insert(0, finder)

    def guard(event: str, args: tuple) -> None:
        # Raised for every module Python finds and loads (import statements and importlib.import_module), but
        # not when it hands out a compiled module again from its own cache: see the module's docstring.
        if event == "import" and _in_scipy_packages(str(args[0])):
            if not sys.meta_path or sys.meta_path[0] is not finder:
                raise Blocked(f"importing {args[0]} while the grader's watch on scipy's convolutions was moved off "
                              "sys.meta_path", "convolution")

    sys.addaudithook(guard)
    if any(_in_scipy_packages(name) for name in sys.modules):  # loaded before the finder: replace now
        _block_convolutions(_scipy_convolutions())


def _block_reverse_mode() -> None:
    """Replace ``run_backward`` on the engine's C type itself: instances saved earlier or made later get it too."""
    import ctypes
    import gc

    import torch
    from torch.autograd.variable import Variable

    engine_type = torch._C._ImperativeEngine
    blocked = _raiser("torch.autograd (backward, autograd.grad)", "autograd")
    try:
        namespace = gc.get_referents(engine_type.__dict__)[0]  # the type's real dict behind its mappingproxy
        namespace["run_backward"] = lambda self, *args, **kwargs: blocked()
        ctypes.pythonapi.PyType_Modified(ctypes.py_object(engine_type))
    except (IndexError, TypeError, AttributeError):
        pass  # an interpreter without that layout: the two lines below still cover every Python path

    class BlockedEngine:
        def run_backward(self, *args, **kwargs):
            blocked()

        def __getattr__(self, name):
            blocked()

    Variable._execution_engine = BlockedEngine()
    torch._C._ImperativeEngine = BlockedEngine


def _block_jit() -> None:
    """TorchScript and the JIT's operator lookups reach the engine from C++: neither may run."""
    import torch

    blocked = _raiser("TorchScript and JIT autograd operators", "autograd")
    for kind in (torch._C.ScriptFunction, torch._C.ScriptMethod):
        kind.__call__ = lambda self, *args, **kwargs: blocked()
    for name in ("_jit_get_operation", "_get_operation_overload"):
        original = getattr(torch._C, name, None)
        if original is None:
            continue

        def lookup(qualified, *args, _original=original, **kwargs):
            if str(qualified).split(".")[0] in JIT_AUTOGRAD_OPS:
                blocked()
            return _original(qualified, *args, **kwargs)

        setattr(torch._C, name, lookup)
    for name in ("grad", "backward", "_make_dual", "_unpack_dual"):  # packets torch may have cached already
        torch.ops.aten.__dict__.pop(name, None)


def _block_optimizers() -> None:
    """Optimizer.__init__ on the class itself, and every function of torch.optim's modules wherever it is held."""
    import inspect

    import torch.optim
    from torch.optim import optimizer as optimizer_module

    def blocked_init(self, *args, **kwargs):
        raise Blocked(f"torch.optim.{type(self).__name__}", "optim")

    optimizer_module.Optimizer.__init__ = blocked_init
    found = [(f"{module_name}.{name}", value) for module_name, module in list(sys.modules.items())
             if module is not None and (module_name == "torch.optim" or module_name.startswith("torch.optim."))
             for name, value in list(vars(module).items())
             if inspect.isfunction(value) and value.__module__ == module_name]
    _replace_everywhere({id(function): (function, _raiser(name, "optim")) for name, function in found})
    _block_operators(FUSED_OPTIMIZER_OPS, "optim")


def install(kinds) -> None:
    """Install the named blocks for the rest of this process (before any student code runs)."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown blocks: {sorted(unknown)}")
    if "convolution" in kinds:
        _block_operators(CONVOLUTION_OPS, "convolution")
        _block_convolutions(_python_convolutions())
        _block_scipy_when_imported()
    if "pooling" in kinds:
        _block_operators(POOLING_OPS, "pooling")
    if "optim" in kinds:
        _block_optimizers()
    if "autograd" in kinds:
        _block_operators(FORWARD_AD_OPS, "autograd")
        _block_reverse_mode()
        _block_jit()
