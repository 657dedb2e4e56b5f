"""Local Sphinx extension (book/_ext/) for the PDF (LaTeX) build only: what the printed book needs beyond the site.

1. **A proof index a reader can use.** sphinx-proof's own index lists raw labels ("ch1-def-scores", with the page's
   docname as its only description). In the LaTeX build it is replaced by :class:`NamedProofIndex`: one group per
   chapter, each entry named as the book numbers it ("Theorem 4.1") with its title ("Approximate KKT"), in the
   book's order. ``latex_domain_indices`` is set to this index alone.

2. **The introduction in the contents.** The root page's title becomes the document's title and its text follows
   the contents with no heading, so the contents began at the first part. The LaTeX build opens the root page with
   an unnumbered chapter of its title (:func:`_intro_chapter`) that the contents list.

3. **References to an exercise on another page** (``{ref}`text <label>```) pointed at a LaTeX label that
   sphinx-exercise never defines (it labels an exercise ``exercise:LABEL``): a link to nowhere, which no "??" shows.
   :class:`ExerciseLinks` points them at the exercise (``{numref}`` ones are book/_ext/pdf_solutions.py's).

4. **Rubrics print unboxed.** A proof exercise's rubric (an admonition of class ``rubric`` inside its solution) became
   a framed box inside the solution's frame, which LaTeX cannot break across pages: it ran over the page's foot in
   the solutions PDF. :class:`PlainRubrics` prints it as a bold heading and its list.

The HTML build is untouched: nothing here runs unless the builder is LaTeX (``tools/build_pdf.sh``).
"""
from __future__ import annotations

import re
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.domains import Index, IndexEntry
from sphinx.transforms.post_transforms import SphinxPostTransform

#: The name of the index in the LaTeX build (``latex_domain_indices = ["prf-named"]``).
INDEX_NAME = "named"


def proof_title(node_title: str) -> str:
    """sphinx-proof stores a title as ``proof_title_format`` " (%t)": the bare title, e.g. "Approximate KKT"."""
    title = node_title.strip()
    if title.startswith("(") and title.endswith(")"):
        title = title[1:-1]
    return title.strip()


def _tex_symbols() -> dict[str, str]:
    from docutils.utils.math import tex2unichar

    table: dict[str, str] = {}
    for value in vars(tex2unichar).values():
        if isinstance(value, dict):
            table.update(value)
    return table


_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def math_to_text(tex: str) -> str:
    """Inline math of a title as plain Unicode for the index (the index prints text, not math): ``\\ell_1`` -> ℓ₁,
    ``(\\epsilon,\\epsilon',\\delta)`` -> (ϵ,ϵ',δ), ``W_F`` -> W_F. Symbols from docutils' TeX-to-Unicode table."""
    symbols = _tex_symbols()
    text = tex.replace("\\|", "‖").replace("\\,", " ")
    text = re.sub(r"\\([A-Za-z]+) ?", lambda m: symbols.get(m.group(1), m.group(1)), text)
    text = re.sub(r"_\{?(\d+)\}?", lambda m: m.group(1).translate(_SUBSCRIPTS), text)
    return text.replace("{", "").replace("}", "")


def title_text(heading: nodes.Element) -> str:
    """A block's title as text for the index: its math as Unicode (:func:`math_to_text`), without its citations (an
    index entry names the result, not a source)."""
    heading = heading.deepcopy()
    for ref in list(heading.findall(addnodes.pending_xref)):
        if ref.get("refdomain") == "cite" or ref.get("reftype") in ("p", "t", "cite"):
            ref.parent.remove(ref)
    for math in list(heading.findall(nodes.math)):
        math.replace_self(nodes.Text(math_to_text(math.astext())))
    return " ".join(heading.astext().split()).replace("( ", "(").replace(" )", ")")


def _collect_titles(app, doctree) -> None:
    """Remember every numbered proof block's title (sphinx-proof keeps it on the node only)."""
    if not hasattr(app.env, "attn_proof_titles"):
        app.env.attn_proof_titles = {}
    titles = app.env.attn_proof_titles
    for node in doctree.findall(lambda n: hasattr(n, "get") and n.get("countertype") and n.get("label")):
        heading = node.children[0] if node.children and isinstance(node.children[0], nodes.title) else None
        # the parsed title, not the node's raw source "title" (which keeps roles such as {cite:p}`key` as typed)
        titles[node["label"]] = proof_title(title_text(heading) if heading is not None else node.get("title", ""))


def _purge(app, env, docname) -> None:
    titles = getattr(env, "attn_proof_titles", {})
    for label in [k for k, v in getattr(env, "proof_list", {}).items() if v["docname"] == docname]:
        titles.pop(label, None)


def _merge(app, env, docnames, other) -> None:
    if not hasattr(env, "attn_proof_titles"):
        env.attn_proof_titles = {}
    env.attn_proof_titles.update(getattr(other, "attn_proof_titles", {}))


