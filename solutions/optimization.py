"""Strided convolutions and pooling by hand, two optimizers written out, a plateau schedule, and two training loops.

Shapes: images are (N, C, H, W), a convolution's weight is (D, C / groups, h, w). An int argument ``a`` for a
size, stride, padding or dilation means the pair ``(a, a)``. Along each axis the output has

    out = floor((H + 2 p - d (h - 1) - 1) / s) + 1

positions: the window spans d (h - 1) + 1 input rows, and it is moved s rows at a time over the padded input.
The optimizers follow torch.optim's update rules to the order of their operations, so 200 steps agree with
torch's to rounding. No function here calls a library convolution, a library pooling or torch.optim, except the
two training loops, which are the lecture's and use torch.optim on purpose.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1: the number of window positions."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """Return F.conv2d(x, weight, bias, stride, padding, dilation, groups), computed by hand.

    y[n, o, i, j] = b[o] + sum_{c in o's group} sum_{k, l} xpad[n, c, s i + d k, s j + d l] * weight[o, c', k, l]
    with xpad the input with p zeros on each side. x: (N, C, H, W), weight: (D, C / groups, h, w) -> (N, D, H', W').
    A ValueError when C or D is not divisible by groups, the weight has not C / groups input channels, or the
    output would be empty.
    """
    batch, channels, height, width = x.shape
    out_channels, group_channels, kernel_h, kernel_w = weight.shape
    if groups < 1 or channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide both the {channels} input and {out_channels} output channels")
    if group_channels != channels // groups:
        raise ValueError(f"the weight has {group_channels} input channels per group, expected "
                         f"{channels} / {groups} = {channels // groups}")
    (stride_h, stride_w), (pad_h, pad_w), (dil_h, dil_w) = _pair(stride), _pair(padding), _pair(dilation)
    out_h = conv_output_size(height, kernel_h, stride_h, pad_h, dil_h)
    out_w = conv_output_size(width, kernel_w, stride_w, pad_w, dil_w)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"the output would be empty ({out_h} x {out_w}): a {kernel_h}x{kernel_w} kernel with "
                         f"dilation {(dil_h, dil_w)} does not fit in a {height}x{width} input padded by {(pad_h, pad_w)}")
    padded = x.new_zeros(batch, channels, height + 2 * pad_h, width + 2 * pad_w)
    padded[:, :, pad_h:pad_h + height, pad_w:pad_w + width] = x
    padded = padded.reshape(batch, groups, channels // groups, *padded.shape[-2:])
    weight = weight.reshape(groups, out_channels // groups, group_channels, kernel_h, kernel_w)
    out = x.new_zeros(batch, groups, out_channels // groups, out_h, out_w)
    # One tap (k, l) at a time: the inputs it reads form a strided slice of the padded image.
    for k in range(kernel_h):
        for l in range(kernel_w):
            rows = slice(dil_h * k, dil_h * k + stride_h * (out_h - 1) + 1, stride_h)
            cols = slice(dil_w * l, dil_w * l + stride_w * (out_w - 1) + 1, stride_w)
            out += torch.einsum("ngcij,goc->ngoij", padded[..., rows, cols], weight[..., k, l])
    out = out.reshape(batch, out_channels, out_h, out_w)
    if bias is not None:
        out = out + bias.reshape(1, out_channels, 1, 1)
    return out


def _pool_windows(x: Tensor, kernel_size, stride, padding, fill: float):
    """Yield the h * w strided slices of x (..., H, W), padded with ``fill``, one per position in the window."""
    (kernel_h, kernel_w) = _pair(kernel_size)
    (stride_h, stride_w) = _pair(kernel_size if stride is None else stride)
    (pad_h, pad_w) = _pair(padding)
    if pad_h > kernel_h // 2 or pad_w > kernel_w // 2:
        raise ValueError(f"padding {(pad_h, pad_w)} should be at most half the kernel {(kernel_h, kernel_w)}")
    height, width = x.shape[-2:]
    out_h = conv_output_size(height, kernel_h, stride_h, pad_h)
    out_w = conv_output_size(width, kernel_w, stride_w, pad_w)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"the output would be empty: a {kernel_h}x{kernel_w} window does not fit in {height}x{width}")
    padded = x.new_full((*x.shape[:-2], height + 2 * pad_h, width + 2 * pad_w), fill)
    padded[..., pad_h:pad_h + height, pad_w:pad_w + width] = x
    for k in range(kernel_h):
        for l in range(kernel_w):
            yield padded[..., k:k + stride_h * (out_h - 1) + 1:stride_h, l:l + stride_w * (out_w - 1) + 1:stride_w]


def max_pool2d(x: Tensor, kernel_size, stride=None, padding: int = 0) -> Tensor:
    """Return F.max_pool2d(x, kernel_size, stride, padding): the maximum of each window, x (..., H, W).

    The stride defaults to the kernel size (windows side by side), the output size is the convolution's with
    d = 1 (floor mode), and the padding is -inf, so a padded position never wins.
    """
    out = None
    for window in _pool_windows(x, kernel_size, stride, padding, float("-inf")):
        out = window.clone() if out is None else torch.maximum(out, window)
    return out


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding: int = 0) -> Tensor:
    """Return F.avg_pool2d(x, kernel_size, stride, padding): the mean of each window, x (..., H, W).

    As torch's default (count_include_pad=True), the padding is zeros and counts: every window divides by h * w.
    """
    kernel_h, kernel_w = _pair(kernel_size)
    out = None
    for window in _pool_windows(x, kernel_size, stride, padding, 0.0):
        out = window.clone() if out is None else out + window
    return out / (kernel_h * kernel_w)


def sgd_step(param: Tensor, grad: Tensor, buffer: Tensor | None, *, lr: float, momentum: float = 0.0,
             dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False) -> tuple:
    """One step of torch.optim.SGD: return (new_param, new_buffer); the inputs are left alone.

    g = grad + weight_decay * param;  b = g on the first step (buffer None, undampened), else
    b = momentum * b + (1 - dampening) * g;  the step direction is g + momentum * b (Nesterov) or b;
    new_param = param - lr * direction. With momentum 0 there is no buffer: the direction is g and None comes back.
    """
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    if momentum == 0:
        return param.add(grad, alpha=-lr), None
    if buffer is None:
        buffer = grad.clone()
    else:
        buffer = buffer.mul(momentum).add(grad, alpha=1 - dampening)
    direction = grad.add(buffer, alpha=momentum) if nesterov else buffer
    return param.add(direction, alpha=-lr), buffer


def adam_step(param: Tensor, grad: Tensor, state: dict | None, *, lr: float = 1e-3, betas=(0.9, 0.999),
              eps: float = 1e-8, weight_decay: float = 0.0) -> tuple:
    """One step of torch.optim.Adam: return (new_param, new_state); the inputs are left alone.

    t = t + 1 (the first step is t = 1);  g = grad + weight_decay * param;
    m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;
    new_param = param - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
    ``state`` is None on the first step (m = v = 0), then {"step": t, "exp_avg": m, "exp_avg_sq": v}.
    """
    beta1, beta2 = betas
    if state is None:
        state = {"step": 0, "exp_avg": torch.zeros_like(param), "exp_avg_sq": torch.zeros_like(param)}
    step = state["step"] + 1
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    exp_avg = state["exp_avg"].lerp(grad, 1 - beta1)  # m + (1 - beta1)(g - m), torch's order of operations
    exp_avg_sq = state["exp_avg_sq"].mul(beta2).addcmul(grad, grad, value=1 - beta2)
    bias_correction1, bias_correction2 = 1 - beta1 ** step, 1 - beta2 ** step
    denom = (exp_avg_sq.sqrt() / bias_correction2 ** 0.5).add(eps)
    new_param = param.addcdiv(exp_avg, denom, value=-lr / bias_correction1)
    return new_param, {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}


def plateau_learning_rates(losses, lr: float, *, mode: str = "min", factor: float = 0.1, patience: int = 10,
                           threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                           min_lr: float = 0.0) -> list[float]:
    """The learning rate in force after each ReduceLROnPlateau.step(loss), for one parameter group.

    A loss is better than the best so far when it is below best (1 - threshold) ("rel") or best - threshold
    ("abs"), in mode "min"; above best (1 + threshold) or best + threshold in mode "max". After more than
    ``patience`` steps in a row without a better loss the rate becomes max(lr * factor, min_lr), unless that
    changes it by no more than 1e-8, and the next ``cooldown`` steps count no bad step.
    """
    if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
        raise ValueError(f"mode must be 'min' or 'max' and threshold_mode 'rel' or 'abs', got {mode!r}, "
                         f"{threshold_mode!r}")
    if factor >= 1.0:
        raise ValueError(f"factor should be < 1.0, got {factor}")

    def is_better(value: float, best: float) -> bool:
        if mode == "min":
            return value < (best * (1 - threshold) if threshold_mode == "rel" else best - threshold)
        return value > (best * (1 + threshold) if threshold_mode == "rel" else best + threshold)

    best = float("inf") if mode == "min" else float("-inf")
    bad_steps = cooldown_left = 0
    rates = []
    for loss in losses:
        loss = float(loss)
        if is_better(loss, best):
            best, bad_steps = loss, 0
        else:
            bad_steps += 1
        if cooldown_left > 0:
            cooldown_left -= 1
            bad_steps = 0  # bad steps in the cooldown do not count
        if bad_steps > patience:
            new_lr = max(lr * factor, min_lr)
            if lr - new_lr > 1e-8:  # torch's eps: a smaller change is skipped
                lr = new_lr
            cooldown_left, bad_steps = cooldown, 0
        rates.append(lr)
    return rates


def line(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """The lecture's model: w x + b."""
    return w * x + b


