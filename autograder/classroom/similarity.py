"""Leads for a person to look at: pairs of submissions whose student-written code is alike.

copydetect does the comparison (winnowed k-gram fingerprints, as in MOSS; names, strings and
comments are normalised away, so renaming variables or rewording comments does not hide a
copy). What is compared is what the grader would run: the definitions the loader keeps
(``autograder.submission.load``), never the training runs, prints or plots around them. The released
notebook's code (the stubs, the given helpers and set-up) and the released helper modules are
copydetect's boilerplate: fingerprints found there are removed first, so an untouched stub
matches nothing and only what students wrote counts.

The pairs are shown only in the TA's ``report.html``; a student's feedback page never
shows another student's code. A high score is a reason to read two submissions side by side,
not a verdict: short functions that follow the lecture closely look alike.

What is compared is what the graded functions reach: from the graded names (the manifest's questions and
the constants the suites read), the top-level functions, classes, assignments and imports they reference,
followed transitively, statically from the AST. Unused functions interleaved with a copy do not dilute it.
Code that builds itself at run time (exec, eval, compile, marshal, pickle, importlib or ``__import__`` of a
name, types.FunctionType/CodeType, the builtins module as a value, writes to globals()) cannot be compared
as text: each such submission is a lead of its own, whether or not it pairs with anyone. Nothing here runs
a submission's code.
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
import io
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course.assignments import ASSIGNMENTS, GRADED_CONSTANTS, PROJECT_ROOT

from autograder.submission.load import Chunk, SubmissionError, load_submission

RELEASE_DIR = PROJECT_ROOT / "release"
THRESHOLD = 0.6          # share of the student-written code of either submission found in the other
MIN_TOKENS = 60          # fewer fingerprinted characters than this: too little student code to compare
MAX_FILE_BYTES = 50_000_000  # a larger file is not read at all (a notebook's outputs count here)
MAX_CODE = 400_000       # characters of code, comments included, parsed per submission; more: not compared
MAX_SOURCE = 200_000     # characters of kept code, less comments and docstrings; more: not compared
LONG_STRING = 200        # a string constant longer than this counts as an empty one toward MAX_SOURCE
TIME_BUDGET_S = 300      # reading every submission; past it the rest are listed as not compared
LISTED_PAIRS = 200       # pairs listed in report.html, most alike first; the rest are counted
SHOWN_PAIRS = 30         # of those, pairs drawn side by side


@dataclass
class Pair:
    first: str
    second: str
    similarity: tuple[float, float]   # share of each one's fingerprinted code found in the other
    first_html: str = ""              # the code, HTML-escaped, with the matching parts marked
    second_html: str = ""

    @property
    def score(self) -> float:
        return max(self.similarity)


@dataclass
class DynamicLead:
    """A submission that builds code at run time (exec of a decoded string, marshal, ...): what it runs cannot
    be compared as text, so it is a lead for a person whatever its pairs."""
    student: str
    reasons: list[str]                # one per use, with its line: "line 7: exec() of zlib.decompress(...)"


@dataclass
class SimilarityReport:
    pairs: list[Pair]                 # the most alike, at most LISTED_PAIRS
    above_threshold: int              # how many pairs reach the threshold in all
    compared: int
    too_short: list[str]
    unreadable: list[str]
    threshold: float
    boilerplate: list[str]
    too_large: list[str] = field(default_factory=list)   # not compared: read these by hand
    out_of_time: list[str] = field(default_factory=list)  # not compared: TIME_BUDGET_S ran out
    dynamic: list[DynamicLead] = field(default_factory=list)  # code that builds itself: leads of their own
    unparsable: dict[str, str] = field(default_factory=dict)  # student -> what does not parse or read, and where


class TooLarge(ValueError):
    """A submission with more code than the similarity step reads (MAX_FILE_BYTES, MAX_CODE, MAX_SOURCE)."""


def _shape(statement: ast.stmt) -> str:
    """A statement's structure without docstrings or string values: the same for a stub left untouched,
    whatever its docstring, message or formatting."""
    statement = copy.deepcopy(statement)
    for node in ast.walk(statement):
        if hasattr(node, "decorator_list"):
            node.decorator_list = []  # @torch.no_grad() kept or dropped, a stub is a stub
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""  # a stub's message, reworded by the release, is still the stub
    return ast.dump(statement, annotate_fields=False)


def _statements(code: str) -> list[ast.stmt]:
    body = code.lstrip("\n")  # a chunk is padded to its line in the cell: parse the code, then move it there
    lines = [("" if line.lstrip().startswith(("!", "%")) else line) for line in body.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    return ast.increment_lineno(tree, len(code) - len(body)).body


def _essential(code: str) -> str:
    """The code as ast.unparse writes it, without comments, docstrings or long string constants: what counts
    toward MAX_SOURCE, so that padding them cannot push a submission past it. Code that does not parse keeps its
    text, less its comment lines."""
    lines = [("" if line.lstrip().startswith(("!", "%")) else line) for line in code.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) and len(node.value) > LONG_STRING:
            node.value = type(node.value)()
    return ast.unparse(tree)


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

    def shadowed_at(node: ast.AST) -> frozenset:
        return scopes.get(node, frozenset(defined))

    def visit(node: ast.AST, shadowed: frozenset) -> None:
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
    return names


def _looks_up_by_value(statement: ast.stmt) -> bool:
    """Does the statement read names by a value (globals(), vars(), getattr with a computed name, sys.modules,
    a ``__dict__``, exec)? Then what it reaches cannot be known from the text."""
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
    so only the last counts. Everything is reached when no root is defined (nothing to start from) or when a
    reached statement looks names up by a value (globals(), getattr, sys.modules, exec): what it reaches then
    cannot be known from the text."""
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
    needed, pending = set(), list(roots)
    while pending:  # each name once, each statement once: linear in the module
        name = pending.pop()
        if name in needed:
            continue
        needed.add(name)
        for index in binders.get(name, ()):
            if not keep[index]:
                keep[index] = True
                if _looks_up_by_value(statements[index]):
                    return [True] * len(statements)
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
    out = decompressor.decompress(data, MAX_CODE + 1)
    if len(out) > MAX_CODE:
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
        if type(left) is not type(right) or len(left) + len(right) > MAX_CODE * 4:
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


