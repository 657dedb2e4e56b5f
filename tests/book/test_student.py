"""The student edition (``python -m attnbook student-edition``) and the exercises' self-checks (``attnbook.checks``)."""
from __future__ import annotations

import ast
import io
import math
import re
from contextlib import redirect_stdout
from pathlib import Path

import jupytext
import nbclient
import numpy as np
import pytest

import attnlib as al
from attnbook import checks
from attnbook.__main__ import main as cli
from attnbook.student import StudentEditionError, chapter_sources, plain_markdown, split_solutions, student_edition

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = chapter_sources(ROOT / "book")


def _exercise_labels(src: Path) -> list[str]:
    return re.findall(r"^:::+\{exercise\}.*\n:label: (\S+)", src.read_text(), re.M)


def _assigned(code: str) -> set[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:          # IPython magics: not in the chapters' solutions
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _loaded(code: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


@pytest.mark.parametrize("src", CHAPTERS, ids=lambda p: p.stem)
def test_no_solution_leaks_and_every_exercise_is_kept(src):
    nb = jupytext.read(src)
    split = split_solutions(nb)
    assert split.labels == _exercise_labels(src)          # one solution per exercise, all removed
    student_md = "\n".join(c.source for c in split.student.cells if c.cell_type == "markdown")
    student_code = "\n".join(c.source for c in split.student.cells if c.cell_type == "code")
    for label in split.labels:                            # the statements stay, each with a cell for the answer
        assert f":label: {label}" in student_md
        answer = [i for i, c in enumerate(split.student.cells)
                  if c.cell_type == "markdown" and c.source.startswith(f"**Your answer ({label}).**")]
        statement = [i for i, c in enumerate(split.student.cells) if f":label: {label}" in c.source]
        assert len(answer) == 1 and statement[0] < answer[0]
    assert "solution-start" not in student_md and "{solution}" not in student_md
    leaked = [ln for ln in split.removed_text if len(ln.strip()) > 25 and ln.strip() in student_md]
    assert not leaked
    # a solution line may repeat a line of the chapter (e.g. "data = ch6.demo_data()"): only solution-only lines count
    chapter_code = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and c.source not in split.removed_code)
    code_lines = {ln.strip() for cell in split.removed_code for ln in cell.splitlines()
                  if len(ln.strip()) > 15 and not ln.strip().startswith("#") and ln.strip() not in chapter_code}
    assert code_lines or not split.removed_code, "the solutions' code should have lines of its own"
    assert not [ln for ln in code_lines if ln in student_code]


@pytest.mark.parametrize("src", CHAPTERS, ids=lambda p: p.stem)
def test_student_notebook_needs_nothing_a_solution_defined(src):
    # A kept cell after a removed solution must not use a name only that solution defined.
    nb = jupytext.read(src)
    split = split_solutions(nb)
    removed = {code for code in split.removed_code}
    defined, only_in_solutions = set(), set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.source in removed:
            only_in_solutions |= _assigned(cell.source) - defined
            continue
        code = "\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!")))
        missing = _loaded(code) & (only_in_solutions - defined)
        assert not missing, f"{src.stem}: a kept cell uses {missing}, defined only in a solution"
        defined |= _assigned(code)


def _fake_glue(pages=None) -> dict:
    """Every glued name the pages' prose uses, with a recognisable value (no execution)."""
    return {src.stem: {name.split(":")[0]: "'0.5'" if ":" in name else repr(f"<{name}>")
                       for name in re.findall(r"\{glue:text\}`([^`]+)`", src.read_text())}
            for src in CHAPTERS if pages is None or src.stem in pages}


