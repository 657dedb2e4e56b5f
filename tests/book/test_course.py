"""The course's autograding round trip (``python -m attnbook course`` / ``grade``): every numeric exercise the plan
assigns is graded (the others have a rubric); for every lecture the answer key scores 100 %, the untouched homework
0 %, one wrong answer to any question loses exactly its points, and 40 simulated submissions with seeded mistakes
score what their mistakes leave (a CSV); one lecture's notebooks go through ``otter run`` itself (a folder of
submissions gives a grades CSV)."""
from __future__ import annotations

import copy
import csv
import re
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from attnbook.__main__ import main as cli
from attnbook.course import GRADED, CourseError, build_course, course_plan, lecture_questions, score_answers

pytest.importorskip("otter")

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
LECTURE = 5          # two questions (ch5-ex-closed: the nuclear value and the Frobenius norm), 3 points


def test_every_graded_question_is_assigned_and_stated():
    assigned = {label for lec in course_plan(BOOK) for label in lec.assigned}
    assert {q.label for q in GRADED} <= assigned
    names = [q.name for q in GRADED]
    assert len(set(names)) == len(names) and len({q.question for q in GRADED}) == len(GRADED)
    for q in GRADED:
        assert f"`{q.name}`" in q.submit and ("within" in q.submit or "exact" in q.submit)


def _rubric_graded(label: str) -> bool:
    """The exercise's solution holds a points rubric (``:class: rubric``): a proof, marked by hand."""
    for page in BOOK.glob("*.md"):
        text = page.read_text()
        start = text.find(f"{{solution-start}} {label}\n")
        if start >= 0:
            return ":class: rubric" in text[start:text.index("{solution-end}", start)]
    raise AssertionError(f"no solution of {label} in {BOOK}")


def test_every_assigned_exercise_is_auto_graded_or_has_a_rubric():
    # The plan's homework (its last column, without the in-class exercise): a numeric or code exercise is a question
    # of GRADED, a proof has a rubric in its solution; none is left to "marked on the computation".
    text = (BOOK / "course.md").read_text().split("(course-plan)=", 1)[1].split("\n\n", 1)[0]
    in_class = set(re.findall(r"\{ref\}`([\w-]+)` \(in class\)", text))
    graded = {q.label for q in GRADED}
    for lec in course_plan(BOOK):
        for label in set(lec.assigned) - in_class:
            assert label in graded or _rubric_graded(label), f"lecture {lec.number}: {label} is neither"
        assert lecture_questions(lec), f"lecture {lec.number} has no auto-graded question"


@pytest.mark.claims
def test_graded_variants_are_well_posed():
    # ch1-ex-score's threshold is where al.check_assumptions switches; every data seed of ch6-ex-nuc is separable.
    import attnlib as al
    from attnbook.course import SEPARABLE_SEEDS, reference_value
    from attnbook.experiments import ch1

    q = next(q for q in GRADED if q.name == "ch1_score_threshold")
    threshold = reference_value(q, {})
    assert not al.check_assumptions(ch1.make_toy_data(score=threshold - 1e-6)).holds("3")
    assert al.check_assumptions(ch1.make_toy_data(score=threshold + 1e-6)).holds("3")
    assert all(al.check_assumptions(al.make_generic_data(4, 3, 4, s)).holds("1") for s in SEPARABLE_SEEDS)


def test_variants_depend_on_the_course_seed_only():
    q = next(q for q in GRADED if q.name == "ch5_nuc_value")
    assert q.params(3) == q.params(3)
    assert len({q.params(s)["seed"] for s in range(20)}) > 5
    fro = next(q for q in GRADED if q.name == "ch5_fro_norm")
    assert all(fro.params(s) == q.params(s) for s in range(20))     # one exercise, one data set


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    out = tmp_path_factory.mktemp("course")
    zips = build_course(out, BOOK, seed=11, lectures=[LECTURE], chapters=False)
    return out, zips[LECTURE]


@pytest.mark.slow
def test_hidden_references_live_only_in_the_autograder(full_course):
    out, lectures = full_course
    for number, (_, zipped, key, _) in lectures.items():
        student = (out / "student" / f"lecture-{number}" / f"homework-{number}.ipynb").read_text()
        with zipfile.ZipFile(zipped) as zf:
            tests = "".join(zf.read(n).decode() for n in zf.namelist() if n.startswith("tests/"))
        for name, value in key.items():
            values = [float(v) for v in np.ravel(value)]
            assert repr(np.asarray(value).tolist() if np.ndim(value) else value) in tests, (number, name)
            for v in values:            # a value a student could recognise (not 0, 1 or a small count)
                if abs(v) > 1e-6 and v != round(v):
                    assert repr(v) not in student and f"{v:.6g}" not in student, (number, name)
    assert not any(p.suffix == ".ipynb" for p in (out / "student").rglob("*key*"))
    assert (out / "student.zip").is_file()
    with zipfile.ZipFile(out / "student.zip") as zf:
        assert not [n for n in zf.namelist() if "key" in n or n.endswith(".zip")]


