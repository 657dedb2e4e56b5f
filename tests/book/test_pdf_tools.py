"""The PDF build's own pieces (book/_ext/pdf_solutions.py, tools/build_pdf.sh); the PDF itself is built by the
test command's ``pdf`` stage (one chapter) and by ``bash tools/build_pdf.sh`` (the whole book)."""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _import_from(folder: str, name: str):
    """Module ``name`` of the repository's ``folder`` (book/_ext, tools: not packages)."""
    sys.path.insert(0, str(ROOT / folder))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


@pytest.fixture(scope="module")
def pdf_solutions():
    pytest.importorskip("sphinx_exercise")
    return _import_from("book/_ext", "pdf_solutions")


@pytest.mark.parametrize("builder_format, expected", [("latex", 1), ("html", 2)])
def test_pdf_keeps_the_sites_numbering_depth(pdf_solutions, builder_format, expected):
    """sphinx-jupyterbook-latex raises numfig_secnum_depth to 2 at builder-inited; the PDF puts the book's back."""
    app = SimpleNamespace(config=SimpleNamespace(numfig_secnum_depth=1),
                          builder=SimpleNamespace(format=builder_format))
    pdf_solutions._remember_numbering(app, app.config)
    app.config.numfig_secnum_depth = 2          # what sphinx-jupyterbook-latex does for a book with parts
    pdf_solutions._restore_numbering(app)
    assert app.config.numfig_secnum_depth == expected


def test_restore_runs_after_sphinx_jupyterbook_latex(pdf_solutions):
    connected = []
    app = SimpleNamespace(add_config_value=lambda *a, **k: None, add_post_transform=lambda *a: None,
                          connect=lambda event, fn, priority=500: connected.append((event, fn.__name__, priority)))
    pdf_solutions.setup(app)
    assert ("builder-inited", "_restore_numbering", 900) in connected


@pytest.mark.parametrize("args, message", [(["--chapter", "no_such_page"], "--chapter expects a page"),
                                           (["--bogus"], "unknown option")])
