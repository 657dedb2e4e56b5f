"""The intro's teaser shows four limit directions: each must be the predicted SVM solution, not the other."""
import numpy as np

from attnlib.experiments.intro import compute_teaser


def test_teaser_limits_match_their_own_svm_and_not_the_other():
    res = compute_teaser()
    cos = res["cos"]
    assert cos["W"][0] >= 0.9999 and cos["W"][1] < 0.9        # W -> Frobenius, clearly not nuclear
    assert cos["KQ"][0] >= 0.9995 and cos["KQ"][1] < 0.9      # K, Q -> nuclear (rank 1 here)
    assert cos["beta"][0] >= 0.9999                           # beta -> l2
    assert cos["xi"][0] > cos["xi"][1]                        # xi is closer to l1 than to l2 ...
    sv = res["sv"]
    assert sv["KQ"][1] < 0.01 * sv["KQ"][0] and sv["W"][1] > 0.5 * sv["W"][0]   # low rank vs not
    b = res["beta"]
    assert abs(b["xi"][2]) < 1e-3 < 0.05 < b["beta"][2]       # ... and sparse where beta is dense
    np.testing.assert_allclose(b["beta"], b["l2"], atol=1e-2)


def test_convergence_tabs_show_distance_shrinking_for_each_own_svm():
    res = compute_teaser()
    for flow in ("W", "KQ", "beta", "xi"):
        _, own, other = res["curves"][flow]
        assert (1 - own[-1]) < (1 - other[-1])        # closer to its own SVM than to the other at the end
    _, own, _ = res["curves"]["beta"]
    assert (1 - own[-1]) < 0.01 * (1 - own[0])        # beta -> l2 visibly converges over the run
