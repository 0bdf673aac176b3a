"""The similarity step compares what runs: the code the graded functions reach, and code that builds itself.

Issue 33, item 5. A copy hidden in a compressed string that is exec()-ed at load, and two copies padded
with different unused functions, must come out as leads; an honest class must not; renaming still hides
nothing. Nothing here runs a submission: the step reads them as text and ASTs.
"""

import ast
import base64
import codecs
import re
import zlib
from pathlib import Path

import pytest

from autograder.classroom.batch import Submission
from autograder.classroom import what_runs
from autograder.classroom.similarity import find_similar
from submissions import reference_source, stub_source, with_replacements

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "submissions"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def pairs_of(report) -> dict[frozenset, tuple[float, float]]:
    return {frozenset((pair.first, pair.second)): pair.similarity for pair in report.pairs}


def packed(source: str) -> str:
    """The whole reference, compressed and base85-encoded into one string that a class body exec()s at load
    (class bodies run when the module loads, and the loader keeps classes)."""
    blob = base64.b85encode(zlib.compress(source.encode())).decode()
    return ("import base64\nimport zlib\n\n"
            f"_PAYLOAD = {blob!r}\n\n\n"
            "class _Loader:\n"
            "    exec(zlib.decompress(base64.b85decode(_PAYLOAD)).decode(), globals())\n")


def unused_functions(seed: int, count: int) -> list[str]:
    """Functions no graded function calls, different for each seed: padding that dilutes a copy."""
    functions = []
    for index in range(count):
        steps = "\n".join(f"    value = value * {(seed * 7 + index * 3 + step) % 9 + 2} + "
                          f"{(seed * 13 + index * 5 + step * 11) % 97}\n"
                          f"    if value > {1000 + seed * 31 + step}:\n        value = value % {17 + seed + step}"
                          for step in range(4 + (seed + index) % 3))
        functions.append(f"def unused_{seed}_{index}(value, scale={seed + index}):\n"
                         f"    buffer = [value] * scale\n{steps}\n    return value + sum(buffer)\n")
    return functions


def interleaved(source: str, padding: list[str]) -> str:
    """``source`` with one padding function after each of its top-level definitions."""
    blocks = re.split(r"\n(?=def |class )", source)
    out = [blocks[0]]
    for index, block in enumerate(blocks[1:]):
        out.append(block)
        out.extend(padding[index::len(blocks) - 1])
    return "\n\n".join(out) + "\n"


OWN_WORK = """import torch

SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
SOBEL_Y = SOBEL_X.T.contiguous()


def compute_convolution_at_position(i, j, img, kernel):
    window = img[i:i + kernel.shape[0], j:j + kernel.shape[1]]
    return (window * kernel).sum()


def apply_convolution(img, kernel):
    rows, cols = img.shape[0] - kernel.shape[0] + 1, img.shape[1] - kernel.shape[1] + 1
    result = img.new_empty(rows, cols)
    for i in range(rows):
        for j in range(cols):
            result[i, j] = compute_convolution_at_position(i, j, img, kernel)
    return result


def sobel_magnitude(img):
    edges = (apply_convolution(img, SOBEL_X) ** 2 + apply_convolution(img, SOBEL_Y) ** 2).sqrt()
    return edges / edges.max() if edges.max() > 0 else edges
"""


def test_is_a_copy_exec_ed_from_a_compressed_string_flagged_even_when_it_pairs_with_no_one(tmp_path):
    reference = reference_source("convolution")
    files = {"mallory": packed(reference), "honest": OWN_WORK, "stub": stub_source("convolution")}
    for name, text in files.items():
        write(tmp_path / f"{name}.py", text)
    report = find_similar([Submission(name, tmp_path / f"{name}.py") for name in files], "convolution")
    leads = {lead.student: lead for lead in report.dynamic}
    assert list(leads) == ["mallory"], report.dynamic
    reasons = " ".join(leads["mallory"].reasons)
    assert "exec" in reasons and "zlib.decompress" in reasons and "base64.b85decode" in reasons, reasons


