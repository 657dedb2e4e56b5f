"""``python -m attnbook figures``: listing needs no OUTDIR, bad arguments are usage errors (issue 27, finding 12)."""
import pytest

from attnbook.__main__ import main


def _run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors exit with status 2
        code = exc.code
    return code, capsys.readouterr()


def test_figures_list_needs_no_outdir(capsys):
    from attnbook.figures import registry

    code, out = _run(["figures", "--list"], capsys)
    assert code == 0 and out.out.split() == list(registry()), out


def test_figures_list_shows_the_figures_only_selects(capsys):
    from attnbook.figures import registry

    code, out = _run(["figures", "--list", "--only", "ch3"], capsys)
    assert code == 0 and out.out.split() == [n for n in registry() if n.startswith("ch3")], out


@pytest.mark.parametrize("argv, match", [
    (["figures"], "figures needs OUTDIR"),
    (["figures", "--only", "ch3"], "figures needs OUTDIR"),
    (["figures", "--list", "--only", "nosuchfigure"], "no figure matches"),
    (["figures", "--list", "--format", "gif"], "invalid choice"),
    (["figures", "--bogus"], "unrecognized arguments"),
])
def test_bad_figures_arguments_are_usage_errors(capsys, argv, match):
    code, out = _run(argv, capsys)
    assert code == 2 and match in out.err and out.out == "", out


def test_studies_only_an_empty_name_is_a_usage_error(capsys, monkeypatch):
    """Found by benchmarks/fuzz.py (issue 27): `studies --only ''` matched every study (the empty prefix) and
    computed them all (over 5 minutes) instead of saying that the name is empty."""
    import attnbook.artifact as artifact

    def never(*args, **kwargs):
        raise AssertionError("compute_studies must not run")

    monkeypatch.setattr(artifact, "compute_studies", never)
    code, out = _run(["studies", "--only", ""], capsys)
    assert code == 2 and "--only needs study names or name prefixes, not an empty string" in out.err, out
