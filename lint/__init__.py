"""Checks of the code's shape that run in `make test` (see the [tool.importlinter] contracts in pyproject.toml)."""