def _without_lines(code: str, statements: list[ast.stmt], dead: set) -> str:
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


@dataclass
class Reading:
    """What the similarity step takes from one submission."""
    code: str                  # the code the graded functions reach, less what the release gave, as written
    dynamic: list[str]         # why it builds code at run time (dynamic_code), one reason per use
    syntax_errors: list[str]   # "cell 3, line 2: invalid syntax" per part that does not parse (and cannot run)


def read_submission(path: Path, given: set[str] = frozenset(), roots=()) -> Reading:
    """Read a submission for the comparison, never running it. Its code is what the grader keeps (the loader's
    definitions), cut to the top-level statements that ``roots`` (the graded names) reach, less every statement
    that is exactly one the student was given (``given``: their ``_shape``), such as an untouched stub, with
    comments and docstrings as written. Every cell that parses is searched for code that builds code
    (dynamic_code), the parts the loader skips included. Raises TooLarge past the limits above, before the costly
    steps."""
    from autograder.submission.load import _cells

    path = Path(path)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise TooLarge(f"{path.stat().st_size} bytes")
    cells = _cells(path)
    code_size = sum(len(source) for _, source in cells)
    if code_size > MAX_CODE:
        raise TooLarge(f"{code_size} characters of code")
    dynamic, syntax_errors = [], []
    for label, source in cells:
        lines = [("" if line.lstrip().startswith(("!", "%")) else line) for line in source.splitlines()]
        try:
            dynamic += dynamic_code("\n".join(lines), label if label.startswith("cell") else "")
        except SyntaxError as error:
            syntax_errors.append(f"{label}, line {error.lineno}: {error.msg}")
    chunks = load_submission(path).chunks
    statements = [_statements(chunk.code) for chunk in chunks]
    # What the kept code exec()s from decoded constants runs too: each of its statements is compared as one of
    # the submission's own, headed by where it came from, and searched for code that builds code in turn.
    labels = [chunk.label for chunk, parsed in zip(chunks, statements) for _ in parsed]
    runs_text = any(word in chunk.code for chunk in chunks for word in ("exec", "eval", "compile"))  # or no alias
    for index, line, text in unpacked_code([statement for parsed in statements for statement in parsed]
                                           if runs_text else []):
        where = f"{labels[index]}, line {line}" if labels[index].startswith("cell") else f"line {line}"
        try:
            dynamic += [f"decoded from {where}: {reason}" for reason in dynamic_code(text)]
        except SyntaxError:
            continue
        for statement in ast.parse(text).body:
            code = f"# decoded from {where} (exec of a constant)\n{ast.get_source_segment(text, statement) or ''}"
            chunks.append(Chunk(label=f"decoded from {where}", defines=(), code=code))
            statements.append(_statements(code))
    flat = [(index, statement) for index, parsed in enumerate(statements) for statement in parsed]
    reach = reached([statement for _, statement in flat], roots)
    reached_chunks = {index for (index, _), kept in zip(flat, reach) if kept}
    dead = dead_code([statement for index in sorted(reached_chunks) for statement in statements[index]])
    kept = []
    for index, chunk in enumerate(chunks):
        if index not in reached_chunks:
            continue
        if statements[index] and all(_shape(statement) in given for statement in statements[index]):
            continue
        kept.append(_without_lines(chunk.code, statements[index], dead).strip("\n"))
    # Measured without comments and docstrings, compared as written (copydetect ignores comments itself, and the
    # report shows the submission's own lines): padding cannot push copied code out of reach, nor past the limit.
    essential = sum(len(_essential(code)) for code in kept)
    if essential > MAX_SOURCE:
        raise TooLarge(f"{essential} characters of code without comments")
    return Reading("\n\n".join(kept), dynamic, syntax_errors)


