"""What a submission's code runs, read statically from its AST and never run.

- ``reached``: the top-level statements that the graded names reach, followed transitively.
- ``dead_code``: what never runs inside them (after a return, ``if False:``, what nothing names).
- ``dynamic_code``: uses of exec, eval, compile, marshal, importlib and the like, which build code at run time.
- ``unpacked_code``: the code exec()-ed from decoded constants, undone by the grader's own bounded decoders.

The similarity step compares what these leave (autograder.classroom.similarity).
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
from collections import Counter

from autograder.course.assignments import ASSIGNMENTS, GRADED_CONSTANTS

MAX_DECODED = 400_000  # characters a decoded constant may hold (the similarity step's MAX_CODE); more: not undone


# -- code that builds itself at run time ----------------------------------------------------------------
# Qualified names (after imports are resolved) whose use makes code out of data or looks code up by a
# value: the comparison cannot see such code, so each use is a lead of its own. A prefix covers its members.
BUILDS_CODE = {
    "builtins.exec": "runs text or a code object", "builtins.eval": "evaluates text",
    "builtins.compile": "compiles text into a code object",
    "builtins.__import__": "__import__ (imports a module named by a value)",
    "builtins": "the builtins module used as a value",
    "marshal": "marshal (code objects from bytes)",
    "types.FunctionType": "types.FunctionType (a function built from a code object)",
    "types.LambdaType": "types.LambdaType (a function built from a code object)",
    "types.CodeType": "types.CodeType (a code object built from data)",
    "importlib": "importlib (a module imported by a name or from a spec)",
    "pickle.loads": "pickle.loads (unpickling runs code)", "pickle.load": "pickle.load (unpickling runs code)",
    "pickle.Unpickler": "pickle.Unpickler (unpickling runs code)", "_pickle": "_pickle (unpickling runs code)",
    "dill": "dill (code from bytes)", "cloudpickle": "cloudpickle (code from bytes)",
    "runpy": "runpy (runs code by a name)", "code.InteractiveInterpreter": "code.InteractiveInterpreter",
    "code.InteractiveConsole": "code.InteractiveConsole", "code.interact": "code.interact",
    "codeop": "codeop (compiles text)", "sys.modules": "sys.modules (modules looked up or replaced by a name)",
    "__main__": "__main__ (the module's names looked up by a value)",
    "ctypes": "ctypes (calls machine code by address)", "cffi": "cffi (calls machine code)",
    "joblib.load": "joblib.load (unpickling runs code)",
    "pandas.read_pickle": "pandas.read_pickle (unpickling runs code)",
    "shelve": "shelve (unpickling runs code)", "subprocess": "subprocess (runs another program)",
    "pty.spawn": "pty.spawn (runs another program)",
    **{f"os.{name}": "runs another program" for name in (
        "system", "popen", "execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp", "execvpe",
        "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "posix_spawn",
        "posix_spawnp")},
}
# Loaders that unpickle, and so run code, only when asked to (weights_only=False, allow_pickle=True) or when fed
# bytes the submission carries (a decoder or io.BytesIO in the argument).
UNPICKLING_LOADERS = {"torch.load": ("weights_only", False), "numpy.load": ("allow_pickle", True)}
ORDINARY = ("importlib.reload", "importlib.invalidate_caches", "importlib.metadata", "importlib.resources")
RUNS_TEXT = ("builtins.exec", "builtins.eval", "builtins.compile")
# Attributes that reach a function's code, globals or the interpreter's classes whatever the object.
CODE_ATTRIBUTES = {"__code__", "__globals__", "__builtins__", "__subclasses__", "__import__", "__loader__",
                   "co_code", "f_globals", "f_builtins"}
LOOKUPS = {"builtins.getattr", "operator.attrgetter", "operator.methodcaller"}
NAMESPACE_CALLS = {"builtins.globals", "builtins.locals", "builtins.vars"}
NAMESPACE_WRITES = {"update", "setdefault", "__setitem__", "pop", "clear"}
# Decoders that turn a string constant into something else: named in a lead beside exec and the like.
DECODERS = ("base64.", "binascii.", "zlib.decompress", "bz2.decompress", "lzma.decompress", "gzip.decompress",
            "codecs.decode", "bytes.fromhex", "builtins.bytes.fromhex")
ELIDED = 40  # string constants longer than this are shown as their length in a lead


def _qualified(node: ast.AST, aliases: dict[str, str], shadowed: set[str]) -> str | None:
    """The dotted name an expression stands for (``zlib.decompress``, ``builtins.exec``), or None."""
    if isinstance(node, ast.Name):
        if node.id in shadowed:
            return None
        if node.id in aliases:
            return aliases[node.id]
        return f"builtins.{node.id}" if node.id in _BUILTINS or node.id == "__builtins__" else None
    if isinstance(node, ast.Attribute):
        base = _qualified(node.value, aliases, shadowed)
        return f"{base}.{node.attr}" if base else None
    return None


_BUILTINS = set(dir(builtins))


def _short(node: ast.AST) -> str:
    """An expression as source, with long string constants replaced by their length."""
    node = copy.deepcopy(node)
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, (str, bytes)) and len(child.value) > ELIDED:
            child.value = f"<{len(child.value)} characters>"
    text = ast.unparse(node)
    return text if len(text) <= 120 else text[:117] + "..."


def _building(qualified: str) -> str | None:
    if qualified.startswith(ORDINARY):
        return None
    if qualified == "builtins.__builtins__":
        return "__builtins__ (the builtins looked up by a value)"
    for key, what in BUILDS_CODE.items():
        if qualified == key or qualified.startswith(key + "."):
            if key == "builtins" and qualified != "builtins" and not qualified.split(".")[1].startswith("__"):
                continue  # builtins.print: an ordinary builtin, named the long way
            return what
    return None


def dynamic_code(source: str, where: str = "") -> list[str]:
    """Why ``source`` (one module or cell, parsed, never run) builds code at run time, one reason per use,
    each with its line: ``exec() of zlib.decompress(base64.b85decode(_PAYLOAD)).decode()``. Empty for
    ordinary code (``model.eval()``, ``re.compile``, ``torch.compile`` and ``importlib.reload`` are not
    builtins). Raises SyntaxError for code that does not parse."""
    tree = ast.parse(source)
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:  # import a.b binds a; import a.b as c binds c to a.b
                top = alias.name.split(".")[0]
                aliases[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    # A name the submission defines itself (a function ``compile``, a parameter ``eval`` inside its function) is
    # not the builtin. An assignment does not hide one (``exec = exec`` still reads the builtin), and a default
    # value or decorator is read outside its function (``def f(eval=eval)``).
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                     ast.ClassDef))} - set(aliases)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    decoders = sorted({name for node in ast.walk(tree) if isinstance(node, ast.Call)
                       and (name := _qualified(node.func, aliases, defined)) and name.startswith(DECODERS)})
    prefix = f"{where}, " if where else ""
    reasons = []

    scopes = {}
    in_functions = {inner for function in ast.walk(tree) if isinstance(function, (ast.FunctionDef,
                    ast.AsyncFunctionDef, ast.Lambda)) for inner in ast.walk(function) if inner is not function}

    def shadowed_at(node: ast.AST) -> frozenset:
        return scopes.get(node, frozenset(defined))

    def visit(node: ast.AST, shadowed: frozenset) -> None:
        if isinstance(node, ast.ImportFrom) and node.module and any(alias.name == "*" for alias in node.names):
            members = (_building(f"{node.module}.{name}") for name in ("exec", "loads", "system", "import_module"))
            what = _building(node.module) or next(filter(None, members), None)
            if what:  # from marshal import *: every name of it, unseen
                reasons.append(f"{prefix}line {node.lineno}: from {node.module} import *: {what}")
        if isinstance(node, ast.Call) and node.args and _qualified(node.func, aliases, shadowed) in LOOKUPS:
            try:  # getattr(f, "__glob" + "als__"), getattr(builtins, "ex" "ec")
                name = _fold(node.args[1] if len(node.args) > 1 else node.args[0], {}, aliases)
            except _NotConstant:
                name = None
            if isinstance(name, str) and name in CODE_ATTRIBUTES:  # exec by a string: only on builtins, named above
                reasons.append(f"{prefix}line {node.lineno}: {_short(node)} (looks up {name} by a string)")
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in CODE_ATTRIBUTES
              and node.value.startswith("__") and not (
                  isinstance(parents.get(node), ast.Call)
                  and _qualified(parents[node].func, aliases, shadowed) in LOOKUPS)):  # reported just above
            reasons.append(f"{prefix}line {node.lineno}: {_short(parents.get(node, node))} "
                           f"(names {node.value} in a string)")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Call) and node.func.args
                and _qualified(node.func.func, aliases, shadowed) == "builtins.type"
                and (isinstance(node.func.args[0], ast.Lambda) or (isinstance(node.func.args[0], ast.Name)
                                                                   and node.func.args[0].id in defined))):
            reasons.append(f"{prefix}line {node.lineno}: {_short(node)}: a function built from a code object "
                           "(the type of a function, called)")
        if isinstance(node, (ast.Name, ast.Attribute)):
            scopes[node] = shadowed
            qualified = _qualified(node, aliases, shadowed)
            if qualified is not None:
                report(node, qualified)
                return  # the chain is resolved as a whole: marshal.loads, not marshal and marshal.loads
            if isinstance(node, ast.Attribute) and node.attr in CODE_ATTRIBUTES:
                reasons.append(f"{prefix}line {node.lineno}: {_short(node)} (reaches {node.attr})")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            arguments = node.args
            outside = [*getattr(node, "decorator_list", []), *arguments.defaults,
                       *(default for default in arguments.kw_defaults if default is not None),
                       *(arg.annotation for arg in ast.walk(arguments) if isinstance(arg, ast.arg) and arg.annotation),
                       *([node.returns] if getattr(node, "returns", None) else [])]
            for child in outside:
                visit(child, shadowed)
            inside = shadowed | {arg.arg for arg in ast.walk(arguments) if isinstance(arg, ast.arg)}
            for child in (node.body if isinstance(node.body, list) else [node.body]):
                visit(child, inside)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, shadowed)

    def report(node: ast.AST, qualified: str) -> None:
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            return  # exec = ...: what counts is where the builtin is read
        parent = parents.get(node)
        call = parent if isinstance(parent, ast.Call) and parent.func is node else None
        if qualified in NAMESPACE_CALLS and call is not None and not call.args:
            user = parents.get(call)
            writes = ((isinstance(user, ast.Subscript) and isinstance(user.ctx, (ast.Store, ast.Del)))
                      or (isinstance(user, ast.Attribute) and user.attr in NAMESPACE_WRITES))
            if writes:
                reasons.append(f"{prefix}line {node.lineno}: {_short(user)} (writes the module's names at run time)")
            elif qualified == "builtins.globals" or node not in in_functions:  # locals() in a function: its own
                reasons.append(f"{prefix}line {node.lineno}: {_short(user or call)} (looks the module's names up "
                               "by a value, which the comparison cannot follow)")
            return
        if qualified in UNPICKLING_LOADERS and call is not None:
            keyword, unsafe = UNPICKLING_LOADERS[qualified]
            asked = any(k.arg == keyword and isinstance(k.value, ast.Constant) and k.value.value == unsafe
                        for k in call.keywords)
            carried = any(isinstance(inner, ast.Call) and (name := _qualified(inner.func, aliases, shadowed_at(node)))
                          and (name.startswith(DECODERS) or name == "io.BytesIO")
                          for argument in call.args for inner in ast.walk(argument))
            if asked or carried:
                reasons.append(f"{prefix}line {node.lineno}: {_short(call)}: unpickling runs code")
            return
        what = _building(qualified)
        if isinstance(node, ast.Attribute) and what is None and node.attr in CODE_ATTRIBUTES:
            what = f"reaches {node.attr}"
        if what is None:
            replaced = isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
            if replaced and qualified.startswith("builtins."):
                reasons.append(f"{prefix}line {node.lineno}: {qualified} replaced (the builtins changed at run time)")
            return
        spelled = _short(node)
        alias = "" if spelled == qualified.removeprefix("builtins.") else f" (that is {qualified})"
        if qualified in RUNS_TEXT and call is not None:
            fed = _short(call.args[0]) if call.args else "nothing"
            text = f"{spelled}(){alias} of {fed}"
        elif call is not None:
            text = f"{_short(call)}{alias}: {what}"
        else:
            text = f"{spelled}{alias}: {what}"
        unseen = [decoder for decoder in decoders if decoder not in text]
        if unseen and (qualified in RUNS_TEXT or qualified.startswith(("marshal", "types.", "pickle"))):
            text += f"; the code decodes data with {', '.join(unseen)}"
        reasons.append(f"{prefix}line {node.lineno}: {text}")

    visit(tree, frozenset(defined))
    return reasons


# -- what the graded functions reach ------------------------------------------------------------------
def graded_names(assignment: str) -> tuple[str, ...]:
    """The names the hidden suite reads from a submission: its questions' functions and graded constants."""
    return tuple(ASSIGNMENTS.get(assignment, ())) + tuple(GRADED_CONSTANTS.get(assignment, ()))


