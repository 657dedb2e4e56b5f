"""The student edition: every chapter as a notebook with the exercises' solutions taken out.

``python -m attnbook student-edition OUTDIR [--answers KEYDIR] [--force]`` writes ``OUTDIR/<chapter>.ipynb`` for
each page of the book with code (the notation page included): the exercise statements stay; the prose of a solution
goes, and its code becomes one stub cell with a comment, which runs. A numeric exercise's stub names its self-check,
``attnbook.checks.<label>(answer)``. The notebooks read right in any notebook viewer (JupyterLab, classic Notebook,
Colab, VS Code, GitHub): every glued value is substituted into the prose as its number, MyST directives
(exercises, theorems, admonitions) become plain Markdown headings and cross-references become text or links (a
link to a page the folder does not hold goes to the published book, :func:`published_url`, never to a missing
file). A proof exercise (its solution holds a points rubric) gets no "your code here": the proof goes in the
Markdown answer cell every exercise gets.
The complete chapters (the answer key) go to ``KEYDIR`` only when it is named, and never inside ``OUTDIR``.

Solutions in the chapters are written the way sphinx-exercise reads them: gated,
``:::{solution-start} LABEL`` ... ``:::{solution-end}`` around markdown and code cells, or a single
``:::{solution} LABEL`` ... ``:::`` block.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["StudentChapter", "split_solutions", "student_edition", "chapter_sources", "plain_markdown",
           "glued_text", "published_url", "StudentEditionError"]

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


def _stub(label: str, proof: bool = False) -> str:
    """The code cell left where a solution's code was: a numeric exercise names its self-check; a proof exercise
    (its solution holds a points rubric) sends the proof to the Markdown answer cell below it."""
    from .checks import CHECKS

    if proof:
        return (f"# Exercise {label} asks for a proof: write it in the Markdown answer cell below (double-click it).\n"
                "# Use this cell only for a numerical check the exercise asks for, if any.\n")
    lines = [f"# Exercise {label}: your code here (the solution is in the instructor's answers)."]
    if label in CHECKS:
        lines.append(f"# Check a numeric answer with: from attnbook import checks; checks.{CHECKS[label].__name__}(answer)")
    return "\n".join(lines) + "\n"


#: how a solution marks a points rubric (a proof exercise): ``:class: rubric`` on an admonition
_RUBRIC = ":class: rubric"


def _answer_cell(label: str):
    """A Markdown cell for the student's own answer (a proof or an explanation is prose, not code)."""
    import nbformat

    return nbformat.v4.new_markdown_cell(f"**Your answer ({label}).** *Write your proof, explanation or "
                                         "conclusion here (double-click to edit).*")


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
    cells, label, stubbed = [], None, None        # label: the open gated solution, if any; stubbed: its stub cell
    removed_from = 0                              # where the open solution's removed text starts
    for cell in nb.cells:
        if cell.cell_type == "code":
            if label is None:
                cells.append(copy.deepcopy(cell))
            else:
                out.removed_code.append(cell.source)
                if stubbed is None:
                    stubbed = nbformat.v4.new_code_cell(_stub(label))
                    cells.append(stubbed)
            continue
        keep, lines, i = [], cell.source.split("\n"), 0

        def flush(keep=keep, cell=cell):
            text = "\n".join(keep).strip("\n")
            if text.strip():
                new = copy.deepcopy(cell)
                new.source = text
                cells.append(new)
            keep.clear()

        while i < len(lines):
            line = lines[i]
            if label is None and (m := _START.match(line)):
                flush()
                label, stubbed, removed_from = m.group(2), None, len(out.removed_text)
                out.labels.append(label)
                i = _skip_header(lines, i + 1)
                continue
            if label is not None and _END.match(line):
                flush()
                if stubbed is not None and any(_RUBRIC in ln for ln in out.removed_text[removed_from:]):
                    stubbed.source = _stub(label, proof=True)
                cells.append(_answer_cell(label))
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
                flush()
                cells.append(_answer_cell(block_label))
                continue
            (keep if label is None else out.removed_text).append(line)
            i += 1
        flush()
    if label is not None:
        raise ValueError(f"solution of {label!r} has no solution-end")
    out.student.cells = cells
    return out