def named_entries(proofs: dict[str, dict], titles: dict[str, str], fignumbers: dict[str, dict],
                  doc_titles: dict[str, str], doc_order: list[str]) -> list[tuple[str, list[IndexEntry]]]:
    """The index's content: ``[(chapter title, [IndexEntry, ...]), ...]`` in the book's order.

    Parameters
    ----------
    proofs : dict
        sphinx-proof's ``env.proof_list``: label -> {docname, realtype, countertype, nonumber, ...}.
    titles : dict
        label -> the block's title ("" when it has none).
    fignumbers : dict
        Sphinx's ``env.toc_fignumbers``: docname -> countertype -> label -> number tuple, e.g. (4, 1).
    doc_titles : dict
        docname -> page title, e.g. "Approximate KKT conditions".
    doc_order : list of str
        The pages in reading order.
    """
    groups: dict[str, list[tuple[tuple, IndexEntry]]] = {}
    for label, p in proofs.items():
        doc = p["docname"]
        number = fignumbers.get(doc, {}).get(p["countertype"], {}).get(label)
        name = p["realtype"].capitalize() + (" " + ".".join(map(str, number)) if number and not p["nonumber"] else "")
        entry = IndexEntry(name, 0, doc, label, titles.get(label, ""), "", p["realtype"])
        groups.setdefault(doc, []).append((tuple(number or ()), entry))
    order = {d: i for i, d in enumerate(doc_order)}
    return [(doc_titles.get(doc, doc), [e for _, e in sorted(entries, key=lambda x: (x[0], x[1].name))])
            for doc, entries in sorted(groups.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))]


class NamedProofIndex(Index):
    """Definitions, theorems, lemmas ... by chapter, named as the book numbers them, with their titles."""

    name = INDEX_NAME
    localname = "Index of definitions, assumptions and results"
    shortname = "Results"

    def generate(self, docnames=None):
        env = self.domain.env
        order = _reading_order(env)
        content = named_entries(getattr(env, "proof_list", {}), getattr(env, "attn_proof_titles", {}),
                                env.toc_fignumbers, {d: t.astext() for d, t in env.titles.items()}, order)
        return content, False


def _reading_order(env) -> list[str]:
    """The pages in the order of the table of contents (depth first from the root page)."""
    seen: list[str] = []

    def walk(doc: str) -> None:
        if doc in seen:
            return
        seen.append(doc)
        for child in env.toctree_includes.get(doc, []):
            walk(child)

    walk(env.config.root_doc)
    return seen


def _use_named_index(app) -> None:
    """In the LaTeX build only: add :class:`NamedProofIndex` to the proof domain and print it alone."""
    if app.builder.format != "latex":
        return
    domain = app.env.get_domain("prf")
    domain.indices = [*type(domain).indices, NamedProofIndex]  # this build's domain only, not the class
    app.config.latex_domain_indices = [f"prf-{INDEX_NAME}"]


def intro_heading(title: str) -> str:
    """The LaTeX that opens the root page: an unnumbered chapter listed in the contents."""
    from sphinx.util import texescape

    texescape.init()  # its tables (the LaTeX builder fills them too; idempotent)
    text = texescape.escape(title)
    return f"\\chapter*{{{text}}}\\addcontentsline{{toc}}{{chapter}}{{{text}}}\\markboth{{{text}}}{{{text}}}\n"


def _intro_chapter(app, doctree, docname) -> None:
    if app.builder.format != "latex" or docname != app.config.root_doc:
        return
    title = app.env.titles[docname].astext()
    doctree.insert(0, nodes.raw("", intro_heading(title), format="latex"))


def exercise_uri(refuri: str, exercises: set[str]) -> str:
    """The LaTeX builder's ``%docname#label`` of a reference to an exercise -> ``%exercise#label`` (its LaTeX label
    ``exercise:label``); every other reference unchanged."""
    doc, sep, label = refuri.partition("#")
    return f"%exercise#{label}" if doc.startswith("%") and sep and label in exercises else refuri


def exercise_labels(registry: dict) -> set[str]:
    """The labels of sphinx-exercise's registry that are exercises (numbered or not), not solutions."""
    from sphinx_exercise.nodes import exercise_enumerable_node, exercise_node

    return {label for label, entry in registry.items()
            if isinstance(entry.get("node"), (exercise_enumerable_node, exercise_node))}


class ExerciseLinks(SphinxPostTransform):
    """``{ref}`` links to an exercise on another page -> the label sphinx-exercise gives it in LaTeX."""

    default_priority = 26          # after the references are resolved (10) and after pdf_solutions (25)
    builders = ("latex",)

    def run(self, **kwargs) -> None:
        exercises = exercise_labels(getattr(self.env, "sphinx_exercise_registry", {}))
        for node in self.document.findall(nodes.reference):
            if node.get("refuri"):
                node["refuri"] = exercise_uri(node["refuri"], exercises)


def plain_rubric(admonition: nodes.Element) -> nodes.container:
    """A rubric admonition as a container: its title as a bold paragraph, then its body."""
    title = admonition.children[0] if admonition.children and isinstance(admonition.children[0], nodes.title) else None
    box = nodes.container(classes=["rubric"])
    if title is not None:
        box += nodes.paragraph("", "", nodes.strong("", "", *[c.deepcopy() for c in title.children]))
    box.extend(c.deepcopy() for c in admonition.children if c is not title)
    return box


class PlainRubrics(SphinxPostTransform):
    """Rubric admonitions (class ``rubric``) -> a heading and a list that can break across pages."""

    default_priority = 27
    builders = ("latex",)

    def run(self, **kwargs) -> None:
        for node in list(self.document.findall(nodes.admonition)):
            if "rubric" in node.get("classes", []):
                node.replace_self(plain_rubric(node))


def setup(app) -> dict[str, Any]:
    app.add_post_transform(ExerciseLinks)
    app.add_post_transform(PlainRubrics)
    app.connect("builder-inited", _use_named_index)
    app.connect("doctree-resolved", _intro_chapter)
    app.connect("doctree-read", _collect_titles)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