def test_is_a_copy_exec_ed_from_a_compressed_string_paired_with_what_it_copies(tmp_path):
    """The grader's own decoders undo base85 and zlib on the constant (nothing of the submission runs), so the
    code it execs is compared: renamed, re-encoded with rot13 and hex, and a layer deeper, it still pairs."""
    reference = reference_source("convolution")
    renamed = re.sub(r"\bkernel\b", "weights", reference)
    inner = "import codecs\nexec(codecs.decode(" + repr(codecs.encode(renamed, "rot13")) + ", 'rot13'))\n"
    twice = ("import binascii\n\n\nclass _Loader:\n"
             f"    exec(binascii.unhexlify({inner.encode().hex()!r}).decode())\n")
    files = {"alice": reference, "mallory": packed(reference), "trudy": twice, "honest": OWN_WORK}
    for name, text in files.items():
        write(tmp_path / f"{name}.py", text)
    report = find_similar([Submission(name, tmp_path / f"{name}.py") for name in files], "convolution")
    pairs = pairs_of(report)
    assert min(pairs[frozenset(("alice", "mallory"))]) > 0.95, pairs
    assert min(pairs[frozenset(("alice", "trudy"))]) > 0.9, pairs
    assert {lead.student for lead in report.dynamic} == {"mallory", "trudy"}
    assert "decoded from line" in " ".join(next(lead for lead in report.dynamic if lead.student == "trudy").reasons)


def test_is_a_decompression_bomb_in_a_constant_not_unpacked(tmp_path):
    bomb = base64.b85encode(zlib.compress(b"#" * 50_000_000, 9)).decode()
    write(tmp_path / "bomb.py", f"import base64, zlib\n\n\nclass _L:\n"
                                f"    exec(zlib.decompress(base64.b85decode({bomb!r})))\n")
    write(tmp_path / "fine.py", reference_source("convolution"))
    report = find_similar([Submission(name, tmp_path / f"{name}.py") for name in ("bomb", "fine")], "convolution")
    assert [lead.student for lead in report.dynamic] == ["bomb"]


def test_are_two_copies_interleaved_with_different_unused_functions_a_pair(tmp_path):
    reference = reference_source("convolution")
    files = {"bob": interleaved(reference, unused_functions(1, 9)),
             "carol": interleaved(reference, unused_functions(2, 9)),
             "dave": with_replacements("convolution", {"apply_convolution": '''
def apply_convolution(img, kernel):
    rows = img.shape[0] - kernel.shape[0] + 1
    cols = img.shape[1] - kernel.shape[1] + 1
    return torch.stack([torch.stack([compute_convolution_at_position(i, j, img, kernel) for j in range(cols)])
                        for i in range(rows)])
'''})}
    for name, text in files.items():
        write(tmp_path / f"{name}.py", text)
    report = find_similar([Submission(name, tmp_path / f"{name}.py") for name in files], "convolution")
    pairs = pairs_of(report)
    assert frozenset(("bob", "carol")) in pairs, pairs
    assert min(pairs[frozenset(("bob", "carol"))]) > 0.9
    assert report.pairs[0].first == "bob" and report.pairs[0].second == "carol"
    assert "unused_1_0" not in report.pairs[0].first_html  # the report shows what was compared


def test_is_a_renamed_copy_padded_with_unused_functions_still_paired(tmp_path):
    reference = reference_source("convolution")
    renamed = reference
    for old, new in {"img": "picture", "kernel": "weights", "total": "acc", "height": "n_rows",
                     "num_rows_kernel": "kr", "num_cols_kernel": "kc", "out": "result"}.items():
        renamed = re.sub(rf"\b{old}\b", new, renamed)
    files = {"alice": reference, "eve": interleaved(renamed, unused_functions(3, 12))}
    for name, text in files.items():
        write(tmp_path / f"{name}.py", text)
    report = find_similar([Submission(name, tmp_path / f"{name}.py") for name in files], "convolution")
    assert min(pairs_of(report)[frozenset(("alice", "eve"))]) > 0.9


