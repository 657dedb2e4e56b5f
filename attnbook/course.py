"""The course's graded homework: per lecture a homework notebook, its answer key and an otter-grader autograder.

``python -m attnbook course OUTDIR [--seed N] [--roster FILE]`` writes, for each lecture of the course page's plan
(``book/course.md``, the table after ``(course-plan)=``)::

    OUTDIR/student/lecture-N/homework-N.ipynb       the graded questions, answer variables set to ``...``
                                                    (with a roster: homework-N-<id>.ipynb, one per student)
    OUTDIR/student/lecture-N/<chapter>.ipynb        the lecture's chapters, solutions removed (attnbook.student)
    OUTDIR/student.zip                              the whole student folder, to hand out
    OUTDIR/instructor/lecture-N/homework-N-key.ipynb the homework with its solutions (roster: keys/, one each)
    OUTDIR/instructor/lecture-N/lecture-N-autograder.zip  otter's autograder: the hidden tests live only here
    OUTDIR/instructor/answers/<chapter>.ipynb       the complete chapters

Every numeric or code exercise the plan assigns is in :data:`GRADED` (``tests/book/test_course.py`` checks that
none is missing and that every other assigned exercise, a proof, has a rubric) and becomes one otter question (two
for an exercise that asks for two numbers): a named answer variable, a statement of exactly what to submit
(quantity, form, tolerance), a public test (type and shape, 0 points: students run it with ``grader.check``) and a
hidden test (the points) whose reference value is computed here, by the instructor, and written only into the
autograder zip. The course seed picks the *variant* of each
exercise (another data seed, another constant; where the chapter's study runs longer than a graded notebook may,
a shorter run that the Submit line describes), so the values the book's pages and its self-checks
(:mod:`attnbook.checks`) compute are not the graded ones; keep the seed out of the repository (the book's own
solutions are public). With a roster each student's ``student_id`` (set in their notebook's setup cell) picks
their own variant, and the hidden tests hold every student's reference: an answer copied from another student is
that student's variant's and fails. The graded questions ask for numbers a submission's notebook computes in
seconds; grading runs the notebook (``otter run``, no container) and the tests.

``python -m attnbook grade AUTOGRADER_ZIP SUBMISSIONS_DIR -o grades.csv`` grades a folder of submitted notebooks
into a CSV (one row per notebook: the ``student_id`` it sets, a column per question, total, possible, percent).
"""
from __future__ import annotations

import csv
import math
import re
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GradedAnswer", "GRADED", "SEPARABLE_SEEDS", "CourseError", "Lecture", "course_plan", "lecture_questions",
           "reference_value", "build_course", "grade_folder", "score_answers"]


class CourseError(ValueError):
    """The course material cannot be built or graded as asked."""


@dataclass(frozen=True)
class GradedAnswer:
    """One auto-graded question: an exercise of the book and the number (or numbers) it asks for.

    ``submit`` and ``solution`` are templates filled with the variant's parameters (``choices``, one value each,
    picked by the course seed). ``solution`` is code that assigns the answer variable ``name``; run by the
    instructor's :func:`build_course`, it gives the reference value of the hidden test.
    """

    label: str                      # the exercise's label in the book
    name: str                       # the answer variable
    points: int
    kind: str                       # "float", "int" or "array"
    submit: str                     # what to submit, as Markdown (template)
    solution: str                   # code that assigns `name` (template)
    rel: float = 0.0                # relative tolerance of "float"/"array" answers (0: exact, for "int")
    abs_tol: float = 0.0            # absolute tolerance added to the relative one
    shape: tuple = ()               # the array's shape ("array")
    choices: tuple = ()             # ((parameter, (value, ...)), ...): the course seed picks one value each
    part: str = ""                  # a second question of one exercise: its otter name is "<label>-<part>"

    @property
    def question(self) -> str:
        """The otter question's name (the exercise label, with the part if any)."""
        return f"{self.label}-{self.part}" if self.part else self.label

    def params(self, seed: int, student: str = "") -> dict:
        """The variant of course ``seed`` (and of ``student``, when the course has a roster): one value per
        parameter, the same for every run with these arguments and for every question of one exercise."""
        import numpy as np

        key = [seed, zlib.crc32(self.label.encode())] + ([zlib.crc32(student.encode())] if student else [])
        rng = np.random.default_rng(key)
        return {key: values[int(rng.integers(len(values)))] for key, values in self.choices}


_SETUP = "import numpy as np\nimport attnlib as al\n"

#: data seeds of ``make_generic_data(4, 3, 4, seed)`` that ch6-ex-nuc's variants use: each satisfies Assumption 1
#: (separable by some W; tests/book/test_course.py checks every one)
SEPARABLE_SEEDS = tuple(range(60))

