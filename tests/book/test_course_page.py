"""The course page (book/course.md) and the proof exercises' rubrics (issue #28, items 3 and 8).

A proof exercise carries its marking scheme inside its solution, as an admonition of class ``rubric`` titled
"Rubric: N points, about M minutes" with one list item per step, "- **k points**: what earns them". Being inside the
solution (between ``solution-start`` and ``solution-end``), the rubric is in the instructor's key and the solutions
PDF, folded on the public site, and removed with the solution from the student edition. Which exercises are proofs is
read from their statements (``_ASKS_PROOF``): every one that asks to prove, show or derive carries a rubric, but for
the exceptions named in ``NOT_GRADED_AS_PROOFS``, and no other exercise does.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from attnbook.course import course_plan, lecture_questions

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
PAGES = sorted(BOOK.glob("ch*.md")) + [BOOK / "notation.md", BOOK / "numerics.md"]

#: The difficulty scale of book/course.md: minutes an exercise marked with so many stars takes, at most.
STAR_MINUTES = {1: (10, 40), 2: (40, 120)}

_RUBRIC = re.compile(r"^:::\{admonition\} Rubric: (\d+) points?, about (\d+) minutes\n:class: rubric\n(.*?)^:::$",
                     re.MULTILINE | re.DOTALL)
_ITEM = re.compile(r"^- \*\*(\d+) points?\*\*: \S", re.MULTILINE)


#: An exercise asks for a proof when its statement gives the instruction "Prove", "Show that" or "Derive": at the start
#: of a line or an item, or after a full stop, colon, semicolon or comma, optionally followed by "and" ("For $W=cW_F$,
#: show that ...", "compute the four vectors, and show that ..."), so that a question about a check ("why does this
#: show that the $1/n$ is spurious") is not one.
_ASKS_PROOF = re.compile(r"(?:^(?:\d+\.\s+)?|[.:;,]\s+(?:and\s+)?)(?:Prove|[Ss]how that|Derive)\b", re.MULTILINE)

#: Exercises whose statement asks for a proof but which carry no rubric, and why.
NOT_GRADED_AS_PROOFS = {
    "ch1-ex-convex": "unmarked, a quick check for class (course.md): no stars to calibrate and not graded",
    "ch2-ex-rank": "its 'show that' asks to check a proved lemma (ch2-lem-rank) at the saved times: a computation",
}


def _exercises(text: str) -> dict[str, dict]:
    """label -> {stars, statement, solution text} for every exercise of a page."""
    out = {}
    for m in re.finditer(r"^:::\{exercise\} ?(.*)\n:label: (\S+)\n", text, re.MULTILINE):
        title, label = m.groups()
        stars = len(re.match(r"(★*)", title).group(1))
        statement = text[m.end():].split("\n:::\n", 1)[0]
        sol = re.search(rf"^:::\{{solution-start\}} {re.escape(label)}\n(.*?)^:::\{{solution-end\}}", text,
                        re.MULTILINE | re.DOTALL)
        out[label] = {"stars": stars, "statement": statement, "solution": sol.group(1) if sol else ""}
    return out


def rubrics() -> dict[str, dict]:
    """label -> {points, minutes, items, stars, page} for every exercise with a rubric."""
    found = {}
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for label, ex in _exercises(text).items():
            blocks = list(_RUBRIC.finditer(ex["solution"]))
            if blocks:
                assert len(blocks) == 1, f"{label}: {len(blocks)} rubrics"
                points, minutes, body = blocks[0].groups()
                found[label] = {"points": int(points), "minutes": int(minutes), "stars": ex["stars"],
                                "items": [int(k) for k in _ITEM.findall(body)], "body": body, "page": page.name}
    return found


def _course_proofs() -> set[str]:
    """Exercises the course page assigns as proofs ("proof {ref}`x`", "proofs {ref}`x` ... and {ref}`y`")."""
    course = (BOOK / "course.md").read_text(encoding="utf-8")
    labels = set(re.findall(r"proof \{ref\}`([^`]+)`", course))
    for pair in re.findall(r"proofs \{ref\}`([^`]+)` ★* and \{ref\}`([^`]+)`", course):
        labels |= set(pair)
    return labels


def test_every_rubric_stays_inside_its_solution():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        inside = sum(len(_RUBRIC.findall(ex["solution"])) for ex in _exercises(text).values())
        assert inside == text.count(":class: rubric"), f"{page.name}: a rubric outside a solution reaches students"


def test_every_proof_the_course_assigns_has_a_rubric():
    proofs = _course_proofs()
    assert {"ch3-ex-conservation", "ch4-ex-mfcq-proof", "ch5-ex-watson", "ch8-ex-p2"} <= proofs  # the parser reads it
    assert proofs <= set(rubrics()), f"proofs without a rubric: {sorted(proofs - set(rubrics()))}"


def _asks_for_a_proof() -> set[str]:
    """Every exercise of the book whose statement asks to prove, show or derive (``_ASKS_PROOF``)."""
    return {label for page in PAGES for label, ex in _exercises(page.read_text(encoding="utf-8")).items()
            if _ASKS_PROOF.search(ex["statement"])}


def test_every_exercise_that_asks_for_a_proof_has_a_rubric_and_no_other_does():
    asked, graded = _asks_for_a_proof(), set(rubrics())
    assert set(NOT_GRADED_AS_PROOFS) <= asked, f"stale exceptions: {sorted(set(NOT_GRADED_AS_PROOFS) - asked)}"
    assert not set(NOT_GRADED_AS_PROOFS) & graded, f"exceptions with a rubric: {sorted(set(NOT_GRADED_AS_PROOFS) & graded)}"
    proofs = asked - set(NOT_GRADED_AS_PROOFS)
    assert proofs <= graded, f"proof exercises without a rubric: {sorted(proofs - graded)}"
    assert graded <= proofs, f"rubrics on exercises whose statement asks for no proof: {sorted(graded - proofs)}"
    assert {"ch2-ex-local", "ch3-ex-weight-decay", "ch4-ex-rate", "notation-ex-1diag"} <= proofs  # the rule reads them


def test_the_proof_rule_reads_instructions_not_questions():
    asks = [
        "Prove that the solution is a direction.", "1. Show that every $\\beta$ solves it.",
        "For $W=cW_F$, show that the ratio tends to 1.", "Adapt the proof: show that every point is balanced.",
        "Derive the rate.", "compute the four vectors $B_{il}$, and show that no $\\beta$ separates them",
    ]
    does_not = ["By which factor does it miss, and why does this show that the $1/n$ is spurious?",
                "Check the proof numerically.", "Explain where it ends and why."]
    assert all(_ASKS_PROOF.search(s) for s in asks) and not any(_ASKS_PROOF.search(s) for s in does_not)


@pytest.mark.parametrize("label", sorted(rubrics()))
def test_a_rubrics_steps_add_up_to_its_points(label):
    r = rubrics()[label]
    assert r["items"] and sum(r["items"]) == r["points"], f"{label}: steps {r['items']} for {r['points']} points"
    assert len(r["items"]) == r["body"].count("\n- ") + r["body"].startswith("- "), f"{label}: an unparsed line"


@pytest.mark.parametrize("label", sorted(rubrics()))
def test_the_difficulty_mark_matches_the_time_the_worked_solution_takes(label):
    """The course page's scale: ★ 10-40 minutes, ★★ 40-120 (calibrated against the worked solutions)."""
    r = rubrics()[label]
    low, high = STAR_MINUTES[r["stars"]]
    assert low <= r["minutes"] <= high, f"{label}: {'★' * r['stars']} but about {r['minutes']} minutes"