@pytest.mark.parametrize("assignment", sorted(path.name for path in EXAMPLES.iterdir()))
def test_is_the_honest_demo_class_not_flagged_as_code_that_builds_itself(assignment):
    """The demo's correct, mistaken and untouched submissions build no code at run time; of its hostile ones,
    only those that do are named."""
    folder = EXAMPLES / assignment
    submissions = [Submission(path.stem, path) for path in sorted(folder.glob("*.py"))]
    report = find_similar(submissions, assignment)
    flagged = {lead.student for lead in report.dynamic}
    assert not {student for student in flagged if not student.startswith("hostile_")}, report.dynamic
    assert not report.unparsable


def test_does_the_hostile_demo_that_imports_by_name_come_out_as_a_lead():
    folder = EXAMPLES / "shifted_mnist"
    report = find_similar([Submission(path.stem, path) for path in sorted(folder.glob("*.py"))], "shifted_mnist")
    assert "hostile_unpickling_payload" in {lead.student for lead in report.dynamic}


@pytest.mark.parametrize("snippet, expected", [
    ("exec(open('x').read())", "exec"),
    ("run = exec\nrun('y = 1')", "exec"),
    ("eval('1 + 1')", "eval"),
    ("code = compile('y = 1', 'x', 'exec')", "compile"),
    ("import marshal\nf = marshal.loads(b'')", "marshal.loads"),
    ("from marshal import loads as l\nf = l(b'')", "marshal.loads"),
    ("import importlib\nm = importlib.import_module('sc' + 'ipy')", "importlib.import_module"),
    ("m = __import__('os')", "__import__"),
    ("import builtins\ngetattr(builtins, 'ex' + 'ec')('y = 1')", "builtins"),
    ("f = __builtins__.__dict__['exec']", "__builtins__"),
    ("import types\nf = types.FunctionType(code, {})", "types.FunctionType"),
    ("from types import CodeType\nc = CodeType(*args)", "types.CodeType"),
    ("import codecs\nexec(codecs.decode('cevag(1)', 'rot13'))", "codecs.decode"),
    ("def f():\n    pass\nf.__code__ = g.__code__", "__code__"),
    ("globals()['apply_convolution'] = lambda img, kernel: img", "globals"),
    ("def f(name):\n    return globals()[name]", "looks the module's names up by a value"),
    ("names = vars()\ndef f(name):\n    return names[name]", "looks the module's names up by a value"),
    ("import __main__\nf = getattr(__main__, name)", "__main__"),
    ("from marshal import *\nf = loads(b'')", "from marshal import *"),
    ("from builtins import *\nf = exec", "from builtins import *"),
    ("from os import *\nsystem('x')", "from os import *"),
    ("import pickle\nf = pickle.loads(b'')", "pickle.loads"),
    ("import torch, io, base64\nm = torch.load(io.BytesIO(base64.b64decode(blob)))", "unpickling runs code"),
    ("import torch\nm = torch.load(path, weights_only=False)", "unpickling runs code"),
    ("import numpy as np\nm = np.load(path, allow_pickle=True)", "unpickling runs code"),
    ("f = type(lambda: 0)(code, {})", "a function built from a code object"),
    ("g = getattr(f, '__glob' + 'als__')", "looks up __globals__"),
    ("from builtins import exec as run\nrun('y = 1')", "builtins.exec"),
    ("def f(eval=eval):\n    return eval('1')", "eval"),
    ("import sys\nf = sys._getframe().f_globals", "f_globals"),
    ("import os\nos.system('python -c 1')", "runs another program"),
    ("import subprocess\nsubprocess.run(['python', '-c', code])", "subprocess"),
    ("import ctypes\nctypes.CFUNCTYPE(None)", "ctypes"),
])
def test_is_every_way_to_build_code_at_run_time_named(snippet, expected):
    reasons = " ".join(what_runs.dynamic_code(snippet))
    assert expected in reasons, reasons