def student_code(path: Path, given: set[str] = frozenset(), roots=()) -> str:
    """The code of ``read_submission`` alone."""
    return read_submission(path, given, roots).code


def boilerplate_sources(assignment: str, release_dir: Path = RELEASE_DIR) -> dict[str, str]:
    """What every student was given: the released notebook's code cells and the helper modules beside it."""
    import nbformat

    folder = release_dir / assignment
    sources = {}
    notebook = folder / f"{assignment}.ipynb"
    if notebook.is_file():
        cells = nbformat.read(notebook, as_version=4).cells
        sources.update({f"{notebook.name}, cell {number}": cell.source for number, cell in enumerate(cells, 1)
                        if cell.cell_type == "code"})
    for helper in sorted(folder.glob("*.py")):
        sources[helper.name] = helper.read_text()
    return sources


def _candidates(prints: dict, threshold: float) -> list[tuple[float, float, str, str]]:
    """Every pair whose share of shared fingerprints reaches ``threshold`` for either side, as (smaller share,
    larger share, first, second), most alike first.

    copydetect's own CopyDetector calls compare_files on every pair, in Python: for 300 students that is
    44,850 calls and half a minute here. One sparse product (students x fingerprints) counts the shared
    fingerprints of every pair at once instead; compare_files then measures and marks only the pairs that
    the report shows."""
    import numpy as np
    from scipy import sparse

    students = sorted(prints)
    if len(students) < 2:
        return []
    hashes = [np.fromiter(prints[student].hashes, dtype=np.int64) for student in students]
    values, columns = np.unique(np.concatenate(hashes), return_inverse=True)
    rows = np.repeat(np.arange(len(students)), [len(h) for h in hashes])
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, columns)),
                               shape=(len(students), len(values)))
    shared = sparse.triu(matrix @ matrix.T, k=1).tocoo()
    sizes = np.array([len(h) for h in hashes], dtype=float)
    first_share, second_share = shared.data / sizes[shared.row], shared.data / sizes[shared.col]
    low, high = np.minimum(first_share, second_share), np.maximum(first_share, second_share)
    keep = np.flatnonzero(high >= threshold)
    order = keep[np.lexsort((-high[keep], -low[keep]))]
    return [(float(low[i]), float(high[i]), students[shared.row[i]], students[shared.col[i]]) for i in order]


