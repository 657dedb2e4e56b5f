"""attnlib: gradient flow on one-layer softmax attention, after Sheen, Chen, Wang & Zhou (2024).

Model ``Phi(X, z) = v^T X^T softmax(X K Q^T z)`` trained with the exponential loss. The library provides the data
model and its assumptions (:mod:`attnlib.data`, :mod:`attnlib.assumptions`), the model, losses and stable gradients
(:mod:`attnlib.model`), the attention SVMs (:mod:`attnlib.svm`), exact gradient flows (:mod:`attnlib.flow`),
diagnostics (:mod:`attnlib.diagnostics`), minimal-norm factorizations (:mod:`attnlib.factorization`), l_p mirror
descent (:mod:`attnlib.mirror`) and normalised optimizers: Adam, sign, spectral and nuclear steepest descent
(:mod:`attnlib.optimizers`). It needs numpy, scipy and cvxpy only: the book's experiments, figures, widgets,
exercise self-checks and command line are the separate package :mod:`attnbook` (same distribution, ``[book]`` extra).
"""
from .assumptions import (ASSUMPTIONS, AssumptionCheck, AssumptionError, AssumptionReport, check_assumptions,
                          stuck_loss_bounds)
from .perturbation import Perturbation, active_perturbation, perturbed_inputs, unperturbed
from .data import (AttentionData, block_diagonal_data, diagonal_blocks, make_diagonal_data, make_generic_data,
                   make_orthogonal_data)
from .model import (attention, attention_scores, cosine, excess_loss, exp_loss, log_excess_loss, logistic_grad,
                    logistic_loss, loss_grad, loss_grad_beta, loss_grad_KQ, loss_grad_xi, margin, min_loss, predict)
from .svm import SVM_NORMS, InfeasibleSVMError, SVMSolution, selection_pairs, solve_selection_svm, solve_svm

__version__ = "0.1.0"
from .flow import PARAMS, FlowStallError, Trajectory, aligned_bases, default_init, gradient_descent, gradient_flow
from .frame import FrameRecord, MarginFrameError
from .diagnostics import (KKTResiduals, SinhClosedFormCheck, alignment_error, check_sinh_closed_form,
                          conservation_error, conserved_quantity, diagonal_network_flow, direction, kkt_residuals,
                          path_error, right_basis,
                          singular_values, sinh_closed_form, svm_cosine, svm_distance)
