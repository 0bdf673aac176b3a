"""What the loader keeps from a notebook or script, and what it skips."""

import pytest

from autograder.submission.load import SubmissionError, load_submission
from submissions import write_notebook


def test_are_definitions_and_their_dependencies_kept_and_the_rest_skipped(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb", [
        "!pip install torch\nimport torch\n%matplotlib inline\nSCALE = 2\nunused = torch.zeros(10**4)\nprint('hi')",
        "def scaled(x):\n    return helper(x) * SCALE\n\ndef helper(x):\n    return x + OFFSET\nOFFSET = BASE + 1\n"
        "BASE = 3\nscaled(3)",
        "%%time\nfor step in range(10**9):\n    pass",
        "if __name__ == '__main__':\n    scaled(1)",
    ])
    loaded = load_submission(path)
    kept = "\n".join(chunk.code for chunk in loaded.chunks)
    for expected in ("SCALE = 2", "def scaled", "def helper", "OFFSET = BASE + 1", "BASE = 3"):
        assert expected in kept
    for dropped in ("import torch", "unused", "print('hi')", "scaled(3)", "range(10**9)", "__main__"):
        assert dropped not in kept
    skipped = "\n".join(loaded.skipped)
    assert "`!pip install torch` (shell command or magic)" in skipped
    assert "cell magic `%%time`" in skipped and "`print('hi')`" in skipped and "`scaled(3)`" in skipped


def test_are_only_the_imports_that_definitions_use_kept(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb", [
        "import otter\nimport matplotlib.pyplot as plt\nimport torch.nn.functional as F\nfrom torch import Tensor\n"
        "from __future__ import annotations\nimport numpy as np\nLIMIT = np.pi",
        "def f(x: Tensor) -> Tensor:\n    return F.relu(x) * LIMIT",
        "plt.plot([1, 2])\ngrader = otter.Notebook()",
    ])
    loaded = load_submission(path)
    kept = "\n".join(chunk.code for chunk in loaded.chunks)
    for expected in ("import torch.nn.functional as F", "from torch import Tensor", "from __future__",
                     "import numpy as np", "LIMIT = np.pi"):
        assert expected in kept
    assert "otter" not in kept and "matplotlib" not in kept
    skipped = "\n".join(loaded.skipped)
    assert "`import otter` (not needed by any definition)" in skipped and "`plt.plot([1, 2])`" in skipped


def test_do_line_numbers_in_a_cell_survive_for_tracebacks(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb", ["import torch\n\n\ndef f():\n    return 1"])
    chunk = [c for c in load_submission(path).chunks if "def f" in c.code][0]
    assert chunk.code.splitlines()[3] == "def f():" and chunk.label == "cell 2"


def test_does_a_later_working_definition_replace_a_broken_one(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb", ["def f(:\n    pass", "def f():\n    return 2"])
    loaded = load_submission(path)
    assert "f" in loaded.defined and "f" not in loaded.broken


def test_is_a_script_loaded_like_one_cell(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("import torch\ndef f():\n    return torch.ones(1)\nf()\n")
    loaded = load_submission(path)
    assert loaded.defined == ["torch", "f"] and loaded.skipped == ["s.py: `f()` (not needed by any definition)"]


@pytest.mark.parametrize("name, content, message", [
    ("a.txt", b"hello", "expected a .ipynb notebook or a .py script"),
    ("a.py", b"   \n", "is empty"),
    ("a.py", b"\xff\xfe\x00", "not UTF-8"),
    ("a.ipynb", b'{"cells": 3}', "not a valid notebook"),
])
def test_is_an_unreadable_file_refused_with_a_clear_message(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SubmissionError, match=message):
        load_submission(path)


def test_is_a_missing_file_refused_with_a_clear_message(tmp_path):
    with pytest.raises(SubmissionError, match="could not read"):
        load_submission(tmp_path / "nope.py")