@pytest.mark.slow
def test_otter_round_trip_key_full_marks_untouched_zero_one_wrong_loses_its_points(course, tmp_path):
    out, zipped = course
    subs = tmp_path / "subs"
    subs.mkdir()
    key = nbformat.read(out / "instructor" / f"lecture-{LECTURE}" / f"homework-{LECTURE}-key.ipynb", as_version=4)
    nbformat.write(key, subs / "key.ipynb")
    (subs / "untouched.ipynb").write_bytes(
        (out / "student" / f"lecture-{LECTURE}" / f"homework-{LECTURE}.ipynb").read_bytes())
    wrong = copy.deepcopy(key)
    for cell in wrong.cells:
        if cell.cell_type == "code" and cell.source.startswith("ch5_fro_norm ="):
            cell.source += "\nch5_fro_norm *= 1.01"
    nbformat.write(wrong, subs / "wrong.ipynb")
    assert cli(["grade", str(zipped), str(subs), "-o", str(tmp_path / "grades.csv")]) == 0
    rows = {r["file"]: r for r in csv.DictReader((tmp_path / "grades.csv").open())}
    assert float(rows["key.ipynb"]["percent"]) == 100.0
    assert float(rows["untouched.ipynb"]["total"]) == 0.0
    assert float(rows["wrong.ipynb"]["total"]) == float(rows["key.ipynb"]["total"]) - 1     # ch5_fro_norm: 1 point
    assert float(rows["wrong.ipynb"]["ch5-ex-closed-fro"]) == 0.0
    assert {r["student_id"] for r in rows.values()} == {""}             # no roster: one variant, no id


