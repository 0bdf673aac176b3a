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
  decompositions of ``unfold``/``im2col`` are replaced in every module that holds them.
  Beyond torch and numpy the block is an allow-list, not a list of names: torch, numpy, the standard library
  and what torch itself needs (ALLOWED_PACKAGES) may be used; every other installed module is refused as a
  whole (scipy, sympy, and dill and tqdm, which torch loads), whether it was loaded before the block or is
  imported after it, at the submission's top level or inside a function, or reached through another
  module's attributes (_block_other_libraries). Around that: the files of such a module cannot be opened or
  run and its compiled code cannot be loaded (an audit hook), no other program can be started (a fresh
  interpreter has no blocks), and gc's walks over all objects are refused.
- **pooling**: every pooling operator torch registers (``aten::max_pool*``, ``max_pool2d_with_indices``,
  ``avg_pool*``, the adaptive, fractional and unpooling ones, mkldnn and quantized), found by name in the
  dispatcher's list as the convolutions are, blocked the same way.
- **optim**: ``torch.optim``. Its optimizers are Python classes, so ``Optimizer.__init__`` itself (on the class:
  every subclass, saved anywhere or made later, builds through it) and every function of the ``torch.optim``
  modules (the functional ``sgd``/``adam`` and the ``_single_tensor``/``_multi_tensor`` loops under them) are
  replaced wherever they are held, and the fused operators (``aten::_fused_adam_``, ...) in the dispatcher. A
  module of ``torch.optim`` reloaded by hand (``importlib.reload``) gives its functions back: that is beyond an
  in-process check, and the values are still compared with the reference.
- **autograd**: no backward formula of autograd's may run, by any way to it, not only the engine. Reverse
  mode is blocked on the engine's type (``torch._C._ImperativeEngine.run_backward``), so an engine saved
  anywhere or made anew is blocked too, and with it everything built on it (``torch.autograd.grad``,
  ``torch.func.grad``/``vjp``/``jacrev``, functorch, ``torch.autograd.functional``, hooks, compiled
  autograd, AOTAutograd's tracing); forward mode by the ``_make_dual`` operator (``torch.func.jvp``,
  ``jacfwd``, ``forward_ad``); nothing can be compiled to TorchScript or run by it, nor
  can the JIT's own ``aten::grad`` and ``aten::backward``. A graph's recorded nodes cannot be called either (``y.grad_fn(grad)``, a walk down
  ``next_functions``): every C++ node type (the 650-odd in ``torch._C._functions``, the generated
  ``ConvolutionBackward0`` and its kind, and the generic ``CppFunction`` of nodes torch does not register) is
  an immutable extension type, so its ``Py_TPFLAGS_IMMUTABLETYPE`` flag is lifted through ctypes just long
  enough to set a ``__call__`` that raises, then put back: nothing can delete or reset it, in any thread.
  Python nodes (``BackwardCFunction.apply``), the dispatcher's backward operators (``aten::*_backward``,
  ``convolution_backward``) and torch's Python decompositions of them (``torch._decomp``) raise too. The graph
  is still recorded (a node's saved tensors can be read: they are the function's own inputs).

