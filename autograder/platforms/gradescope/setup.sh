#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
# Supported base images: Gradescope's Ubuntu 22.04 and 24.04. requirements.txt pins the versions this project's
# tests ran with, and some of them need Python @MINIMUM_PYTHON@ or later: where python3 is older (Ubuntu 22.04 has
# 3.10), this installs python@MINIMUM_PYTHON@ from the image's own packages. On an image with neither it stops with a
# message, so the image build fails visibly instead of zeroing every student.
# AUTOGRADER_ROOT stands in for /autograder in tests. TORCH_INDEX_URL is where torch comes from: by default
# PyTorch's CPU wheels (Gradescope has no GPU, and the CUDA wheels are gigabytes); set empty, pip's own index
# (PyPI, or the mirror pip is configured with), by name.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
TORCH_INDEX_URL="${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}"
PYTHON=""
find_python() {
    for candidate in python3 python3.14 python3.13 python3.12 python@MINIMUM_PYTHON@; do
        if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys, venv, ensurepip
sys.exit(0 if sys.version_info >= @MINIMUM_PYTHON_TUPLE@ else 1)' 2>/dev/null; then
            PYTHON="$(command -v "$candidate")"; return 0
        fi
    done
    return 1
}
if ! find_python || ! command -v bwrap >/dev/null; then
    command -v apt-get >/dev/null || {
        echo "setup.sh: this autograder needs an Ubuntu base image (no apt-get, and no Python @MINIMUM_PYTHON@ with venv)"
        exit 1; }
    apt-get update -qq
    find_python || apt-get install -y -qq python3 python3-venv python3-pip || true
    find_python || apt-get install -y -qq python@MINIMUM_PYTHON@ python@MINIMUM_PYTHON@-venv || true
    find_python || {
        echo "setup.sh: no Python @MINIMUM_PYTHON@ or later with venv here ($(python3 -V 2>&1)); the pinned packages need" \
             "it. Use Gradescope's Ubuntu 22.04 or 24.04 image"; exit 1; }
    # bubblewrap isolates student code; where the container refuses it namespaces, the grader falls back to
    # Landlock or a sandbox uid by itself (autograder/isolation.py), and never grades with the answers readable.
    command -v bwrap >/dev/null || apt-get install -y -qq bubblewrap || \
        echo "setup.sh: bubblewrap not available; the grader will use its fallback"
fi
echo "setup.sh: $("$PYTHON" -V) at $PYTHON"
# A venv of its own: Ubuntu 24.04's system Python refuses pip installs (PEP 668).
"$PYTHON" -m venv "$ROOT/venv"
if [ -n "$TORCH_INDEX_URL" ]; then
    "$ROOT/venv/bin/pip" install --quiet --index-url "$TORCH_INDEX_URL" torch==@TORCH_VERSION@
fi
"$ROOT/venv/bin/pip" install --quiet -r "$ROOT/source/requirements.txt"
"$ROOT/venv/bin/python" -c 'import torch, numpy, nbformat, pytest'