#: the graded questions, in the book's order (the plan's numeric exercises; proofs and discussions are marked by hand)
GRADED = (
    GradedAnswer(
        "ch1-ex-ray", "ch1_ray_rate", 2, "float",
        "`ch1_ray_rate`: the number $-\\ln(\\mathcal L-\\mathcal L^*)/c$ at $W=c\\,W_F$ for $c={c}$ on the toy data "
        "`ch1.make_toy_data()` ($W_F$ the Frobenius SVM's solution), a Python `float`, right within a relative "
        "$10^{{-6}}$.",
        "from attnbook.experiments import ch1\n"
        "data = ch1.make_toy_data()\n"
        "W_F = al.solve_svm(data, \"fro\").W\n"
        "ch1_ray_rate = float(-al.log_excess_loss(data, {c} * W_F) / {c})",
        rel=1e-6, choices=(("c", tuple(range(20, 301, 5))),)),
    GradedAnswer(
        "ch1-ex-score", "ch1_score_threshold", 1, "float",
        "`ch1_score_threshold`: the smallest optimal score $\\Delta$ for which Assumption 3 holds at $W=0$ on "
        "`ch1.make_toy_data(score=Δ)` (the root of $e^{{-\\Delta/3}}=(1+2e^{{-\\Delta}})/3$, or a bisection on "
        "`al.check_assumptions(...).holds(\"3\")`), a Python `float`, right within $10^{{-4}}$.",
        "from scipy.optimize import brentq\n"
        "ch1_score_threshold = float(brentq(lambda s: np.exp(-s / 3) - (1 + 2 * np.exp(-s)) / 3, 0.5, 4.0, "
        "xtol=1e-12))",
        abs_tol=1e-4),
    GradedAnswer(
        "ch1-ex-score", "ch1_score_gap", 1, "float",
        "`ch1_score_gap`: $1-\\cos(W(t),W_F)$ at $t=10^{{{k}}}$ of the flow on $W$ from $W=0$ "
        "(`al.gradient_flow(data, \"W\", np.zeros((2, 2)), t_end=1e{k})`, last saved time) on "
        "`ch1.make_toy_data(score={score})` ($W_F$ that data's Frobenius SVM solution), a Python `float`, right "
        "within a relative $10^{{-3}}$.",
        "from attnbook.experiments import ch1\n"
        "weak = ch1.make_toy_data(score={score})\n"
        "tr = al.gradient_flow(weak, \"W\", np.zeros((2, 2)), t_end=1e{k})\n"
        "ch1_score_gap = float(1 - tr.cosine_to(al.solve_svm(weak, \"fro\").W)[-1])",
        rel=1e-3, choices=(("score", (0.5, 1.0, 1.5, 2.0)), ("k", (3, 5, 10, 20))), part="gap"),
    GradedAnswer(
        "ch2-ex-rank", "ch2_rank_sv", 2, "array",
        "`ch2_rank_sv`: the seven largest singular values of the direction $W(t)/\\|W(t)\\|_F$ at the last saved "
        "time of seed {seed}'s flow (`ch2.tarzanagh_flow({seed})`, $n=6$ samples), largest first: a numpy array of "
        "shape (7,), right within a relative $10^{{-4}}$ plus $10^{{-8}}$ in every entry (the seventh is zero up to "
        "rounding, as chapter 2's rank lemma says).",
        "from attnbook.experiments import ch2\n"
        "W_end = ch2.tarzanagh_flow({seed}).W[-1]\n"
        "ch2_rank_sv = np.linalg.svd(W_end / np.linalg.norm(W_end), compute_uv=False)[:7]",
        rel=1e-4, abs_tol=1e-8, shape=(7,), choices=(("seed", tuple(range(1, 20))),)),
    GradedAnswer(
        "ch2-ex-lr", "ch2_lr_gap", 2, "float",
        "`ch2_lr_gap`: $1-\\cos(W_{{2000}},W_F)$ after 2,000 steps of plain gradient descent from $W=0$ with step "
        "$\\eta={lr}$ on seed 0's data (`ch2.tarzanagh_data(0)`, $W_F$ its Frobenius SVM's solution), a Python "
        "`float`, right within a relative $10^{{-3}}$.",
        "from attnbook.experiments import ch2\n"
        "data = ch2.tarzanagh_data(0)\n"
        "run = al.gradient_descent(data, \"W\", np.zeros((data.d, data.d)), lr={lr}, steps=2000)\n"
        "ch2_lr_gap = float(1 - run.cosine_to(al.solve_svm(data, \"fro\").W)[-1])",
        rel=1e-3, choices=(("lr", (5.0, 10.0, 20.0)),)),
    GradedAnswer(
        "ch3-ex-swap", "ch3_swap_beta", 2, "array",
        "`ch3_swap_beta`: $\\beta(t)=\\xi_k(t)\\odot\\xi_q(t)$ at $t=10^{{{k}}}$ of the flow on $(\\xi_k,\\xi_q)$ from the "
        "swapped start $\\xi_k(0)=0$, $\\xi_q(0)=\\sqrt2\\,\\omega_0\\mathbf 1$ with $\\omega_0={omega0}$ on chapter 3's data "
        "(`ch3.data()`; `al.gradient_flow(data, \"xi\", (xi_k0, xi_q0), t_end=1e{k})`, last saved time), a numpy "
        "array of shape (4,), right within a relative $10^{{-4}}$ plus $10^{{-9}}$ in every coordinate.",
        "from attnbook.experiments import ch3\n"
        "xi_k0, xi_q0 = ch3.xi_init({omega0})          # init (5): xi_k = sqrt(2) omega_0, xi_q = 0\n"
        "swapped = al.gradient_flow(ch3.data(), \"xi\", (xi_q0, xi_k0), t_end=1e{k})\n"
        "ch3_swap_beta = swapped.params[\"xi_k\"][-1] * swapped.params[\"xi_q\"][-1]",
        rel=1e-4, abs_tol=1e-9, shape=(4,), choices=(("omega0", (0.1, 0.2, 0.3, 0.5)), ("k", (2, 3, 4, 6)))),
    GradedAnswer(
        "ch3-ex-balanced", "ch3_balanced_limit", 2, "array",
        "`ch3_balanced_limit`: the direction $\\hat\\beta$ the balanced start heads for on chapter 3's data "
        "(`al.make_diagonal_data()`), scaled to margin 1 (the solution of the SVM that the flow's limit solves), a "
        "numpy array of shape (4,), right within $10^{{-6}}$ in every coordinate.",
        "beta = al.solve_svm(al.make_diagonal_data(), \"l1\").beta   # nonnegative here: the restriction does not bind\n"
        "ch3_balanced_limit = np.asarray(beta, dtype=float)",
        abs_tol=1e-6, shape=(4,)),
    GradedAnswer(
        "ch4-ex-omega", "ch4_C", 2, "float",
        "`ch4_C`: the predicted constant $C=\\|\\ln(2|\\beta^*_S|/\\omega_0^2)\\|_2$ for $\\omega_0={omega0}$ on "
        "chapter 4's data (`al.make_diagonal_data()`), a Python `float`, right within a relative $10^{{-3}}$.",
        "beta = al.solve_svm(al.make_diagonal_data(), \"l1\").beta\n"
        "S = np.abs(beta) > 1e-8 * np.abs(beta).max()\n"
        "ch4_C = float(np.linalg.norm(np.log(2 * np.abs(beta[S]) / {omega0} ** 2)))",
        rel=1e-3, choices=(("omega0", (0.2, 0.25, 0.4, 0.5, 0.6, 0.75, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)),)),
    GradedAnswer(
        "ch4-ex-eps-prime", "ch4_b3", 2, "float",
        "`ch4_b3`: $(B\\lambda)_3$ at the last saved time of the flow from $\\omega_0={omega0}$ run to "
        "$\\log t=10^4$ (`ch4.compute_kkt(omega0={omega0}, log_t_end=1e4, rtol=1e-8).Blambda[-1, 2]`: a shorter run "
        "than the chapter's $\\log t=10^6$, so that the notebook runs in seconds), a Python `float`, right within a "
        "relative $10^{{-3}}$.",
        "from attnbook.experiments import ch4\n"
        "ch4_b3 = float(ch4.compute_kkt(omega0={omega0}, log_t_end=1e4, rtol=1e-8).Blambda[-1, 2])",
        rel=1e-3, choices=(("omega0", (0.3, 0.5, 0.7, 1.0, 1.5)),)),
    GradedAnswer(
        "ch5-ex-closed", "ch5_nuc_value", 2, "float",
        "`ch5_nuc_value`: the nuclear SVM's optimal value $\\sum_ia_i=\\|W^\\circ\\|_*$ on "
        "`al.make_orthogonal_data(n=3, L=5, d=6, seed={seed}, c=0.3)`, a Python `float`, right within a relative "
        "$10^{{-4}}$.",
        "ch5_nuc_value = float(al.solve_svm(al.make_orthogonal_data(n=3, L=5, d=6, seed={seed}, c=0.3), \"nuc\").value)",
        rel=1e-4, choices=(("seed", tuple(range(2, 1000))),)),
    GradedAnswer(
        "ch5-ex-closed", "ch5_fro_norm", 1, "float",
        "`ch5_fro_norm`: the Frobenius norm $\\|W\\|_F$ of the Frobenius SVM's solution on "
        "`al.make_orthogonal_data(n=3, L=5, d=6, seed={seed}, c=0.3)` (what `ch5.closed_form_W` gives in closed "
        "form), a Python `float`, right within a relative $10^{{-4}}$.",
        "ch5_fro_norm = float(np.linalg.norm(al.solve_svm(al.make_orthogonal_data(n=3, L=5, d=6, seed={seed}, "
        "c=0.3), \"fro\").W))",
        rel=1e-4, choices=(("seed", tuple(range(2, 1000))),), part="fro"),
    GradedAnswer(
        "ch5-ex-pairs", "ch5_pair_gap", 2, "float",
        "`ch5_pair_gap`: the attention of sample 1 to its first pair token minus that to its second, "
        "`att[0, 1] - att[0, 2]` with `att = al.attention(data, W)`, at $t={t}$ of the $(K,Q)$-flow from the "
        "misaligned start `ch5.misaligned_init({theta})` on `data = ch5.exact_data()` "
        "(`al.gradient_flow(data, \"KQ\", (K0, Q0), t_end={t})`, last saved time); a Python `float` with its sign, "
        "right within a relative $10^{{-3}}$.",
        "from attnbook.experiments import ch5\n"
        "data = ch5.exact_data()\n"
        "K0, Q0 = ch5.misaligned_init({theta})\n"
        "att = al.attention(data, al.gradient_flow(data, \"KQ\", (K0, Q0), t_end={t}).W[-1])\n"
        "ch5_pair_gap = float(att[0, 1] - att[0, 2])",
        rel=1e-3, choices=(("theta", (0.2, 0.4, 0.6, 0.8, 1.0)), ("t", (2.0, 5.0, 10.0, 20.0)))),
    GradedAnswer(
        "ch6-ex-lr", "ch6_lr_excess", 2, "array",
        "`ch6_lr_excess`: the excess loss $\\mathcal L-\\mathcal L^*$ after {steps} steps of gradient descent from "
        "$W=0$ on the demo data (`al.gradient_descent(data, \"W\", np.zeros((4, 4)), lr, {steps}).excess_loss[-1]`, "
        "`data = ch6.demo_data()`, no perturbation) for the steps $\\eta=1,2,4,5,7$ in this order (compare them with "
        "`ch6.compute_gd().stuck_level`), a numpy array of shape (5,), right within a relative $10^{{-4}}$ in every "
        "entry.",
        "from attnbook.experiments import ch6\n"
        "data = ch6.demo_data()\n"
        "ch6_lr_excess = np.array([al.gradient_descent(data, \"W\", np.zeros((4, 4)), lr, {steps}).excess_loss[-1]\n"
        "                          for lr in (1, 2, 4, 5, 7)])",
        rel=1e-4, shape=(5,), choices=(("steps", (200, 250, 300, 350, 400)),)),
    GradedAnswer(
        "ch6-ex-nuc", "ch6_nuc_ratio", 2, "float",
        "`ch6_nuc_ratio`: on `al.make_generic_data(4, 3, 4, seed={seed})`, the nuclear norm of the Frobenius SVM's "
        "solution (the $W$-flow's limit direction, chapter 2) divided by the nuclear SVM's "
        "optimal value (the smallest nuclear norm at margin 1; chapter 6 observes the $(K,Q)$-flow heading there). "
        "A seeded variant of the exercise that solves the two SVMs instead of running the flows; a Python `float`, "
        "right within a relative $10^{{-4}}$.",
        "data = al.make_generic_data(4, 3, 4, seed={seed})\n"
        "ch6_nuc_ratio = float(np.linalg.norm(al.solve_svm(data, \"fro\").W, \"nuc\") / al.solve_svm(data, \"nuc\").value)",
        rel=1e-4, choices=(("seed", SEPARABLE_SEEDS),)),
    GradedAnswer(
        "ch6-ex-sel", "ch6_sel_excess", 2, "float",
        "`ch6_sel_excess`: the excess loss $\\mathcal L-\\mathcal L^*$ at $W=1000\\,\\widehat W_s$ on the demo data "
        "(`ch6.demo_data()`), for the selection in which sample 0 attends to its first non-optimal token (the lowest "
        "token index other than its optimal one) and every other sample to its optimal token; a Python `float`, "
        "right within a relative $10^{{-6}}$.",
        "from attnbook.experiments import ch6\n"
        "data = ch6.demo_data()\n"
        "sel = data.opt.copy()\n"
        "sel[0] = [l for l in range(data.L) if l != data.opt[0]][0]\n"
        "W_s = al.solve_selection_svm(data, sel).W\n"
        "ch6_sel_excess = float(al.excess_loss(data, 1000 * W_s))",
        rel=1e-6),
    GradedAnswer(
        "ch7-ex-e2", "ch7_e2_count", 2, "int",
        "`ch7_e2_count`: over seeds ${first},\\dots,{last}$ of `al.make_generic_data(4, 3, 4, seed, "
        "equal_scores=True)`, how many satisfy Assumption 1 but not Assumption 1-diag; a Python `int`, exact.",
        "reports = [al.check_assumptions(al.make_generic_data(4, 3, 4, s, equal_scores=True))\n"
        "           for s in range({first}, {last} + 1)]\n"
        "ch7_e2_count = sum(r.holds(\"1\") and not r.holds(\"1-diag\") for r in reports)",
        choices=(("first", tuple(range(20, 2001, 20))),)),
    GradedAnswer(
        "ch7-ex-e9", "ch7_e9_slopes", 2, "array",
        "`ch7_e9_slopes`: the slopes of $\\ln|\\cdot|$ against $\\ln\\varepsilon$ between $\\varepsilon={eps}$ and "
        "$\\varepsilon=2\\times{eps}$ of the end values of the alignment error with $V$ fixed (`alignment`) and of the "
        "family coordinate (`family`), from `studies.e9_certificate(eps, log_t_end=1e6)` (two flows to "
        "$\\ln t=10^6$ instead of the study's seven to $10^{{30}}$, so that the notebook runs in seconds): "
        "`[slope_alignment, slope_family]`, a numpy array of shape (2,), right within a relative $10^{{-6}}$ (the slopes are close to, not equal to, whole numbers).",
        "from attnbook.experiments import studies\n"
        "ends = [studies.e9_certificate(e, log_t_end=1e6) for e in ({eps}, 2 * {eps})]\n"
        "ch7_e9_slopes = np.array([np.log(abs(ends[1].alignment[-1] / ends[0].alignment[-1])),\n"
        "                          np.log(abs(ends[1].family[-1] / ends[0].family[-1]))]) / np.log(2)",
        rel=1e-6, shape=(2,), choices=(("eps", (0.05, 0.1, 0.15, 0.2)),)),
    GradedAnswer(
        "ch8-ex-excess", "ch8_excess", 2, "array",
        "`ch8_excess`: the margin $\\mu$ and $\\ln(\\mathcal L-\\mathcal L^*)$ (`al.log_excess_loss`) at the last saved "
        "time of the diagonal flow from init (5) with $\\omega_0={omega0}$ to $\\ln t=10^{{{k}}}$ on chapter 3's data "
        "(`al.gradient_flow(ch3.data(), \"xi\", ch3.xi_init({omega0}), log_t_end=1e{k})`; one flow instead of "
        "`ch8.init_scale()`'s study, so that the notebook runs in seconds): `[mu, log_excess]`, a numpy array of "
        "shape (2,), right within a relative $10^{{-4}}$.",
        "from attnbook.experiments import ch3\n"
        "tr = al.gradient_flow(ch3.data(), \"xi\", ch3.xi_init({omega0}), log_t_end=1e{k})\n"
        "ch8_excess = np.array([tr.margin[-1], al.log_excess_loss(ch3.data(), tr.W[-1])])",
        rel=1e-4, shape=(2,), choices=(("omega0", (0.3, 1.0, 3.0)), ("k", (3, 4, 5)))),
)