def _binds(statement: ast.stmt) -> set[str]:
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        names = {statement.name}
        for node in ast.walk(statement):  # def f(): global helper; helper = ...
            if isinstance(node, ast.Global):
                names |= set(node.names)
        return names
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in statement.names}
    return {node.id for node in ast.walk(statement) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}


def _uses(statement: ast.stmt) -> set[str]:
    """Names a statement reads, and string constants that could name a top-level definition (the name in
    ``getattr(module, "helper")``)."""
    names = set()
    for node in _walk_live(statement, _dead_branches(statement)):  # not what an if False: names
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            names.add(node.value)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):  # getattr(module, "hel" + "per")
            try:
                value = _fold(node, {}, {})
            except _NotConstant:
                continue
            if isinstance(value, str) and value.isidentifier():
                names.add(value)
    return names


MUTATORS = {"append", "extend", "insert", "add", "update", "setdefault", "__setitem__"}


def _stored_into(statement: ast.stmt) -> set[str]:
    """Names whose value the statement changes in place: ``OPS[key] = f``, ``OPS.update(...)``,
    ``REGISTRY.append(f)``, ``module.attribute = f``."""
    names = set()
    for node in ast.walk(statement):
        target = None
        if isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, ast.Store):
            target = node.value
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in MUTATORS):
            target = node.func.value
        if isinstance(target, ast.Name):
            names.add(target.id)
    return names


