"""The rule for numbers in a notebook's prose: a result the text states is a result the run shows.

A notebook's markdown may quote a measured number (an accuracy, a loss, a ratio) only when the
executed notebook prints that number too, so the text can never drift from what the code
computes. The numbers this rule checks are the ones a run produces or a reader would check
against a run:

- percentages ("64.0%", "about 96%");
- decimals ("0.374");
- counts of a training or descent run ("3 epochs", "500 steps", "200 iterations").

Plain integers (sizes such as 28x28, kernel widths, question numbers, points) are structure,
not results, and are left to the other tests. Mathematics (``$...$``) and code spans are not prose.

A prose number matches an output number of the same kind when the output, rounded to the
precision the prose writes, equals it ("77%" matches a printed "77.1%"). A number preceded by
"about", "roughly", "around", "near", "nearly", "almost" or "~" is an approximation, and may
differ from the output by one unit of its last digit ("about 96%" matches 95.2% to 96.8%).
A figure quoted from elsewhere (the workshop's own result) is named, with its reason, in the
caller's ``quoted`` list: it is then exempt, and only it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

APPROXIMATE = re.compile(r"(?:\babout|\broughly|\baround|\bnear|\bnearly|\balmost|~)\s*$", re.IGNORECASE)
NUMBER = re.compile(r"(?<![\w.])(\d+(?:,\d{3})*(?:\.\d+)?)(\s*%|\s+(?:epochs?|steps?|iterations?)\b)?")
MATH_OR_CODE = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|```.*?```|`[^`]*`", re.DOTALL)
OUTPUT_NUMBER = re.compile(r"(?<![\w.])(-?\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?)(\s*%|\s+(?:epochs?|steps?|iterations?)\b)?",
                           re.IGNORECASE)


@dataclass(frozen=True)
class Claim:
    cell: int
    text: str        # as written, e.g. "about 96%"
    value: float
    decimals: int
    kind: str        # "%", "count" or "decimal"
    approximate: bool

    def matches(self, value: float) -> bool:
        unit = 10.0 ** -self.decimals
        slack = unit if self.approximate else unit / 2
        return abs(value - self.value) <= slack + 1e-9


def _kind(unit: str | None, token: str) -> str | None:
    if unit and "%" in unit:
        return "%"
    if unit:
        return "count"
    return "decimal" if "." in token else None


def prose_claims(notebook) -> list[Claim]:
    """The numbers this rule checks, from every markdown cell of ``notebook``."""
    claims = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        text = MATH_OR_CODE.sub(" ", cell.source)
        for match in NUMBER.finditer(text):
            token, unit = match.group(1), match.group(2)
            kind = _kind(unit, token)
            if kind is None:
                continue
            before = APPROXIMATE.search(text[max(0, match.start() - 12):match.start()])
            written = (before.group(0).strip() + " " if before else "") + match.group(0).strip()
            decimals = len(token.split(".")[1]) if "." in token else 0
            claims.append(Claim(index, written, float(token.replace(",", "")), decimals, kind, bool(before)))
    return claims


def output_text(notebook) -> str:
    """Everything the executed notebook shows as text: streams, plain results and generated markdown."""
    shown = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                shown.append(output.get("text", ""))
            for mime in ("text/plain", "text/markdown", "text/html"):
                shown.append(str(output.get("data", {}).get(mime, "")))
    return "\n".join(shown)


def output_numbers(notebook) -> dict[str, list[float]]:
    """Printed numbers by kind. A printed fraction 0.964 also counts as 96.4%; a count needs its unit printed
    too ("20 epochs"), so a stray 20 elsewhere in the output does not vouch for "20 epochs"."""
    numbers: dict[str, list[float]] = {"%": [], "count": [], "decimal": []}
    for match in OUTPUT_NUMBER.finditer(output_text(notebook)):
        token, unit = match.group(1), match.group(2)
        value = float(token.replace(",", ""))
        if unit and "%" in unit:
            numbers["%"].append(value)
        elif unit:
            numbers["count"].append(value)
        else:
            numbers["decimal"].append(value)
            if 0 <= value <= 1:
                numbers["%"].append(100 * value)
    return numbers


def unsupported_claims(notebook, quoted=()) -> list[Claim]:
    """The prose numbers that no output of the executed ``notebook`` shows (``quoted`` texts exempt)."""
    shown = output_numbers(notebook)
    return [claim for claim in prose_claims(notebook)
            if claim.text not in quoted and not any(claim.matches(value) for value in shown[claim.kind])]
