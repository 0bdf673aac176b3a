"""Inputs, torch's own optimizers and schedule, and the known wrong variants for the optimization suite.

The expected answers come from torch itself (F.conv2d, F.max_pool2d, torch.optim.SGD/Adam, ReduceLROnPlateau);
each variant reproduces one catalogued mistake on the same inputs, so the feedback can name it.
"""

import torch
import torch.nn.functional as F

from autograder.grading.cases import random_tensor
from autograder.grading.harness import model_recipe
from autograder.sandbox.failures import GradingFailure
from autograder.grading.checks import as_tensor


# ----- steps of an optimizer, one call at a time -----------------------------------------------------------

def gradients(steps: int, size: int, seed: int, scale: float = 1.0) -> list:
    """A seeded sequence of gradients, one per step (the same for the student, torch and every variant)."""
    return [scale * random_tensor((size,), seed + step) for step in range(steps)]


def torch_trajectory(optimizer_class, param0, grads, **options) -> torch.Tensor:
    """The parameter after each step of torch's own optimizer fed these gradients: shape (steps, size)."""
    param = param0.clone().requires_grad_()
    optimizer = optimizer_class([param], **options)
    after = []
    for grad in grads:
        param.grad = grad.clone()
        optimizer.step()
        after.append(param.detach().clone())
    return torch.stack(after)


def trajectory(step, param0, grads, **options) -> torch.Tensor:
    """The parameter after each call of a step function ``step(param, grad, state, **options)``."""
    param, state, after = param0.clone(), None, []
    for grad in grads:
        param, state = step(param, grad, state, **options)
        after.append(param)
    return torch.stack(after)


def student_trajectory(student, name: str, param0, grads, what: str, **options):
    """(params after each step, states after each step) from the student's step function, checked for structure."""
    param, state, after, states = param0.clone(), None, [], []
    for number, grad in enumerate(grads, start=1):
        got = student(name, param, grad, state, **options)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise GradingFailure(f"{what}, step {number}: got a {type(got).__name__}, expected a tuple "
                                 "(new_param, new_state).")
        param = as_tensor(got[0], what=f"{what}, step {number}: the new parameter")
        if param.shape != param0.shape:
            raise GradingFailure(f"{what}, step {number}: the new parameter has shape {tuple(param.shape)}, "
                                 f"expected {tuple(param0.shape)}.")
        state = got[1]
        after.append(param.to(torch.float64)), states.append(state)
    return torch.stack(after), states


def sgd_variant(param, grad, buffer, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                mistake=""):
    """SGD with one mistake: 'buffer_from_zero', 'nesterov_ignored' or 'decay_after_momentum'."""
    if weight_decay and mistake != "decay_after_momentum":
        grad = grad + weight_decay * param
    if momentum == 0:
        return param - lr * grad, None
    if buffer is None:
        buffer = torch.zeros_like(param) if mistake == "buffer_from_zero" else grad.clone()
        if mistake == "buffer_from_zero":
            buffer = momentum * buffer + (1 - dampening) * grad
    else:
        buffer = momentum * buffer + (1 - dampening) * grad
    direction = grad + momentum * buffer if nesterov and mistake != "nesterov_ignored" else buffer
    if mistake == "decay_after_momentum" and weight_decay:
        direction = direction + weight_decay * param
    return param - lr * direction, buffer


def adam_variant(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, mistake=""):
    """Adam with one mistake: 'no_bias_correction' or 'eps_inside_sqrt'."""
    beta1, beta2 = betas
    state = state or {"step": 0, "exp_avg": torch.zeros_like(param), "exp_avg_sq": torch.zeros_like(param)}
    step = state["step"] + 1
    if weight_decay:
        grad = grad + weight_decay * param
    m = beta1 * state["exp_avg"] + (1 - beta1) * grad
    v = beta2 * state["exp_avg_sq"] + (1 - beta2) * grad * grad
    if mistake == "no_bias_correction":
        m_hat, v_hat = m, v
    else:
        m_hat, v_hat = m / (1 - beta1 ** step), v / (1 - beta2 ** step)
    denom = (v_hat + eps).sqrt() if mistake == "eps_inside_sqrt" else v_hat.sqrt() + eps
    return param - lr * m_hat / denom, {"step": step, "exp_avg": m, "exp_avg_sq": v}


# ----- the plateau schedule ---------------------------------------------------------------------------------

def torch_plateau(losses, lr, **options) -> list:
    """The learning rate after each ReduceLROnPlateau.step(loss), from torch's scheduler itself."""
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **options)
    rates = []
    for loss in losses:
        scheduler.step(loss)
        rates.append(float(optimizer.param_groups[0]["lr"]))
    return rates


