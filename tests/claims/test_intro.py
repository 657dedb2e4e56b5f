"""The intro's teaser shows four limit directions: each must be the predicted SVM solution, not the other."""
import numpy as np
import pytest

from attnbook.experiments.intro import compute_teaser


@pytest.mark.claims
def test_teaser_limits_match_their_own_svm_and_not_the_other():
    res = compute_teaser()
    cos = res.cos
    assert cos["W"][0] >= 0.9999 and cos["W"][1] < 0.9        # W -> Frobenius, clearly not nuclear
    assert cos["KQ"][0] >= 0.9995 and cos["KQ"][1] < 0.9      # K, Q -> nuclear (rank 1 here)
    assert cos["beta"][0] >= 0.9999                           # beta -> l2
    assert cos["xi"][0] > cos["xi"][1]                        # xi is closer to l1 than to l2 ...
    sv = res.sv
    assert sv["KQ"][1] < 0.01 * sv["KQ"][0] and sv["W"][1] > 0.5 * sv["W"][0]   # low rank vs not
    b = res.beta
    assert abs(b["xi"][2]) < 1e-3 < 0.05 < b["beta"][2]       # ... and sparse where beta is dense
    np.testing.assert_allclose(b["beta"], b["l2"], atol=1e-2)


def test_convergence_tabs_show_distance_shrinking_for_each_own_svm():
    res = compute_teaser()
    for flow in ("W", "KQ", "beta", "xi"):
        _, own, other = res.dist_curves[flow]
        assert own[-1] < other[-1]                    # closer to its own SVM than to the other at the end
    _, own, _ = res.dist_curves["beta"]
    assert own[-1] < 0.01 * own[0]                    # beta -> l2 visibly converges over the run


@pytest.mark.claims
def test_teaser_quotes_distances_because_cosine_cannot_separate_l1_from_l2():
    """Issue 15 item 7: at t = 1e300 the xi-flow is ~21% from the l1 solution although its cosine is 0.99."""
    from attnbook.experiments.intro import teaser_at

    res = compute_teaser()
    assert res.log_t_end == 1e6
    l1, l2 = res.beta["l1"], res.beta["l2"]
    assert l1 @ l2 / (np.linalg.norm(l1) * np.linalg.norm(l2)) > 0.998  # the two solutions: cosine 0.9985
    xi300 = teaser_at("xi", np.log(1e300))
    assert xi300.cos[0] > 0.99 and xi300.dist[0] > 0.15              # measured 0.991 and 0.209
    assert xi300.l1_norm > np.abs(l1).sum() + 0.03                    # 1.416 vs 1.373: not yet the l1 minimiser
    assert res.dist["xi"][0] < 1e-4                                   # locked on by ln t = 1e6 (1.6e-6)
    x, _, beta_cos_l1 = res.curves["beta"]
    _, xi_cos_l1, _ = res.curves["xi"]
    closer = (beta_cos_l1 > xi_cos_l1) & (x > 3)
    assert np.any(closer & (x > 10))                                  # cosine ranks the l2-biased flow closer ...
    from attnbook.experiments.intro import teaser_lock_on
    assert x[closer][-1] < teaser_lock_on()                           # ... until shortly before the lock-on
    assert np.all(closer[(x >= x[closer][0]) & (x <= x[closer][-1])])  # on one interval (the page glues its ends)


def test_kq_panel_converges_logarithmically():
    """Issue 15 item 8: 1 - cos for K, Q falls from ~1e-2 (ln t = 6) to ~1e-4 (t = 1e300), not 'in decades'."""
    from attnbook.experiments.intro import teaser_at

    gaps = [1 - teaser_at("KQ", lt).cos[0] for lt in (6.0, np.log(1e10), np.log(1e300))]
    assert gaps[0] > 3e-3 and gaps[1] > 5e-4 and gaps[2] > 1e-5       # measured 9.6e-3, 2.1e-3, 7.7e-5
    assert gaps[0] > gaps[1] > gaps[2]


@pytest.mark.claims
def test_intro_lock_on_time_is_where_the_distance_to_l1_drops_below_the_tolerance():
    """The intro glues the xi-flow's lock-on time (distance to the l1 solution below 1e-3 for good)."""
    from attnbook.experiments.diagonal_studies import LOCK_ON_TOL
    from attnbook.experiments.intro import teaser_lock_on

    lock = teaser_lock_on()
    assert 1e5 < lock < 1e6                                           # measured 2.75e5: after t = 1e300, before the end
    x, dist, _ = compute_teaser().dist_curves["xi"]
    assert np.all(dist[x > lock * 1.01] < LOCK_ON_TOL)                # locked on for good after it ...
    assert np.all(dist[(x > 691) & (x < lock * 0.99)] > LOCK_ON_TOL)  # ... and not before (from t = 1e300 on)
    assert teaser_lock_on(1e-1) < lock                                 # a looser tolerance is met earlier
    with pytest.raises(ValueError, match="tol"):
        teaser_lock_on(0.0)


# -- issue 25: the intro's scope, the coincidence of beta_hat_1 and ||beta*||_1, chapter 8, the launch buttons ---------

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
INTRO = (ROOT / "book" / "intro.md").read_text(encoding="utf-8")


