"""The paper, mapped: every numbered statement of the paper the book uses and every claim the book makes, with where
the book states it, what computes it, what checks it, and whether that check passed on this build.

The registry is data, ``attnbook/paper_map.toml`` (one ``[[entry]]`` table per row, described in CONTRIBUTING,
"The paper, mapped"); this module reads and validates it (:func:`load`), finds what the book's pages label and glue
(:func:`scan_book`, :func:`claim_keys`), reads the test run's results (:func:`read_junit`, the JUnit XML files the
``unit``, ``pytest`` and ``claims`` stages of ``noxfile.py`` write into ``_build/``) and writes the page's tables as
MyST Markdown (:func:`render`). The page ``book/paper_map.md`` calls it through the Sphinx extension
``book/_ext/paper_map.py``: the map is built when Sphinx reads the page, from files, and runs no flow.

Why a TOML file and not a Python table: the registry is rows of plain fields that contributors edit by hand, it
reads as a table, and a data file is neither Python source (the studies' fingerprint hashes ``*.py``, so an edit of
the map never invalidates a computed study) nor code a chapter executes. ``tomllib`` is in the standard library
(``tomli`` on Python 3.10, a declared dependency of the ``book`` extra there).

Statuses
--------
``definition`` (a definition or an assumption: stated, nothing to prove), ``paper`` (proven in the paper),
``book`` (proven in the book), ``cited`` (proven in another paper the book cites), ``observed`` (observed over the study the statement names), ``conjectured``,
``erratum`` (a correction of the paper, checked numerically where it can be).

Examples
--------
>>> entries = load()
>>> len({e.id for e in entries}) == len(entries)
True
"""
from __future__ import annotations

import ast
import dataclasses
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "REGISTRY", "STATUSES", "SECTIONS", "PROOF_KINDS", "Entry", "BookLabels", "Outcome", "RegistryError",
    "load", "scan_book", "claim_keys", "read_junit", "outcome", "claims_marks", "claims_marked", "render",
]

#: The registry's file, next to this module.
REGISTRY = Path(__file__).with_name("paper_map.toml")

#: status -> how the page names it.
STATUSES: Mapping[str, str] = {
    "definition": "definition",
    "paper": "proven in the paper",
    "book": "proven in the book",
    "cited": "proven in the work cited",
    "observed": "observed",
    "conjectured": "conjectured",
    "erratum": "erratum",
}

#: The paper's sections, in the page's order: key -> heading. ``beyond`` holds the book's own results and claims
#: that no numbered statement of the paper covers.
SECTIONS: Mapping[str, str] = {
    "3": "§3 Preliminaries: scores, the minimal loss, Assumptions 1 and 2",
    "4": "§4 The diagonal case: margins, Assumption 3, initialization (5), Lemmas 4.1 and 4.2, Theorem 4.1",
    "5": "§5 The general case: Assumption 4, alignment, Lemma 5.1, Theorem 5.1",
    "A": "Appendix A: the closed form and the approximate-KKT argument",
    "errata": "Errata E1–E10",
    "beyond": "Beyond the paper: the book's own results and observations",
}

#: The ``prf:`` directives whose labelled boxes must each have an entry (sphinx-proof's names).
PROOF_KINDS = ("theorem", "lemma", "definition", "assumption", "proposition", "conjecture", "observation",
               "remark", "corollary")

#: The book's chapters in reading order: page -> short name used in the page's "by chapter" index.
CHAPTER_NAMES: Mapping[str, str] = {
    "notation": "Notation and assumptions",
    "intro": "Introduction",
    "ch1_token_selection": "Chapter 1",
    "ch2_frobenius": "Chapter 2",
    "ch3_diagonal": "Chapter 3",
    "ch4_kkt": "Chapter 4",
    "ch5_aligned": "Chapter 5",
    "ch6_beyond": "Chapter 6",
    "ch7_errata": "Chapter 7",
    "ch8_research": "Chapter 8",
    "numerics": "Appendix: numerics",
}

_FIELDS = ("id", "section", "paper", "statement", "status", "page", "anchor", "figures", "function", "tests",
           "glue", "study")
_REQUIRED = ("id", "section", "statement", "status", "page", "anchor")