def _fill(template: str, params: dict) -> str:
    if "first" in params:
        params = {**params, "last": params["first"] + 19}
    return template.format(**params)


# -- the course page's plan ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Lecture:
    """One lecture of the course page's plan: its number, title, chapter pages and assigned exercise labels."""

    number: int
    title: str
    pages: tuple
    assigned: tuple


def course_plan(book: str | Path = "book") -> list[Lecture]:
    """The lectures of ``book/course.md``'s plan table (the one after ``(course-plan)=``)."""
    path = Path(book) / "course.md"
    if not path.is_file():
        raise CourseError(f"book must hold course.md with the course plan; {path} does not exist")
    text = path.read_text()
    if "(course-plan)=" not in text:
        raise CourseError(f"{path} has no '(course-plan)=' table")
    table = text.split("(course-plan)=", 1)[1].strip().split("\n\n", 1)[0]
    lectures = []
    for row in table.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if not (cells and re.match(r"^\d+\b", cells[0])):
            continue
        number = int(re.match(r"^\d+", cells[0]).group())
        pages = tuple(dict.fromkeys(re.findall(r"\{doc\}`(?:[^`<]*<)?([\w-]+)>?`", cells[1])))
        lectures.append(Lecture(number, cells[0], pages, tuple(re.findall(r"\{ref\}`([\w-]+)`", cells[-1]))))
    if not lectures:
        raise CourseError(f"{path}: the course plan table lists no lecture")
    return lectures