@pytest.mark.parametrize("snippet", [
    "model.eval()",
    "import re\npattern = re.compile('a+')",
    "import torch\nfast = torch.compile(model)",
    "import importlib\nimportlib.reload(module)",
    "import types\nnamespace = types.SimpleNamespace(a=1)",
    "x = getattr(model, 'weight')",
    "text = 'exec eval compile'",
    "import torch\nstate = torch.load(path)",
    "phase = {'train': 1, 'eval': 2}['eval']",
    "def evaluate(model, eval=True):\n    return eval",
    "step = getattr(model, 'eval')",
    "def f(**options):\n    return locals()",
    "from torch import *",
    "from math import *",
])
def test_is_ordinary_code_not_named_as_code_that_builds_itself(snippet):
    assert what_runs.dynamic_code(snippet) == []


def test_does_the_comparison_follow_only_what_the_graded_functions_reach():
    source = ("import torch\nimport numpy\n\nSCALE = 2\nUNUSED = 3\n\n"
              "def helper(x):\n    return x * SCALE\n\n"
              "class Box:\n    def area(self):\n        return helper(1)\n\n"
              "def apply_convolution(img, kernel):\n    return Box().area() + torch.zeros(1)\n\n"
              "def lonely():\n    return UNUSED\n")
    kept = what_runs.reachable_code(source, ("apply_convolution",))
    for name in ("def helper", "class Box", "SCALE = 2", "def apply_convolution", "import torch"):
        assert name in kept, kept
    for name in ("def lonely", "UNUSED = 3", "import numpy"):
        assert name not in kept, kept


def test_does_a_name_looked_up_by_string_keep_what_it_names():
    source = ("def helper(x):\n    return x\n\n"
              "def apply_convolution(img, kernel):\n    return globals()['hel' + 'per'](img)\n")
    assert "def helper" in what_runs.reachable_code(source, ("apply_convolution",))
    source = ("def helper(x):\n    return x\n\ndef other():\n    return 1\n\n"
              "def apply_convolution(img, kernel):\n    import sys\n"
              "    return getattr(sys.modules[__name__], 'helper')(img)\n")
    kept = what_runs.reachable_code(source, ("apply_convolution",))
    assert "def helper" in kept and "def other" not in kept


def test_is_code_reached_only_by_a_computed_name_a_lead_and_padding_around_it_still_left_out(tmp_path):
    """A lookup the text cannot follow does not make the whole module count (padding would dilute again): it
    is a lead of its own, and the rest is compared as usual."""
    reference = reference_source("convolution")
    hidden = reference.replace("def apply_convolution(", "def _real_apply(") + (
        "\n\ndef apply_convolution(img, kernel):\n"
        "    return globals()['_real_' + ''.join(['ap', 'ply'])](img, kernel)\n")
    files = {"bob": interleaved(hidden, unused_functions(4, 9)), "carol": interleaved(hidden, unused_functions(5, 9))}
    for name, text in files.items():
        write(tmp_path / f"{name}.py", text)
    report = find_similar([Submission(name, tmp_path / f"{name}.py") for name in files], "convolution")
    assert {lead.student for lead in report.dynamic} == {"bob", "carol"}
    assert "looks the module's names up by a value" in report.dynamic[0].reasons[0]
    assert min(pairs_of(report)[frozenset(("bob", "carol"))]) > 0.9


def test_is_a_submission_that_does_not_parse_named_with_its_error(tmp_path):
    write(tmp_path / "broken.py", "def apply_convolution(img, kernel:\n    return img\n")
    write(tmp_path / "fine.py", reference_source("convolution"))
    report = find_similar([Submission(name, tmp_path / f"{name}.py") for name in ("broken", "fine")],
                          "convolution")
    assert "broken" in report.unparsable
    assert "line 1" in report.unparsable["broken"], report.unparsable
    assert all("broken" not in (pair.first, pair.second) for pair in report.pairs)


