"""Command line: ``python -m attnbook figures OUTDIR [--only NAME ...] [--format png svg]`` (``figures --list
[--only NAME ...]`` names the figures, no OUTDIR needed),
``python -m attnbook student-edition OUTDIR [--answers KEYDIR] [--book book] [--force]``,
``python -m attnbook course OUTDIR [--seed N] [--roster FILE] [--book book] [--force]``,
``python -m attnbook grade AUTOGRADER_ZIP SUBMISSIONS_DIR [-o grades.csv]`` and
``python -m attnbook studies [--jobs N] [--only NAME ...] [--fresh] [--list]``."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnbook", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    fig = sub.add_parser("figures", help="regenerate every figure of the book to files")
    fig.add_argument("outdir", type=Path, nargs="?", help="where the figures go (not needed with --list)")
    fig.add_argument("--only", nargs="+", default=None, help="figure names or name prefixes (e.g. ch3)")
    fig.add_argument("--format", nargs="+", default=["png", "svg"], choices=["png", "svg", "pdf"])
    fig.add_argument("--list", action="store_true", help="list figure names (those of --only, if given) and exit")
    stu = sub.add_parser("student-edition", help="chapters as notebooks without solutions (+ the answer key, for "
                                                 "instructors, in a folder of its own)")
    stu.add_argument("outdir", type=Path)
    stu.add_argument("--answers", type=Path, default=None, metavar="KEYDIR",
                     help="write the complete chapters (the answer key) here; must not be inside OUTDIR")
    stu.add_argument("--book", type=Path, default=Path("book"), help="the book's chapter folder (default: book)")
    stu.add_argument("--force", action="store_true", help="overwrite notebooks of the same names")
    stu.add_argument("--keep-outputs", action="store_true", help="keep the outputs of the cells students get")
    crs = sub.add_parser("course", help="per lecture: the homework notebook, the student notebooks and the otter "
                                        "autograder zip (needs the [course] extra)")
    crs.add_argument("outdir", type=Path)
    crs.add_argument("--seed", type=int, default=None,
                     help="the course's seed: picks the graded variant of each exercise (default: random, printed)")
    crs.add_argument("--book", type=Path, default=Path("book"), help="the book's chapter folder (default: book)")
    crs.add_argument("--lectures", type=int, nargs="+", default=None, help="only these lectures")
    crs.add_argument("--roster", type=Path, default=None, metavar="FILE",
                     help="student ids, one a line: a homework notebook (and data variant) per student")
    crs.add_argument("--no-chapters", action="store_true", help="only the homework and the autograder, no chapters")
    crs.add_argument("--force", action="store_true", help="overwrite an existing OUTDIR's notebooks")
    grd = sub.add_parser("grade", help="grade a folder of submitted notebooks with an autograder zip (otter, no "
                                       "container) into a CSV")
    grd.add_argument("autograder", type=Path)
    grd.add_argument("submissions", type=Path)
    grd.add_argument("-o", "--output", type=Path, default=Path("grades.csv"))
    stu_ = sub.add_parser("studies", help="compute every study of the book into _build/studies/ (read by the claim "
                                          "tests, the book build and the figures command)")
    stu_.add_argument("--jobs", type=int, default=None, help="worker processes (default: the cores, at most 4)")
    stu_.add_argument("--only", nargs="+", default=None, help="study names or name prefixes (e.g. ch6)")
    stu_.add_argument("--fresh", action="store_true", help="empty the artifact first")
    stu_.add_argument("--list", action="store_true", help="list the studies and exit")
    args = parser.parse_args(argv)
    if args.command == "studies":
        return _studies(parser, args)
    if args.command == "student-edition":
        return _student_edition(stu, args)
    if args.command == "course":
        from .course import CourseError, build_course

        _check_book(crs, args.book)
        roster = None
        if args.roster is not None:
            if not args.roster.is_file():
                crs.error(f"--roster must be a file of student ids, one a line; got {str(args.roster)!r}")
            roster = [ln.strip() for ln in args.roster.read_text().splitlines() if ln.strip()]
        try:
            build_course(args.outdir, args.book, seed=args.seed, lectures=args.lectures,
                         chapters=not args.no_chapters, force=args.force, roster=roster)
        except CourseError as exc:
            crs.error(str(exc))
        return 0
    if args.command == "grade":
        from .course import CourseError, grade_folder

        try:
            grade_folder(args.autograder, args.submissions, args.output)
        except CourseError as exc:
            grd.error(str(exc))
        return 0

    if args.outdir is None and not args.list:
        fig.error("figures needs OUTDIR, the folder the figures go to (or --list to name them)")
    import matplotlib

    matplotlib.use("Agg")

    from .figures import registry, render_figure

    figures = registry()
    if args.only is not None:
        if any(not p.strip() for p in args.only):
            fig.error(f"--only needs figure names or name prefixes, not an empty string; got {args.only}")
        unknown = [p for p in args.only if not any(n == p or n.startswith(p + ".") or n.startswith(p) for n in figures)]
        if unknown:
            fig.error(f"no figure matches {unknown}; choose from: {', '.join(figures)}")
        figures = {n: f for n, f in figures.items() if any(n == p or n.startswith(p) for p in args.only)}
    if args.list:
        print("\n".join(figures))
        return 0
    _check_outdir(fig, args.outdir)
    for name in figures:
        start = time.perf_counter()
        render_figure(name, [args.outdir / f"{name}.{ext}" for ext in args.format], dpi=150)
        print(f"{name}: {time.perf_counter() - start:.1f} s", flush=True)
    return 0


def _studies(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .artifact import compute_studies, registry

    if args.list:
        print("\n".join(registry()))
        return 0
    if args.only is not None and any(not p.strip() for p in args.only):
        parser.error(f"--only needs study names or name prefixes, not an empty string (it would match every "
                     f"study); got {args.only}")
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs needs a positive number of worker processes; got {args.jobs}")
    start = time.perf_counter()
    try:
        done = compute_studies(args.jobs, args.only, args.fresh, log=lambda line: print(line, flush=True))
    except (RuntimeError, ValueError) as exc:
        if exc.__cause__ is not None:  # a study raised: its own traceback first
            import traceback

            traceback.print_exception(exc.__cause__)
        parser.error(str(exc))
    computed = [t for t in done if not t.cached]
    print(f"{len(computed)} studies computed, {len(done) - len(computed)} already in the artifact, "
          f"{time.perf_counter() - start:.1f} s")
    return 0


def _check_book(parser: argparse.ArgumentParser, book: Path) -> None:
    if not book.is_dir() or not (book.parent / "_toc.yml").is_file():
        parser.error(f"--book must be the book's chapter folder, with _toc.yml beside it; got {str(book)!r}")


def _student_edition(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .student import StudentEditionError, student_edition

    _check_book(parser, args.book)
    _check_outdir(parser, args.outdir)
    try:
        student_edition(args.outdir, args.book, args.answers, force=args.force, keep_outputs=args.keep_outputs)
    except StudentEditionError as exc:
        parser.error(str(exc))
    return 0


def _check_outdir(parser: argparse.ArgumentParser, outdir: Path) -> None:
    """Create OUTDIR and make sure it is writable *before* any figure is computed."""
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        probe = outdir / ".attnbook-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        parser.error(f"OUTDIR {str(outdir)!r} is not a writable directory: {exc.strerror or exc}")


if __name__ == "__main__":
    sys.exit(main())