def _looks_up_by_value(statement: ast.stmt) -> bool:
    """Does the statement read names by a value (globals(), vars(), getattr with a computed name, sys.modules,
    a ``__dict__``, exec)? Then which of its methods and nested functions run cannot be known from the text."""
    for node in ast.walk(statement):
        if isinstance(node, ast.Name) and node.id in {"globals", "locals", "vars", "exec", "eval", "__import__",
                                                     "__builtins__"}:
            return True
        if isinstance(node, ast.Attribute) and (node.attr == "__dict__" or (
                node.attr == "modules" and isinstance(node.value, ast.Name) and node.value.id == "sys")):
            return True
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
                and len(node.args) > 1 and not isinstance(node.args[1], ast.Constant)):
            return True
    return False


def reached(statements: list[ast.stmt], roots) -> list[bool]:
    """Which top-level statements the ``roots`` reach: the statements that bind a needed name, whose own names
    are then needed, followed to a fixed point. A later def or class of the same name replaces an earlier one,
    so only the last counts. Everything is reached when no root is defined (nothing to start from). A name
    looked up by a value (globals()[...], sys.modules, exec) is not followed: dynamic_code names each such
    lookup as a lead of its own, so code hidden behind one is read by a person instead."""
    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    last = {statement.name: index for index, statement in enumerate(statements) if isinstance(statement, definitions)}
    binds = [_binds(statement) for statement in statements]
    for index, statement in enumerate(statements):
        if isinstance(statement, definitions) and last[statement.name] != index:
            binds[index].discard(statement.name)  # replaced by the later one before a test can call it
    keep = [isinstance(statement, ast.ImportFrom) and (statement.module == "__future__"
            or any(alias.name == "*" for alias in statement.names)) for statement in statements]
    binders: dict[str, list[int]] = {}
    for index, names in enumerate(binds):
        for name in names:
            binders.setdefault(name, []).append(index)
    if not any(root in binders for root in roots):
        return [True] * len(statements)
    # A statement that changes a needed name without binding it runs for it too: OPS["blur"] = blur, or a
    # function registered by a decorator of the submission's that stores its argument (@register into OPS).
    stores = {statement.name: _stored_into(statement) for statement in statements
              if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for index, statement in enumerate(statements):
        assigns = isinstance(statement, (ast.Assign, ast.AugAssign, ast.AnnAssign))
        changed = _stored_into(statement) if assigns else set()
        for decorator in getattr(statement, "decorator_list", []):
            function = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(function, ast.Name):
                changed |= stores.get(function.id, set())
        for name in changed:
            binders.setdefault(name, []).append(index)
    needed, pending = set(), list(roots)
    while pending:  # each name once, each statement once: linear in the module
        name = pending.pop()
        if name in needed:
            continue
        needed.add(name)
        for index in binders.get(name, ()):
            if not keep[index]:
                keep[index] = True
                pending.extend(_uses(statements[index]) - needed)
    return keep


def reachable_code(source: str, roots) -> str:
    """The top-level statements of ``source`` that ``roots`` reach, as written (for the tests and a reader)."""
    statements = ast.parse(source).body
    return "\n\n".join(ast.get_source_segment(source, statement) for statement, kept
                       in zip(statements, reached(statements, roots)) if kept)


# -- code hidden in decoded constants -------------------------------------------------------------------
# exec(zlib.decompress(base64.b85decode("..."))) of a constant is undone here, by the grader's own decoders on
# the submission's constants (never a function of the student's), so the code it runs is compared too.
UNPACK_DEPTH = 3          # layers of exec-of-decoded-code followed
TEXT_ENCODINGS = {"utf-8", "utf8", "ascii", "latin-1", "latin1", "utf-16", "utf-32"}


class _NotConstant(Exception):
    """The expression is not a decoding of constants that the similarity step knows how to undo."""


def _bounded(decompressor, data: bytes) -> bytes:
    out = decompressor.decompress(data, MAX_DECODED + 1)
    if len(out) > MAX_DECODED:
        raise _NotConstant("more code than the step reads")
    return out


@functools.cache
def _decoders() -> dict:
    import base64
    import binascii
    import bz2
    import codecs
    import lzma
    import zlib

    def zlib_decompress(data, wbits=zlib.MAX_WBITS, *_):
        return _bounded(zlib.decompressobj(wbits), data)

    def codecs_decode(data, encoding="utf-8", *_):
        name = codecs.lookup(encoding).name
        if name == "zlib":
            return zlib_decompress(data)
        if name == "bz2":
            return _bounded(bz2.BZ2Decompressor(), data)
        if name in {"rot-13", "hex", "base64", "uu", "quopri"} | {codecs.lookup(text).name for text in TEXT_ENCODINGS}:
            return codecs.decode(data, encoding)
        raise _NotConstant(encoding)

    return {
        **{f"base64.{name}": getattr(base64, name) for name in (
            "b64decode", "b85decode", "a85decode", "b32decode", "b16decode", "urlsafe_b64decode",
            "standard_b64decode", "decodebytes")},
        **{f"binascii.{name}": getattr(binascii, name) for name in ("unhexlify", "a2b_hex", "a2b_base64")},
        "zlib.decompress": zlib_decompress, "gzip.decompress": lambda data, *_: zlib_decompress(data, 31),
        "bz2.decompress": lambda data, *_: _bounded(bz2.BZ2Decompressor(), data),
        "lzma.decompress": lambda data, *_: _bounded(lzma.LZMADecompressor(), data),
        "codecs.decode": codecs_decode, "builtins.bytes.fromhex": bytes.fromhex,
        "builtins.str": lambda data, encoding="utf-8", *_: codecs_decode(data, encoding),
    }


def _fold(node: ast.AST, constants: dict[str, ast.AST], aliases: dict[str, str], depth: int = 0):
    """The value of an expression made of str/bytes constants, module constants and known decoders; raises
    _NotConstant for anything else. Only the grader's decoders run, on bytes, with bounded output."""
    if depth > 50:
        raise _NotConstant("too deep")
    fold = lambda child: _fold(child, constants, aliases, depth + 1)  # noqa: E731
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        return node.value
    if isinstance(node, ast.Name) and node.id in constants:
        return fold(constants[node.id])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = fold(node.left), fold(node.right)
        if type(left) is not type(right) or len(left) + len(right) > MAX_DECODED * 4:
            raise _NotConstant("mixed")
        return left + right
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):  # "..."[::-1]
        value = fold(node.value)
        parts = [None if part is None else _small_int(part) for part in
                 (node.slice.lower, node.slice.upper, node.slice.step)]
        return value[slice(*parts)]
    if isinstance(node, ast.Call) and not node.keywords:
        name = _qualified(node.func, aliases, set())
        decoder = _decoders().get(name or "")
        if (decoder is None and isinstance(node.func, ast.Attribute) and node.func.attr in ("decode", "encode")
                and len(node.args) <= 2):  # "...".encode(), b"...".decode("utf-8")
            value = fold(node.func.value)
            encoding = fold(node.args[0]) if node.args else "utf-8"
            if not isinstance(encoding, str) or encoding.lower().replace("_", "-") not in TEXT_ENCODINGS:
                raise _NotConstant(str(encoding))
            if node.func.attr == "decode" and isinstance(value, bytes):
                return value.decode(encoding, "replace")
            if node.func.attr == "encode" and isinstance(value, str):
                return value.encode(encoding, "replace")
            raise _NotConstant("decode of a str")
        if decoder is not None:
            try:
                return decoder(*[fold(argument) if not isinstance(argument, ast.Constant)
                                 or not isinstance(argument.value, int) else argument.value
                                 for argument in node.args])
            except _NotConstant:
                raise
            except Exception as error:  # a malformed constant: nothing to unpack
                raise _NotConstant(f"{type(error).__name__}") from None
    raise _NotConstant(type(node).__name__)