def lecture_questions(lecture: Lecture) -> list[GradedAnswer]:
    """The auto-graded questions of a lecture: its assigned exercises that :data:`GRADED` knows, in plan order."""
    return [q for label in lecture.assigned for q in GRADED if q.label == label]


# -- the otter notebooks ------------------------------------------------------------------------------------------

def reference_value(question: GradedAnswer, params: dict):
    """The reference value of a question's variant: its solution run here (the instructor's process).

    Parameters
    ----------
    question : GradedAnswer
    params : dict
        The variant's parameters (``question.params(seed, student)``; ``{}`` for the book's own values).

    Returns
    -------
    float, int or list
        As the question's ``kind`` says (an array as a nested list of floats).
    """
    import numpy as np

    import attnlib as al

    namespace = {"np": np, "al": al}
    exec(_fill(question.solution, params), namespace)            # noqa: S102 - the module's own templates
    value = namespace[question.name]
    if question.kind == "array":
        return np.asarray(value, dtype=float).tolist()
    return int(value) if question.kind == "int" else float(value)


def _form_checks(q: GradedAnswer) -> str:
    """Assertions on the answer's form (type, shape, finite): the public test, and repeated by the hidden one."""
    if q.kind == "int":
        return (f"    assert isinstance({q.name}, (int, np.integer)) and not isinstance({q.name}, bool), "
                f"'{q.name} must be an int, not ' + type({q.name}).__name__\n")
    if q.kind == "float":
        return (f"    assert isinstance({q.name}, (int, float, np.floating)) and not isinstance({q.name}, bool), "
                f"'{q.name} must be a float, not ' + type({q.name}).__name__\n"
                f"    assert np.isfinite({q.name}), '{q.name} must be a finite number'\n")
    return (f"    assert isinstance({q.name}, (list, tuple, np.ndarray)) and np.shape({q.name}) == {q.shape!r}, "
            f"'{q.name} must be an array of shape {q.shape}, not ' + str(np.shape({q.name}))\n"
            f"    assert np.all(np.isfinite(np.asarray({q.name}, dtype=float))), '{q.name} must be finite'\n")