def find_similar(submissions, assignment: str, *, threshold: float = THRESHOLD,
                 release_dir: Path = RELEASE_DIR) -> SimilarityReport:
    """Compare every pair of ``submissions`` (objects with ``student`` and ``path``)."""
    from copydetect import CodeFingerprint, compare_files
    from copydetect.defaults import GUARANTEE_THRESHOLD, NOISE_THRESHOLD
    from copydetect.utils import highlight_overlap

    k, window = NOISE_THRESHOLD, GUARANTEE_THRESHOLD - NOISE_THRESHOLD + 1
    given = boilerplate_sources(assignment, release_dir)
    boilerplate = sorted({h for code in given.values()
                          for h in CodeFingerprint("given.py", k, 1, language="python", fp=io.StringIO(code)).hashes})
    shapes = {_shape(statement) for code in given.values() for statement in _statements(code)}
    prints, too_short, unreadable, too_large, out_of_time = {}, [], [], [], []
    dynamic, unparsable = [], {}
    roots = graded_names(assignment)
    deadline = time.monotonic() + TIME_BUDGET_S
    for submission in submissions:
        if time.monotonic() > deadline:
            out_of_time.append(submission.student)
            continue
        try:
            reading = read_submission(submission.path, shapes, roots)
        except TooLarge:
            too_large.append(submission.student)
            continue
        except SubmissionError as error:
            unreadable.append(submission.student)
            unparsable[submission.student] = str(error)
            continue
        except (OSError, RecursionError, ValueError, MemoryError) as error:
            unreadable.append(submission.student)
            unparsable[submission.student] = f"{type(error).__name__}: {error}"[:200]
            continue
        if reading.dynamic:
            dynamic.append(DynamicLead(submission.student, reading.dynamic))
        if reading.syntax_errors:
            unparsable[submission.student] = "; ".join(reading.syntax_errors) + (
                " (that part cannot run, and is not compared)" if reading.code.strip() else
                " (nothing else to compare)")
        fingerprint = CodeFingerprint(f"{submission.student}.py", k, window, boilerplate, language="python",
                                      fp=io.StringIO(reading.code))
        if fingerprint.token_coverage < MIN_TOKENS:
            too_short.append(submission.student)
        else:
            prints[submission.student] = fingerprint
    candidates = _candidates(prints, threshold)
    # copydetect measures the listed pairs (its share: overlapping tokens over fingerprinted tokens), and they
    # are ordered by its numbers; the fingerprint count above only chose them.
    pairs, slices = [], {}
    for _, _, first, second in candidates[:LISTED_PAIRS]:
        _, similarity, slices[first, second] = compare_files(prints[first], prints[second])
        pairs.append(Pair(first, second, (float(similarity[0]), float(similarity[1]))))
    pairs.sort(key=lambda pair: (-min(pair.similarity), -pair.score, pair.first, pair.second))
    for pair in pairs[:SHOWN_PAIRS]:
        first_slices, second_slices = slices[pair.first, pair.second]
        pair.first_html = highlight_overlap(prints[pair.first].raw_code, first_slices, "<mark>", "</mark>",
                                            escape_html=True)[0]
        pair.second_html = highlight_overlap(prints[pair.second].raw_code, second_slices, "<mark>", "</mark>",
                                             escape_html=True)[0]
    return SimilarityReport(pairs=pairs, above_threshold=len(candidates), compared=len(prints),
                            too_short=sorted(too_short), unreadable=sorted(unreadable), threshold=threshold,
                            boilerplate=sorted({name.split(",")[0] for name in given}), too_large=sorted(too_large),
                            out_of_time=sorted(out_of_time), dynamic=sorted(dynamic, key=lambda lead: lead.student),
                            unparsable=dict(sorted(unparsable.items())))