@pytest.mark.claims
def test_only_the_xi_panel_is_an_instance_of_a_theorem_of_the_paper():
    """The intro's box: the diagonal data meet Assumptions 1-diag, 2, 3 (Theorem 4.1 applies if the limit exists);
    the generic data fail Assumption 4, so no start there is aligned (Theorem 5.1 does not apply)."""
    import attnlib as al
    from attnbook.experiments.intro import TEASER_DATA, teaser_scope

    scope = teaser_scope()
    assert all(scope.diagonal[a] for a in ("1-diag", "2", "3"))
    assert not scope.generic["4"]
    with pytest.raises(ValueError, match="orthogonal"):
        al.aligned_bases(al.make_generic_data(**TEASER_DATA))          # no aligned bases, hence no aligned start


@pytest.mark.claims
def test_beta_hat_1_meets_the_l1_norm_only_by_coincidence():
    """Issue 25 #3: beta_hat_1(1e300) = 1.3732 and ||beta*||_1 = 1.3725 differ in the fourth digit, which the page now
    shows; beta_hat_1 is falling and passes ||beta*||_1 shortly after t = 1e300."""
    from attnbook.experiments.intro import teaser_at, teaser_b1_crossing

    res = compute_teaser()
    l1_norm = float(np.abs(res.beta["l1"]).sum())
    b1 = teaser_at("xi", np.log(1e300)).bhat[0]
    assert f"{b1:.3f}" == f"{l1_norm:.3f}"                              # what the old page showed: equal
    assert abs(b1 - l1_norm) > 3e-4                                     # 4 digits tell them apart (7e-4 measured)
    cross = teaser_b1_crossing()
    assert np.log(1e300) < cross < 2 * np.log(1e300)                   # measured ln t = 723
    assert teaser_at("xi", np.log(1e10)).bhat[0] > b1 > teaser_at("xi", 1e4).bhat[0] > res.beta["l1"][0]
    with pytest.raises(ValueError, match="monotonically"):
        teaser_b1_crossing(0.0)                                         # beta_hat_1 first rises a little


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end < 0 else text[start:end]


def test_what_you_will_learn_names_every_numbered_chapter():
    """Issue 25 #2: the list named chapters 1-7 but not chapter 8."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    numbered = [c["file"].split("/")[-1] for part in toc["parts"] if part.get("numbered") for c in part["chapters"]]
    learn = _section(INTRO, "## What you will learn")
    assert len(numbered) == 8
    for k, name in enumerate(numbered, start=1):
        assert f"(Chapter {k}, {{doc}}`{name}`)" in learn, name


def test_intro_says_what_to_set_for_the_launch_buttons_and_where():
    """Issue 25 #2: the Colab install cells and the launch buttons use repository.url, a placeholder until set."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    url, hub = config["repository"]["url"], config["launch_buttons"]["jupyterhub_url"]
    text = " ".join(_section(INTRO, "Launch buttons\n:").split())
    assert "`repository.url` in `_config.yml`" in text and "`launch_buttons.jupyterhub_url`" in text
    assert "python tools/colab_cell.py" in text and '(README, "Launch buttons")' in text
    assert "`https://github.com/OWNER/attnlib-book`" in text and "`https://jupyterhub.example.org`" in text
    if "OWNER" in url:                                                  # the page quotes the placeholder as it is
        assert url == "https://github.com/OWNER/attnlib-book" and hub == "https://jupyterhub.example.org"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "Launch buttons (Binder, Colab, JupyterHub) read `_config.yml`" in readme and "tools/colab_cell.py" in readme
    assert "README, \"Launch buttons\"" in (ROOT / "_config.yml").read_text(encoding="utf-8")
    # the page's local recipe: tools/lab.sh exists, and JupyterLab is among the requirements it installs
    assert "bash tools/lab.sh" in INTRO and (ROOT / "tools" / "lab.sh").is_file()
    assert "jupyterlab>=" in (ROOT / "requirements.txt").read_text(encoding="utf-8")


def test_scope_box_qualifies_every_limit():
    """Issue 25 #1 / larger change 2: every row of the intro's box has a status, the two theorems of the paper are
    conditional on the limit existing, and the aligned case is flagged as unable to separate the biases."""
    box = INTRO[INTRO.index("(intro-scope)="):INTRO.index("\n:::\n", INTRO.index("(intro-scope)="))]
    rows = [r for r in box.splitlines() if r.startswith("| ") and not r.startswith("| Training")]
    assert len(rows) == 5
    for row in rows:
        assert any(w in row for w in ("**proved", "**conjecture**", "**observed**")), row
    assert sum("**proved** if the limit exists" in r for r in rows) == 2
    assert "cannot tell the two biases apart" in box and "assuming that the margin-normalized" in box


@pytest.mark.claims
def test_teaser_alt_text_numbers_match_the_computed_limits():
    """The figure's alt text cannot glue; its numbers are checked against the computed limits here."""
    import re

    from attnbook.experiments.intro import teaser_at

    alt = " ".join(INTRO[INTRO.index("alt: Two bar charts"):INTRO.index("plots.show(teaser_figure())")].split())
    res = compute_teaser()
    w = re.search(r"two nonzero values ([\d.]+) and ([\d.]+)", alt).groups()
    kq = re.search(r"one nonzero value ([\d.]+)", alt).group(1)
    xi = re.search(r"about ([\d.]+) and ([\d.]+)", alt).groups()
    assert w == tuple(f"{s:.2f}" for s in res.sv["W"][:2]) and kq == f"{res.sv['KQ'][0]:.2f}"
    assert np.all(res.sv["W"][2:] < 1e-6) and res.sv["KQ"][1] < 0.01 * res.sv["KQ"][0]
    bhat = teaser_at("xi", np.log(1e300)).bhat
    assert xi == (f"{bhat[0]:.2f}", f"{bhat[1]:.2f}")