def _public_test(q: GradedAnswer) -> str:
    return ('""" # BEGIN TEST CONFIG\npoints: 0\nhidden: false\n""" # END TEST CONFIG\n'
            f"def test_{q.name}_form({q.name}):\n    import numpy as np\n{_form_checks(q)}test_{q.name}_form({q.name})\n")


def _hidden_test(q: GradedAnswer, refs: dict) -> str:
    """The hidden test: the reference of the submission's ``student_id`` (``""`` without a roster) from ``refs``."""
    if q.kind == "int":
        check = f"    assert int({q.name}) == reference\n"
    elif q.kind == "float":
        check = f"    assert abs(float({q.name}) - reference) <= {q.rel!r} * abs(reference) + {q.abs_tol!r}\n"
    else:
        check = (f"    assert np.allclose(np.asarray({q.name}, dtype=float), np.array(reference), "
                 f"rtol={q.rel!r}, atol={q.abs_tol!r})\n")
    return (f'""" # BEGIN TEST CONFIG\npoints: {q.points}\nhidden: true\n""" # END TEST CONFIG\n'
            f"def test_{q.name}_value({q.name}, student_id):\n    import numpy as np\n    refs = {refs!r}\n"
            "    assert str(student_id) in refs, 'student_id ' + repr(student_id) + ' is not on the roster'\n"
            "    reference = refs[str(student_id)]\n"
            f"{_form_checks(q)}{check}test_{q.name}_value({q.name}, student_id)\n")