def _small_int(node: ast.AST) -> int:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_small_int(node.operand)
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and abs(node.value) < 10**9:
        return node.value
    raise _NotConstant("slice")


def unpacked_code(statements: list[ast.stmt], depth: int = 0) -> list[tuple[int, int, str]]:
    """Code that ``statements`` exec, eval or compile from decoded constants: (index of the top-level statement,
    line, source) for each whose text parses, followed through up to UNPACK_DEPTH layers. Nothing of it is run."""
    module = ast.Module(body=list(statements), type_ignores=[])
    aliases = {}
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                aliases[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    constants = {}
    for statement in statements:
        if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)):
            constants[statement.targets[0].id] = statement.value
    found = []
    for index, node in ((index, node) for index, statement in enumerate(statements) for node in ast.walk(statement)):
        if (isinstance(node, ast.Call) and node.args
                and _qualified(node.func, aliases, set()) in RUNS_TEXT):
            try:
                text = _fold(node.args[0], constants, aliases)
                if isinstance(text, bytes):
                    text = text.decode("utf-8", "replace")
                tree = ast.parse(text)
            except (_NotConstant, SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            found.append((index, node.lineno, text))
            if depth + 1 < UNPACK_DEPTH:
                found += [(index, node.lineno, inner) for _, _, inner in unpacked_code(tree.body, depth + 1)]
    return found


# -- code that never runs inside what is reached --------------------------------------------------------
# Padding inside a reached function or class (statements after a return, an ``if False:`` branch, a nested
# function or a method nothing calls) would dilute a copy as unused top-level functions did: it is left out
# of the comparison too, by blanking its lines, so what is compared stays the student's own text.
SAFE_DECORATORS = ("staticmethod", "classmethod", "property", "torch.no_grad", "torch.inference_mode",
                   "torch.enable_grad", "functools.wraps", "functools.cache", "functools.lru_cache", "wraps")
# Methods that torch or Python call without naming them in the submission's code.
IMPLICIT_METHODS = {"forward", "backward", "setup_context", "jvp", "vjp", "extra_repr", "reset_parameters",
                    "step", "zero_grad", "state_dict", "load_state_dict", "train", "eval", "parameters",
                    "named_parameters", "children", "modules", "to"}
TERMINAL = (ast.Return, ast.Raise, ast.Continue, ast.Break)
DEAD_CODE_PASSES = 8  # bounded: a longer chain of unused helpers is compared rather than stalling the step


def _walk_live(node: ast.AST, dead) -> list[ast.AST]:
    """ast.walk, less the subtrees in ``dead``."""
    found, stack = [], [node]
    while stack:
        current = stack.pop()
        if current in dead:
            continue
        found.append(current)
        stack.extend(ast.iter_child_nodes(current))
    return found


def _dead_branches(tree: ast.AST) -> set:
    """Statements that cannot run: after a return, raise, continue or break in the same block, and the
    branch of an ``if``/``while`` on a constant that is never taken."""
    dead = set()
    for node in ast.walk(tree):
        for field_name in ("body", "orelse", "finalbody"):
            block = getattr(node, field_name, None)
            if isinstance(block, list):
                for position, statement in enumerate(block):
                    if isinstance(statement, TERMINAL):
                        dead.update(block[position + 1:])
                        break
        if isinstance(node, (ast.If, ast.While)) and isinstance(node.test, ast.Constant):
            if not node.test.value:
                dead.update(node.body if node.orelse else [node])
            elif isinstance(node, ast.If):
                dead.update(node.orelse)
    return dead


def _references(nodes) -> Counter:
    """How often each name is read, as a name, an attribute or a string constant (``getattr(self, "m")``)."""
    counts = Counter()
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            counts[node.id] += 1
        elif isinstance(node, ast.Attribute):
            counts[node.attr] += 1
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            counts[node.value] += 1
    return counts


def _protected(definition: ast.AST, in_class: bool) -> bool:
    name = definition.name
    if name.startswith("__") and name.endswith("__"):
        return True
    if in_class and name in IMPLICIT_METHODS:
        return True
    for decorator in definition.decorator_list:  # a decorator may register the function: keep it
        text = ast.unparse(decorator.func if isinstance(decorator, ast.Call) else decorator)
        if not (text.startswith(SAFE_DECORATORS) or text.endswith((".setter", ".getter", ".deleter"))):
            return True
    return False


def dead_code(statements: list[ast.stmt]) -> set:
    """The nodes of reached ``statements`` that never run or that nothing calls (see above), to a fixed point."""
    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    dead = set()
    for statement in statements:
        dead |= _dead_branches(statement)
    if any(_looks_up_by_value(statement) for statement in statements):
        return dead  # getattr(self, "step_" + name) may call any method: only unreachable branches go
    for _ in range(DEAD_CODE_PASSES):  # a chain of helpers calling each other loses one link per pass
        live = [node for statement in statements for node in _walk_live(statement, dead)]
        counts = _references(live)
        parents = {child: parent for parent in live for child in ast.iter_child_nodes(parent)}
        unused = set()
        for node in live:
            if (isinstance(node, definitions) and node in parents
                    and not _protected(node, isinstance(parents[node], ast.ClassDef))):
                inside = _references(_walk_live(node, dead))
                if counts[node.name] - inside[node.name] <= 0:
                    unused.add(node)
        if not unused:
            break
        dead |= unused
    return dead


def without_dead_lines(code: str, statements: list[ast.stmt], dead: set) -> str:
    """``code`` with the lines of its dead nodes blanked, unless a live statement starts on one of them."""
    blank = set()
    for node in dead:
        if isinstance(node, ast.stmt):
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            blank.update(range(start, node.end_lineno + 1))
    if not blank:
        return code
    for statement in statements:
        blank -= {node.lineno for node in _walk_live(statement, dead) if isinstance(node, ast.stmt)}
    lines = code.split("\n")
    return "\n".join("" if number in blank else line for number, line in enumerate(lines, 1))