def test_does_the_class_report_name_code_that_builds_itself_and_what_does_not_parse(tmp_path):
    from autograder.reports.class_report import class_statistics, render_report

    files = {"mallory": packed(reference_source("convolution")), "honest": OWN_WORK,
             "broken": "def apply_convolution(img, kernel:\n    return img\n"}
    for name, text in files.items():
        write(tmp_path / f"{name}.py", text)
    report = find_similar([Submission(name, tmp_path / f"{name}.py") for name in files], "convolution")
    results = [{"student": name, "assignment": "convolution", "status": "ok", "score": 0.0, "tests": []}
               for name in files]
    page = render_report(class_statistics("convolution", results), {"totals": "", "questions": "", "tests": ""},
                         {}, results=results, similarity=report)
    section = page.split("<h2>Similar submissions</h2>")[1]
    dynamic = section.split('id="similarity-dynamic"')[1].split("</ul>")[0]
    assert "mallory" in dynamic and "exec() of zlib.decompress(base64.b85decode(_PAYLOAD)).decode()" in dynamic
    assert "honest" not in dynamic and "broken" not in dynamic
    assert "broken" in section.split('id="similarity-unparsable"')[1].split("</p>")[0]


def test_does_the_runs_summary_name_code_that_builds_itself(tmp_path):
    from rich.console import Console

    from autograder.classroom.batch import ClassSummary
    from autograder.cli import print_class_summary

    files = {"mallory": packed(reference_source("convolution")), "honest": OWN_WORK,
             "broken": "def apply_convolution(img, kernel:\n    return img\n"}
    for name, text in files.items():
        write(tmp_path / f"{name}.py", text)
    report = find_similar([Submission(name, tmp_path / f"{name}.py") for name in files], "convolution")
    results = [{"student": name, "assignment": "convolution", "status": "ok", "score": 0.0, "max_score": 11.0,
                "tests": []} for name in files]
    console = Console(record=True, width=400, highlight=False)
    print_class_summary(console, ClassSummary("convolution", results=results, similarity=report), tmp_path)
    printed = " ".join(console.export_text().split())
    assert "code that builds itself at run time" in printed
    assert "mallory (line 8: exec() of zlib.decompress(base64.b85decode(_PAYLOAD)).decode()" in printed, printed
    assert "does not parse or cannot be read: broken: broken.py, line 1" in printed, printed


def test_are_notebook_cells_named_in_leads_and_parse_errors(tmp_path):
    """A notebook: the packed copy across two cells still pairs, its lead names the cell, and a cell with a
    syntax error is named with its line while the rest is compared."""
    from submissions import write_notebook

    reference = reference_source("convolution")
    blob = base64.b85encode(zlib.compress(reference.encode())).decode()
    write_notebook(tmp_path / "nina.ipynb", ["import base64\nimport zlib", f"_PAYLOAD = {blob!r}",
                                             "print('training...')\nfor epoch in range(3):\n    pass",
                                             "class _Loader:\n    exec(zlib.decompress(base64.b85decode(_PAYLOAD)))",
                                             "def plot(x:\n    pass"])
    write(tmp_path / "alice.py", reference)
    report = find_similar([Submission(path.stem, path) for path in sorted(tmp_path.iterdir())], "convolution")
    assert min(pairs_of(report)[frozenset(("alice", "nina"))]) > 0.95
    assert [lead.student for lead in report.dynamic] == ["nina"]
    assert report.dynamic[0].reasons[0].startswith("cell 5, line 2: exec() of zlib.decompress("), report.dynamic
    assert report.unparsable["nina"].startswith("cell 6, line 1: "), report.unparsable
    assert "not compared" in report.unparsable["nina"]


