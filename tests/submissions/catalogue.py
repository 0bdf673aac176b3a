"""Realistic wrong submissions, one mistake each, with the score each question should keep.

``expected`` lists only the questions the mistake costs; every other question keeps
full marks. ``diagnosis`` is a phrase the feedback must contain.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mistake:
    name: str
    assignment: str
    replacements: dict[str, str]
    expected: dict[str, float]
    diagnosis: str | None = None
    extra: str = ""
    not_diagnosed: str | None = None  # a diagnosis the feedback must not name (a wrong explanation)
    notes: str = field(default="", compare=False)


LOOPING_APPLY = '''
def apply_convolution(img, kernel):
    rows, cols = img.shape[0] - kernel.shape[0] + 1, img.shape[1] - kernel.shape[1] + 1
    out = torch.zeros(rows, cols, dtype=img.dtype)
    for i in range(rows):
        for j in range(cols):
            out[i, j] = compute_convolution_at_position(i, j, img, kernel)
    return out
'''

CATALOGUE = [
    Mistake("flipped_kernel", "convolution", {
        "compute_convolution_at_position": '''
def compute_convolution_at_position(i, j, img, kernel):
    h, w = kernel.shape
    total = torch.zeros((), dtype=img.dtype)
    for k in range(h):
        for l in range(w):
            total = total + img[i + k, j + l] * kernel[h - 1 - k, w - 1 - l]
    return total
''', "apply_convolution": LOOPING_APPLY},
        # A flipped Sobel filter is the negated filter, so the edge magnitude is unaffected.
        expected={"compute_convolution_at_position": 0, "apply_convolution": 0}, diagnosis="flipped kernel"),
    Mistake("centre_indexing_3x3_only", "convolution", {
        "compute_convolution_at_position": '''
def compute_convolution_at_position(i, j, img, kernel):
    total = torch.zeros((), dtype=img.dtype)
    for k in range(kernel.shape[0]):
        for l in range(kernel.shape[1]):
            total = total + img[i + k - 1, j + l - 1] * kernel[k, l]
    return total
''', "apply_convolution": '''
def apply_convolution(img, kernel):
    height, width = img.shape
    out = torch.zeros(height - 2, width - 2, dtype=img.dtype)
    for i in range(1, height - 1):
        for j in range(1, width - 1):
            out[i - 1, j - 1] = compute_convolution_at_position(i, j, img, kernel)
    return out
'''}, expected={"compute_convolution_at_position": 0, "apply_convolution": 1}, diagnosis="kernel centre",
        notes="the course's own code: right for 3x3 kernels only"),
    Mistake("hard_coded_3x3_output", "convolution", {"apply_convolution": '''
def apply_convolution(img, kernel):
    height, width = img.shape
    out = torch.zeros(height - 2, width - 2, dtype=img.dtype)
    for i in range(height - 2):
        for j in range(width - 2):
            out[i, j] = compute_convolution_at_position(i, j, img, kernel)
    return out
'''}, expected={"apply_convolution": 1}, diagnosis="hard-coded for a 3x3 kernel"),
    Mistake("sobel_x_y_swapped", "convolution",
            {"SOBEL_X": "SOBEL_X = torch.tensor([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])"},
            expected={"sobel_magnitude": 2}, diagnosis="SOBEL_X and SOBEL_Y swapped"),
    Mistake("sobel_not_normalised", "convolution", {"sobel_magnitude": '''
def sobel_magnitude(img):
    return torch.sqrt(apply_convolution(img, SOBEL_X.to(img.dtype)) ** 2 + apply_convolution(img, SOBEL_Y.to(img.dtype)) ** 2)
'''}, expected={"sobel_magnitude": 1}, diagnosis="not divided by its maximum"),
    Mistake("sobel_nan_on_constant_image", "convolution", {"sobel_magnitude": '''
def sobel_magnitude(img):
    magnitude = torch.sqrt(apply_convolution(img, SOBEL_X.to(img.dtype)) ** 2
                           + apply_convolution(img, SOBEL_Y.to(img.dtype)) ** 2)
    return magnitude / magnitude.max()
'''}, expected={"sobel_magnitude": 2}, diagnosis="got NaN"),
    Mistake("input_gradient_index_slip", "conv_gradients", {"conv_gradient_wrt_input": '''
def conv_gradient_wrt_input(dloss_dy, kernel):
    h, w = kernel.shape
    rows, cols = dloss_dy.shape[0] + h - 1, dloss_dy.shape[1] + w - 1
    out = torch.zeros(rows, cols, dtype=dloss_dy.dtype)
    for i in range(rows):
        for j in range(cols):
            total = 0.0
            for k in range(max(0, i - rows + h), min(h, i + 1)):
                for l in range(max(0, j - cols + w), min(w, j + 1)):
                    a = i - k
                    b = i - l
                    total += dloss_dy[a, b] * kernel[k, l]
            out[i, j] = total
    return out
'''}, expected={"conv_gradient_wrt_input": 0}, diagnosis="b = i - l",
        notes="the course's own slip; on a non-square image gradient ascent then fails with an IndexError"),
    Mistake("kernel_gradient_transposed", "conv_gradients", {"conv_gradient_wrt_kernel": '''
def conv_gradient_wrt_kernel(dloss_dy, img):
    rows, cols = dloss_dy.shape
    h, w = img.shape[0] - rows + 1, img.shape[1] - cols + 1
    grad = torch.zeros(w, h, dtype=img.dtype)
    for k in range(h):
        for l in range(w):
            grad[l, k] = (dloss_dy * img[k:k + rows, l:l + cols]).sum()
    return grad
'''}, expected={"conv_gradient_wrt_kernel": 0}, diagnosis="transposed result"),
    Mistake("forward_difference", "conv_gradients", {"numerical_gradient": '''
def numerical_gradient(f, x, eps=1e-5):
    grad = torch.zeros_like(x)
    base = float(f(x))
    for index in range(x.numel()):
        probe = x.clone()
        probe.view(-1)[index] += eps
        grad.view(-1)[index] = (float(f(probe)) - base) / eps
    return grad
'''}, expected={"numerical_gradient": 0}, diagnosis="forward difference"),
    Mistake("numerical_gradient_edits_x_in_place", "conv_gradients", {"numerical_gradient": '''
def numerical_gradient(f, x, eps=1e-5):
    grad = torch.zeros_like(x)
    flat = x.view(-1)
    for index in range(flat.numel()):
        flat[index] += eps
        plus = float(f(x))
        flat[index] -= 2 * eps
        minus = float(f(x))
        flat[index] += eps
        grad.view(-1)[index] = (plus - minus) / (2 * eps)
    return grad
'''}, expected={"numerical_gradient": 2}, diagnosis="changed x",
        notes="the course's own check: +eps, -2 eps, +eps does not restore x exactly in floating point"),
    Mistake("numerical_gradient_in_float32", "conv_gradients", {"numerical_gradient": '''
def numerical_gradient(f, x, eps=1e-5):
    x32 = x.detach().float().clone()
    grad = torch.zeros_like(x32)
    for index in range(x32.numel()):
        plus, minus = x32.clone(), x32.clone()
        plus.view(-1)[index] += eps
        minus.view(-1)[index] -= eps
        grad.view(-1)[index] = (float(f(plus)) - float(f(minus))) / (2 * eps)
    return grad.to(x.dtype)
'''}, expected={"numerical_gradient": 0}),
    Mistake("missing_zero_grad", "training", {"train_epoch": '''
def train_epoch(model, loader, optimizer, loss_fn, device):
    model.train()
    total, count = 0.0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(targets)
        count += len(targets)
    return total / count
'''}, expected={"train_epoch": 1}, diagnosis="zero_grad",
        notes="the returned loss also differs: the later batches really are trained differently"),
    Mistake("missing_model_train", "training", {"train_epoch": '''
def train_epoch(model, loader, optimizer, loss_fn, device):
    total, count = 0.0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(targets)
        count += len(targets)
    return total / count
'''}, expected={"train_epoch": 1}, diagnosis="model.train()",
        notes="dropout stays off, so parameters and loss differ; the batches are still moved (that point kept)"),
    Mistake("train_epoch_returns_last_batch_loss", "training", {"train_epoch": '''
def train_epoch(model, loader, optimizer, loss_fn, device):
    model.train()
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
    return loss.item()
'''}, expected={"train_epoch": 3}, diagnosis="last batch"),
    Mistake("evaluate_without_eval_mode", "training", {"evaluate": '''
@torch.no_grad()
def evaluate(model, loader, loss_fn, device):
    total, correct, count = 0.0, 0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        logits = model(inputs)
        total += loss_fn(logits, targets).item() * len(targets)
        correct += (logits.argmax(1) == targets).sum().item()
        count += len(targets)
    return total / count, correct / count
'''}, expected={"evaluate": 2}, diagnosis="model.eval()"),
    Mistake("evaluate_mean_of_batch_means", "training", {"evaluate": '''
@torch.no_grad()
def evaluate(model, loader, loss_fn, device):
    model.eval()
    losses, correct, count = [], 0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        logits = model(inputs)
        losses.append(loss_fn(logits, targets).item())
        correct += (logits.argmax(1) == targets).sum().item()
        count += len(targets)
    return sum(losses) / len(losses), correct / count
'''}, expected={"evaluate": 2}, diagnosis="mean of batch means"),
    Mistake("evaluate_without_no_grad", "training", {"evaluate": '''
def evaluate(model, loader, loss_fn, device):
    model.eval()
    total, correct, count = 0.0, 0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        logits = model(inputs)
        total += loss_fn(logits, targets).item() * len(targets)
        correct += (logits.argmax(1) == targets).sum().item()
        count += len(targets)
    return total / count, correct / count
'''}, expected={"evaluate": 2}, diagnosis="torch.no_grad()"),
    Mistake("shift_with_roll", "shifted_mnist", {"shift_images": '''
def shift_images(images, dx, dy):
    return torch.roll(images, shifts=(dy, dx), dims=(-2, -1))
'''}, expected={"shift_images": 0}, diagnosis="wrap-around torch.roll"),
    Mistake("shift_dx_dy_swapped", "shifted_mnist", {"shift_images": '''
def shift_images(images, dx, dy):
    height, width = images.shape[-2:]
    dx, dy = dy, dx
    out = torch.zeros_like(images)
    if abs(dx) >= width or abs(dy) >= height:
        return out
    r0, r1 = max(0, -dy), min(height, height - dy)
    c0, c1 = max(0, -dx), min(width, width - dx)
    out[..., r0 + dy:r1 + dy, c0 + dx:c1 + dx] = images[..., r0:r1, c0:c1]
    return out
'''}, expected={"shift_images": 0}, diagnosis="dx and dy swapped"),
    Mistake("evaluate_shifted_mean_of_batch_means", "shifted_mnist", {"evaluate_shifted": '''
@torch.no_grad()
def evaluate_shifted(model, images, labels, shifts, device, batch_size=256):
    model.eval()
    result = {}
    for dx, dy in shifts:
        shifted = shift_images(images, dx, dy)
        batch_accuracies = []
        for start in range(0, len(labels), batch_size):
            predictions = model(shifted[start:start + batch_size].to(device)).argmax(1).cpu()
            batch_accuracies.append((predictions == labels[start:start + batch_size]).float().mean().item())
        result[(dx, dy)] = sum(batch_accuracies) / len(batch_accuracies)
    return result
'''}, expected={"evaluate_shifted": 1}, diagnosis="mean of batch means"),
    # Doing nothing: zeros of the right shape and dtype everywhere. Robustness and implement-it-yourself checks
    # count only with the right values, so nothing is earned (it was 2 of 11: "avoids conv2d" and "constant
    # image gives zeros").
    Mistake("returns_zeros", "convolution", {
        "compute_convolution_at_position": '''
def compute_convolution_at_position(i, j, img, kernel):
    return torch.zeros((), dtype=img.dtype)
''', "apply_convolution": '''
def apply_convolution(img, kernel):
    return torch.zeros(img.shape[0] - kernel.shape[0] + 1, img.shape[1] - kernel.shape[1] + 1, dtype=img.dtype)
''', "sobel_magnitude": '''
def sobel_magnitude(img):
    return torch.zeros(img.shape[0] - 2, img.shape[1] - 2, dtype=img.dtype)
'''}, extra="SOBEL_X = torch.zeros(3, 3)\nSOBEL_Y = torch.zeros(3, 3)\n",
        expected={"compute_convolution_at_position": 0, "apply_convolution": 0, "sobel_magnitude": 0}),
    Mistake("shift_returns_zeros", "shifted_mnist", {"shift_images": '''
def shift_images(images, dx, dy):
    return torch.zeros_like(images)
'''}, expected={"shift_images": 0}),
]
CATALOGUE.append(
    # .item() / float() in the sum: right values, but a Python float, not the 0-d tensor asked for.
    Mistake("position_returns_a_python_float", "convolution", {"compute_convolution_at_position": '''
def compute_convolution_at_position(i, j, img, kernel):
    total = 0.0
    for k in range(kernel.shape[0]):
        for l in range(kernel.shape[1]):
            total += float(img[i + k, j + l] * kernel[k, l])
    return total
'''}, expected={"compute_convolution_at_position": 2}, diagnosis="got a Python float"))
CATALOGUE += [
    # d2l's train_epoch_ch3: right on a CPU, wrong on a GPU. The batches never reach `device`.
    Mistake("train_epoch_without_to_device", "training", {"train_epoch": '''
def train_epoch(model, loader, optimizer, loss_fn, device):
    model.train()
    total_loss, total_samples = 0.0, 0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(targets)
        total_samples += len(targets)
    return total_loss / total_samples
'''}, expected={"train_epoch": 3}, diagnosis="batches not moved to `device`"),
    Mistake("evaluate_without_to_device", "training", {"evaluate": '''
@torch.no_grad()
def evaluate(model, loader, loss_fn, device):
    model.eval()
    total_loss, correct, total_samples = 0.0, 0, 0
    for inputs, targets in loader:
        logits = model(inputs)
        total_loss += loss_fn(logits, targets).item() * len(targets)
        correct += (logits.argmax(dim=1) == targets).sum().item()
        total_samples += len(targets)
    return total_loss / total_samples, correct / total_samples
'''}, expected={"evaluate": 2}, diagnosis="batches not moved to `device`"),
]
CATALOGUE += [
    # The loss recorded after each update: the image returned is right, the losses are one step late.
    Mistake("maximize_response_loss_after_step", "conv_gradients", {"maximize_response": '''
def maximize_response(kernel, size, steps, lr):
    img = torch.rand(size, dtype=kernel.dtype, device=kernel.device)
    losses = []
    for _ in range(steps):
        response = torch.nn.functional.conv2d(img[None, None], kernel[None, None])[0, 0]
        img = img + lr * conv_gradient_wrt_input(2 * response, kernel)
        losses.append(float((torch.nn.functional.conv2d(img[None, None], kernel[None, None])[0, 0] ** 2).sum()))
    return img, losses
'''}, expected={"maximize_response": 2}, diagnosis="the losses were recorded after each step"),
    # apply_convolution one row short; sobel_magnitude, written right on top of it, keeps its points: the
    # mistake is charged once, on apply_convolution (error carried forward).
    Mistake("apply_convolution_one_row_short", "convolution", {"apply_convolution": '''
def apply_convolution(img, kernel):
    h, w = kernel.shape
    rows, cols = img.shape[0] - h, img.shape[1] - w + 1
    out = torch.zeros(rows, cols, dtype=img.dtype)
    for i in range(rows):
        for j in range(cols):
            out[i, j] = (img[i:i + h, j:j + w] * kernel).sum()
    return out
'''}, expected={"apply_convolution": 0}, diagnosis="got shape"),
]
CATALOGUE += [
    # Ways around "implement it yourself": F.conv2d in another thread, or with the dispatch modes switched off.
    # The library kernels are blocked for every thread during the check, so both lose that point.
    Mistake("conv2d_in_another_thread", "convolution", {"apply_convolution": '''
def apply_convolution(img, kernel):
    import threading
    if kernel.shape[0] > img.shape[0] or kernel.shape[1] > img.shape[1]:
        raise ValueError("kernel larger than image")
    box = {}

    def work():
        box["y"] = torch.nn.functional.conv2d(img[None, None], kernel[None, None])[0, 0]

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return box["y"]
'''}, expected={"apply_convolution": 4}, diagnosis="called a library convolution"),
    Mistake("conv2d_with_dispatch_modes_disabled", "convolution", {"apply_convolution": '''
def apply_convolution(img, kernel):
    from torch.utils._python_dispatch import _disable_current_modes
    if kernel.shape[0] > img.shape[0] or kernel.shape[1] > img.shape[1]:
        raise ValueError("kernel larger than image")
    with _disable_current_modes():
        return torch.nn.functional.conv2d(img[None, None], kernel[None, None])[0, 0]
'''}, expected={"apply_convolution": 4}, diagnosis="called a library convolution"),
    # The input gradient obtained by backward() through a hand-written convolution: nothing was derived.
    Mistake("input_gradient_by_autograd", "conv_gradients", {"conv_gradient_wrt_input": '''
def conv_gradient_wrt_input(dloss_dy, kernel):
    h, w = kernel.shape
    x = torch.zeros(dloss_dy.shape[0] + h - 1, dloss_dy.shape[1] + w - 1, dtype=dloss_dy.dtype, requires_grad=True)
    y = torch.stack([torch.stack([(x[i:i + h, j:j + w] * kernel).sum() for j in range(dloss_dy.shape[1])])
                     for i in range(dloss_dy.shape[0])])
    y.backward(dloss_dy)
    return x.grad.detach()
'''}, expected={"conv_gradient_wrt_input": 0}, diagnosis="derive the gradient by hand"),
]
CATALOGUE += [
    # A centred difference that moves x by eps in place and never puts it back: not a forward difference, and
    # the feedback must not say it is.
    Mistake("centred_difference_without_restoring_x", "conv_gradients", {"numerical_gradient": '''
def numerical_gradient(f, x, eps=1e-5):
    grad = torch.zeros_like(x)
    flat_x, flat_grad = x.view(-1), grad.view(-1)
    for index in range(flat_x.numel()):
        flat_x[index] += eps
        f_plus = float(f(x))
        flat_x[index] -= 2 * eps
        f_minus = float(f(x))
        flat_grad[index] = (f_plus - f_minus) / (2 * eps)
    return grad
'''}, expected={"numerical_gradient": 0}, not_diagnosed="forward difference"),
]
CATALOGUE.append(
    # eps hard-coded: right for the default eps only.
    Mistake("numerical_gradient_ignores_eps", "conv_gradients", {"numerical_gradient": '''
def numerical_gradient(f, x, eps=1e-5):
    grad = torch.zeros_like(x)
    probe = x.detach().clone()
    flat_probe, flat_grad = probe.view(-1), grad.view(-1)
    for index in range(flat_probe.numel()):
        original = flat_probe[index].item()
        flat_probe[index] = original + 1e-5
        f_plus = float(f(probe))
        flat_probe[index] = original - 1e-5
        f_minus = float(f(probe))
        flat_probe[index] = original
        flat_grad[index] = (f_plus - f_minus) / (2 * 1e-5)
    return grad
'''}, expected={"numerical_gradient": 0}, diagnosis="Use the eps argument"))
CATALOGUE += [
    # shift_images that raises on a negative shift: charged on shift_images only; evaluate_shifted keeps its points.
    Mistake("shift_images_raises_on_negative_shifts", "shifted_mnist", {"shift_images": '''
def shift_images(images, dx, dy):
    if dx < 0 or dy < 0:
        raise ValueError("negative shifts are not supported")
    height, width = images.shape[-2:]
    out = torch.zeros_like(images)
    if dx >= width or dy >= height:
        return out
    out[..., dy:, dx:] = images[..., :height - dy, :width - dx]
    return out
'''}, expected={"shift_images": 1}, diagnosis="negative shifts are not supported"),
    # No ValueError for a kernel larger than the image: the text asks for one, and a test checks it.
    Mistake("no_value_error_for_a_large_kernel", "convolution", {"apply_convolution": '''
def apply_convolution(img, kernel):
    h, w = kernel.shape
    rows, cols = img.shape[0] - h + 1, img.shape[1] - w + 1
    out = torch.zeros(max(rows, 0), max(cols, 0), dtype=img.dtype)
    for i in range(rows):
        for j in range(cols):
            out[i, j] = (img[i:i + h, j:j + w] * kernel).sum()
    return out
'''}, expected={"apply_convolution": 4}, diagnosis="expected a ValueError"),
]
CATALOGUE.append(
    # The Keras tutorial's version of the network: a ReLU after the third convolution. Same parameters, other outputs.
    Mistake("relu_after_third_conv", "training", {"build_cnn": '''
def build_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, kernel_size=3), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(576, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )
'''}, expected={"build_cnn": 2}, diagnosis="a ReLU after the third convolution"))
CATALOGUE += [
    # deconvolution: the adjoint of the blur taken with k itself. Invisible with the symmetric Gaussian.
    Mistake("adjoint_not_mirrored", "deconvolution", {"blur_distance_gradient": '''
def blur_distance_gradient(x, y, kernel):
    residual = blur(x, kernel) - y
    return 2 / y.shape[0] * blur(residual, kernel)
'''}, expected={"blur_distance_gradient": 3}, diagnosis="the kernel not mirrored in the adjoint"),
    Mistake("gradient_missing_factor_two", "deconvolution", {"blur_distance_gradient": '''
def blur_distance_gradient(x, y, kernel):
    residual = blur(x, kernel) - y
    return blur(residual, kernel.flip(0)) / y.shape[0]
'''}, expected={"blur_distance_gradient": 0}, diagnosis="a missing factor 2"),
    Mistake("gradient_missing_one_over_n", "deconvolution", {"blur_distance_gradient": '''
def blur_distance_gradient(x, y, kernel):
    residual = blur(x, kernel) - y
    return 2 * blur(residual, kernel.flip(0))
'''}, expected={"blur_distance_gradient": 0}, diagnosis="a missing 1 / N"),
    # "valid" padding: the blur is charged; the gradient and the metric, graded with the course's blur, are not.
    Mistake("blur_valid_padding", "deconvolution", {"blur": '''
def blur(x, kernel):
    size, taps = x.shape[-1], kernel.shape[0]
    out = torch.zeros(*x.shape[:-1], size - taps + 1, dtype=x.dtype)
    for m in range(taps):
        out = out + kernel[m] * x[..., m:m + size - taps + 1]
    return out
'''}, expected={"blur": 0}, diagnosis='"valid" instead of "same"'),
    Mistake("blur_with_conv1d", "deconvolution", {"blur": '''
def blur(x, kernel):
    if kernel.shape[0] % 2 == 0:
        raise ValueError("the kernel needs an odd length")
    flat = x.reshape(-1, 1, x.shape[-1])
    return torch.nn.functional.conv1d(flat, kernel[None, None], padding=kernel.shape[0] // 2).reshape(x.shape)
'''}, expected={"blur": 3}, diagnosis="library convolution"),
    Mistake("blur_distance_gradient_by_autograd", "deconvolution", {"blur_distance_gradient": '''
def blur_distance_gradient(x, y, kernel):
    x = x.detach().clone().requires_grad_()
    (((blur(x, kernel) - y) ** 2).sum() / y.shape[0]).backward()
    return x.grad
'''}, expected={"blur_distance_gradient": 0}, diagnosis="derive the gradient by hand"),
    # Momentum on the last gradient only: right without momentum, wrong with it.
    Mistake("momentum_on_the_last_gradient", "deconvolution", {"gradient_descent": '''
def gradient_descent(loss_and_gradient, x0, lr, steps, momentum=0.0):
    x, previous, losses = x0.clone(), torch.zeros_like(x0), []
    for _ in range(steps):
        loss, gradient = loss_and_gradient(x)
        losses.append(float(loss))
        x = x - lr * (gradient + momentum * previous)
        previous = gradient
    return x, losses
'''}, expected={"gradient_descent": 3}, diagnosis="momentum applied to the last gradient"),
    Mistake("metric_applied_to_x", "deconvolution", {"metric_gradient": '''
def metric_gradient(x, y, kernel, lam):
    identity = torch.eye(x.shape[0], dtype=x.dtype)
    matrix = blur(identity, kernel).T
    metric = matrix.T @ matrix + lam * identity
    return blur_distance_gradient(torch.linalg.solve(metric, x), y, kernel)
'''}, expected={"metric_gradient": 0}, diagnosis="the metric applied to x instead of to the gradient"),
    # B^T for B: the same for a symmetric kernel, so only the asymmetric test sees it.
    Mistake("blur_matrix_transposed", "deconvolution", {"metric_gradient": '''
def metric_gradient(x, y, kernel, lam):
    identity = torch.eye(x.shape[0], dtype=x.dtype)
    matrix = blur(identity, kernel)
    metric = matrix.T @ matrix + lam * identity
    return torch.linalg.solve(metric, blur_distance_gradient(x, y, kernel))
'''}, expected={"metric_gradient": 2}, diagnosis="the blur matrix transposed"),
]
CATALOGUE += [
    # what_networks_see: counting [p, t] instead of [t, p]. The integer-matrix test needs the values, so it goes too.
    Mistake("confusion_rows_and_columns_swapped", "what_networks_see", {"confusion_matrix": '''
@torch.no_grad()
def confusion_matrix(model, loader, num_classes, device):
    model.eval()
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for images, labels in loader:
        predictions = model(images.to(device)).argmax(dim=1).cpu()
        for truth, guess in zip(labels.tolist(), predictions.tolist()):
            matrix[guess, truth] += 1
    return matrix
'''}, expected={"confusion_matrix": 1}, diagnosis="rows and columns swapped"),
    Mistake("confusion_in_train_mode", "what_networks_see", {"confusion_matrix": '''
@torch.no_grad()
def confusion_matrix(model, loader, num_classes, device):
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for images, labels in loader:
        predictions = model(images.to(device)).argmax(dim=1).cpu()
        for truth, guess in zip(labels.tolist(), predictions.tolist()):
            matrix[truth, guess] += 1
    return matrix
'''}, expected={"confusion_matrix": 3}, diagnosis="Call model.eval() first"),
    # The top row drawn over the whole canvas and the item clipped where it overhangs.
    Mistake("canvas_cuts_the_item_off", "what_networks_see", {"place_on_canvas": '''
def place_on_canvas(images, canvas_size=(56, 56), generator=None):
    height, width = images.shape[-2:]
    canvas_h, canvas_w = canvas_size
    canvas = images.new_zeros(*images.shape[:-2], canvas_h, canvas_w)
    for index in range(len(images)):
        top = int(torch.randint(0, canvas_h, (1,), generator=generator))
        left = int(torch.randint(0, canvas_w, (1,), generator=generator))
        piece = images[index][..., :canvas_h - top, :canvas_w - left]
        canvas[index, ..., top:top + piece.shape[-2], left:left + piece.shape[-1]] = piece
    return canvas
'''}, expected={"place_on_canvas": 1}, diagnosis="the item cut off at the border"),
    Mistake("canvas_wraps_around", "what_networks_see", {"place_on_canvas": '''
def place_on_canvas(images, canvas_size=(56, 56), generator=None):
    height, width = images.shape[-2:]
    canvas_h, canvas_w = canvas_size
    padded = images.new_zeros(*images.shape[:-2], canvas_h, canvas_w)
    padded[..., :height, :width] = images
    shifts = torch.randint(0, canvas_h, (len(images), 2), generator=generator)
    return torch.stack([torch.roll(padded[i], (int(dy), int(dx) % canvas_w), dims=(-2, -1))
                        for i, (dy, dx) in enumerate(shifts)])
'''}, expected={"place_on_canvas": 1}, diagnosis="wrapped around the border"),
    Mistake("canvas_misses_the_last_place", "what_networks_see", {"place_on_canvas": '''
def place_on_canvas(images, canvas_size=(56, 56), generator=None):
    height, width = images.shape[-2:]
    canvas_h, canvas_w = canvas_size
    tops = torch.randint(0, canvas_h - height, (len(images),), generator=generator)
    lefts = torch.randint(0, canvas_w - width, (len(images),), generator=generator)
    canvas = images.new_zeros(*images.shape[:-2], canvas_h, canvas_w)
    for index, (top, left) in enumerate(zip(tops.tolist(), lefts.tolist())):
        canvas[index, ..., top:top + height, left:left + width] = images[index]
    return canvas
'''}, expected={"place_on_canvas": 3}, diagnosis="the last row or column never used"),
    Mistake("canvas_ignores_the_generator", "what_networks_see", {"place_on_canvas": '''
def place_on_canvas(images, canvas_size=(56, 56), generator=None):
    height, width = images.shape[-2:]
    canvas_h, canvas_w = canvas_size
    tops = torch.randint(0, canvas_h - height + 1, (len(images),))
    lefts = torch.randint(0, canvas_w - width + 1, (len(images),))
    canvas = images.new_zeros(*images.shape[:-2], canvas_h, canvas_w)
    for index, (top, left) in enumerate(zip(tops.tolist(), lefts.tolist())):
        canvas[index, ..., top:top + height, left:left + width] = images[index]
    return canvas
'''}, expected={"place_on_canvas": 3}, diagnosis="the random source ignored"),
    Mistake("misclassified_top_probability_only", "what_networks_see", {"misclassified": '''
@torch.no_grad()
def misclassified(model, loader, true_class, predicted_class, device, limit=16):
    model.eval()
    found_images, found_probabilities = [], []
    for images, labels in loader:
        probabilities = F.softmax(model(images.to(device)), dim=1).cpu()
        chosen = (labels.cpu() == true_class) & (probabilities.argmax(dim=1) == predicted_class)
        found_images.append(images.cpu()[chosen])
        found_probabilities.append(probabilities[chosen].max(dim=1).values)
    return torch.cat(found_images)[:limit], torch.cat(found_probabilities)[:limit]
'''}, expected={"misclassified": 1}, diagnosis="the probability of the predicted class only"),
]
# generate_image's mistakes, each as one change to this plain version of it. Not the reference itself: the
# reference takes the gradient with torch.autograd.grad on the image alone, so an optimizer over the weights
# would move nothing there, while a student who calls backward() really does update the weights.
ASCENT = '''
def generate_image(model, target, *, image_shape, mode="class", steps=100, lr=0.1, start="zeros", seed=0,
                   layer=None, optimizer="adam"):
    device = next(model.parameters()).device
    image = (torch.zeros(1, *image_shape) if start == "zeros"
             else 0.1 * torch.randn(1, *image_shape, generator=torch.Generator().manual_seed(seed)))
    image = image.to(device).requires_grad_()
    step = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[optimizer]([image], lr=lr)
    captured = {}
    handle = (layer.register_forward_hook(lambda module, inputs, output: captured.update(output=output))
              if mode == "neuron" else None)
    was_training = model.training
    model.eval()
    objectives = []
    for _ in range(steps):
        step.zero_grad()
        output = model(image)
        objective = (F.log_softmax(output, dim=1)[0, target] if mode == "class" else captured["output"][0][target])
        objectives.append(objective.item())
        (-objective).backward()
        step.step()
    handle.remove() if handle is not None else None
    model.train(was_training)
    return image.detach()[0].cpu(), objectives
'''


def ascent_with(*changes: tuple[str, str]) -> dict[str, str]:
    source = ASCENT
    for old, new in changes:
        assert old in source, old
        source = source.replace(old, new)
    return {"generate_image": source}


CATALOGUE += [
    Mistake("ascent_on_the_weights", "what_networks_see", ascent_with(
        ("[optimizer]([image], lr=lr)", "[optimizer](model.parameters(), lr=lr)")),
        expected={"generate_image": 1}, diagnosis="the model's weights changed"),
    Mistake("ascent_leaves_its_hook", "what_networks_see", ascent_with(
        ("    handle.remove() if handle is not None else None\n", "")),
        expected={"generate_image": 4}, diagnosis="a forward hook left registered"),
    Mistake("ascent_on_the_probability", "what_networks_see", ascent_with(
        ("F.log_softmax(output, dim=1)[0, target]", "F.softmax(output, dim=1)[0, target]")),
        expected={"generate_image": 3}, diagnosis="the probability maximised instead of its logarithm"),
    Mistake("ascent_ignores_the_seed", "what_networks_see", ascent_with(
        ("torch.randn(1, *image_shape, generator=torch.Generator().manual_seed(seed))",
         "torch.randn(1, *image_shape)")),
        expected={"generate_image": 4}, diagnosis="the random source ignored"),
    Mistake("ascent_leaves_the_model_in_eval_mode", "what_networks_see", ascent_with(
        ("    model.train(was_training)\n", "")),
        expected={"generate_image": 4}, diagnosis="left in eval mode"),
]
CATALOGUE += [
    # From public code: a descent that stops once the gradient's signed sum is tiny (a zero-sum gradient is not a
    # zero gradient; on the notebook's own experiment it stops after 2 steps).
    Mistake("descent_stops_on_a_tiny_gradient_sum", "deconvolution", {"gradient_descent": '''
def gradient_descent(loss_and_gradient, x0, lr, steps, momentum=0.0):
    x, velocity, losses = x0.clone(), torch.zeros_like(x0), []
    for _ in range(steps):
        loss, gradient = loss_and_gradient(x)
        if abs(float(gradient.sum())) < 1e-6:
            break
        losses.append(float(loss))
        velocity = momentum * velocity + gradient
        x = x - lr * velocity
    return x, losses
'''}, expected={"gradient_descent": 3}, diagnosis="it stopped early"),
    # From public code: an even kernel padded on one side instead of the ValueError the notebook asks for.
    Mistake("blur_pads_an_even_kernel", "deconvolution", {"blur": '''
def blur(x, kernel):
    taps = kernel.shape[0]
    left, right = (taps - 1) // 2, taps // 2
    size = x.shape[-1]
    padded = torch.zeros(*x.shape[:-1], size + left + right, dtype=x.dtype)
    padded[..., left:left + size] = x
    out = torch.zeros_like(x)
    for m in range(taps):
        out = out + kernel[m] * padded[..., m:m + size]
    return out
'''}, expected={"blur": 3}, diagnosis="expected a ValueError"),
]


# optimization's mistakes, each as one change to the reference function (or to its shared pooling helper).
def optimization_with(function: str, *changes: tuple[str, str]) -> dict[str, str]:
    import ast

    from submissions import reference_source

    source = reference_source("optimization")
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == function)
    text = ast.get_source_segment(source, node)
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    return {function: text}


CATALOGUE += [
    Mistake("conv_output_size_without_padding", "optimization", optimization_with(
        "conv2d", ("conv_output_size(height, kernel_h, stride_h, pad_h, dil_h)",
                   "conv_output_size(height, kernel_h, stride_h, 0, dil_h)"),
        ("conv_output_size(width, kernel_w, stride_w, pad_w, dil_w)",
         "conv_output_size(width, kernel_w, stride_w, 0, dil_w)")),
        expected={"conv2d": 0}, diagnosis="an output size without the padding"),
    Mistake("conv2d_calls_the_library", "optimization", {"conv2d": '''
def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    if x.shape[1] % groups or x.shape[1] // groups != weight.shape[1]:
        raise ValueError("groups must divide the input channels")
    out = torch.nn.functional.conv2d(x, weight, bias, stride, padding, dilation, groups)
    if out.numel() == 0:
        raise ValueError("empty output")
    return out
'''}, expected={"conv2d": 3}, diagnosis="which this check blocks",
        notes="torch raises its own RuntimeError on the empty output, not the ValueError asked for"),
    Mistake("pool_stride_one_by_default", "optimization", optimization_with(
        "_pool_windows", ("_pair(kernel_size if stride is None else stride)", "_pair(1 if stride is None else stride)")),
        expected={"max_pool2d": 0, "avg_pool2d": 0}, diagnosis="a default stride of 1",
        notes="the shared helper: both pools take the stride from it"),
    Mistake("max_pool_pads_with_zeros", "optimization", optimization_with(
        "max_pool2d", ('float("-inf")', "0.0")),
        expected={"max_pool2d": 1}, diagnosis="the padding filled with zeros"),
    Mistake("average_excludes_the_padding", "optimization", {"avg_pool2d": '''
def avg_pool2d(x, kernel_size, stride=None, padding=0):
    total = sum(_pool_windows(x, kernel_size, stride, padding, 0.0))
    counts = sum(_pool_windows(torch.ones_like(x), kernel_size, stride, padding, 0.0))
    return total / counts
'''}, expected={"avg_pool2d": 1}, diagnosis="the padding left out of the average"),
    Mistake("max_pool_calls_the_library", "optimization", {"max_pool2d": '''
def max_pool2d(x, kernel_size, stride=None, padding=0):
    return torch.nn.functional.max_pool2d(x, kernel_size, stride, padding)
'''}, expected={"max_pool2d": 2}, diagnosis="a library pooling"),
    Mistake("momentum_buffer_from_zero", "optimization", optimization_with(
        "sgd_step", ("buffer = grad.clone()", "buffer = torch.zeros_like(grad).add(grad, alpha=1 - dampening)")),
        expected={"sgd_step": 2}, diagnosis="a momentum buffer started at zero"),
    Mistake("nesterov_as_plain_momentum", "optimization", optimization_with(
        "sgd_step", ("grad.add(buffer, alpha=momentum) if nesterov else buffer", "buffer")),
        expected={"sgd_step": 2}, diagnosis="Nesterov ignored"),
    Mistake("weight_decay_after_momentum", "optimization", {"sgd_step": '''
def sgd_step(param, grad, buffer, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    if momentum == 0:
        return param - lr * (grad + weight_decay * param), None
    buffer = grad.clone() if buffer is None else momentum * buffer + (1 - dampening) * grad
    direction = grad + momentum * buffer if nesterov else buffer
    return param - lr * (direction + weight_decay * param), buffer
'''}, expected={"sgd_step": 2}, diagnosis="the weight decay added after the momentum"),
    Mistake("sgd_calls_torch_optim", "optimization", {"sgd_step": '''
def sgd_step(param, grad, buffer, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    param = param.clone().requires_grad_()
    optimizer = torch.optim.SGD([param], lr=lr, momentum=momentum, dampening=dampening,
                                weight_decay=weight_decay, nesterov=nesterov)
    if buffer is not None:
        optimizer.state[param]["momentum_buffer"] = buffer.clone()
    param.grad = grad.clone()
    optimizer.step()
    return param.detach(), optimizer.state[param].get("momentum_buffer")
'''}, expected={"sgd_step": 3}, diagnosis="torch.optim"),
    Mistake("adam_without_bias_correction", "optimization", optimization_with(
        "adam_step", ("bias_correction1, bias_correction2 = 1 - beta1 ** step, 1 - beta2 ** step",
                      "bias_correction1, bias_correction2 = 1.0, 1.0")),
        expected={"adam_step": 0}, diagnosis="no bias correction"),
    Mistake("adam_step_counter_from_zero", "optimization", optimization_with(
        "adam_step", ("step = state[\"step\"] + 1", "step = state[\"step\"]"),
        ("return new_param, {\"step\": step,", "return new_param, {\"step\": step + 1,")),
        expected={"adam_step": 0}, diagnosis="the step counter starting at 0"),
    Mistake("adam_eps_inside_the_square_root", "optimization", optimization_with(
        "adam_step", ("denom = (exp_avg_sq.sqrt() / bias_correction2 ** 0.5).add(eps)",
                      "denom = (exp_avg_sq / bias_correction2 + eps).sqrt()")),
        expected={"adam_step": 2}, diagnosis="eps inside the square root"),
    Mistake("plateau_patience_off_by_one", "optimization", optimization_with(
        "plateau_learning_rates", ("if bad_steps > patience:", "if bad_steps >= patience:")),
        expected={"plateau_learning_rates": 0}, diagnosis="patience off by one"),
    Mistake("plateau_threshold_ignored", "optimization", optimization_with(
        "plateau_learning_rates",
        ("return value < (best * (1 - threshold) if threshold_mode == \"rel\" else best - threshold)",
         "return value < best"),
        ("return value > (best * (1 + threshold) if threshold_mode == \"rel\" else best + threshold)",
         "return value > best")),
        expected={"plateau_learning_rates": 0}, diagnosis="the threshold ignored"),
    Mistake("plateau_threshold_always_absolute", "optimization", optimization_with(
        "plateau_learning_rates",
        ("return value < (best * (1 - threshold) if threshold_mode == \"rel\" else best - threshold)",
         "return value < best - threshold"),
        ("return value > (best * (1 + threshold) if threshold_mode == \"rel\" else best + threshold)",
         "return value > best + threshold")),
        expected={"plateau_learning_rates": 2}, diagnosis="an absolute threshold where the mode is 'rel'",
        notes="near a loss of 1 the two thresholds agree, so the public check passes"),
    Mistake("plateau_cooldown_ignored", "optimization", optimization_with(
        "plateau_learning_rates", ("cooldown_left, bad_steps = cooldown, 0", "bad_steps = 0")),
        expected={"plateau_learning_rates": 3}, diagnosis="the cooldown ignored"),
    Mistake("plateau_min_lr_ignored", "optimization", optimization_with(
        "plateau_learning_rates", ("new_lr = max(lr * factor, min_lr)", "new_lr = lr * factor")),
        expected={"plateau_learning_rates": 3}, diagnosis="min_lr ignored"),
    Mistake("line_gradient_never_zeroed", "optimization", optimization_with(
        "fit_line", ("        params.grad.zero_()\n", "")),
        expected={"fit_line": 0}, diagnosis="the gradient never zeroed"),
    Mistake("line_params_rebound", "optimization", optimization_with(
        "fit_line", ("        with torch.no_grad():\n            params -= learning_rate * params.grad\n"
                     "        params.grad.zero_()\n",
                     "        params = (params - learning_rate * params.grad).detach().requires_grad_()\n")),
        expected={"fit_line": 2}, diagnosis="`params = params - lr * grad`"),
    Mistake("scheduler_stepped_before_the_optimizer", "optimization", optimization_with(
        "train_module", ("        optimizer.step()\n        scheduler.step(loss.item())",
                         "        scheduler.step(loss.item())\n        optimizer.step()")),
        expected={"train_module": 0}, diagnosis="the scheduler stepped before the optimizer"),
    # The window's span left out of the size (h taps, not d (h - 1) + 1), in code that sizes its zero buffer from
    # the output it expects, so the slices never run off the end: a larger output comes back, not an IndexError.
    Mistake("conv_output_size_without_dilation", "optimization", optimization_with(
        "conv2d", ("conv_output_size(height, kernel_h, stride_h, pad_h, dil_h)",
                   "conv_output_size(height, kernel_h, stride_h, pad_h)"),
        ("conv_output_size(width, kernel_w, stride_w, pad_w, dil_w)", "conv_output_size(width, kernel_w, stride_w, pad_w)"),
        ("padded = x.new_zeros(batch, channels, height + 2 * pad_h, width + 2 * pad_w)",
         "padded = x.new_zeros(batch, channels, max(height + 2 * pad_h, stride_h * (out_h - 1) + dil_h * (kernel_h - 1) + 1),\n"
         "                          max(width + 2 * pad_w, stride_w * (out_w - 1) + dil_w * (kernel_w - 1) + 1))")),
        expected={"conv2d": 0}, diagnosis="an output size without the dilation"),
]

CATALOGUE += [
    # Issue 33, item 6: one random place, then every place in turn. The counts are uniform, the canvases are
    # reproducible and differ per seed, but consecutive places are not independent (the sequence has period 12).
    Mistake("canvas_places_in_turn", "what_networks_see", {"place_on_canvas": '''
def place_on_canvas(images, canvas_size=(56, 56), generator=None):
    height, width = images.shape[-2:]
    canvas_h, canvas_w = canvas_size
    rows, cols = canvas_h - height + 1, canvas_w - width + 1
    start = int(torch.randint(0, rows * cols, (1,), generator=generator))
    canvas = images.new_zeros(*images.shape[:-2], canvas_h, canvas_w)
    for index in range(len(images)):
        top, left = divmod((start + index) % (rows * cols), cols)
        canvas[index, ..., top:top + height, left:left + width] = images[index]
    return canvas
'''}, expected={"place_on_canvas": 3}, diagnosis="not drawn independently"),
]