def _statement(label: str, book: Path) -> tuple[str, str]:
    """The exercise's title and statement from its page, as plain Markdown. The homework stands alone: a ``{doc}``
    link goes to the published book (``_config.yml``), and so does a glued value (its number is on the book's page,
    computed by a study the homework does not run)."""
    from .student import plain_markdown, published_url

    site = published_url(book.parent)
    for page in sorted(book.glob("*.md")):
        m = re.search(r"^(:{3,})\{exercise\}([^\n]*)\n:label: " + re.escape(label) + r"\n(.*?)^\1\s*$",
                      page.read_text(), re.M | re.S)
        if m:
            body = re.sub(r"\{glue(?::text)?\}`[^`]+`", f"(the value on [the book's page]({site}{page.stem}.html))",
                          m.group(3).strip())
            return m.group(2).strip(), plain_markdown(body, {}, page.stem, local=frozenset(), site=site)
    raise CourseError(f"exercise {label!r} is graded but no page of {book} states it")


def _question_cells(q: GradedAnswer, params: dict, book: Path) -> tuple[str, str]:
    """A question's Markdown (statement and Submit line) and its solution code, for one variant."""
    title, statement = _statement(q.label, book)
    markdown = (f"## {q.question}: {title}\n\n{statement}\n\n**Submit** {_fill(q.submit, params)} "
                f"({q.points} points)")
    return markdown, _fill(q.solution, params)


def _solution_cell(solution: str) -> str:
    """The answer cell in otter's format: the solution's work hidden (``BEGIN SOLUTION NO PROMPT``), and its last
    statement, the assignment of the answer variable, made one line ``name = ...  # SOLUTION`` (students see
    ``name = ...``)."""
    import ast

    statements = ast.parse(solution).body
    last = statements[-1]
    if not (isinstance(last, ast.Assign) and len(last.targets) == 1 and isinstance(last.targets[0], ast.Name)):
        raise CourseError(f"a graded solution must end by assigning its answer variable; got {ast.unparse(last)!r}")
    lines = solution.split("\n")
    body = "\n".join(lines[:last.lineno - 1])
    assignment = f"{last.targets[0].id} = {ast.unparse(last.value)}"
    return (f"# BEGIN SOLUTION NO PROMPT\n{body}\n# END SOLUTION\n" if body else "") + f"{assignment}  # SOLUTION"


def _setup(student: str) -> str:
    return (_SETUP + f"student_id = {student!r}   # set by your instructor: it picks your data; do not change it\n")


def master_notebook(lecture: Lecture, seed: int, book: Path, roster: tuple = ("",)):
    """The otter-assign master notebook of a lecture's homework (solutions and hidden tests inside), written for
    ``roster[0]``'s variant; the hidden tests hold every student's reference."""
    import nbformat

    v4 = nbformat.v4
    questions = lecture_questions(lecture)
    config = (f"# ASSIGNMENT CONFIG\nname: lecture-{lecture.number}\nrequirements: null\nexport_cell: false\n"
              "check_all_cell: false\ninit_cell: true\nrun_tests: false\nsave_environment: false\n"
              "generate:\n  pdf: false\n  zips: false\n  show_stdout: true\n  show_hidden: false\n"
              "tests:\n  files: false\n  ok_format: false\n")
    total = sum(q.points for q in questions)
    cells = [v4.new_raw_cell(config), v4.new_markdown_cell(
        f"# Homework of lecture {lecture.title}\n\n"
        f"{len(questions)} auto-graded question{'s' * (len(questions) > 1)}, {total} points. Each question names an "
        "**answer variable** and says exactly what to submit: the **Submit** line is what is graded, and it may use "
        "other data or constants than the book's statement above it (the book's own values are not the graded "
        "ones). Compute it in this notebook (it must run from top to bottom in a fresh kernel, in seconds: the "
        "grader runs it) and assign it in the answer cell in place of `...`. `grader.check(\"LABEL\")` checks "
        "only the form (type, shape; it needs `pip install otter-grader`); the values are checked by the grader's "
        "hidden tests. The proofs and "
        "discussions of this lecture's other exercises are handed in separately."),
        v4.new_code_cell(_setup(roster[0]))]
    for q in questions:
        refs = {student: reference_value(q, q.params(seed, student)) for student in roster}
        markdown, solution = _question_cells(q, q.params(seed, roster[0]), book)
        code = _solution_cell(solution)
        cells += [v4.new_raw_cell(f"# BEGIN QUESTION\nname: {q.question}\npoints: {q.points}"),
                  v4.new_markdown_cell(markdown),
                  v4.new_raw_cell("# BEGIN SOLUTION"),
                  v4.new_code_cell(code),
                  v4.new_raw_cell("# END SOLUTION"),
                  v4.new_raw_cell("# BEGIN TESTS"),
                  v4.new_code_cell(_public_test(q)),
                  v4.new_code_cell(_hidden_test(q, refs)),
                  v4.new_raw_cell("# END TESTS"),
                  v4.new_raw_cell("# END QUESTION")]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _personal(nb, questions: list[GradedAnswer], seed: int, student: str, book: Path, key: bool, name: str):
    """Otter's student (or key) notebook made ``student``'s: the setup cell's ``student_id``, each question's
    Submit line and (key) solution for that student's variant."""
    import copy

    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "student_id = " in cell.source:
            cell.source = _setup(student)
        if cell.cell_type == "code" and "otter.Notebook(" in cell.source:
            cell.source = re.sub(r'otter\.Notebook\("[^"]*"\)', f'otter.Notebook("{name}")', cell.source)
        for q in questions:
            if cell.cell_type == "markdown" and cell.source.startswith(f"## {q.question}: "):
                markdown, solution = _question_cells(q, q.params(seed, student), book)
                cell.source = markdown
                if key:
                    answer = next(c for c in nb.cells[i + 1:] if c.cell_type == "code")
                    answer.source = solution
    return nb