class RegistryError(ValueError):
    """The registry (``paper_map.toml``) or a JUnit file is malformed: the message names the entry and the field."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One row of the map.

    Attributes
    ----------
    id : str
        Stable identifier (``paper.lemma-4.2``, ``book.ch6-prop-a3``, ``claim.ch1-iso-tt``, ``erratum.e2``).
    section : str
        A key of :data:`SECTIONS`.
    paper : str
        The paper's number and page ("Lemma 4.2, p. 8"); empty for the book's own results.
    statement : str
        The statement in one line (MyST inline markup allowed).
    status : str
        A key of :data:`STATUSES`.
    page : str
        The book page that states it (``book/<page>.md``).
    anchor : str
        The label there: a ``prf:`` box's ``:label:`` or a ``(target)=``.
    figures : tuple of str
        Figure names (``mystnb: figure: name:``) on ``page`` that show it.
    function : str
        Dotted path of the function that computes it (``attnbook.experiments.ch3.lock_on_table``); may be empty for
        a definition.
    tests : tuple of str
        pytest node ids (``tests/claims/test_ch3.py::test_x``) of the tests that check it.
    glue : str
        For a claim: the glue key on ``page`` whose value the page shows beside the claim.
    study : str
        For an observed claim: the study it rests on ("20 seeds x 2 starts").
    """

    id: str
    section: str
    statement: str
    status: str
    page: str
    anchor: str
    paper: str = ""
    figures: tuple[str, ...] = ()
    function: str = ""
    tests: tuple[str, ...] = ()
    glue: str = ""
    study: str = ""


def _entry(raw: Mapping, where: str) -> Entry:
    unknown = set(raw) - set(_FIELDS)
    if unknown:
        raise RegistryError(f"{where}: unknown field(s) {sorted(unknown)}; expected fields among {list(_FIELDS)}")
    missing = [f for f in _REQUIRED if not raw.get(f)]
    if missing:
        raise RegistryError(f"{where}: missing field(s) {missing}")
    for name, value in raw.items():
        ok = (isinstance(value, list) and all(isinstance(v, str) and v for v in value)
              if name in ("figures", "tests") else isinstance(value, str))
        if not ok:
            expected = "a list of non-empty strings" if name in ("figures", "tests") else "a string"
            raise RegistryError(f"{where}: field {name!r} must be {expected}; got {value!r}")
    if raw["status"] not in STATUSES:
        raise RegistryError(f"{where}: status must be one of {list(STATUSES)}; got {raw['status']!r}")
    if raw["section"] not in SECTIONS:
        raise RegistryError(f"{where}: section must be one of {list(SECTIONS)}; got {raw['section']!r}")
    if raw["status"] != "definition" and not raw.get("tests"):
        raise RegistryError(f"{where}: a {raw['status']!r} entry needs at least one test (field 'tests')")
    if raw["status"] == "observed" and not raw.get("study"):
        raise RegistryError(f"{where}: an observed entry names the study it rests on (field 'study')")
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    return Entry(**fields)


def load(path: str | Path | None = None) -> tuple[Entry, ...]:
    """The registry's entries, validated, in file order.

    Parameters
    ----------
    path : str or Path, optional
        A registry file; default :data:`REGISTRY`.

    Returns
    -------
    tuple of Entry

    Raises
    ------
    RegistryError
        An entry with an unknown or missing field, a bad status or section, an observed entry without its study, a
        proven or observed entry without a test, or a repeated id.
    """
    path = REGISTRY if path is None else Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: not valid TOML: {exc}") from None
    rows = data.get("entry", [])
    if not isinstance(rows, list) or not rows:
        raise RegistryError(f"{path}: expected [[entry]] tables; found none")
    entries = tuple(_entry(r, f"{path.name} entry {i} ({r.get('id', '?')})") for i, r in enumerate(rows))
    seen: set[str] = set()
    for e in entries:
        if e.id in seen:
            raise RegistryError(f"{path.name}: id {e.id!r} appears twice")
        seen.add(e.id)
    return entries


