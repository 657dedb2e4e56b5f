"""The paper, mapped (book/paper_map.md): the registry attnbook/paper_map.toml is complete and every name in it exists.

Completeness: every labelled ``prf:`` box (theorem, lemma, definition, assumption, proposition, conjecture,
observation, remark, corollary), every erratum and every claim-carrying glue key of book/*.md has an entry. Existence:
every entry's page, anchor, figures, function and tests. The checks are tested on a temporary book with an
unregistered theorem box, and the marks on a synthetic JUnit file with a failing test.
"""
from __future__ import annotations

import ast
import importlib
import re
import shutil
import sys
from pathlib import Path

import pytest

from attnbook import paper_map as pm

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"


def unregistered(labels: pm.BookLabels, entries) -> list[str]:
    """What the book defines that no entry covers: box labels, errata (by number) and claim-carrying glue keys."""
    anchors = {e.anchor for e in entries}
    glued = {(e.page, e.glue) for e in entries if e.glue}
    errata = {e.id.removeprefix("erratum.") for e in entries if e.id.startswith("erratum.")}
    missing = [f"box {label} ({page})" for label, (page, kind) in labels.boxes.items()
               if label not in anchors and not re.fullmatch(r"rem-e\d+", label)]
    missing += [f"erratum {n} ({', '.join(ls)})" for n, ls in labels.errata().items() if n not in errata]
    missing += [f"glue key {key} ({page})" for key, page in pm.claim_keys(labels).items() if (page, key) not in glued]
    return missing


def dangling(labels: pm.BookLabels, entries, root: Path = ROOT) -> list[str]:
    """What an entry names that does not exist: its page, anchor (on that page), figures, function and tests."""
    anchors = labels.anchors()
    bad = []
    for e in entries:
        if not (root / "book" / f"{e.page}.md").is_file():
            bad.append(f"{e.id}: page {e.page}")
        if anchors.get(e.anchor) != e.page:
            bad.append(f"{e.id}: anchor {e.anchor} on {e.page}")
        bad += [f"{e.id}: figure {f} on {e.page}" for f in e.figures if labels.figures.get(f) != e.page]
        if e.glue and e.glue not in labels.prose_keys.get(e.page, ()):
            bad.append(f"{e.id}: glue key {e.glue} pasted on {e.page}")
        if e.function:
            module, _, attr = e.function.rpartition(".")
            try:
                getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError, ValueError):
                bad.append(f"{e.id}: function {e.function}")
        for test in e.tests:
            if not _test_exists(root, test):
                bad.append(f"{e.id}: test {test}")
    return bad


def _test_exists(root: Path, nodeid: str) -> bool:
    path, _, rest = nodeid.partition("::")
    file = root / path
    if not rest or not file.is_file():
        return False
    scope = ast.parse(file.read_text(encoding="utf-8")).body
    for name in rest.split("::"):
        node = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name), None)
        if node is None:
            return False
        scope = node.body
    return True


@pytest.fixture(scope="module")
def labels() -> pm.BookLabels:
    return pm.scan_book(BOOK)


@pytest.fixture(scope="module")
def entries():
    return pm.load()


# ------------------------------------------------------------------ the registry is complete and names what exists
def test_every_box_erratum_and_claim_of_the_book_has_an_entry(labels, entries):
    assert not unregistered(labels, entries), "add these to attnbook/paper_map.toml (CONTRIBUTING, 'The paper, mapped')"


def test_every_page_anchor_figure_function_and_test_named_in_the_registry_exists(labels, entries):
    assert not dangling(labels, entries)


def test_the_scan_finds_what_the_book_has(labels):
    """The scan itself: the boxes, errata and glue keys the map is held to are the ones the pages have (a scan that
    found nothing would make the completeness test pass vacuously)."""
    kinds = {kind for _, kind in labels.boxes.values()}
    assert {"theorem", "lemma", "definition", "assumption", "remark", "observation", "conjecture"} <= kinds
    assert sorted(labels.errata(), key=lambda n: int(n[1:])) == [f"e{i}" for i in range(1, 11)]
    assert len(labels.boxes) >= 40 and len(labels.figures) >= 40
    # every prose glue key is matched to its glue(...) call, so the claim rule sees every value
    unresolved = [(page, key) for page, keys in labels.prose_keys.items() for key in keys
                  if pm._value_source(labels, page, key) is None]
    assert not unresolved
    keys = pm.claim_keys(labels)
    assert {"ch1-iso-tt", "ch2-local-word", "ch6-gds-q5-3", "ch2-n-global", "num-bdf-miss"} <= set(keys)
    assert "ch3-kv-resid" not in keys   # a measurement: a float the prose quotes