def test_student_edition_reads_without_myst_and_keeps_the_key_apart(tmp_path):
    out, key = tmp_path / "hand-out", tmp_path / "answer-key"
    written = student_edition(out, ROOT / "book", key, glue=_fake_glue())
    assert sorted(p.stem for p in written) == sorted(p.stem for p in CHAPTERS)
    assert "notation" in [p.stem for p in written]           # every chapter links to it
    assert sorted(p.stem for p in key.glob("*.ipynb")) == sorted(p.stem for p in written)
    assert not list(out.rglob("answers")) and not list(out.rglob("*key*"))
    import nbformat

    for path in written:
        nb = nbformat.read(path, as_version=4)
        md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert "{glue" not in md and not re.search(r"\{[\w:-]+\}`", md), path.stem      # no role left
        assert not re.search(r"^:{3,}", md, re.M), path.stem                         # no colon fence left
        assert not re.search(r"^\(\S+\)=\s*$", md, re.M)                              # no MyST target
        prose = "\n".join(c.source for c in jupytext.read(ROOT / "book" / f"{path.stem}.md").cells
                          if c.cell_type == "markdown")
        names = [n for n in re.findall(r"\{glue:text\}`([^`]+)`", prose) if ":" not in n]
        removed = split_solutions(jupytext.read(ROOT / "book" / f"{path.stem}.md")).removed_text
        kept = [n for n in names if not any(f"`{n}`" in line for line in removed)]
        assert all(f"<{n}>" in md for n in kept)                                    # numbers, not names
    ch4 = "\n".join(c.source for c in nbformat.read(out / "ch4_kkt.ipynb", as_version=4).cells)
    assert "**Exercise 4.2 (ch4-ex-omega): ★ The constant depends on the initialization**" in ch4
    num = "\n".join(c.source for c in nbformat.read(out / "numerics.ipynb", as_version=4).cells)
    assert "<num-cos-t>" in num            # glued only inside its removed solution, used by the statement


def _dead_links(folder: Path) -> list[str]:
    """Relative Markdown links of the notebooks in ``folder`` whose target is not a file there."""
    import nbformat

    dead = []
    for path in sorted(folder.glob("*.ipynb")):
        md = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        for target in re.findall(r"\]\(([^)\s]+)\)", md):
            if not re.match(r"^(https?:|mailto:|#)", target) and not (folder / target.split("#")[0]).is_file():
                dead.append(f"{path.name}: {target}")
    return dead


def test_no_dead_relative_link_in_any_hand_out(tmp_path):
    # The whole edition and every lecture's folder of the course (attnbook.course writes a lecture's pages only):
    # a link to a page that is not in the folder goes to the published book (_config.yml), never to a missing file.
    from attnbook.course import course_plan
    from attnbook.student import published_url

    student_edition(tmp_path / "all", ROOT / "book", glue=_fake_glue())
    assert not _dead_links(tmp_path / "all")
    site = published_url(ROOT)
    for lec in course_plan(ROOT / "book"):
        folder = tmp_path / f"lecture-{lec.number}"
        student_edition(folder, ROOT / "book", glue=_fake_glue(lec.pages), pages=list(lec.pages))
        assert not _dead_links(folder), lec.number
    ch2 = "\n".join(c.source for c in nbformat_read(tmp_path / "lecture-2" / "ch2_frobenius.ipynb").cells)
    assert f"({site}ch1_token_selection.html)" in ch2 and "(ch1_token_selection.ipynb)" not in ch2
    assert "(ch1_token_selection.ipynb)" in "\n".join(
        c.source for c in nbformat_read(tmp_path / "all" / "ch2_frobenius.ipynb").cells)


def nbformat_read(path: Path):
    import nbformat

    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("src", CHAPTERS, ids=lambda p: p.stem)
def test_a_proof_exercise_gets_no_code_prompt(src):
    # A proof (its solution has a points rubric) is written in the Markdown answer cell; the code cell left in place of
    # its solution's check must not ask for "your code here" (a typed proof there is a SyntaxError).
    text = src.read_text()
    split = split_solutions(jupytext.read(src))

    def solution(label: str) -> str:
        start = text.find(f"{{solution-start}} {label}\n")
        return text[start:text.find("{solution-end}", start)] if start >= 0 else ""

    proofs = [lab for lab in split.labels if ":class: rubric" in solution(lab)]
    cells = split.student.cells
    for lab in split.labels:
        stubs = [c.source for c in cells if c.cell_type == "code" and re.match(rf"# Exercise {lab}[: ]", c.source)]
        if lab in proofs:
            assert all("your code here" not in st and "Markdown answer cell" in st for st in stubs), lab
            answer = [c for c in cells if c.cell_type == "markdown" and c.source.startswith(f"**Your answer ({lab}).**")]
            assert len(answer) == 1, lab
        else:
            assert all("your code here" in st for st in stubs), lab