# -- what the book's pages label and glue ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class BookLabels:
    """What the pages of ``book/`` define, found from their text (nothing executed).

    Attributes
    ----------
    boxes : Mapping[str, tuple[str, str]]
        ``prf:`` box label -> (page, kind) for the kinds of :data:`PROOF_KINDS`.
    targets : Mapping[str, str]
        ``(label)=`` target, or the ``:label:`` of another directive (an exercise), -> page.
    figures : Mapping[str, str]
        figure name (a code cell's ``mystnb: figure: name:``) -> page.
    glue_calls : Mapping[str, tuple[tuple[str, str], ...]]
        page -> (key pattern as a regular expression, the glued value's source) of every ``glue(...)`` call.
    prose_keys : Mapping[str, tuple[str, ...]]
        page -> the glue keys its prose pastes (``{glue:text}`key```), sorted.
    box_keys : Mapping[str, tuple[str, ...]]
        ``prf:observation`` / ``prf:conjecture`` label -> the glue keys its text pastes.
    """

    boxes: Mapping[str, tuple[str, str]]
    targets: Mapping[str, str]
    figures: Mapping[str, str]
    glue_calls: Mapping[str, tuple[tuple[str, str], ...]]
    prose_keys: Mapping[str, tuple[str, ...]]
    box_keys: Mapping[str, tuple[str, ...]]

    def anchors(self) -> dict[str, str]:
        """Every label a row may link to: label -> page."""
        return {**self.targets, **{k: page for k, (page, _) in self.boxes.items()}}

    def errata(self) -> dict[str, list[str]]:
        """Erratum number (``"e2"``) -> its labels: the ``(erratum-eN)=`` targets and ``rem-eN`` boxes."""
        found: dict[str, list[str]] = {}
        for label in sorted(self.anchors()):
            m = re.fullmatch(r"(?:erratum|rem)-(e\d+)", label)
            if m:
                found.setdefault(m[1], []).append(label)
        return found


_BOX = re.compile(r"^(?P<fence>:{3,}|`{3,})\{prf:(?P<kind>\w+)\}[^\n]*\n(?P<body>.*?)^(?P=fence)\s*$",
                  re.MULTILINE | re.DOTALL)
_LABEL = re.compile(r"^:label:\s*(\S+)\s*$", re.MULTILINE)
_TARGET = re.compile(r"^\(([\w.:-]+)\)=\s*$", re.MULTILINE)
_CODE = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_FIGNAME = re.compile(r"^mystnb:\s*\n(?:[ \t]+.*\n)*?[ \t]+figure:\s*\n(?:[ \t]{4,}.*\n)*?[ \t]{4,}name:\s*(\S+)",
                      re.MULTILINE)
_PASTE = re.compile(r"\{glue(?::text)?\}`([^`]+)`")


def _paste_key(text: str) -> str:
    key = text.split("::", 1)[-1]   # a format spec follows the key after one colon: {glue:text}`key:.2f`
    return key.split(":", 1)[0]


