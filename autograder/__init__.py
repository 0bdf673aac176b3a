"""Autograder for the convolution course unit: load, sandbox, grade, report."""

import sys

# nbformat validates notebooks with jsonschema, which imports rfc3987_syntax for its "iri" format checks when that
# is installed (jupyter-events installs it, through jsonschema[format-nongpl]). rfc3987_syntax builds a Lark parser
# at import: 0.9 s of CPU in every grader and pool process here, for a format no notebook schema uses
# (python-jsonschema/jsonschema#1428; benchmarks/startup.py measures it). Marked absent, jsonschema does what it
# does when the package is not installed: the iri formats go unchecked, nothing else changes. A process that
# imported it before this line keeps it.
sys.modules.setdefault("rfc3987_syntax", None)