def test_the_course_page_states_the_scale_the_test_checks():
    course = (BOOK / "course.md").read_text(encoding="utf-8")
    assert "**★ routine** (a short computation or proof, 10–40 minutes)" in course
    assert "**★★ harder** (an argument of your own or a small study, 40–120 minutes)" in course


def test_a_synthetic_rubric_that_does_not_add_up_is_caught():
    body = "- **2 points**: one step\n- **1 point**: another\n"
    text = (":::{exercise} ★ X\n:label: x-ex\nProve it.\n:::\n\n:::{solution-start} x-ex\n:::\n\n"
            f":::{{admonition}} Rubric: 4 points, about 20 minutes\n:class: rubric\n{body}:::\n\n:::{{solution-end}}\n:::\n")
    (block,) = _RUBRIC.findall(_exercises(text)["x-ex"]["solution"])
    assert int(block[0]) == 4 and sum(int(k) for k in _ITEM.findall(block[2])) == 3


# ------------------------------------------------------------------ the course page: load, grading, projects
COURSE = BOOK / "course.md"
#: Homework minutes of an exercise without a rubric, by its stars (the course page's "Reading and homework").
DEFAULT_MINUTES = {1: 30, 2: 90}
WORDS_PER_MINUTE = 100
LECTURE_READING = {1: ("notation", "ch1_token_selection"), 2: ("ch2_frobenius",), 3: ("ch3_diagonal",),
                   4: ("ch4_kkt",), 5: ("ch5_aligned",), 6: ("ch6_beyond",), 7: ("ch7_errata", "ch8_research")}


def _words(page: str) -> int:
    """Words of prose a student reads: the page without its code cells and solutions."""
    text = (BOOK / f"{page}.md").read_text(encoding="utf-8")
    text = re.sub(r"^```\{code-cell\}.*?^```$", "", text, flags=re.MULTILINE | re.DOTALL)
    text = re.sub(r"^:::\{solution-start\}.*?^:::\{solution-end\}\n:::", "", text, flags=re.MULTILINE | re.DOTALL)
    return len(re.findall(r"[A-Za-z]+", text))


def _plan_rows() -> dict[int, str]:
    """Lecture number -> its 'Assign' cell in the seven-lecture plan."""
    plan = COURSE.read_text(encoding="utf-8").split("(course-plan)=", 1)[1].split("\n\n", 1)[0]
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d) [^|]*\|[^|]*\|[^|]*\|[^|]*\| (.*) \|$", plan,
                                                              re.MULTILINE)}


