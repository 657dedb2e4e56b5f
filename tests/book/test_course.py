"""The course's autograding round trip (``python -m attnbook course`` / ``grade``): the answer key scores 100 %, the
untouched student notebook 0 %, one wrong answer loses exactly its points, a folder of submissions gives a grades
CSV, and 40 simulated submissions with seeded mistakes score what their mistakes leave."""
from __future__ import annotations

import copy
import csv
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


def _key_answers(out: Path) -> dict:
    nb = nbformat.read(out / "instructor" / f"lecture-{LECTURE}" / f"homework-{LECTURE}-key.ipynb", as_version=4)
    env: dict = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and "otter" not in cell.source and "grader.check" not in cell.source:
            exec(cell.source, env)
    return {q.name: env[q.name] for q in lecture_questions(course_plan(BOOK)[LECTURE - 1])}


@pytest.mark.slow
def test_hidden_references_live_only_in_the_autograder(course):
    out, zipped = course
    key = _key_answers(out)
    student = (out / "student" / f"lecture-{LECTURE}" / f"homework-{LECTURE}.ipynb").read_text()
    for value in key.values():
        assert repr(value) not in student and f"{value:.6g}" not in student
    with zipfile.ZipFile(zipped) as zf:
        tests = "".join(zf.read(n).decode() for n in zf.namelist() if n.startswith("tests/"))
    assert all(repr(value) in tests for value in key.values())
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


@pytest.mark.slow
def test_forty_simulated_submissions_score_what_their_mistakes_leave(course, tmp_path):
    out, zipped = course
    key = _key_answers(out)
    questions = lecture_questions(course_plan(BOOK)[LECTURE - 1])
    rng = np.random.default_rng(2028)
    rows, expected = [], []
    for k in range(40):
        answers, lost = dict(key), 0
        for q in questions:
            mistake = rng.choice(["none", "none", "slightly", "wrong", "type"])
            if mistake == "slightly":        # inside the tolerance: no points lost
                answers[q.name] = key[q.name] * (1 + 0.2 * q.rel)
            elif mistake == "wrong":
                answers[q.name] = key[q.name] * (1 + 10 * q.rel + 1e-3)
            elif mistake == "type":
                answers[q.name] = str(key[q.name])
            lost += q.points * (mistake in ("wrong", "type"))
        scores = score_answers(zipped, answers)
        rows.append({"submission": k, **scores, "total": sum(scores.values())})
        expected.append(sum(q.points for q in questions) - lost)
    with (tmp_path / "simulated.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    totals = [float(r["total"]) for r in csv.DictReader((tmp_path / "simulated.csv").open())]
    assert totals == expected
    assert len(set(expected)) > 1                       # the seeded mistakes do differ


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
    from attnbook.course import _reference

    variants = {tuple(sorted(q.params(s).items())) for s in range(40)}
    for params in sorted(variants)[:: max(1, len(variants) // 4)]:
        params = dict(params)
        ref = np.asarray(_reference(q, params), dtype=float)
        for seed in (0, 1):
            with al.perturbed_inputs(1e-12, seed=seed):
                moved = np.asarray(_reference(q, params), dtype=float)
            if q.kind == "int":
                assert moved == ref, params
            else:
                assert np.allclose(moved, ref, rtol=q.rel / 10, atol=q.abs_tol / 10), params


@pytest.mark.slow
def test_every_lecture_key_scores_full_marks_and_an_empty_homework_zero(tmp_path):
    # All lectures, by the cheap path (the autograder's own tests against the key's variables): the notebooks' full
    # run is proven once above. Also reports the points per lecture.
    zips = build_course(tmp_path, BOOK, seed=5, chapters=False)
    for lec in course_plan(BOOK):
        questions = lecture_questions(lec)
        if not questions:
            assert zips[lec.number] is None
            continue
        key = nbformat.read(tmp_path / "instructor" / f"lecture-{lec.number}" / f"homework-{lec.number}-key.ipynb",
                            as_version=4)
        env: dict = {}
        for cell in key.cells:
            if cell.cell_type == "code" and "otter" not in cell.source and "grader.check" not in cell.source:
                exec(cell.source, env)
        answers = {q.name: env[q.name] for q in questions}
        full = score_answers(zips[lec.number], answers)
        assert full == {q.question: float(q.points) for q in questions}, lec.number
        empty = score_answers(zips[lec.number], {q.name: ... for q in questions})
        assert sum(empty.values()) == 0


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