def test_the_paper_statements_the_book_uses_are_all_registered(entries):
    """The numbered statements of the paper (the list the map is held to), each with an entry of the paper's
    sections: Definitions 3.1, 4.1, 5.1, A.2, A.3; Assumptions 1-4 and 1-diag; Lemmas 4.1, 4.2, 5.1, A.1; Theorems 4.1,
    5.1, A.2; initialization (5); errata E1-E10."""
    ids = {e.id for e in entries}
    wanted = {"paper.def-3.1", "paper.def-4.1", "paper.def-5.1", "paper.def-A.2", "paper.def-A.3", "paper.def-diagonal",
              "paper.assumption-1", "paper.assumption-1-diag", "paper.assumption-2", "paper.assumption-3",
              "paper.assumption-4", "paper.lemma-4.1", "paper.lemma-4.2", "paper.lemma-5.1", "paper.lemma-A.1",
              "paper.theorem-4.1", "paper.theorem-5.1", "paper.theorem-A.2", "paper.init-5", "paper.min-loss",
              *(f"erratum.e{i}" for i in range(1, 11))}
    assert wanted <= ids
    assert all(e.section in ("3", "4", "5", "A", "errata") for e in entries if e.id in wanted)


def test_no_page_imports_the_map():
    """tools/execute_book.py treats the registry and its reader as rendering sources (an edit re-reads the pages,
    executes none): true only while no page's code imports them."""
    for page in BOOK.glob("*.md"):
        assert "paper_map" not in "".join(re.findall(r"```\{code-cell\}.*?```", page.read_text(encoding="utf-8"),
                                                     re.DOTALL)), page.name


def test_the_page_is_in_the_toc_next_to_the_notation_page():
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert "- file: book/notation\n      - file: book/paper_map\n" in toc
    assert "```{paper-map}" in (BOOK / "paper_map.md").read_text(encoding="utf-8")


def test_every_chapter_summary_links_to_its_rows(entries):
    for page in sorted({e.page for e in entries} - {"notation", "intro"}):
        text = (BOOK / f"{page}.md").read_text(encoding="utf-8")
        summary = text[text.index("\n## Summary"):].split("\n## ", 2)[1]
        assert f"<paper-map-{page}>`" in summary, page
    course = (BOOK / "course.md").read_text(encoding="utf-8")
    for page in ("ch1_token_selection", "ch2_frobenius", "ch3_diagonal", "ch4_kkt", "ch5_aligned", "ch6_beyond",
                 "ch7_errata", "ch8_research"):
        assert f"<paper-map-{page}>`" in course, page


# ------------------------------------------------------------------ tests of the tests
def _copy_book(tmp_path: Path) -> Path:
    book = tmp_path / "book"
    book.mkdir()
    for page in BOOK.glob("*.md"):
        shutil.copy(page, book / page.name)
    return book


def test_an_unregistered_theorem_box_fails_the_completeness_check(tmp_path, entries):
    book = _copy_book(tmp_path)
    (book / "extra.md").write_text("# Extra\n\n:::{prf:theorem} A new result\n:label: extra-thm-new\n\nIt holds.\n"
                                   ":::\n", encoding="utf-8")
    assert unregistered(pm.scan_book(book), entries) == ["box extra-thm-new (extra)"]