def _otter_assign(master: Path, dist: Path) -> None:
    try:
        from otter.assign import main as assign
    except ImportError as exc:            # pragma: no cover - the [course] extra
        raise CourseError("the course command needs otter-grader: pip install -e '.[course]'") from exc
    import logging

    logging.getLogger("otter").setLevel(logging.WARNING)
    assign(str(master), str(dist), no_run_tests=True, no_pdfs=True)


# -- building the course ------------------------------------------------------------------------------------------

def build_course(outdir: str | Path, book: str | Path = "book", *, seed: int | None = None,
                 lectures: list[int] | None = None, chapters: bool = True, force: bool = False,
                 roster: list[str] | None = None) -> dict[int, Path]:
    """Write every lecture's student notebooks, answer key and autograder zip (layout: the module's docstring).

    Parameters
    ----------
    outdir : path
        Holds ``student/`` (to hand out, also zipped as ``student.zip``) and ``instructor/`` (never hand out).
    book : path
        The book's chapter folder.
    seed : int, optional
        The course seed (a non-negative int) that picks each exercise's graded variant; random if None (printed:
        keep it to rebuild the same autograder).
    lectures : list of int, optional
        Only these lectures of the plan.
    chapters : bool
        Also write the lectures' chapters (student edition; executes the pages that the book's cache lacks).
    force : bool
        Replace an ``outdir`` that already holds a course.
    roster : list of str, optional
        Student ids (letters, digits, ``._-``). With a roster every student gets a homework notebook of their own,
        ``homework-N-<id>.ipynb``, whose ``student_id`` picks their variant (a copied answer is another student's
        variant's, and fails), and the instructor gets one key per student in ``instructor/lecture-N/keys/``;
        the autograder holds every student's references. Without one, one variant for the whole course.

    Returns
    -------
    dict
        lecture number -> its autograder zip.
    """
    import numpy as np

    book, outdir = Path(book), Path(outdir)
    if seed is None:
        seed = int(np.random.default_rng().integers(2 ** 31))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise CourseError(f"seed must be a non-negative int; got {seed!r}")
    roster = _check_roster(roster)
    plan = course_plan(book)
    if lectures is not None:
        unknown = sorted(set(lectures) - {lec.number for lec in plan})
        if unknown:
            raise CourseError(f"no lecture {unknown} in the course plan; it has {[lec.number for lec in plan]}")
        plan = [lec for lec in plan if lec.number in lectures]
    student, instructor = outdir / "student", outdir / "instructor"
    if (student.exists() or instructor.exists()) and not force:
        raise CourseError(f"{outdir} already holds a course (student/ or instructor/): pass --force to replace it")
    for folder in (student, instructor):
        shutil.rmtree(folder, ignore_errors=True)
    print(f"course: seed {seed} (keep it: the same seed rebuilds the same variants and autograders)")
    zips = {}
    for lec in plan:
        zips[lec.number] = _build_lecture(lec, seed, book, student / f"lecture-{lec.number}",
                                          instructor / f"lecture-{lec.number}", roster)
        if chapters and lec.pages:
            from .student import student_edition

            student_edition(student / f"lecture-{lec.number}", book, instructor / "answers", force=True,
                            pages=list(lec.pages))
    (instructor / "seed.txt").write_text(f"{seed}\n")
    shutil.make_archive(str(outdir / "student"), "zip", student)
    return zips


def _check_roster(roster) -> tuple:
    if roster is None:
        return ("",)
    if isinstance(roster, str) or not all(isinstance(s, str) for s in roster):
        raise CourseError(f"roster must be a list of student ids (strings); got {roster!r}")
    bad = [s for s in roster if not re.fullmatch(r"[A-Za-z0-9._-]+", s)]
    if bad or not roster:
        raise CourseError(f"roster needs at least one student id of letters, digits, '.', '_' or '-'; got {bad or roster}")
    if len(set(roster)) != len(roster):
        raise CourseError("roster lists a student id twice")
    return tuple(roster)