def test_student_edition_refuses_a_nested_key_and_overwriting(tmp_path, capsys):
    glue = _fake_glue(["ch7_errata"])
    with pytest.raises(StudentEditionError, match="must not contain one another"):
        student_edition(tmp_path / "s", ROOT / "book", tmp_path / "s" / "answers", glue=glue, pages=["ch7_errata"])
    with pytest.raises(StudentEditionError, match="must not contain one another"):
        student_edition(tmp_path / "s" / "x", ROOT / "book", tmp_path / "s", glue=glue, pages=["ch7_errata"])
    student_edition(tmp_path / "s", ROOT / "book", glue=glue, pages=["ch7_errata"])
    (tmp_path / "s" / "ch7_errata.ipynb").write_text("a student's work")
    with pytest.raises(StudentEditionError, match="--force"):
        student_edition(tmp_path / "s", ROOT / "book", glue=glue, pages=["ch7_errata"])
    assert (tmp_path / "s" / "ch7_errata.ipynb").read_text() == "a student's work"
    student_edition(tmp_path / "s", ROOT / "book", glue=glue, pages=["ch7_errata"], force=True)
    with pytest.raises(SystemExit) as exc:                    # the CLI: argparse's error, exit 2, before any work
        cli(["student-edition", str(tmp_path / "t"), "--answers", str(tmp_path / "t" / "key"),
             "--book", str(ROOT / "book")])
    assert exc.value.code == 2 and "must not contain one another" in capsys.readouterr().err


def test_student_edition_command_line_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match="_toc.yml"):
        student_edition(tmp_path / "x", tmp_path)
    for args in (["student-edition", str(tmp_path / "o"), "--book", str(tmp_path / "missing")],
                 ["student-edition", str(tmp_path / "o"), "--book", str(tmp_path)]):
        with pytest.raises(SystemExit) as exc:
            cli(args)
        assert exc.value.code == 2 and "--book" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exc:
        cli(["student-edition", str(tmp_path / "file"), "--book", str(ROOT / "book")])
    assert exc.value.code == 2 and "OUTDIR" in capsys.readouterr().err
    repo = tmp_path / "repo"
    (repo / "book").mkdir(parents=True)
    (repo / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nparts:\n  - chapters:\n      - file: book/gone\n")
    with pytest.raises(SystemExit) as exc:
        cli(["student-edition", str(tmp_path / "o2"), "--book", str(repo / "book")])
    assert exc.value.code == 2 and "lists no existing page" in capsys.readouterr().err


def test_plain_markdown_of_directives_and_roles():
    src = (":::{prf:theorem} Rank\n:label: ch2-thm\n:class: dropdown\nText with {ref}`the rule <ch2-rule>`, "
           "{doc}`ch3_diagonal`, {cite:t}`boyd2004convex` and {glue:text}`x`.\n:::\n(sec-a)=\n## A")
    out = plain_markdown(src, {"x": "'1.5'"}, "p")
    assert out == ("**Theorem Rank**\n\nText with the rule, [ch3 diagonal](ch3_diagonal.ipynb), boyd2004convex "
                   "and 1.5.\n\n## A")
    fenced = "```text\nA -> B\n```\n:::{note}\n:class: x\n```{literalinclude} /attnlib/x.py\n:lines: 1-3\n```\n:::"
    assert plain_markdown(fenced) == "```text\nA -> B\n```\n**Note**\n\n*(Listing of `/attnlib/x.py` in the repository.)*"
    assert plain_markdown("::::{dropdown} More\n:::{prf:lemma} L\n:label: l\nbody\n:::\n::::") == \
        "**More**\n\n**Lemma L**\n\nbody"
    with pytest.raises(StudentEditionError, match="no glued value 'y'"):
        plain_markdown("{glue:text}`y`", {}, "p")


@pytest.mark.slow
def test_a_student_notebook_executes(tmp_path):
    # The chapters' own build executes every chapter; here one student notebook runs as a student would get it.
    student_edition(tmp_path, ROOT / "book", glue=_fake_glue(["ch7_errata"]), pages=["ch7_errata"])
    import nbformat

    nb = nbformat.read(tmp_path / "ch7_errata.ipynb", as_version=4)
    stubs = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# Exercise ")]
    assert stubs and all(ln.startswith("#") for c in stubs for ln in c.source.strip().splitlines())
    # a numeric exercise's stub names its self-check in the book's package, as a line the student can run
    named = [ln.split("with: ", 1)[1] for c in stubs for ln in c.source.splitlines() if "Check a numeric" in ln]
    assert "from attnbook import checks; checks.ch7_ex_e2(answer)" in named
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "book")}}).execute()
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]


# -- self-checks ---------------------------------------------------------------------------------------------------

def _run(check, answer) -> tuple[bool, str]:
    buf = io.StringIO()
    with redirect_stdout(buf):
        ok = check(answer)
    return ok, buf.getvalue()


def _right_and_wrong(check, truth, wrong):
    ok, text = _run(check, truth)
    assert ok and text.startswith("Right")
    ok, text = _run(check, wrong)
    assert not ok and text.startswith("Not yet")
    assert f"{truth:.3g}" not in text and repr(truth) not in text     # never the answer