def _glue_calls(code: str) -> list[tuple[str, str]]:
    code = re.sub(r"\A---\n.*?^---\n", "", code, flags=re.MULTILINE | re.DOTALL)  # the cell's metadata header
    code = re.sub(r"\A(?::[\w-]+:.*\n)+", "", code)  # or its short form, ":tags: [remove-input]"
    lines = [ln for ln in code.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "glue" and len(node.args) >= 2:
            key = node.args[0]
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                pattern = re.escape(key.value)
            elif isinstance(key, ast.JoinedStr):
                pattern = "".join(re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in key.values)
            else:
                continue
            calls.append((pattern, ast.unparse(node.args[1])))
    return calls


def scan_book(book: str | Path) -> BookLabels:
    """Read every ``*.md`` page of ``book`` (a folder) for its labels, figures and glue keys.

    Parameters
    ----------
    book : str or Path
        The folder of the pages (``book/``).

    Returns
    -------
    BookLabels
    """
    book = Path(book)
    if not book.is_dir():
        raise NotADirectoryError(f"book must be the folder of the book's pages; got {str(book)!r}")
    boxes, targets, figures, calls, prose, box_keys = {}, {}, {}, {}, {}, {}
    for path in sorted(book.glob("*.md")):
        page, text = path.stem, path.read_text(encoding="utf-8")
        code_blocks = _CODE.findall(text)
        prose_text = _CODE.sub("", text)
        for m in _BOX.finditer(prose_text):
            label = _LABEL.search(m["body"])
            if label and m["kind"] in PROOF_KINDS:
                boxes[label[1]] = (page, m["kind"])
                if m["kind"] in ("observation", "conjecture"):
                    box_keys[label[1]] = tuple(sorted({_paste_key(k) for k in _PASTE.findall(m["body"])}))
        targets.update({t: page for t in _TARGET.findall(prose_text)})
        targets.update({t: page for t in _LABEL.findall(prose_text) if t not in boxes})
        for code in code_blocks:
            figures.update({name.strip("'\""): page for name in _FIGNAME.findall(code)})
        calls[page] = tuple(c for code in code_blocks for c in _glue_calls(code))
        prose[page] = tuple(sorted({_paste_key(k) for k in _PASTE.findall(prose_text) if "::" not in k}))
    return BookLabels(boxes, targets, figures, calls, prose, box_keys)


def _value_source(labels: BookLabels, page: str, key: str) -> str | None:
    for pattern, value in labels.glue_calls.get(page, ()):
        if re.fullmatch(pattern, key):
            return value
    return None


def claim_keys(labels: BookLabels) -> dict[str, str]:
    """The glue keys that carry a claim, key -> page, by the map's rule.

    A glue key that a page's prose pastes carries a claim when (1) its value is a word chosen from a computed
    outcome (the glued expression calls ``word`` or ``quantifier``), or (2) it is a count of outcomes, "k of n" (the
    glued string has `` of `` between two computed fields), or (3) a ``prf:observation`` or ``prf:conjecture`` box
    pastes it (the numbers an observed or conjectured statement rests on). Every other glued value is a measurement
    that the prose quotes: glued so that the number on the page is the number computed, not itself a claim.
    """
    in_boxes = {k: labels.boxes[label][0] for label, keys in labels.box_keys.items() for k in keys}
    found = {}
    for page, keys in labels.prose_keys.items():
        for key in keys:
            value = _value_source(labels, page, key) or ""
            if (re.search(r"\b(word|quantifier)\(", value) or re.search(r"\}\s+of\s+\{", value)
                    or in_boxes.get(key) == page):
                found[key] = page
    return found


# -- the test run's results --------------------------------------------------------------------------------------
Outcome = str  # "passed", "failed", "skipped" or "not run"


def _nodeid(classname: str, name: str) -> str:
    parts = classname.split(".")
    for i in range(len(parts), 0, -1):  # the longest prefix that is a test module: tests.claims.test_ch1[.Class]
        if parts[i - 1].startswith("test"):
            return "/".join(parts[:i]) + ".py" + "".join("::" + p for p in parts[i:]) + "::" + name
    return classname.replace(".", "/") + ".py::" + name


def read_junit(paths: Iterable[str | Path]) -> dict[str, Outcome]:
    """The outcome of every test case in the JUnit XML files ``paths`` (those that exist), by pytest node id.

    A parametrised case keeps its parameters (``...::test_x[demo1]``); :func:`outcome` gathers them.

    Raises
    ------
    RegistryError
        A file that is not JUnit XML.
    """
    results: dict[str, Outcome] = {}
    for path in map(Path, paths):
        if not path.is_file():
            continue
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as exc:
            raise RegistryError(f"{path}: not a JUnit XML file ({exc})") from None
        for case in root.iter("testcase"):
            node = _nodeid(case.get("classname", ""), case.get("name", ""))
            tags = {child.tag for child in case}
            results[node] = ("failed" if tags & {"failure", "error"} else "skipped" if "skipped" in tags
                             else "passed")
    return results


def outcome(tests: Iterable[str], results: Mapping[str, Outcome]) -> Outcome:
    """The combined outcome of the tests ``tests`` (node ids, without parameters) in ``results``: "failed" if any
    case failed, "not run" if one of them has no case, "skipped" if every case was skipped, else "passed"."""
    found = []
    for test in tests:
        cases = [o for node, o in results.items() if node == test or node.startswith(test + "[")]
        if not cases:
            return "failed" if "failed" in found else "not run"
        found.extend(cases)
    if not found:
        return "not run"
    if "failed" in found:
        return "failed"
    return "skipped" if all(o == "skipped" for o in found) else "passed"


def claims_marks(tests: Iterable[str], root: str | Path) -> dict[str, bool]:
    """Whether each test (a node id relative to ``root``) is marked ``@pytest.mark.claims``, directly, on its class
    or by its module's ``pytestmark``: the perturbed claims stage re-runs exactly these. Each file is read once; a
    test that does not exist is not marked."""
    trees: dict[Path, ast.Module | None] = {}
    marks = {}
    for test in tests:
        path, _, rest = test.partition("::")
        file = Path(root) / path
        if file not in trees:
            trees[file] = ast.parse(file.read_text(encoding="utf-8")) if file.is_file() else None
        marks[test] = trees[file] is not None and _marked(trees[file], rest.split("::"))
    return marks


def _marked(tree: ast.Module, names: list[str]) -> bool:
    found = any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in n.targets)
                and "claims" in ast.unparse(n.value) for n in tree.body)
    scope = tree.body
    for name in names:
        node = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name), None)
        if node is None:
            return False
        found = found or any("claims" in ast.unparse(d) for d in node.decorator_list)
        scope = node.body
    return found


def claims_marked(test: str, root: str | Path) -> bool:
    """Whether the test ``test`` is marked ``@pytest.mark.claims`` (:func:`claims_marks` for one test)."""
    return claims_marks([test], root)[test]


# -- the page ----------------------------------------------------------------------------------------------------
_MARK = {"passed": "✓ passed", "failed": "× FAILED", "skipped": "– skipped", "not run": "? not run"}