def _load_rows() -> dict[int, tuple[str, ...]]:
    table = COURSE.read_text(encoding="utf-8").split("(course-load)=", 1)[1].split("(course-50)=", 1)[0]
    return {int(m.group(1)): m.groups()[1:] for m in re.finditer(
        r"^\| (\d) \| [^|]*: ([\d,]+) words, about (\d+) min \| (\d+) exercises, about (\d+) min \| (\d+) \| (\d+) \|$",
        table,
        re.MULTILINE)}


def _stars_of_all_exercises() -> dict[str, int]:
    out = {}
    for page in PAGES:
        out.update({k: v["stars"] for k, v in _exercises(page.read_text(encoding="utf-8")).items()})
    return out


def test_the_load_table_is_what_the_plan_and_the_chapters_add_up_to():
    plan, load, rubric, stars = _plan_rows(), _load_rows(), rubrics(), _stars_of_all_exercises()
    assert sorted(plan) == sorted(load) == list(range(1, 8))
    for lecture, assign in plan.items():
        homework = [lab for lab in re.findall(r"\{ref\}`([^`]+)`( \(in class\))?", assign) if not lab[1]]
        labels = [lab for lab, _ in homework]
        minutes = sum(rubric[lab]["minutes"] if lab in rubric else DEFAULT_MINUTES[stars[lab]] for lab in labels)
        points = sum(rubric[lab]["points"] for lab in labels if lab in rubric)
        words = sum(_words(p) for p in LECTURE_READING[lecture])
        w, read_min, n_ex, hw_min, pts, auto = load[lecture]
        assert int(n_ex) == len(labels) and int(hw_min) == minutes and int(pts) == points, f"lecture {lecture}"
        auto_points = sum(q.points for q in lecture_questions(course_plan(BOOK)[lecture - 1]))
        assert int(auto) == auto_points, f"lecture {lecture}: the autograder gives {auto_points} points"
        assert int(w.replace(",", "")) == round(words, -2), f"lecture {lecture}: {words} words"
        assert int(read_min) == 5 * round(words / WORDS_PER_MINUTE / 5), f"lecture {lecture}: reading minutes"


def test_the_grading_weights_add_up_to_100_percent():
    text = COURSE.read_text(encoding="utf-8").split("**Grading weights.**", 1)[1].split("**Late work.**", 1)[0]
    weights = [int(w) for w in re.findall(r"^\|[^|]+\| (\d+) % \|", text, re.MULTILINE)]
    assert len(weights) == 4 and sum(weights) == 100
    milestones = COURSE.read_text(encoding="utf-8").split("**Milestones**", 1)[1].split(":::", 1)[0]
    assert sum(int(p) for p in re.findall(r"^\| \d \| .* \| (\d+) \|$", milestones, re.MULTILINE)) == 40


def test_every_project_is_an_assignment_with_a_reference_outcome_for_the_instructor():
    text = COURSE.read_text(encoding="utf-8")
    projects = {k: v for k, v in _exercises(text).items() if k.startswith("course-project-")}
    assert sorted(projects) == [f"course-project-{i}" for i in range(1, 7)]
    for label, ex in projects.items():
        body = text.split(f":label: {label}\n", 1)[1].split("\n:::\n", 1)[0]
        assert ex["stars"] == 3 and "**Starter**: section" in body and "**Compute**:" in body, label
        assert "Reference outcome (for the instructor)" in ex["solution"], f"{label}: no reference outcome in its solution"
    for heading in ("**What students hand in**", "**Milestones**", "**Late work.**", "**Collaboration.**",
                    "(course-50)=", "(course-load)="):
        assert heading in text


def test_project_1_warns_of_stalls_with_the_measured_count_glued_from_chapter_6():
    """The count is chapter 6's glued value, so the warning says a run *can* stall (0 of 40 on the machine that built
    the book in #28's session): "some runs stall" would be a word not tied to its value."""
    text = COURSE.read_text(encoding="utf-8")
    warning = text.split(":label: course-project-1\n", 1)[1].split("\n:::\n", 1)[0]
    assert "a $(K,Q)$ run can stall" in warning and "some $(K,Q)$ runs stall" not in warning
    keys = re.findall(r"\{glue:text\}`ch6_beyond\.md::([^`:]+):s`", warning)
    assert keys == ["ch6-study-stalled", "ch6-study-runs"]
    ch6 = (BOOK / "ch6_beyond.md").read_text(encoding="utf-8")
    assert all(f'glue("{k}"' in ch6 for k in keys), "the course page cites a value chapter 6 does not glue"


@pytest.mark.slow
def test_the_project_starters_run(tmp_path):
    """Every section of book/projects/starters.md runs (a small version of its study; about a minute)."""
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    nb = jupytext.read(BOOK / "projects" / "starters.md")
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(BOOK / "projects")}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    for section in ("limit m =", "exponent p =", "recovered share by step", "library vs independent integrator",
                    "W/|W| at ln t", "median norm gap"):
        assert section in printed