def test_course_command_refuses_bad_input(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli(["course", str(tmp_path / "c"), "--book", str(tmp_path)])
    assert exc.value.code == 2 and "--book" in capsys.readouterr().err
    with pytest.raises(CourseError, match="no lecture"):
        build_course(tmp_path / "c", BOOK, seed=1, lectures=[99], chapters=False)
    with pytest.raises(CourseError, match="seed must be a non-negative int"):
        build_course(tmp_path / "c", BOOK, seed=-1, chapters=False)
    (tmp_path / "c" / "student").mkdir(parents=True)
    with pytest.raises(CourseError, match="--force"):
        build_course(tmp_path / "c", BOOK, seed=1, lectures=[LECTURE], chapters=False)
    with pytest.raises(SystemExit) as exc:
        cli(["grade", str(tmp_path / "nope.zip"), str(tmp_path)])
    assert exc.value.code == 2


@pytest.mark.claims
@pytest.mark.parametrize("q", GRADED, ids=lambda q: q.question)
def test_graded_references_survive_rounding(q):
    # A reference is graded exactly (a count) or to a tolerance: a relative 1e-12 change of the inputs (another BLAS,
    # another machine) must not move it across that line, for any variant the course seed can pick.
    import attnlib as al
    from attnbook.course import reference_value

    # The first and last variants (the claims stage repeats it under a second perturbation); the other variants'
    # margins were measured when the variants were chosen.
    variants = sorted({tuple(sorted(q.params(s).items())) for s in range(40)})
    for params in dict.fromkeys((variants[0], variants[-1])):
        params = dict(params)
        ref = np.asarray(reference_value(q, params), dtype=float)
        for seed in (0,):
            with al.perturbed_inputs(1e-12, seed=seed):
                moved = np.asarray(reference_value(q, params), dtype=float)
            if q.kind == "int":
                assert moved == ref, params
            else:
                assert np.allclose(moved, ref, rtol=q.rel / 10, atol=q.abs_tol / 10), params


@pytest.fixture(scope="module")
def full_course(tmp_path_factory):
    """Every lecture's homework, key and autograder (course seed 5), with each lecture's key answers (the key
    notebook run here) and the untouched homework's answer variables (the student notebook run here)."""
    out = tmp_path_factory.mktemp("full")
    zips = build_course(out, BOOK, seed=5, chapters=False)
    lectures = {}
    for lec in course_plan(BOOK):
        questions = lecture_questions(lec)
        folder = f"lecture-{lec.number}"
        key = _run_answers(out / "instructor" / folder / f"homework-{lec.number}-key.ipynb", questions)
        untouched = _run_answers(out / "student" / folder / f"homework-{lec.number}.ipynb", questions)
        lectures[lec.number] = (questions, zips[lec.number], key, untouched)
    return out, lectures


def _run_answers(path: Path, questions) -> dict:
    """The answer variables a homework notebook sets, its code run here (otter's own cells left out)."""
    env: dict = {}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and "otter" not in cell.source and "grader.check" not in cell.source:
            exec(cell.source, env)
    return {q.name: env[q.name] for q in questions}


def _wrong(q, value):
    """An answer just outside the question's tolerance (an int: off by one)."""
    if q.kind == "int":
        return value + 1
    return np.asarray(value, dtype=float) * (1 + 10 * q.rel + 1e-3) + 10 * q.abs_tol if q.kind == "array" else \
        float(value) * (1 + 10 * q.rel + 1e-3) + 10 * q.abs_tol


def _slightly(q, value):
    """An answer off by a fifth of the tolerance: still right."""
    if q.kind == "int":
        return int(value)
    return np.asarray(value, dtype=float) * (1 + 0.2 * q.rel) + 0.2 * q.abs_tol if q.kind == "array" else \
        float(value) * (1 + 0.2 * q.rel) + 0.2 * q.abs_tol


@pytest.mark.slow
def test_every_lecture_key_full_marks_untouched_zero_each_wrong_answer_loses_exactly_its_points(full_course):
    # All lectures, by the cheap path (the autograder's own test files against the notebooks' variables): the
    # notebooks' run by otter itself is proven above for one lecture.
    for number, (questions, zipped, key, untouched) in full_course[1].items():
        full = {q.question: float(q.points) for q in questions}
        assert score_answers(zipped, key) == full, number
        assert all(value is ... for value in untouched.values()), number
        assert sum(score_answers(zipped, untouched).values()) == 0, number
        for q in questions:
            scores = score_answers(zipped, key | {q.name: _wrong(q, key[q.name])})
            assert scores == full | {q.question: 0.0}, (number, q.question)
            assert score_answers(zipped, key | {q.name: _slightly(q, key[q.name])}) == full, (number, q.question)


@pytest.mark.slow
def test_forty_simulated_submissions_per_lecture_score_what_their_mistakes_leave(full_course, tmp_path):
    rng = np.random.default_rng(2028)
    rows, expected = [], []
    for number, (questions, zipped, key, _) in full_course[1].items():
        for k in range(40):
            answers, lost = dict(key), 0
            for q in questions:
                mistake = rng.choice(["none", "none", "slightly", "wrong", "type", "missing"])
                if mistake == "slightly":        # inside the tolerance: no points lost
                    answers[q.name] = _slightly(q, key[q.name])
                elif mistake == "wrong":
                    answers[q.name] = _wrong(q, key[q.name])
                elif mistake == "type":
                    answers[q.name] = str(key[q.name])
                elif mistake == "missing":       # the answer cell left as handed out
                    answers[q.name] = ...
                lost += q.points * (mistake in ("wrong", "type", "missing"))
            scores = score_answers(zipped, answers)
            rows.append({"lecture": number, "submission": k, "total": sum(scores.values())})
            expected.append(sum(q.points for q in questions) - lost)
    with (tmp_path / "simulated.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    totals = [float(r["total"]) for r in csv.DictReader((tmp_path / "simulated.csv").open())]
    assert totals == expected
    assert len(set(expected)) > 3                       # the seeded mistakes do differ


@pytest.mark.slow
def test_a_roster_gives_each_student_a_variant_and_a_copied_answer_fails(tmp_path):
    roster = ["ada", "bob", "cy"]
    zipped = build_course(tmp_path, BOOK, seed=11, lectures=[LECTURE], chapters=False, roster=roster)[LECTURE]
    questions = lecture_questions(course_plan(BOOK)[LECTURE - 1])
    keys = {}
    for sid in roster:
        hand_out = tmp_path / "student" / f"lecture-{LECTURE}" / f"homework-{LECTURE}-{sid}.ipynb"
        assert f"student_id = {sid!r}" in hand_out.read_text()
        nb = nbformat.read(tmp_path / "instructor" / f"lecture-{LECTURE}" / "keys" / f"homework-{LECTURE}-{sid}-key.ipynb",
                           as_version=4)
        env: dict = {}
        for cell in nb.cells:
            if cell.cell_type == "code" and "otter" not in cell.source and "grader.check" not in cell.source:
                exec(cell.source, env)
        keys[sid] = {q.name: env[q.name] for q in questions} | {"student_id": sid}
        assert score_answers(zipped, keys[sid]) == {q.question: float(q.points) for q in questions}
    assert len({keys[s]["ch5_nuc_value"] for s in roster}) == len(roster)     # three variants
    copied = keys["ada"] | {"student_id": "bob"}
    assert sum(score_answers(zipped, copied).values()) == 0
    assert sum(score_answers(zipped, keys["ada"] | {"student_id": "eve"}).values()) == 0    # not on the roster
    with pytest.raises(CourseError, match="student id"):
        build_course(tmp_path / "x", BOOK, seed=1, lectures=[LECTURE], chapters=False, roster=["a b"])
    with pytest.raises(CourseError, match="twice"):
        build_course(tmp_path / "y", BOOK, seed=1, lectures=[LECTURE], chapters=False, roster=["a", "a"])