def _build_lecture(lec: Lecture, seed: int, book: Path, student: Path, instructor: Path,
                   roster: tuple = ("",)) -> Path:
    import nbformat

    questions = lecture_questions(lec)
    student.mkdir(parents=True, exist_ok=True)
    instructor.mkdir(parents=True, exist_ok=True)
    if not questions:
        print(f"course: lecture {lec.number}: no auto-graded question")
        return None
    work = instructor / "otter"
    work.mkdir(exist_ok=True)
    master = work / f"homework-{lec.number}.ipynb"
    nbformat.write(master_notebook(lec, seed, book, roster), master)
    _otter_assign(master, work / "dist")
    hand_out = nbformat.read(work / "dist" / "student" / master.name, as_version=4)
    key = nbformat.read(work / "dist" / "autograder" / master.name, as_version=4)
    if roster == ("",):
        nbformat.write(hand_out, student / master.name)
        nbformat.write(key, instructor / f"homework-{lec.number}-key.ipynb")
    else:
        (instructor / "keys").mkdir(exist_ok=True)
        for sid in roster:
            name = f"homework-{lec.number}-{sid}.ipynb"
            nbformat.write(_personal(hand_out, questions, seed, sid, book, False, name), student / name)
            nbformat.write(_personal(key, questions, seed, sid, book, True, name),
                           instructor / "keys" / f"homework-{lec.number}-{sid}-key.ipynb")
    (zipped,) = (work / "dist" / "autograder").glob("*.zip")
    target = instructor / f"lecture-{lec.number}-autograder.zip"
    shutil.move(zipped, target)
    shutil.rmtree(work)          # the master notebook holds the hidden tests: only the zip and the key remain
    points = sum(q.points for q in questions)
    print(f"course: lecture {lec.number}: {len(questions)} auto-graded question{'s' * (len(questions) > 1)}, "
          f"{points} points -> {target}")
    return target


# -- grading ------------------------------------------------------------------------------------------------------

def _test_files(autograder: Path) -> dict:
    from otter.test_files import ExceptionTestFile

    if not zipfile.is_zipfile(autograder):
        raise CourseError(f"autograder must be an otter autograder zip; got {str(autograder)!r}")
    import tempfile

    files = {}
    with zipfile.ZipFile(autograder) as zf, tempfile.TemporaryDirectory() as tmp:
        for name in zf.namelist():
            if name.startswith("tests/") and name.endswith(".py"):
                path = Path(zf.extract(name, tmp))
                files[path.stem] = ExceptionTestFile.from_file(str(path))
    if not files:
        raise CourseError(f"{autograder} holds no tests/ folder")
    return files


def score_answers(autograder: str | Path, answers: dict) -> dict[str, float]:
    """The points each question of ``autograder`` gives to ``answers`` (``{variable: value}``, ``student_id``
    included when the course has a roster), without running a notebook: the autograder's own test files (public and
    hidden) run against ``answers`` as the notebook's globals.

    The cheap path for checking many simulated submissions; :func:`grade_folder` runs the notebooks themselves.
    """
    import numpy as np

    scores = {}
    for label, tf in _test_files(Path(autograder)).items():
        env = {"np": np, "student_id": "", **answers}
        tf.run(env)
        scores[label] = float(tf.score)
    return scores


def grade_folder(autograder: str | Path, submissions: str | Path, output: str | Path = "grades.csv") -> Path:
    """Grade every ``*.ipynb`` of ``submissions`` with ``otter run``'s engine (no container) into a CSV.

    Each row: ``file``, ``student_id`` (as the notebook sets it: check it against the submitter), one column per
    question (its points), ``total``, ``possible``, ``percent``. A notebook that fails to run scores 0 on what it did
    not define. Returns the CSV's path.
    """
    autograder, submissions, output = Path(autograder), Path(submissions), Path(output)
    if not submissions.is_dir():
        raise CourseError(f"submissions must be a folder of notebooks; got {str(submissions)!r}")
    notebooks = sorted(submissions.glob("*.ipynb"))
    if not notebooks:
        raise CourseError(f"{submissions} holds no .ipynb submission")
    labels = sorted(_test_files(autograder))
    from otter.api import grade_submission

    rows = []
    for nb in notebooks:
        results = grade_submission(str(nb), str(autograder), quiet=True)
        row = {"file": nb.name, "student_id": _student_id(nb), **{lab: _score(results, lab) for lab in labels}}
        row.update(total=sum(row[lab] for lab in labels), possible=results.possible)
        row["percent"] = round(100 * row["total"] / row["possible"], 2) if row["possible"] else 0.0
        rows.append(row)
        print(f"grade: {nb.name}: {row['total']:g} / {row['possible']:g}", flush=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["file", "student_id", *labels, "total", "possible", "percent"])
        writer.writeheader()
        writer.writerows(rows)
    return output


def _student_id(path: Path) -> str:
    """The ``student_id`` a submission's setup cell sets (to compare with who submitted it), "" if none."""
    m = re.search(r"student_id = (['\"])([^'\"]*)\1", path.read_text(errors="replace").replace('\\"', '"'))
    return m.group(2) if m else ""


def _score(results, label: str) -> float:
    try:
        score = results.get_score(label)
    except KeyError:
        return 0.0
    return 0.0 if score is None or (isinstance(score, float) and math.isnan(score)) else float(score)