def chapter_sources(book: Path) -> list[Path]:
    """The book's pages with code (MyST notebooks with code cells), in table-of-contents order."""
    import yaml

    toc = yaml.safe_load((book.parent / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]
    paths = [book.parent / f"{f}.md" for f in files]
    return [p for p in paths if p.exists() and "```{code-cell}" in p.read_text()]


class StudentEditionError(ValueError):
    """The student edition cannot be written as asked (folders, table of contents, existing notebooks)."""


# -- plain Markdown -----------------------------------------------------------------------------------------------

_FENCE_OPEN = re.compile(r"^(:{3,}|`{3,})\{([\w:-]+)\}[ \t]*(.*)$")
_FENCE_CLOSE = re.compile(r"^(:{3,}|`{3,})[ \t]*$")
_ROLE = re.compile(r"\{([\w:-]+)\}`([^`]*)`")
_TARGET = re.compile(r"^\(([\w-]+)\)=\s*$")
_KINDS = {"prf:theorem": "Theorem", "prf:lemma": "Lemma", "prf:definition": "Definition", "prf:remark": "Remark",
          "prf:proof": "Proof", "prf:assumption": "Assumption", "prf:proposition": "Proposition",
          "prf:observation": "Observation", "prf:conjecture": "Conjecture", "prf:corollary": "Corollary",
          "warning": "Warning", "note": "Note", "tip": "Tip", "important": "Important", "dropdown": "",
          "admonition": "", "exercise": ""}


def glued_text(value: str) -> str:
    """The text a ``{glue:text}`` role shows for a glued value's ``text/plain`` (a string's quotes removed)."""
    import ast

    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    return parsed if isinstance(parsed, str) else value


def published_url(root: str | Path = ".") -> str:
    """The published book's address, with a trailing slash, from ``<root>/_config.yml``: ``html.baseurl`` when set,
    else the GitHub Pages address of ``repository.url`` (``https://github.com/OWNER/REPO`` ->
    ``https://OWNER.github.io/REPO/``), where the workflow publishes the site (README, "GitHub Pages")."""
    import yaml

    path = Path(root) / "_config.yml"
    if not path.is_file():
        raise StudentEditionError(f"root must hold the book's _config.yml; {path} does not exist")
    config = yaml.safe_load(path.read_text()) or {}
    base = ((config.get("html") or {}).get("baseurl") or "").strip()
    if base:
        return base.rstrip("/") + "/"
    url = (config.get("repository") or {}).get("url", "")
    m = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?", url)
    if not m:
        raise StudentEditionError(f"{path}: repository.url must be https://github.com/OWNER/REPO (or set "
                                  f"html.baseurl); got {url!r}")
    return f"https://{m.group(1)}.github.io/{m.group(2)}/"


def _doc_link(name: str, local: frozenset | None, site: str) -> str:
    """Where a ``{doc}`` link to page ``name`` points: its notebook beside this one when it is there (``local``
    None: every page is), else the page of the published book ``site``."""
    return f"{name}.ipynb" if local is None or name in local else f"{site}{name}.html"


def _role(m: re.Match, glue: dict[str, str], page: str, local: frozenset | None = None, site: str = "") -> str:
    role, body = m.group(1), m.group(2)
    if role == "glue:text" or role == "glue":
        name, _, fmt = body.partition(":") if body not in glue else (body, "", "")
        if name not in glue:
            raise StudentEditionError(f"{page}: no glued value {name!r} to put into the prose (was the page executed?)")
        text = glued_text(glue[name])
        return format(float(text), fmt) if fmt else text          # {glue:text}`name:.4f` (myst-nb's format spec)
    body = " ".join(body.split())
    text, sep, target = body.partition(" <")
    target = target.rstrip(">") if sep else body
    if role == "doc":
        name = target.rsplit("/", 1)[-1]
        return f"[{text if sep else name.replace('_', ' ')}]({_doc_link(name, local, site)})"
    if role in ("cite:t", "cite:p", "cite"):
        return f"[{body}]" if role == "cite:p" else body
    if role == "math":
        return f"${body}$"
    return text if sep else body.replace("-", " ")          # ref, numref, prf:ref, eq: the label as words


def plain_markdown(source: str, glue: dict[str, str] | None = None, page: str = "", chapter: int | None = None,
                   local: frozenset | None = None, site: str = "") -> str:
    """A MyST markdown cell as plain Markdown: directives become bold headings, roles text or links, glued values
    their numbers. ``chapter`` numbers the exercises ``Exercise <chapter>.<k>`` (the page's own count starts at 1
    for each call of :func:`student_edition`; pass ``None`` to name them by label). A ``{doc}`` link goes to the
    page's notebook (``<page>.ipynb``, beside this one) when ``local`` is None or names the page, else to the page
    of the published book at ``site`` (:func:`published_url`): a hand-out folder holds only some pages."""
    out, glue = [], glue or {}
    source = _LIST_TABLE.sub(_pipe_table, source)
    stack: list[tuple[str, str]] = []       # open fences: (fence, kind); kind "" for a plain code block
    for line in source.split("\n"):
        top = stack[-1] if stack else None
        if top is not None and top[1] in ("", "skip"):
            if line.strip() == top[0]:              # the end of a code block (kept) or of a skipped directive
                stack.pop()
                out.append(line if top[1] == "" else "")
            elif top[1] == "":
                out.append(line)
            continue
        if _TARGET.match(line) or line.startswith(":label:"):
            continue
        if m := _FENCE_OPEN.match(line):
            kind, title = m.group(2), m.group(3).strip()
            if kind in ("literalinclude", "bibliography"):
                stack.append((m.group(1), "skip"))
                out.append(f"*(Listing of `{title}` in the repository.)*" if kind == "literalinclude" else
                           "*(The bibliography is a page of the book.)*")
                continue
            stack.append((m.group(1), kind))
            if kind == "math":
                out.append("$$")
                continue
            name = _KINDS.get(kind, kind.split(":")[-1].capitalize())
            out += [f"**{' '.join(x for x in (name, title) if x)}**" if (name or title) else "", ""]
            continue
        if re.match(r"^(`{3,}|~{3,})\S*\s*$", line) and not (top and line.strip() == top[0]):
            stack.append((re.match(r"^(`{3,}|~{3,})", line).group(1), ""))   # a plain code block opens
            out.append(line)
            continue
        if top is not None and line.strip() == top[0]:
            stack.pop()
            out.append("$$" if top[1] == "math" else "")
            continue
        if _OPTION.match(line) and top is not None and out and out[-1] == "":
            continue                                  # a directive's options, right after its heading
        out.append(line)
    text = _ROLE.sub(lambda r: _role(r, glue, page, local, site), "\n".join(out))     # a role may span two lines
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


_LIST_TABLE = re.compile(r"^(:{3,})\{list-table\}[ \t]*(.*?)\n(.*?)^\1[ \t]*$", re.M | re.S)


def _pipe_table(m: re.Match) -> str:
    """A ``list-table`` directive as a Markdown pipe table (its caption as a bold line above)."""
    rows: list[list[str]] = []
    for line in m.group(3).split("\n"):
        if _OPTION.match(line) or not line.strip():
            continue
        if line.startswith("* - "):
            rows.append([line[4:].strip()])
        elif line.lstrip().startswith("- ") and rows:
            rows[-1].append(line.lstrip()[2:].strip())
        elif rows:
            rows[-1][-1] += " " + line.strip()
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    rows = [[c.replace("|", "\\|") for c in r] + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width] + ["| " + " | ".join(r) + " |" for r in rows[1:]]
    caption = m.group(2).strip()
    return (f"**{caption}**\n\n" if caption else "") + "\n".join(lines) + "\n"


def _number_exercises(source: str, chapter: int | None, counter: list[int]) -> str:
    """``:::{exercise} Title`` + ``:label: x`` -> ``:::{exercise} Exercise N.k (x): Title``, numbered as the site."""
    def repl(m: re.Match) -> str:
        counter[0] += 1
        number = f"{chapter}.{counter[0]}" if chapter is not None else m.group(3)
        return f"{m.group(1)}{{exercise}} Exercise {number} ({m.group(3)}): {m.group(2).strip()}\n:label: {m.group(3)}"
    return re.sub(r"^(:{3,})\{exercise\}([^\n]*)\n:label: (\S+)", repl, source, flags=re.M)


# -- glued values -------------------------------------------------------------------------------------------------

def _glued(nb) -> dict[str, str]:
    values = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None:
                values[name] = out.get("data", {}).get("text/plain", "")
    return values


def _executed(nb, src: Path, cache: Path | None):
    """``nb`` with outputs: from the book's jupyter-cache if it holds the page's current code, else executed here."""
    if cache is not None and cache.is_dir():
        from jupyter_cache import get_cache

        try:
            return get_cache(str(cache)).merge_match_into_notebook(copy.deepcopy(nb))[1]
        except KeyError:
            pass
    import nbclient

    run = copy.deepcopy(nb)
    nbclient.NotebookClient(run, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(src.parent)}}).execute()
    return run