def test_build_pdf_rejects_bad_arguments_before_doing_anything(args, message):
    out = subprocess.run(["bash", "tools/build_pdf.sh", *args], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and message in out.stderr


# ------------------------------------------------------------------ tools/pdf_checks.py: the log and PDF checks
@pytest.fixture(scope="module")
def pdf_checks():
    return _import_from("tools", "pdf_checks")


#: Lines as xelatex writes them (the issue's log: DejaVu Serif Italic has no ℓ, Latin Modern Math no set-minus).
MISSING_ELL = "Missing character: There is no ℓ (U+2113) in font DejaVu Serif Italic/OT:script=latn;language=dflt;mapping=tex-text;!"
MISSING_SETMINUS = "Missing character: There is no ⧵ (U+29F5) in font [latinmodern-math.otf]/OT:script=math;language=dflt;!"
CLEAN_LOG = "This is XeTeX, Version 3.141592653\n(./book.tex\nLaTeX Font Info: ...\n)\nOutput written on book.pdf (3 pages).\n"
PDFIMAGES_HEADER = ("page   num  type   width height color comp bpc  enc interp  object ID x-ppi y-ppi size ratio\n"
                    + "-" * 92 + "\n")


def test_a_clean_log_passes(pdf_checks):
    assert pdf_checks.check(CLEAN_LOG, "Chapter 1\nFigure 1.2", PDFIMAGES_HEADER) == []


@pytest.mark.parametrize("line, char", [(MISSING_ELL, "ℓ (U+2113) in font DejaVu Serif Italic"),
                                        (MISSING_SETMINUS, "⧵ (U+29F5) in font [latinmodern-math.otf]")])
def test_a_missing_character_fails(pdf_checks, line, char):
    found = pdf_checks.check(CLEAN_LOG + line + "\n", "", PDFIMAGES_HEADER)
    assert len(found) == 1 and found[0].check == "missing character" and char in found[0].detail


def test_a_missing_character_wrapped_at_79_columns_is_still_found(pdf_checks):
    wrapped = "\n".join(MISSING_ELL[i:i + 79] for i in range(0, len(MISSING_ELL), 79))
    assert [f.check for f in pdf_checks.missing_characters(CLEAN_LOG + wrapped + "\n")] == ["missing character"]


def test_the_cli_fails_on_a_missing_character(pdf_checks, tmp_path):
    """The command build_pdf.sh runs exits 1 and names the glyph (a real PDF, made by xelatex's neighbour pdftotext
    reads; any small PDF will do: matplotlib writes one)."""
    pytest.importorskip("matplotlib")
    if subprocess.run(["which", "pdftotext", "pdfimages"], capture_output=True).returncode:
        pytest.skip("poppler-utils missing")
    from matplotlib.figure import Figure

    fig = Figure()
    fig.text(0.5, 0.5, "vector text")
    fig.savefig(tmp_path / "t.pdf")
    (tmp_path / "bad.log").write_text(CLEAN_LOG + MISSING_ELL + "\n", encoding="utf-8")
    (tmp_path / "good.log").write_text(CLEAN_LOG, encoding="utf-8")
    script = str(ROOT / "tools" / "pdf_checks.py")
    bad = subprocess.run([sys.executable, script, str(tmp_path / "bad.log"), str(tmp_path / "t.pdf")],
                         capture_output=True, text=True)
    good = subprocess.run([sys.executable, script, str(tmp_path / "good.log"), str(tmp_path / "t.pdf")],
                          capture_output=True, text=True)
    assert bad.returncode == 1 and "There is no" not in bad.stderr and "ℓ (U+2113)" in bad.stderr
    assert good.returncode == 0 and "-> ok" in good.stdout


def test_unresolved_references_fail(pdf_checks):
    log = CLEAN_LOG + "LaTeX Warning: Reference `book/ch4_kkt:ch4-ex-omega' on page 12 undefined on input line 99.\n"
    assert [f.check for f in pdf_checks.unresolved_references(log, "")] == ["undefined reference"]
    dead_link = CLEAN_LOG + ("LaTeX Warning: Hyper reference `book/notation:notation-ex-1diag' on page 151 undefined "
                             "on input line 9376.\n")
    assert [f.check for f in pdf_checks.unresolved_references(dead_link, "")] == ["undefined hyper reference"]
    found = pdf_checks.unresolved_references(CLEAN_LOG, "see Exercise ??\nFigure 1.1")
    assert [f.check for f in found] == ["'??' in the text"] and "line 1" in found[0].detail


@pytest.mark.parametrize("n, fails", [(5, False), (6, True)])
def test_more_than_five_overfull_boxes_fail(pdf_checks, n, fails):
    box = "Overfull \\hbox (12.3pt too wide) in paragraph at lines 10--12\n"
    found = pdf_checks.check(CLEAN_LOG + box * n, "", PDFIMAGES_HEADER)
    assert bool(found) is fails
    assert len(pdf_checks.overfull_boxes(CLEAN_LOG + box * n)) == n
    vbox = "Overfull \\vbox (2.97pt too high) detected at line 3437\n"   # a page a few points too full: not counted
    assert len(pdf_checks.overfull_boxes(CLEAN_LOG + box * n + vbox * 3)) == n


def test_raster_images_under_300_ppi_fail_and_masks_do_not_count(pdf_checks):
    rows = ("   1     0 image     704   480  rgb     3   8  image  no         9  0   110   110 18.2K 1.8%\n"
            "   1     1 smask     704   480  gray    1   8  image  no         9  0   110   110 1.2K 0.4%\n"
            "   2     2 image    2000  1400  rgb     3   8  image  no        12  0   312   312 90K 1.1%\n")
    found = pdf_checks.low_resolution_images(PDFIMAGES_HEADER + rows)
    assert [f.detail for f in found] == ["page 1: 704x480 px at 110 ppi (at least 300)"]
    with pytest.raises(ValueError, match="pdfimages -list"):
        pdf_checks.low_resolution_images("not a table\n")


def test_build_pdf_runs_the_checks_on_the_pdf_it_writes():
    script = (ROOT / "tools" / "build_pdf.sh").read_text()
    assert "tools/pdf_checks.py" in script and "max_print_line" in script


# ------------------------------------------------------------------ book/_ext/pdf_print.py: the proof index
@pytest.fixture(scope="module")
def pdf_print():
    pytest.importorskip("sphinx")
    return _import_from("book/_ext", "pdf_print")


def test_the_proof_index_names_results_as_the_book_numbers_them_by_chapter(pdf_print):
    """sphinx-proof's index printed raw labels (ch1-def-scores); the PDF's lists "Definition 1.1  Scores"."""
    proofs = {"ch4-thm-kkt": {"docname": "book/ch4_kkt", "realtype": "theorem", "countertype": "theorem",
                              "nonumber": False},
              "ch1-def-scores": {"docname": "book/ch1", "realtype": "definition", "countertype": "definition",
                                 "nonumber": False},
              "ch1-lem-b": {"docname": "book/ch1", "realtype": "lemma", "countertype": "lemma", "nonumber": False},
              "ch1-rem": {"docname": "book/ch1", "realtype": "remark", "countertype": "remark", "nonumber": True}}
    titles = {"ch4-thm-kkt": "Approximate KKT", "ch1-def-scores": "Scores", "ch1-lem-b": "", "ch1-rem": "Aside"}
    fignumbers = {"book/ch4_kkt": {"theorem": {"ch4-thm-kkt": (4, 1)}},
                  "book/ch1": {"definition": {"ch1-def-scores": (1, 1)}, "lemma": {"ch1-lem-b": (1, 2)}}}
    content = pdf_print.named_entries(proofs, titles, fignumbers, {"book/ch1": "Token selection",
                                                                   "book/ch4_kkt": "Approximate KKT conditions"},
                                      ["book/intro", "book/ch1", "book/ch4_kkt"])
    assert [group for group, _ in content] == ["Token selection", "Approximate KKT conditions"]
    names = [(e.name, e.extra, e.docname, e.anchor) for _, entries in content for e in entries]
    assert names == [("Remark", "Aside", "book/ch1", "ch1-rem"), ("Definition 1.1", "Scores", "book/ch1", "ch1-def-scores"),
                     ("Lemma 1.2", "", "book/ch1", "ch1-lem-b"),
                     ("Theorem 4.1", "Approximate KKT", "book/ch4_kkt", "ch4-thm-kkt")]
    assert not any("-" in name for name, *_ in names)


@pytest.mark.parametrize("stored, title", [(" (Approximate KKT)", "Approximate KKT"), ("", ""), ("Plain", "Plain")])
def test_proof_titles_lose_sphinx_proofs_brackets(pdf_print, stored, title):
    assert pdf_print.proof_title(stored) == title


@pytest.mark.parametrize("builder_format, printed", [("latex", True), ("html", False)])
def test_the_named_index_is_the_only_index_of_the_latex_build(pdf_print, builder_format, printed):
    class Domain:
        indices = ["sphinx-proof's index"]

    domain = Domain()
    app = SimpleNamespace(builder=SimpleNamespace(format=builder_format), env=SimpleNamespace(get_domain=lambda n: domain),
                          config=SimpleNamespace(latex_domain_indices=True))
    pdf_print._use_named_index(app)
    assert (domain.indices == ["sphinx-proof's index", pdf_print.NamedProofIndex]) is printed
    assert (app.config.latex_domain_indices == ["prf-named"]) is printed
    assert Domain.indices == ["sphinx-proof's index"]  # the class (and so the site's index) is untouched


def test_the_introduction_opens_with_a_chapter_the_contents_list(pdf_print):
    """The root page's text followed the contents with no heading: the intro was missing from the contents."""
    assert pdf_print.intro_heading("Bias & more_x") == (
        "\\chapter*{Bias \\& more\\_x}\\addcontentsline{toc}{chapter}{Bias \\& more\\_x}\\markboth{Bias \\& more\\_x}"
        "{Bias \\& more\\_x}\n")  # \\markboth: its pages' running head is its title, not "Contents"
    from docutils import nodes

    doctree = nodes.document(None, None)
    doctree += nodes.paragraph(text="body")
    app = SimpleNamespace(builder=SimpleNamespace(format="latex"), config=SimpleNamespace(root_doc="book/intro"),
                          env=SimpleNamespace(titles={"book/intro": nodes.title(text="Implicit Bias")}))
    pdf_print._intro_chapter(app, doctree, "book/ch1")
    assert len(doctree) == 1                      # other pages: untouched
    pdf_print._intro_chapter(app, doctree, "book/intro")
    assert doctree[0].astext().startswith("\\chapter*{Implicit Bias}") and doctree[0]["format"] == "latex"


def test_an_index_title_drops_its_citation(pdf_print):
    """Lemma 5.2's title carried {cite:p}`watson1992characterization` into the index as typed."""
    from docutils import nodes
    from sphinx import addnodes

    heading = nodes.title("", "", nodes.Text(" (Subdifferential of the nuclear norm "),
                          addnodes.pending_xref("", nodes.Text("watson1992characterization"), refdomain="cite",
                                                reftype="p"), nodes.Text(")"))
    assert pdf_print.title_text(heading) == "(Subdifferential of the nuclear norm)"
    assert pdf_print.proof_title(pdf_print.title_text(heading)) == "Subdifferential of the nuclear norm"
    assert len(heading.children) == 3  # the page's own title is untouched


@pytest.mark.parametrize("uri, expected", [
    ("%book/notation#notation-ex-1diag", "%exercise#notation-ex-1diag"),   # another page's exercise
    ("%book/notation#assumption-1-diag", "%book/notation#assumption-1-diag"),  # not an exercise
    ("%book/notation", "%book/notation"),                                    # a page
    ("https://example.org/#notation-ex-1diag", "https://example.org/#notation-ex-1diag")])
def test_links_to_an_exercise_on_another_page_reach_its_latex_label(pdf_print, uri, expected):
    """ch7's {ref} to the notation page's exercise linked to book/notation:notation-ex-1diag, a label LaTeX never had."""
    assert pdf_print.exercise_uri(uri, {"notation-ex-1diag"}) == expected


def test_exercise_labels_come_from_sphinx_exercises_own_node_classes(pdf_print):
    nodes_ = pytest.importorskip("sphinx_exercise.nodes")
    registry = {"ex-a": {"node": nodes_.exercise_enumerable_node()}, "ex-b": {"node": nodes_.exercise_node()},
                "sol-a": {"node": nodes_.solution_node()}, "odd": {}}
    assert pdf_print.exercise_labels(registry) == {"ex-a", "ex-b"}


@pytest.mark.parametrize("tex, text", [("\\ell_1", "ℓ₁"), ("(\\epsilon,\\epsilon',\\delta)", "(ϵ,ϵ',δ)"),
                                       ("W_F", "W_F"), ("\\|W\\|_*", "‖W‖_*"), ("x_{12}", "x₁₂")])
def test_math_in_an_index_title_prints_as_text(pdf_print, tex, text):
    """The index printed "KKT point of the \\ell_1-SVM" (the math's source, escaped)."""
    assert pdf_print.math_to_text(tex) == text
    from docutils import nodes

    heading = nodes.title("", "", nodes.Text("KKT point of the "), nodes.math(tex, tex), nodes.Text("-SVM"))
    assert pdf_print.title_text(heading) == f"KKT point of the {text}-SVM"


def test_a_rubric_prints_as_a_heading_and_a_list_that_can_break_across_pages(pdf_print):
    """The boxed rubric inside the boxed solution ran over the page's foot in the solutions PDF."""
    from docutils import nodes

    items = nodes.bullet_list("", nodes.list_item("", nodes.paragraph(text="2 points: the flow")))
    box = nodes.admonition("", nodes.title(text="Rubric: 5 points, about 20 minutes"), items, classes=["rubric"])
    plain = pdf_print.plain_rubric(box)
    assert isinstance(plain, nodes.container) and not list(plain.findall(nodes.admonition))
    assert plain[0].astext() == "Rubric: 5 points, about 20 minutes" and isinstance(plain[0][0], nodes.strong)
    assert plain[1].astext() == "2 points: the flow"