def padded_inside(source: str, seed: int) -> str:
    """Padding inside every function: a nested helper nothing calls, an ``if False:`` block, code after the
    return, each using names and numbers of its own."""
    tree = ast.parse(source)
    lines = source.splitlines()
    for function in sorted((node for node in tree.body if isinstance(node, ast.FunctionDef)),
                           key=lambda node: node.lineno, reverse=True):
        junk = "\n".join(f"        value_{seed}_{step} = value_{seed}_{step - 1} * {seed + step} + {step * 7}"
                         for step in range(1, 12))
        after = [f"    print('never {seed}', {seed} * 3)", f"    unused_total_{seed} = sum(range({seed + 40}))"]
        body_start = function.body[0].lineno - 1 if not isinstance(function.body[0], ast.Expr) else \
            function.body[0].end_lineno
        lines[function.end_lineno:function.end_lineno] = after
        lines[body_start:body_start] = [f"    def nested_{seed}(value_{seed}_0):", junk.replace("        ", "        "),
                                        f"        return value_{seed}_11",
                                        "    if False:", junk.replace(f"value_{seed}_0", "1")]
    return "\n".join(lines) + "\n"


def test_are_copies_padded_inside_their_functions_still_a_pair(tmp_path):
    reference = reference_source("convolution")
    files = {"bob": padded_inside(reference, 1), "carol": padded_inside(reference, 2)}
    for name, text in files.items():
        ast.parse(text)  # padded, still a working module
        write(tmp_path / f"{name}.py", text)
    report = find_similar([Submission(name, tmp_path / f"{name}.py") for name in files], "convolution")
    assert min(pairs_of(report)[frozenset(("bob", "carol"))]) > 0.9, report.pairs
    assert "nested_1" not in report.pairs[0].first_html + report.pairs[0].second_html


NET = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3),
                                      nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(64 * 4 * 4, 10)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))
{methods}

def build_cnn():
    return Net()
"""


def test_is_a_copy_padded_with_unused_methods_still_a_pair(tmp_path):
    def with_methods(seed):
        steps = ["        value = value * {k} - {step}\n",  # a different shape of padding per student
                 "        if value > {k}:\n            value = [value, {step}][value % 2] // {k}\n"][seed - 1]
        methods = "".join(f"\n    def spare_{seed}_{index}(self, value):\n"
                          + "".join(steps.format(k=seed + index + step, step=step) for step in range(8))
                          + "        return value\n" for index in range(6))
        return with_replacements("training", {"build_cnn": NET.format(methods=methods)})

    files = {"bob": with_methods(1), "carol": with_methods(2)}
    for name, text in files.items():
        ast.parse(text)
        write(tmp_path / f"{name}.py", text)
    report = find_similar([Submission(name, tmp_path / f"{name}.py") for name in files], "training")
    assert min(pairs_of(report)[frozenset(("bob", "carol"))]) > 0.9, report.pairs
    assert "spare_1_0" not in report.pairs[0].first_html + report.pairs[0].second_html
    assert "def forward" in report.pairs[0].first_html


def test_is_code_registered_by_a_decorator_or_a_subscript_compared():
    source = ("OPS = {}\n\n"
              "def register(function):\n    OPS[function.__name__] = function\n    return function\n\n"
              "def passthrough(function):\n    return function\n\n"
              "@register\ndef blur(x):\n    return x + 1\n\n"
              "@passthrough\ndef padding(x):\n    return x - 1\n\n"
              "def sharpen(x):\n    return x * 2\n\n"
              "OPS['sharpen'] = sharpen\n\n"
              "def apply_convolution(img, kernel):\n    return OPS[kernel](img)\n")
    kept = what_runs.reachable_code(source, ("apply_convolution",))
    for name in ("def register", "def blur", "def sharpen", "OPS['sharpen'] = sharpen", "OPS = {}"):
        assert name in kept, kept
    assert "def padding" not in kept and "def passthrough" not in kept
