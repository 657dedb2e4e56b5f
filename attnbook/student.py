"""The student edition: every chapter as a notebook with the exercises' solutions taken out.

``python -m attnbook student-edition OUTDIR`` writes ``OUTDIR/<chapter>.ipynb`` for each chapter notebook of the
book (the exercise statements stay; the prose of a solution goes, and its code becomes one stub cell with a comment,
which runs) and ``OUTDIR/answers/<chapter>.ipynb``, the complete chapter with its solutions, for instructors.
A numeric exercise's stub names its self-check, ``attnbook.checks.<label>(answer)``.

Solutions in the chapters are written the way sphinx-exercise reads them: gated,
``:::{solution-start} LABEL`` ... ``:::{solution-end}`` around markdown and code cells, or a single
``:::{solution} LABEL`` ... ``:::`` block.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["StudentChapter", "split_solutions", "student_edition", "chapter_sources"]

_START = re.compile(r"^(:{3,})\{solution-start\}\s*(\S*)")
_END = re.compile(r"^(:{3,})\{solution-end\}")
_BLOCK = re.compile(r"^(:{3,})\{solution\}\s*(\S*)")
_OPTION = re.compile(r"^:[a-z-]+:")


@dataclass
class StudentChapter:
    """One chapter split into what students get and what was taken out."""

    student: object                                   # nbformat.NotebookNode
    removed_text: list[str] = field(default_factory=list)   # solution prose lines
    removed_code: list[str] = field(default_factory=list)   # solution code cells
    labels: list[str] = field(default_factory=list)         # exercises whose solutions were removed


def _stub(label: str) -> str:
    from .checks import CHECKS

    lines = [f"# Exercise {label}: your code here (the solution is in the instructor's answers)."]
    if label in CHECKS:
        lines.append(f"# Check a numeric answer with: from attnbook import checks; checks.{CHECKS[label].__name__}(answer)")
    return "\n".join(lines) + "\n"


def _skip_header(lines: list[str], i: int) -> int:
    """Index after a directive's option lines and its closing fence (``:class: dropdown`` then ``:::``)."""
    while i < len(lines) and _OPTION.match(lines[i]):
        i += 1
    if i < len(lines) and re.fullmatch(r":{3,}\s*", lines[i]):
        i += 1
    return i


def split_solutions(nb) -> StudentChapter:
    """The student notebook of ``nb`` (a copy) and the solution material taken out of it."""
    import nbformat

    out = StudentChapter(student=copy.deepcopy(nb))
    cells, label, stubbed = [], None, False       # label: the open gated solution, if any
    for cell in nb.cells:
        if cell.cell_type == "code":
            if label is None:
                cells.append(copy.deepcopy(cell))
            else:
                out.removed_code.append(cell.source)
                if not stubbed:
                    cells.append(nbformat.v4.new_code_cell(_stub(label)))
                    stubbed = True
            continue
        keep, lines, i = [], cell.source.split("\n"), 0
        while i < len(lines):
            line = lines[i]
            if label is None and (m := _START.match(line)):
                label, stubbed = m.group(2), False
                out.labels.append(label)
                i = _skip_header(lines, i + 1)
                continue
            if label is not None and _END.match(line):
                label = None
                i = _skip_header(lines, i + 1)
                continue
            if label is None and (m := _BLOCK.match(line)):
                fence, block_label = m.group(1), m.group(2)
                out.labels.append(block_label)
                i += 1
                while i < len(lines) and lines[i].rstrip() != fence:
                    out.removed_text.append(lines[i])
                    i += 1
                i += 1
                continue
            (keep if label is None else out.removed_text).append(line)
            i += 1
        text = "\n".join(keep).strip("\n")
        if text.strip():
            new = copy.deepcopy(cell)
            new.source = text
            cells.append(new)
    if label is not None:
        raise ValueError(f"solution of {label!r} has no solution-end")
    out.student.cells = cells
    return out


def chapter_sources(book: Path) -> list[Path]:
    """The book's chapters with code (MyST notebooks with code cells), in table-of-contents order."""
    import yaml

    toc = yaml.safe_load((book.parent / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]
    paths = [book.parent / f"{f}.md" for f in files]
    return [p for p in paths if p.exists() and "```{code-cell}" in p.read_text()]


def student_edition(outdir: str | Path, book: str | Path = "book") -> list[Path]:
    """Write the student notebooks to ``outdir`` and the full chapters to ``outdir/answers``.

    Parameters
    ----------
    outdir : path
        Created if missing. Existing notebooks of the same names are overwritten.
    book : path
        The book's chapter folder (``book/`` of a clone of the repository; ``_toc.yml`` is read from its parent).

    Returns
    -------
    list of Path
        The student notebooks written, in chapter order.
    """
    import jupytext
    import nbformat

    book, outdir = Path(book), Path(outdir)
    if not (book.parent / "_toc.yml").exists():
        raise ValueError(f"book must be the chapter folder of the repository (with _toc.yml beside it), got {book}")
    (outdir / "answers").mkdir(parents=True, exist_ok=True)
    written = []
    for src in chapter_sources(book):
        nb = jupytext.read(src)
        nb.metadata.pop("jupytext", None)     # a plain .ipynb, not paired with the MyST source
        split = split_solutions(nb)
        nbformat.write(split.student, outdir / f"{src.stem}.ipynb")
        nbformat.write(nb, outdir / "answers" / f"{src.stem}.ipynb")
        written.append(outdir / f"{src.stem}.ipynb")
        print(f"student-edition: {src.stem}: {len(split.labels)} solutions removed")
    return written