A blocked call raises RuntimeError with ``BLOCKED`` in its message. The grader never trusts a worker's word
that nothing was blocked: a check passes only when the right values come back with the blocks in place.
What this cannot stop is code that rewrites the interpreter's memory (ctypes, /proc/self/mem: the same ctypes
that sets the node types' ``__call__`` could put the original back) or this module's own objects; a node type
from a C++ extension loaded after the block (none of the course's), or a node of a kind torch does not register
if its generic type is not the one a foreach node gets; the backward of one of torch's own Python
``autograd.Function`` classes called as a plain function (``SomeFunction.backward(ctx, grad)``: none is a
convolution); a compiled function (C or Cython) of a library outside the allow-list that was loaded
*before* the block and is still held somewhere other than a module (the worker installs its blocks before any
student code runs, so only torch's own imports come first: dill, tqdm and cuda's bindings, none a
convolution); a library installed outside site-packages (its import is refused, but its files can be read);
and a student who copies a library's source into the notebook (that is their code now). Such code is beyond any
in-process check, and the values it returns are still compared with the reference.
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

    def __init__(self, call: str, kind: str, why: str | None = None):
        super().__init__(f"{call} is {BLOCKED}: it is {why or ADVICE[kind]}")
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


def _block_convolutions(found: list[tuple[str, object]]) -> None:
    _replace_everywhere({id(function): (function, _raiser(name, "convolution")) for name, function in found})


# -- the convolution block's allow-list of modules -----------------------------------------------------------
# What an implement-it-yourself check may use: torch and numpy (their arithmetic, indexing, matmul, FFT,
# as_strided; their convolutions are blocked above), the standard library, and what torch needs to run at all.
# Anything else installed (scipy, sympy, dill, tqdm, opencv, ...) is refused as a whole, whatever its functions
# are called: no list of forbidden names to keep up to date.
ALLOWED_PACKAGES = frozenset({
    "torch", "numpy",
    "torchgen", "typing_extensions", "cuda", "nvidia",  # torch's own: code generator, typing, CUDA bindings, libraries
    "autograder",  # the worker's own package: the grader, not a library
    "__main__", "__mp_main__", "cython_runtime",  # the program itself; Cython's runtime, shared by compiled code
})
# What the import system reads from a module: a refused module still answers these.
MODULE_DUNDERS = frozenset({"__name__", "__spec__", "__path__", "__loader__", "__package__", "__file__",
                            "__class__", "__doc__"})
PROGRAM_EVENTS = ("os.exec", "os.posix_spawn", "os.spawn", "os.system", "subprocess.Popen", "os.startfile",
                  "pty.spawn")


def _top(name: str) -> str:
    return name.split(".", 1)[0]


OUTSIDE = ("outside torch, numpy and the standard library, all that an implement-it-yourself check allows; "
           "write the sum yourself")


def _refused(call: str) -> Blocked:
    return Blocked(call, "convolution", OUTSIDE)


class BlockedName:
    """What a refused module hands out: each attribute is another BlockedName; calling one raises Blocked."""

    def __init__(self, name: str):
        object.__setattr__(self, "_blocked_name", name)

    def __getattr__(self, attribute: str):
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)
        return BlockedName(f"{object.__getattribute__(self, '_blocked_name')}.{attribute}")

    def __call__(self, *args, **kwargs):
        raise _refused(object.__getattribute__(self, "_blocked_name"))

    def __mro_entries__(self, bases):  # a class derived from a refused library's class
        raise _refused(object.__getattribute__(self, "_blocked_name"))

    def __repr__(self) -> str:
        return f"<{object.__getattribute__(self, '_blocked_name')}: blocked while grading>"


def _module_name(module) -> str:
    return object.__getattribute__(module, "__dict__").get("__name__", "?")


def _blocked_module_type():
    import types

    class BlockedModule(types.ModuleType):
        """A module outside the allow-list: what the import system reads, and nothing else (a stub made by the
        finder answers every other name with a BlockedName; a real module loaded before raises)."""

        def __getattribute__(self, attribute: str):
            if attribute in MODULE_DUNDERS:
                return types.ModuleType.__getattribute__(self, attribute)
            if object.__getattribute__(self, "__dict__").get("__blocked_stub__"):  # holds nothing of the library
                if attribute.startswith("__") and attribute.endswith("__"):
                    return types.ModuleType.__getattribute__(self, attribute)
                return BlockedName(f"{_module_name(self)}.{attribute}")
            raise _refused(f"{_module_name(self)}.{attribute}")

    return BlockedModule


def _blocked_code(function, call: str, raise_blocked=None):
    """A code object for ``function`` that raises Blocked (``raise_blocked()``, by default the allow-list's
    refusal of ``call``), with the function's free variables, so that it can be set as its ``__code__``."""
    import types

    names = function.__code__.co_freevars
    source = "def outer():\n" + "".join(f"    {name} = None\n" for name in names)
    source += "    def blocked(*args, **kwargs):\n"
    source += ("        " + ", ".join(names) + "\n") if names else ""
    source += "        '__RAISER__'()\n    return blocked\n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "'str' object is not callable": that constant is replaced below
        outer = next(c for c in compile(source, f"<blocked {call}>", "exec").co_consts if isinstance(c, types.CodeType))
    inner = next(const for const in outer.co_consts if isinstance(const, types.CodeType))

    if raise_blocked is None:
        def raise_blocked():
            raise _refused(call)

    return inner.replace(co_consts=tuple(raise_blocked if const == "__RAISER__" else const
                                         for const in inner.co_consts))