def test_check_ch4_constant():
    # beta* = (20/17, 10/51, 0, 0) in closed form (chapter 3), omega_0 = 1
    truth = math.hypot(math.log(40 / 17), math.log(20 / 51))
    _right_and_wrong(checks.ch4_ex_omega, truth, 3.4)


def test_check_ch5_nuclear_value_is_the_closed_form():
    data = al.make_orthogonal_data(n=3, L=5, d=6, seed=1, c=0.3)
    x_opt = data.X[np.arange(data.n), data.opt]
    truth = float(np.sum(1 / ((1 - 0.3) * np.linalg.norm(x_opt, axis=1) * np.linalg.norm(data.z, axis=1))))
    _right_and_wrong(checks.ch5_ex_closed, truth, 1.01 * truth)


def test_check_ch7_e2_and_e6():
    count = sum(al.check_assumptions(al.make_generic_data(4, 3, 4, s, equal_scores=True)).holds("1")
                and not al.check_assumptions(al.make_generic_data(4, 3, 4, s, equal_scores=True)).holds("1-diag")
                for s in range(20))
    _right_and_wrong(checks.ch7_ex_e2, count, count + 1)
    _right_and_wrong(checks.ch7_ex_e6, 5, 1)        # the printed formula has a spurious 1/n, n = 5


def test_check_digits_of_gradient_descent():
    _right_and_wrong(checks.num_ex_digits, 2.6e34 / 0.1, 2.6e34)


def test_checks_refuse_what_is_not_a_number():
    with pytest.raises(TypeError, match="answer must be a real number"):
        checks.ch7_ex_e2("3")
    with pytest.raises(ValueError, match="answer must be a real number; got nan"):
        checks.ch4_ex_omega(float("nan"))
    assert set(checks.CHECKS) <= {lab for src in CHAPTERS for lab in _exercise_labels(src)}


def test_checks_say_close_or_the_direction_and_never_the_value():
    truth = math.hypot(math.log(40 / 17), math.log(20 / 51))
    ok, text = _run(checks.ch4_ex_omega, truth * 1.05)            # 5 %: outside 1 %, inside 10 %
    assert not ok and "close" in text
    ok, text = _run(checks.ch4_ex_omega, truth * 3)
    assert not ok and "too large" in text and f"{truth:.3g}" not in text
    ok, text = _run(checks.ch4_ex_omega, -truth / 3)
    assert not ok and "too small" in text and "wrong sign" in text
    ok, text = _run(checks.ch4_ex_omega, truth * 1.5)
    assert not ok and "within a factor 2" in text and "too" not in text
    count = sum(al.check_assumptions(al.make_generic_data(4, 3, 4, s, equal_scores=True)).holds("1")
                and not al.check_assumptions(al.make_generic_data(4, 3, 4, s, equal_scores=True)).holds("1-diag")
                for s in range(20))
    ok, text = _run(checks.ch7_ex_e2, count + 5)                 # a count: no direction, no "close"
    assert not ok and "too" not in text and "close" not in text
    # no public helper of the module returns a reference value
    public = [n for n in dir(checks) if not n.startswith("_") and callable(getattr(checks, n))]
    assert not [n for n in public if getattr(checks, n).__module__ == checks.__name__ and n not in checks.CHECKS
                and n.replace("_", "-") not in checks.CHECKS]
    assert not [n for n in vars(checks) if n.startswith("_") and callable(vars(checks)[n])
                and n not in ("_number", "_verdict", "_close", "_graded")]


def test_workflow_attaches_the_hand_outs_on_main_but_not_the_solutions():
    import yaml

    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    steps = wf["jobs"]["test"]["steps"]
    uploads = {s["with"]["name"]: s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")}
    assert set(uploads) >= {"book-pdf", "slides", "student", "autograders"}
    on_main = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert all(s.get("if") == on_main for s in uploads.values())
    assert uploads["book-pdf"]["with"]["path"] == "_build/pdf/book.pdf"
    assert uploads["student"]["with"]["path"].endswith("student.zip")
    build = next(s for s in steps if "attnbook course" in s.get("run", ""))
    assert build.get("if") == on_main and "--with-solutions" not in build["run"] and "build_pdf.sh" in build["run"]
    paths = " ".join(s["with"]["path"] for s in uploads.values())
    assert "solutions" not in paths and "instructor/answers" not in paths and "key" not in paths
