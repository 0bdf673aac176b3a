"""What known mistakes produce, computed on the grader's side, so feedback can name them.

Each function reproduces one typical wrong answer for the same inputs. The suites
pass them to ``checks.expect_tensor(..., mistakes=...)``: when a student's output
equals one of them, the message says which mistake it looks like.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

FLIPPED_KERNEL = ("a flipped kernel (a true convolution). This course uses cross-correlation, like F.conv2d: "
                  "y[i, j] = sum_k sum_l img[i + k, j + l] * kernel[k, l]")
CENTRE_INDEXING = ("(i, j) treated as the kernel centre (img[i + k - 1, j + l - 1]). Here (i, j) is the top-left "
                   "corner of the window: img[i + k, j + l]")
HARD_CODED_3X3 = ("loops hard-coded for a 3x3 kernel: the output must be (H - h + 1, W - w + 1) for a kernel of "
                  "shape (h, w)")
SWAPPED_INDEX = "swapped kernel indices (kernel[l, k] instead of kernel[k, l])"
INDEX_SLIP = "the index slip `b = i - l` (it should be `b = j - l`)"
TRANSPOSED = "a transposed result: the gradient must have the kernel's shape (h, w), not (w, h)"
FLIPPED_GRADIENT = ("a flipped kernel: dL/dx[i, j] = sum dL/dy[i - k, j - l] * K[k, l] is a full convolution, "
                    "so correlating dL/dy with K flips it")
SOBEL_NOT_NORMALISED = "a magnitude that is not divided by its maximum (the result should peak at exactly 1)"
SOBEL_SQUARED = "the squared magnitude: take the square root of Gx^2 + Gy^2"
SOBEL_SWAPPED = "SOBEL_X and SOBEL_Y swapped: Gx = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]] responds to left-right changes"
FORWARD_DIFFERENCE = ("a forward difference (f(x + eps) - f(x)) / eps. Use the centred difference "
                      "(f(x + eps) - f(x - eps)) / (2 eps): its error is O(eps^2), not O(eps)")
FLOAT32_DIFFERENCE = "a difference computed in float32: with eps = 1e-5, rounding swamps the result; keep x's dtype"
ROLL = ("a wrap-around torch.roll: pixels pushed off one side must be lost and the vacated border filled "
        "with zeros")
SWAPPED_DXDY = "dx and dy swapped: dx moves the image right (along the last axis), dy moves it down"
SIGN_FLIPPED = "the shift direction reversed: positive dx moves content right, positive dy moves it down"
MISSING_ZERO_GRAD = "a missing optimizer.zero_grad(): .backward() adds to the gradients of the previous batch"
NOT_MOVED = ("batches not moved to `device`: call inputs.to(device) and labels.to(device) before the forward pass, "
             "or on a GPU the model and the data sit on different devices")
MISSING_TRAIN = "a missing model.train(): dropout and batch norm stay in evaluation mode while training"
MISSING_EVAL = ("a missing model.eval(): the model came in training mode, so dropout changed its answers. Call "
                "model.eval() first")
GRADIENTS_RECORDED = ("forward passes that recorded gradients: wrap the loop in `with torch.no_grad():` (or decorate "
                      "the function with @torch.no_grad()), so no graph is built")
RELU_AFTER_THIRD_CONV = ("a ReLU after the third convolution (as in the Keras tutorial). The course's network, the "
                        "lecture's, has none there: Conv2d(64, 64, 3) feeds Flatten directly")
VALID_PADDING = ("\"valid\" instead of \"same\": pad x with K // 2 zeros on each side, so k * x keeps the signal's "
                 "N samples")
FLIPPED_KERNEL_1D = ("a flipped kernel (a true convolution). The blur is a cross-correlation, like F.conv1d: "
                     "(k * x)[i] = sum_m k[m] x[i + m - K // 2]")
CIRCULAR_PADDING = "wrap-around (circular) padding: the samples beyond either end of x are zeros, not the other end"
MISSING_FACTOR_TWO = "a missing factor 2: the derivative of r^2 is 2 r"
MISSING_ONE_OVER_N = "a missing 1 / N: f divides the squared distance by N, so its gradient does too"
ONE_OVER_N_SQUARED = "a division by N twice"
ADJOINT_NOT_MIRRORED = ("the kernel not mirrored in the adjoint: the adjoint of blurring with k is blurring with "
                        "k~[m] = k[K - 1 - m] (kernel.flip(0)); it matters as soon as k is not symmetric")
MOMENTUM_ON_GRADIENTS = ("momentum applied to the last gradient instead of the velocity: the heavy ball keeps "
                         "v <- momentum * v + g, so every past gradient counts, geometrically weighted")
PRECONDITIONER_ON_X = ("the metric applied to x instead of to the gradient: solve (B^T B + lam I) g = grad f(x) "
                       "for g, with grad f taken at x itself")
METRIC_MULTIPLIED = "(B^T B + lam I) multiplied with the gradient instead of solved for: the metric's gradient is M^-1 grad f"
BLUR_MATRIX_TRANSPOSED = ("the blur matrix transposed: blurring the rows of the identity gives B^T (row j is "
                          "blur(e_j), the j-th column of B), so the metric B B^T + lam I came out instead of B^T B + lam I")
MEAN_OF_BATCH_MEANS = ("the mean of batch means: a smaller last batch then counts as much as a full one; "
                       "weight each batch's mean loss by its size")
LAST_BATCH_LOSS = "the loss of the last batch only: return the mean loss per sample over the epoch"
SUM_NOT_MEAN = "the sum of batch losses: divide by the number of samples"


def correlate(img: Tensor, kernel: Tensor) -> Tensor:
    return F.conv2d(img[None, None], kernel[None, None].to(img.dtype))[0, 0]


def convolution_centre_indexing(img: Tensor, kernel: Tensor, positions) -> Tensor:
    """Values of sum img[i + k - 1, j + l - 1] * kernel[k, l] (Python's negative indices wrap, as in a student's loop)."""
    values = []
    for i, j in positions:
        total = torch.zeros((), dtype=img.dtype)
        for k in range(kernel.shape[0]):
            for l in range(kernel.shape[1]):
                total = total + img[i + k - 1, j + l - 1] * kernel[k, l]
        values.append(total)
    return torch.stack(values)


def input_gradient_with_index_slip(dloss_dy: Tensor, kernel: Tensor) -> Tensor:
    rows, cols = dloss_dy.shape[0] + kernel.shape[0] - 1, dloss_dy.shape[1] + kernel.shape[1] - 1
    out = torch.zeros(rows, cols, dtype=dloss_dy.dtype)
    for i in range(rows):
        for j in range(cols):
            for k in range(max(0, i - rows + kernel.shape[0]), min(kernel.shape[0], i + 1)):
                for l in range(max(0, j - cols + kernel.shape[1]), min(kernel.shape[1], j + 1)):
                    out[i, j] += dloss_dy[i - k, i - l] * kernel[k, l]  # raises IndexError where the slip does
    return out


def input_gradient_flipped(dloss_dy: Tensor, kernel: Tensor) -> Tensor:
    padded = F.pad(dloss_dy, (kernel.shape[1] - 1,) * 2 + (kernel.shape[0] - 1,) * 2)
    return correlate(padded, kernel)


def sobel_unnormalised(img: Tensor, sobel_x: Tensor) -> Tensor:
    return torch.sqrt(correlate(img, sobel_x) ** 2 + correlate(img, sobel_x.T) ** 2)


def sobel_squared(img: Tensor, sobel_x: Tensor) -> Tensor:
    squared = correlate(img, sobel_x) ** 2 + correlate(img, sobel_x.T) ** 2
    return squared / squared.max()


def forward_difference(f, x: Tensor, eps: float = 1e-5) -> Tensor:
    grad = torch.zeros_like(x)
    base = float(f(x))
    for index in range(x.numel()):
        probe = x.clone()
        probe.view(-1)[index] += eps
        grad.view(-1)[index] = (float(f(probe)) - base) / eps
    return grad


def rolled(images: Tensor, dx: int, dy: int) -> Tensor:
    return torch.roll(images, shifts=(dy, dx), dims=(-2, -1))

# what_networks_see
CONFUSION_TRANSPOSED = ("rows and columns swapped: entry [t, p] counts the samples of true class t predicted as p, "
                        "so each row is one true class")
CANVAS_CUT_OFF = ("the item cut off at the border: the top row may only go up to H - h (and the left column to "
                  "W - w), so the whole item fits")
CANVAS_WRAPPED = ("the item wrapped around the border (torch.roll): the canvas is zero outside the item, nothing "
                  "reappears on the other side")
CANVAS_LAST_PLACE_MISSED = ("the last row or column never used: torch.randint(low, high) excludes high, so the top "
                            "row is torch.randint(0, H - h + 1, ...)")
CANVAS_ONE_PLACE_PER_BATCH = "one place for the whole batch: draw a position for each image"
CANVAS_NOT_INDEPENDENT = ("places not drawn independently: each image's place follows from the ones before it (taken "
                          "in turn, or with a period); draw a new random top and left for every image")
SEED_IGNORED = ("the random source ignored: draw from the generator (or the seed) you are given, not from torch's "
                "global random state, so the same seed gives the same result")
WEIGHTS_UPDATED = ("the model's weights changed: the optimizer must move the image only "
                   "(torch.optim.Adam([image], ...)), the network stays as it was trained")
PROBABILITY_NOT_LOG = ("the probability maximised instead of its logarithm: the objective is "
                       "log_softmax(model(x))[0, target], whose gradient does not vanish as the probability nears 1")
OBJECTIVE_AFTER_STEP = ("the objective recorded after each step: record the objective of the image each step "
                        "starts from, so the first value is that of the starting image")
HOOK_LEFT = ("a forward hook left registered on the layer: keep the handle register_forward_hook returns and call "
             "handle.remove() (in a finally: block, so an error cannot leave it behind)")

# optimization
OUTPUT_SIZE_NO_DILATION = ("an output size without the dilation: a kernel of h taps dilated by d spans d (h - 1) + 1 "
                           "rows, so the output has floor((H + 2p - d (h - 1) - 1) / s) + 1")
OUTPUT_SIZE_NO_PADDING = ("an output size without the padding: the window moves over the padded input, "
                          "floor((H + 2p - d (h - 1) - 1) / s) + 1 positions")
POOL_STRIDE_ONE = ("a default stride of 1: torch's pooling moves the window by its own size when stride is None, "
                   "so the windows sit side by side")
POOL_PADDED_WITH_ZEROS = ("the padding filled with zeros: a max pool pads with -inf, so a padded position never wins "
                          "(with zeros, a window of negative values gives 0)")
AVERAGE_EXCLUDES_PADDING = ("the padding left out of the average (count_include_pad=False): torch's default divides "
                            "every window by h * w, padded zeros included")
BUFFER_FROM_ZERO = ("a momentum buffer started at zero and dampened on the first step: torch starts it at the "
                    "gradient itself, undampened (buffer = g when it is None)")
NESTEROV_AS_MOMENTUM = ("Nesterov ignored (plain momentum): with nesterov=True the step is g + momentum * buffer, "
                        "not the buffer")
WEIGHT_DECAY_AFTER_MOMENTUM = ("the weight decay added after the momentum: torch adds weight_decay * param to the "
                               "gradient first, so the buffer accumulates it too")
NO_BIAS_CORRECTION = ("no bias correction: m and v start at zero, so divide them by 1 - beta1^t and "
                      "1 - beta2^t (t = 1 on the first step)")
STEP_FROM_ZERO = ("the step counter starting at 0: count the step before the bias correction, so the first step "
                  "has t = 1 (with t = 0, 1 - beta^0 = 0 divides by zero)")
EPS_INSIDE_SQRT = ("eps inside the square root: torch divides by sqrt(v_hat) + eps, not sqrt(v_hat + eps); the two "
                   "part where the gradients are small")
PATIENCE_OFF_BY_ONE = ("patience off by one: the rate drops once there have been *more* than `patience` bad steps "
                       "in a row, not as soon as there are `patience`")
THRESHOLD_IGNORED = ("the threshold ignored: a loss is better only when it beats best * (1 - threshold) ('rel') or "
                     "best - threshold ('abs'), not merely best")
THRESHOLD_ABSOLUTE = ("an absolute threshold where the mode is 'rel': the relative one compares with "
                      "best * (1 - threshold), which parts from best - threshold when losses are far from 1")
THRESHOLD_RELATIVE = ("a relative threshold where the mode is 'abs': compare with best - threshold, not "
                      "best * (1 - threshold)")
COOLDOWN_IGNORED = ("the cooldown ignored: for `cooldown` steps after a drop no bad step counts")
MIN_LR_IGNORED = "min_lr ignored: the rate never falls below max(lr * factor, min_lr)"
GRADIENT_NOT_ZEROED = ("the gradient never zeroed: backward() adds to params.grad, so each step uses the sum of "
                       "every gradient so far; call params.grad.zero_() each epoch")
PARAMS_REBOUND = ("`params = params - lr * grad`: that makes a new tensor and leaves the caller's own unchanged; "
                  "update it in place, params -= lr * params.grad, under torch.no_grad()")
SCHEDULER_BEFORE_OPTIMIZER = ("the scheduler stepped before the optimizer: torch's order is zero_grad(), backward(), "
                              "optimizer.step(), then scheduler.step(loss), so a drop applies from the next epoch")