def _disable_functions(module, seen: set) -> None:
    """Every Python function and method defined in ``module`` raises Blocked, wherever it is held."""
    import types

    name = _module_name(module)

    def disable(value, where: str) -> None:
        if id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, property):
            for part in (value.fget, value.fset, value.fdel):
                if part is not None:
                    disable(part, where)
        elif isinstance(value, types.FunctionType) and getattr(value, "__module__", None) == name:
            try:
                value.__code__ = _blocked_code(value, where)
            except (ValueError, TypeError):
                pass
        elif isinstance(value, type) and getattr(value, "__module__", None) == name:
            for attribute, member in list(vars(value).items()):
                disable(member, f"{where}.{attribute}")

    for attribute, value in list(object.__getattribute__(module, "__dict__").items()):
        disable(value, f"{name}.{attribute}")


def _site_folders() -> list[str]:
    """The folders third-party packages are installed in (site-packages, dist-packages), resolved."""
    import os
    import site

    folders = set(site.getsitepackages()) | {site.getusersitepackages()}
    folders |= {entry for entry in sys.path if isinstance(entry, str)
                and entry.rstrip("/").endswith(("site-packages", "dist-packages"))}
    return sorted({os.path.realpath(folder) for folder in folders if folder}, key=len, reverse=True)


def _outside_allow_list(path: str, site_folders: list[str]) -> bool:
    """Whether the resolved ``path`` lies in an installed package that is not on the allow-list."""
    for folder in site_folders:
        if path.startswith(folder + "/"):
            parts = [part for part in path[len(folder) + 1:].split("/") if part]
            if parts and parts[0] == "__pycache__":
                parts = parts[1:]
            return bool(parts) and _top(parts[0].split("-", 1)[0]) not in ALLOWED_PACKAGES
    return False