def _cell(text: str) -> str:
    return text.replace("\n", " ").strip()


def _row(e: Entry, run: Mapping[str, Outcome] | None, perturbed: Mapping[str, Outcome] | None,
         marked: Mapping[str, bool], present: set[str], repo_url: str, boxes: set[str]) -> list[str]:
    head = f"(map-{e.id})=\n\n**{e.paper or e.id}**"
    status = STATUSES[e.status] + (f" over {e.study}" if e.study else "")
    statement = f"{_cell(e.statement)} *({status})*"
    role = "prf:ref" if e.anchor in boxes else "ref"   # a prf: box's label is sphinx-proof's, not a std label
    where = f"{{{role}}}`{CHAPTER_NAMES.get(e.page, e.page)} <{e.anchor}>`"
    if e.figures:
        where += "; " + ", ".join(f"{{numref}}`{f}`" for f in e.figures)
    tests = []
    for t in e.tests:
        path, _, name = t.partition("::")
        # the test's name as words (a literal would not wrap in the PDF's narrow column), linked to its source
        words = name.split("::")[-1].removeprefix("test_").replace("_", " ")
        link = f"[{words}]({repo_url}/blob/main/{path})" if repo_url else words
        tests.append(f"{link} ({Path(path).stem})")
    check = ("; ".join(tests) or "—") + (f"; computed by `{e.function.rsplit('.', 2)[-2]}.{e.function.rsplit('.', 1)[-1]}`"
                                         if e.function else "")
    if e.tests:
        run_mark = _MARK[outcome(e.tests, run)] if run is not None else "no results"
        claims_tests = [t for t in e.tests if marked.get(t)]
        if not claims_tests:
            pert = "not a discrete claim"
        elif perturbed is None:
            pert = "no results"
        else:
            pert = _MARK[outcome(claims_tests, perturbed)]
        check += f" — tests: **{run_mark}**; perturbed 1e-12: **{pert}**"
    if e.glue:
        value = f"{{glue:text}}`{e.page}.md::{e.glue}:s`" if e.page in present else "(page not in this build)"
        statement += f" — on this build: **{value}**"
    return [f"{head}\n\n{where}", statement, check]


def _link_text(e: Entry) -> str:
    """A row's name in a link (a role's text shows no math): the paper's number, else the id."""
    return e.paper if e.paper and "$" not in e.paper and "`" not in e.paper else e.id


def render(entries: Iterable[Entry], run: Mapping[str, Outcome] | None, perturbed: Mapping[str, Outcome] | None,
           marked: Mapping[str, bool], present: Iterable[str] = (), repo_url: str = "",
           boxes: Iterable[str] = ()) -> str:
    """The map as MyST Markdown: one table per section of :data:`SECTIONS`, then an index by chapter.

    Parameters
    ----------
    entries : iterable of Entry
    run, perturbed : mapping or None
        Test outcomes by node id (:func:`read_junit`) of the test run and of the perturbed claims run; ``None`` when
        that run's results are not available (the page then says so in each row).
    marked : mapping
        node id -> whether it carries the ``claims`` mark (:func:`claims_marked`).
    present : iterable of str
        The pages of this build (a value is pasted only from a page that is built).
    repo_url : str
        The repository's URL, for links to the tests' sources.
    boxes : iterable of str
        The labels of ``prf:`` boxes (:attr:`BookLabels.boxes`): a row links to one with ``{prf:ref}``.
    """
    entries = list(entries)
    present, boxes = set(present), set(boxes)
    out = []
    for key, title in SECTIONS.items():
        rows = [e for e in entries if e.section == key]
        if not rows:
            continue
        out += [f"(paper-map-{key})=", f"## {title}", "", "```{list-table}", ":header-rows: 1",
                ":widths: 22 38 40", ":width: 100%", ":class: paper-map", "", "* - Result, in the book", "  - Statement (status)",
                "  - Checked by"]
        for e in rows:
            cells = _row(e, run, perturbed, marked, present, repo_url, boxes)
            out.append("* - " + cells[0].replace("\n", "\n    "))
            out += ["  - " + c for c in cells[1:]]
        out += ["```", ""]
    out += ["(paper-map-by-chapter)=", "## By chapter", ""]
    for page, name in CHAPTER_NAMES.items():
        rows = [e for e in entries if e.page == page]
        if rows:
            links = ", ".join(f"{{ref}}`{_link_text(e)} <map-{e.id}>`" for e in rows)
            out += [f"(paper-map-{page})=", f"### {name}", "", links, ""]
    return "\n".join(out)
