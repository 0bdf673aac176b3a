"""The bundled demo class is what examples/build_class.py generates (no hand edits, no drift)."""

import runpy
from pathlib import Path

from autograder.course.assignments import ASSIGNMENTS

ROOT = Path(__file__).resolve().parents[1]


def test_is_the_committed_demo_class_exactly_what_the_builder_writes(tmp_path):
    build = runpy.run_path(str(ROOT / "examples" / "build_class.py"))["build"]
    written = {path.relative_to(tmp_path): path.read_text() for path in build(tmp_path)}
    committed = {path.relative_to(ROOT / "examples" / "submissions"): path.read_text()
                 for path in (ROOT / "examples" / "submissions").glob("*/*.py")}
    assert written == committed
    assert len(written) == len(ASSIGNMENTS) * 7