# -- the command --------------------------------------------------------------------------------------------------

def _inside(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or b in a.parents


def _chapter_number(stem: str) -> int | None:
    m = re.match(r"ch(\d+)_", stem)
    return int(m.group(1)) if m else None


def _student_notebook(nb, executed, src: Path, keep_outputs: bool, local: frozenset | None = None, site: str = ""):
    """The student notebook of one page: solutions out, exercises numbered, plain Markdown, glued values in, links
    to pages outside ``local`` sent to the published book ``site``."""
    glue = _glued(executed)
    chapter, counter = _chapter_number(src.stem), [0]
    numbered = copy.deepcopy(executed if keep_outputs else nb)
    for cell in numbered.cells:
        if cell.cell_type == "markdown":
            cell.source = _number_exercises(cell.source, chapter, counter)
    split = split_solutions(numbered)
    for cell in split.student.cells:
        if cell.cell_type == "markdown":
            cell.source = plain_markdown(cell.source, glue, src.stem, chapter, local, site)
        elif not keep_outputs:
            cell.outputs, cell.execution_count = [], None
    split.student.metadata.pop("jupytext", None)
    return split


def student_edition(outdir: str | Path, book: str | Path = "book", answers: str | Path | None = None, *,
                    force: bool = False, cache: str | Path | None = None, glue: dict | None = None,
                    keep_outputs: bool = False, pages: list[str] | None = None) -> list[Path]:
    """Write the student notebooks to ``outdir`` and, if ``answers`` is given, the complete pages there.

    Parameters
    ----------
    outdir : path
        The folder handed to students; created if missing.
    book : path
        The book's chapter folder (``book/`` of a clone of the repository; ``_toc.yml`` is read from its parent).
    answers : path, optional
        The answer key's folder (the complete pages with their solutions, for instructors). Must not be inside
        ``outdir`` (nor ``outdir`` inside it): a folder zipped for students must not carry the key.
    force : bool
        Overwrite notebooks of the same names already in ``outdir``/``answers`` (a student's work, perhaps);
        without it, existing notebooks stop the command before anything is written.
    cache : path, optional
        The book's jupyter-cache (default ``<repository>/_build/.jupyter_cache``): the glued values of a page whose
        code is cached are read from it; other pages are executed here (about as long as the book build).
    glue : dict, optional
        ``{page stem: {name: text/plain}}``: glued values given directly (the tests use this); no execution.
    keep_outputs : bool
        Keep the outputs of the cells students get (from the cache or the execution); default: no outputs.
    pages : list of str, optional
        Only these page stems (default: every page with code of the table of contents). A ``{doc}`` link to a page
        that is not written (another lecture's chapter, the bibliography) goes to the published book's page.

    Returns
    -------
    list of Path
        The student notebooks written, in table-of-contents order.

    Raises
    ------
    StudentEditionError
        ``book`` is not the chapter folder, the table of contents lists no page with code, ``answers`` nests with
        ``outdir``, notebooks would be overwritten without ``force``, or a glued value is missing.
    """
    import nbformat

    book, outdir = Path(book), Path(outdir)
    answers = None if answers is None else Path(answers)
    if not (book.parent / "_toc.yml").exists():
        raise StudentEditionError(
            f"book must be the chapter folder of the repository (with _toc.yml beside it), got {book}")
    sources = chapter_sources(book)
    if pages is not None:
        sources = [s for s in sources if s.stem in pages]
    if not sources:
        raise StudentEditionError(f"the table of contents {book.parent / '_toc.yml'} lists no existing page with "
                                  f"code{' among ' + str(pages) if pages is not None else ''}: nothing to write")
    if answers is not None and (_inside(answers, outdir) or _inside(outdir, answers)):
        raise StudentEditionError(f"the answer key's folder {str(answers)!r} and the student folder {str(outdir)!r} "
                                  "must not contain one another: name a separate folder for the key")
    targets = [outdir / f"{s.stem}.ipynb" for s in sources]
    if answers is not None:
        targets += [answers / f"{s.stem}.ipynb" for s in sources]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not force:
        raise StudentEditionError(f"{len(existing)} notebooks exist already (first: {existing[0]}); they may hold "
                                  "a student's work: pass --force (force=True) to overwrite them")
    cache = Path(cache) if cache is not None else book.parent / "_build" / ".jupyter_cache"
    local, site = frozenset(s.stem for s in sources), published_url(book.parent)   # links to other pages: the site
    written = []
    for src in sources:
        import jupytext

        nb = jupytext.read(src)
        if glue is not None:
            executed = copy.deepcopy(nb)
            executed.cells.append(nbformat.v4.new_code_cell(outputs=[
                {"output_type": "display_data", "data": {"text/plain": v}, "metadata": {"scrapbook": {"name": k}}}
                for k, v in glue.get(src.stem, {}).items()]))
        else:
            executed = _executed(nb, src, cache)
        split = _student_notebook(nb, executed, src, keep_outputs and glue is None, local, site)
        outdir.mkdir(parents=True, exist_ok=True)
        nbformat.write(split.student, outdir / f"{src.stem}.ipynb")
        written.append(outdir / f"{src.stem}.ipynb")
        if answers is not None:
            answers.mkdir(parents=True, exist_ok=True)
            nb.metadata.pop("jupytext", None)     # a plain .ipynb, not paired with the MyST source
            nbformat.write(nb, answers / f"{src.stem}.ipynb")
        print(f"student-edition: {src.stem}: {len(split.labels)} solutions removed")
    return written