def plateau_variant(losses, lr, *, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                    cooldown=0, min_lr=0.0, mistake=""):
    """The schedule with one mistake: 'patience', 'threshold_ignored', 'threshold_swapped', 'cooldown', 'min_lr'."""
    if mistake == "threshold_swapped":
        threshold_mode = {"rel": "abs", "abs": "rel"}[threshold_mode]
    if mistake == "threshold_ignored":
        threshold = 0.0
    sign = 1 if mode == "min" else -1
    best, bad, cooling, rates = sign * float("inf"), 0, 0, []
    for loss in losses:
        loss = float(loss)
        if threshold_mode == "rel":
            bound = best * (1 - sign * threshold)
        else:
            bound = best - sign * threshold
        if sign * loss < sign * bound:
            best, bad = loss, 0
        else:
            bad += 1
        if cooling > 0 and mistake != "cooldown":
            cooling -= 1
            bad = 0
        if bad >= patience + (0 if mistake == "patience" else 1):
            new = lr * factor if mistake == "min_lr" else max(lr * factor, min_lr)
            if lr - new > 1e-8:
                lr = new
            cooling, bad = cooldown, 0
        rates.append(lr)
    return rates


def plateau_losses(length: int, seed: int, scale: float = 1.0) -> list:
    """Losses that fall, then wander on plateaus (steps of 1%, 0.005% and 0): every threshold matters."""
    noise = random_tensor((length,), seed)
    losses, value = [], 1.0
    for step in range(length):
        phase = (step // 12) % 3
        if phase == 0:
            value *= 0.97
        elif phase == 1:
            value *= 1 - 5e-5 * float(noise[step].sign())
        losses.append(scale * value)
    return losses


# ----- the two training loops -------------------------------------------------------------------------------

def line_data(seed: int, n: int = 24):
    """x in [0, 1) and y = 2 x - 0.5 + noise, float32 as in the lecture."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, generator=generator)
    return x, 2 * x - 0.5 + 0.1 * torch.randn(n, generator=generator)


def fit_line_variant(x, y, params, learning_rate, n_epochs, *, mistake=""):
    """fit_line with one mistake: 'never_zeroed'."""
    losses = []
    for _ in range(n_epochs):
        loss = ((params[0] * x + params[1] - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            params -= learning_rate * params.grad
        if mistake != "never_zeroed":
            params.grad.zero_()
        losses.append(loss.item())
    return params, losses


MLP = "regression_mlp"


def mlp_data(seed: int, n: int = 32):
    """(x, y) of shape (n, 1): the lecture's labels that flip sign at x = 0.5, float32."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, generator=generator)
    y = 2 * x - 0.5 + 0.05 * torch.randn(n, 1, generator=generator)
    y[x > 0.5] *= -2
    return x, y


def mlp_arguments(seed: int):
    x, y = mlp_data(seed)
    return [model_recipe(MLP, train=True, seed=seed), x, y]


def train_module_variant(model, x, y, *, n_epochs, learning_rate, mistake=""):
    """train_module with one mistake: 'scheduler_first' or 'never_zeroed'."""
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, "min")
    losses = []
    for _ in range(n_epochs):
        loss = F.mse_loss(model(x), y)
        if mistake != "never_zeroed":
            optimizer.zero_grad()
        loss.backward()
        if mistake == "scheduler_first":
            scheduler.step(loss.item())
        optimizer.step()
        if mistake != "scheduler_first":
            scheduler.step(loss.item())
        losses.append(loss.item())
    return losses


def expect_without_torch_optim(student, name: str, param, grad, state, *, expected, what: str, **options) -> None:
    """The step once more in a worker with torch.optim blocked (autograder.worker.blocks): the same new parameter
    must come back. Decided by the values that return, as checks.expect_no_library_convolution decides."""
    from autograder.grading.checks import expect_tensor
    from autograder.sandbox.failures import StudentException, StudentFailure

    try:
        got = student.call(name, param, grad, state, blocks=("optim",), **options).value
    except StudentException as failure:
        if failure.blocked is not None:
            raise GradingFailure(f"{name} called torch.optim ({failure.blocked[0]}), which this check blocks. "
                                 "Write the update rule yourself, with tensor arithmetic.") from None
        try:
            student(name, param, grad, state, **options)
        except StudentFailure:
            raise failure from None
        raise GradingFailure(f"{name} called torch.optim: it fails only while torch.optim is blocked, with "
                             f"{str(failure).splitlines()[0]}") from None
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise GradingFailure(f"{what} while torch.optim is blocked: got a {type(got).__name__}, expected a tuple.")
    expect_tensor(got[0], expected, what=f"{what} while torch.optim is blocked", check_dtype=False,
                  rtol=1e-9, atol=1e-12)