def fit_line(x: Tensor, y: Tensor, params: Tensor, learning_rate: float, n_epochs: int) -> tuple:
    """Fit y ~ w x + b by gradient descent on the mean squared error; return (params, losses).

    ``params`` = [w, b] requires grad and is updated in place, under torch.no_grad() (the update must not enter
    the graph), its gradient zeroed after each epoch; the same tensor comes back. ``losses``: the n_epochs
    floats, each the loss of the parameters that epoch starts from.
    """
    losses = []
    for _ in range(n_epochs):
        loss = ((line(x, *params) - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            params -= learning_rate * params.grad
        params.grad.zero_()
        losses.append(loss.item())
    return params, losses


def train_module(model: nn.Module, x: Tensor, y: Tensor, *, n_epochs: int, learning_rate: float) -> list[float]:
    """The lecture's training_loop_module: Adam and ReduceLROnPlateau(optimizer, "min") on the MSE of model(x).

    Each epoch: loss, optimizer.zero_grad(), loss.backward(), optimizer.step(), scheduler.step(loss). Returns the
    n_epochs losses, each that of the model the epoch starts from.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, "min")
    loss_fn = nn.MSELoss()
    losses = []
    for _ in range(n_epochs):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step(loss.item())  # the number: a tensor that requires grad would be detached with a warning
        losses.append(loss.item())
    return losses