def test_an_unregistered_claim_and_erratum_fail_the_completeness_check(tmp_path, entries):
    book = _copy_book(tmp_path)
    (book / "extra.md").write_text(
        "# Extra\n\n```{code-cell} ipython3\n---\ntags: [remove-input]\n---\n"
        'glue("extra-count", f"{k} of {n}", display=False)\nglue("extra-size", f"{x:.3f}", display=False)\n```\n\n'
        "{glue:text}`extra-count` runs recover; the norm is {glue:text}`extra-size`.\n\n(erratum-e11)=\n## E11\n",
        encoding="utf-8")
    assert unregistered(pm.scan_book(book), entries) == ["erratum e11 (erratum-e11)", "glue key extra-count (extra)"]


def test_a_dangling_anchor_figure_function_or_test_fails_the_existence_check(labels, entries):
    e = next(e for e in entries if e.id == "paper.lemma-4.2")
    broken = [pm.Entry(**{**e.__dict__, "anchor": "ch3-lem-gone"}),
              pm.Entry(**{**e.__dict__, "figures": ("ch3-fig-gone",)}),
              pm.Entry(**{**e.__dict__, "function": "attnbook.experiments.ch3.gone"}),
              pm.Entry(**{**e.__dict__, "tests": ("tests/claims/test_ch3.py::test_gone",)})]
    assert len(dangling(labels, broken)) == 4
    assert not dangling(labels, [e])


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.claims.test_ch7" name="test_e1_shapes" time="0.1" />
<testcase classname="tests.claims.test_ch7" name="test_e3_needs_item_ii" time="0.1">{e3}</testcase>
<testcase classname="tests.claims.test_ch3" name="test_sample[demo1]" time="0.1" />
<testcase classname="tests.claims.test_ch3" name="test_sample[demo3]" time="0.1">{param}</testcase>
<testcase classname="tests.claims.test_ch3.TestBox" name="test_in_class" time="0.1"><skipped message="x"/></testcase>
</testsuite></testsuites>"""


def _junit(tmp_path: Path, e3: str = "", param: str = "") -> dict:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT.format(e3=e3, param=param), encoding="utf-8")
    return pm.read_junit([path, tmp_path / "missing.xml"])


def test_read_junit_gives_node_ids_and_outcomes(tmp_path):
    res = _junit(tmp_path, param='<failure message="boom"/>')
    assert res == {"tests/claims/test_ch7.py::test_e1_shapes": "passed",
                   "tests/claims/test_ch7.py::test_e3_needs_item_ii": "passed",
                   "tests/claims/test_ch3.py::test_sample[demo1]": "passed",
                   "tests/claims/test_ch3.py::test_sample[demo3]": "failed",
                   "tests/claims/test_ch3.py::TestBox::test_in_class": "skipped"}
    assert pm.outcome(["tests/claims/test_ch3.py::test_sample"], res) == "failed"   # one failing parameter
    assert pm.outcome(["tests/claims/test_ch7.py::test_e1_shapes", "tests/claims/test_ch7.py::test_gone"],
                      res) == "not run"
    bad = tmp_path / "bad.xml"
    bad.write_text("not xml", encoding="utf-8")
    with pytest.raises(pm.RegistryError, match="bad.xml"):
        pm.read_junit([bad])


def _row_marks(entries, run, perturbed) -> str:
    e3 = [e for e in entries if e.id == "erratum.e3"]
    marked = {t: pm.claims_marked(t, ROOT) for t in e3[0].tests}
    return pm.render(e3, run, perturbed, marked, present={"ch7_errata"})


def test_a_rows_mark_turns_into_a_failure_when_its_test_fails(tmp_path, entries):
    """erratum.e3's test, test_e3_needs_item_ii, is a claims test: its row shows the run's and the perturbed run's
    outcome, read from the JUnit file, and a failure in either turns the mark into a failure mark."""
    passed = _junit(tmp_path)
    failed = _junit(tmp_path, e3='<failure message="assert False"/>')
    ok = _row_marks(entries, passed, passed)
    assert "tests: **✓ passed**; perturbed 1e-12: **✓ passed**" in ok and "FAILED" not in ok
    assert "tests: **× FAILED**; perturbed 1e-12: **✓ passed**" in _row_marks(entries, failed, passed)
    assert "tests: **✓ passed**; perturbed 1e-12: **× FAILED**" in _row_marks(entries, passed, failed)
    error = _junit(tmp_path, e3='<error message="fixture"/>')
    assert "tests: **× FAILED**" in _row_marks(entries, error, passed)
    assert "tests: **no results**; perturbed 1e-12: **no results**" in _row_marks(entries, None, None)


def test_claims_marked_reads_the_mark(entries):
    assert pm.claims_marked("tests/claims/test_ch7.py::test_e3_needs_item_ii", ROOT)
    assert not pm.claims_marked("tests/claims/test_ch7.py::test_e1_shapes", ROOT)
    assert not pm.claims_marked("tests/claims/test_ch7.py::test_gone", ROOT)


def test_render_gives_one_table_per_section_and_the_glued_value(entries):
    text = pm.render(entries, None, None, {}, present={e.page for e in entries})
    assert text.count("```{list-table}") == len({e.section for e in entries})
    assert "{glue:text}`ch1_token_selection.md::ch1-iso-tt:s`" in text
    for e in entries:
        assert f"(map-{e.id})=" in text and f"<map-{e.id}>`" in text
    boxed = pm.render(entries, None, None, {}, boxes=pm.scan_book(BOOK).boxes)
    assert "{prf:ref}`Chapter 3 <ch3-lem-norm>`" in boxed and "{ref}`Chapter 7 <rem-e1>`" not in boxed
    assert "{ref}`Chapter 1 <ch1-sec-isolate>`" in boxed   # a section target
    absent = pm.render(entries, None, None, {}, present=set())
    assert "{glue:text}" not in absent and "(page not in this build)" in absent


# ------------------------------------------------------------------ the registry's validation
@pytest.mark.parametrize("change, match", [
    ('status = "proved"', "status must be one of"),
    ('section = "7"', "section must be one of"),
    ('colour = "red"', "unknown field"),
    ('tests = "tests/x.py::t"', "must be a list of non-empty strings"),
])
def test_a_malformed_entry_is_named(tmp_path, change, match):
    field = change.split(" = ")[0]
    lines = [ln for ln in pm.REGISTRY.read_text(encoding="utf-8").splitlines()]
    first = lines.index("[[entry]]")
    body = [ln for ln in lines[first + 1:lines.index("[[entry]]", first + 1)] if not ln.startswith(field + " =")]
    path = tmp_path / "map.toml"
    path.write_text("\n".join(["[[entry]]", *body, change]) + "\n", encoding="utf-8")
    with pytest.raises(pm.RegistryError, match=match):
        pm.load(path)


def test_a_repeated_id_and_an_observation_without_its_study_are_named(tmp_path):
    row = ('[[entry]]\nid = "x"\nsection = "3"\nstatement = "s"\nstatus = "observed"\npage = "ch1_token_selection"\n'
           'anchor = "ch1-def-scores"\ntests = ["tests/claims/test_ch1.py::test_figures_build"]\n')
    (tmp_path / "a.toml").write_text(row, encoding="utf-8")
    with pytest.raises(pm.RegistryError, match="names the study"):
        pm.load(tmp_path / "a.toml")
    (tmp_path / "b.toml").write_text((row + 'study = "20 seeds"\n') * 2, encoding="utf-8")
    with pytest.raises(pm.RegistryError, match="appears twice"):
        pm.load(tmp_path / "b.toml")
    (tmp_path / "c.toml").write_text("[[entry]\n", encoding="utf-8")
    with pytest.raises(pm.RegistryError, match="not valid TOML"):
        pm.load(tmp_path / "c.toml")


def test_the_extension_renders_the_page_without_executing(monkeypatch):
    """book/_ext/paper_map.py imports attnbook.paper_map only: it runs no flow and imports no experiment."""
    sys.path.insert(0, str(BOOK / "_ext"))
    try:
        ext = importlib.import_module("paper_map")
    finally:
        sys.path.remove(str(BOOK / "_ext"))
    source = Path(ext.__file__).read_text(encoding="utf-8")
    assert "attnbook.experiments" not in source and "attnlib" not in source
    assert ext.RUN_RESULTS == ("_build/junit-unit.xml", "_build/junit-pytest.xml")
    nox = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    for name in (*ext.RUN_RESULTS, *ext.PERTURBED_RESULTS):
        assert f"--junitxml={name}" in nox, name