def _block_other_libraries() -> None:
    """Refuse every module outside the allow-list, loaded before this block or after, however it is reached.

    - loaded before (torch loads dill and tqdm; a template may load more): the module's class becomes
      BlockedModule, so any attribute of it, from whichever module holds it, raises; its Python functions and
      methods get a code that raises, so a reference taken before (``torch.hub.tqdm``) is dead too;
    - imported later, at the top of the submission or inside a function: a finder first on ``sys.meta_path``
      hands out a stub whose every name raises Blocked when called (``from scipy.signal import upfirdn`` loads;
      calling ``upfirdn`` raises), so the feedback names the call;
    - around the finder: an audit hook, which no Python code can remove, refuses an import statement for such a
      module while the finder is not first, the loading of its compiled code (``_imp.create_dynamic``, ctypes),
      the opening or running of its files (``importlib.util.module_from_spec``, a copy), and the starting of
      another program (a fresh interpreter has no blocks);
    - gc's walks over all objects (a way to functions no module names any more) are refused (_block_gc_walks).
    """
    import importlib.abc
    import importlib.machinery
    import os
    import types

    machinery = {_top(type(hook).__module__) for hook in sys.meta_path if isinstance(type(hook).__module__, str)}
    machinery |= {_top(getattr(hook, "__module__", "") or "") for hook in sys.path_hooks}

    def allowed(name: str) -> bool:
        top = _top(name)
        return (top in ALLOWED_PACKAGES or top in sys.stdlib_module_names or top in sys.builtin_module_names
                or top in machinery or top.startswith(("_sysconfigdata", "_cython_")))

    blocked_module = _blocked_module_type()
    seen: set = set()
    for name, module in list(sys.modules.items()):
        if (allowed(name) or not isinstance(module, types.ModuleType) or isinstance(module, blocked_module)
                or object.__getattribute__(module, "__dict__") is globals()):  # never the blocks themselves
            continue
        _disable_functions(module, seen)
        try:
            module.__class__ = blocked_module
        except TypeError:
            sys.modules.pop(name, None)  # a module type of its own: at least no import hands it out again

    class StubLoader(importlib.abc.Loader):
        def create_module(self, spec):
            module = blocked_module(spec.name)
            object.__getattribute__(module, "__dict__").update(__blocked_stub__=True, __path__=[])  # a package: its submodules are stubs too
            return module

        def exec_module(self, module):
            pass

    class RefusingFinder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            return None if allowed(name) else importlib.machinery.ModuleSpec(name, StubLoader(), is_package=True)

    finder = RefusingFinder()
    sys.meta_path.insert(0, finder)
    site_folders = _site_folders()
    system_libraries = tuple(os.path.realpath(folder) + "/" for folder in
                             ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib",
                              os.path.dirname(os.__file__), os.path.dirname(os.path.dirname(os.__file__))))

    def outside(path) -> bool:
        try:
            return _outside_allow_list(os.path.realpath(os.fsdecode(path)), site_folders)
        except (TypeError, ValueError, OSError):
            return False

    def library_refused(path) -> bool:
        text = os.fsdecode(path)
        if "/" not in text:
            return False  # found on the system's own search path
        resolved = os.path.realpath(text)
        return outside(resolved) or not resolved.startswith(system_libraries + tuple(f + "/" for f in site_folders))

    def guard(event: str, args: tuple) -> None:
        if event == "import":
            name, path = str(args[0]), args[1]
            if name in ("gc", "_imp"):  # loaded anew, they would not have the blocks below
                raise Blocked(f"loading {name} anew", "convolution", OUTSIDE)
            if path is not None and (not allowed(name) or outside(path)):  # compiled code, from a file
                raise _refused(f"loading {os.fsdecode(path)}")
            if path is None and not allowed(name) and (not sys.meta_path or sys.meta_path[0] is not finder):
                raise _refused(f"importing {name} past the grader's finder")
        elif event == "open" and isinstance(args[0], (str, bytes, os.PathLike)) and outside(args[0]):
            raise _refused(f"opening {os.fsdecode(args[0])}")
        elif event == "exec" and isinstance(args[0], types.CodeType) and outside(args[0].co_filename):
            raise _refused(f"running {args[0].co_filename}")
        elif event == "ctypes.dlopen" and isinstance(args[0], (str, bytes)) and library_refused(args[0]):
            raise _refused(f"loading the library {os.fsdecode(args[0])}")
        elif event in PROGRAM_EVENTS:
            raise Blocked(f"starting another program ({event})", "convolution", OUTSIDE)

    _block_gc_walks()  # before the hook: it imports gc and _imp, which the hook then refuses to load anew
    sys.addaudithook(guard)


def _raiser_outside(call: str):
    def blocked(*args, **kwargs):
        raise _refused(call)

    blocked.__name__ = "blocked_convolution"
    return blocked


def _block_gc_walks() -> None:
    """gc.get_objects, get_referrers and get_referents reach objects that no module names: refused (the course
    needs none of them); neither gc nor _imp can be made anew (the audit hook refuses their import)."""
    import _imp
    import gc

    for name in ("get_objects", "get_referrers", "get_referents"):
        setattr(gc, name, _raiser_outside(f"gc.{name}"))
    create_builtin = _imp.create_builtin

    def create(spec, _original=create_builtin):
        if getattr(spec, "name", None) in ("gc", "_imp"):
            raise Blocked(f"making {spec.name} anew", "convolution", OUTSIDE)
        return _original(spec)

    _imp.create_builtin = create


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
    # Nor may anything be compiled to TorchScript: torch.func's jvp scripts torch's backward decompositions on
    # first use, which would otherwise fail on their blocked code with an unrelated OSError.
    script = getattr(torch.jit, "script", None)
    if script is not None and hasattr(script, "__code__"):
        script.__code__ = _blocked_code(script, "torch.jit.script", blocked)


# Operators that are a backward formula themselves (aten::convolution_backward, threshold_backward, ...).
BACKWARD_OPS = re.compile(r"backward")
IMMUTABLE_TYPE = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE


def _flags_word(kind: type):
    """The ``tp_flags`` word of a type, as a ctypes value that can be written (None if the layout is unknown)."""
    import ctypes

    for index in range(16, 32):  # tp_flags follows tp_call, tp_str, getattro, setattro, as_buffer
        word = ctypes.c_ulong.from_address(id(kind) + index * ctypes.sizeof(ctypes.c_void_p))
        if word.value == kind.__flags__ and ctypes.c_ulong.from_address(
                id(int) + index * ctypes.sizeof(ctypes.c_void_p)).value == int.__flags__:
            return word
    return None


def _set_call(kind: type, call) -> bool:
    """``kind.__call__ = call`` on an immutable extension type: its flag is lifted for the write and put back, so
    that nothing can set or delete ``__call__`` afterwards."""
    import ctypes

    word = _flags_word(kind)
    if word is None:
        return False
    original = word.value
    word.value = original & ~IMMUTABLE_TYPE
    try:
        type.__setattr__(kind, "__call__", call)
    finally:
        word.value = original
        ctypes.pythonapi.PyType_Modified(ctypes.py_object(kind))
    return True


def _node_types() -> list[type]:
    """Every Python type of a C++ autograd node: those torch registers (``torch._C._functions``: the generated
    ``*Backward0`` classes, AccumulateGrad, ...) and the generic ``CppFunction`` of a node it does not register,
    which torch makes the first time it wraps one (a foreach operator's node does)."""
    import torch

    kinds = {value for value in vars(torch._C._functions).values() if isinstance(value, type)}
    try:
        with torch.enable_grad():
            probe = torch._foreach_add([torch.zeros(1, requires_grad=True)], 1)[0].grad_fn
        if probe is not None:
            kinds.add(type(probe))
    except Exception:  # noqa: BLE001 (a torch without that node: the registered types are still covered)
        pass
    return sorted(kinds, key=lambda kind: kind.__name__)


def _block_backward_formulas() -> int:
    """Calling a recorded node (``y.grad_fn(grad)``, ``next_functions``) runs its backward formula without the
    engine: every node type's ``__call__`` raises; Python nodes (``BackwardCFunction.apply``) too; and the
    operators that are backward formulas (``aten::*_backward``) are blocked in the dispatcher."""
    import torch.autograd.function

    def call(self, *args, **kwargs):
        raise Blocked(f"calling {type(self).__name__} (a backward formula autograd recorded)", "autograd")

    count = sum(_set_call(kind, call) for kind in _node_types())
    node = torch.autograd.function.BackwardCFunction
    for name in ("apply", "apply_boxed"):
        function = vars(node).get(name)
        if function is not None and hasattr(function, "__code__"):
            def raise_blocked(_name=name):
                raise Blocked(f"BackwardCFunction.{_name} (a backward formula autograd recorded)", "autograd")

            function.__code__ = _blocked_code(function, name, raise_blocked)
    _block_operators(BACKWARD_OPS, "autograd")
    _block_python_backward_formulas()
    return count


def _block_python_backward_formulas() -> None:
    """torch's Python decompositions of backward operators (``torch._decomp``: softmax, nll_loss, batch_norm,
    ... backward) are formulas too: each function, and every wrapper around it, raises."""
    import types

    try:
        import torch._decomp.decompositions as decompositions
    except ImportError:
        return

    def raise_blocked():
        raise Blocked("a backward decomposition of torch._decomp", "autograd")

    for name, value in list(vars(decompositions).items()):
        while "backward" in name and isinstance(value, types.FunctionType):
            try:
                value.__code__ = _blocked_code(value, name, raise_blocked)
            except (ValueError, TypeError):
                pass
            value = getattr(value, "__wrapped__", None)


def _block_optimizers() -> None:
    """Optimizer.__init__ on the class itself, and every function of torch.optim's modules wherever it is held."""
    import inspect

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
    if "pooling" in kinds:
        _block_operators(POOLING_OPS, "pooling")
    if "optim" in kinds:
        _block_optimizers()
    if "autograd" in kinds:
        _block_operators(FORWARD_AD_OPS, "autograd")
        _block_reverse_mode()
        _block_backward_formulas()
        _block_jit()
    if "convolution" in kinds:  # last: the autograd block reads a type's dict through gc, which this refuses
        _block_other_libraries()
