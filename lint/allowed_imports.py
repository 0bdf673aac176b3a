"""An import-linter contract that names what a package may import, rather than what it may not.

import-linter's own contracts forbid listed modules (``forbidden``) or protect a module from listed importers
(``protected``); neither says "these modules import only X", and a forbidden list goes stale the day someone
imports a new library. The worker runs the student's code inside the sandbox and must stay small and
self-contained there, so it gets this allow-list: the standard library, itself, and the packages named.
"""

from __future__ import annotations

import sys

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class AllowedImportsContract(Contract):
    """Every module in ``source_modules`` imports only the standard library, its own package and
    ``allowed_modules`` (each a module or package name). Needs ``include_external_packages = true``."""

    type_name = "allowed_imports"

    source_modules = fields.ListField(subfield=fields.StringField())
    allowed_modules = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        allowed = [*self.allowed_modules, *self.source_modules]
        broken = []
        for source in self.source_modules:
            for importer in sorted(graph.find_descendants(source) | {source}):
                for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                    if imported.split(".")[0] in sys.stdlib_module_names or any(
                            imported == name or imported.startswith(name + ".") for name in allowed):
                        continue
                    lines = [detail["line_number"] for detail in
                             graph.get_import_details(importer=importer, imported=imported)]
                    broken.append({"importer": importer, "imported": imported, "lines": lines})
        return ContractCheck(kept=not broken, metadata={"broken": broken})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for item in check.metadata["broken"]:
            lines = ", ".join(f"l.{line}" for line in item["lines"])
            output.print_error(f"{item['importer']} imports {item['imported']} ({lines}), which is not allowed: "
                               f"it may import only the standard library, itself and "
                               f"{', '.join(self.allowed_modules)}.")
            output.new_line()
