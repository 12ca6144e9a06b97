"""A numpy reference for dense networks with Keras semantics: forward pass, backward pass, optimizer steps.

The third column of a parity check, written out as the study notes (section 2) describe training: the loss,
its gradient by the chain rule layer by layer from the output back (backpropagation), then an update of every
weight against its gradient. Keras 3 details followed here, with their source (keras/src, Keras 3.15):

- softmax / sigmoid outputs: cross-entropy is computed from the logits, without the 1e-7 clipping
  (`backend/tensorflow/nn.py:1262-1295, 1362-1366, 1478-1481`);
- losses average over the batch ("sum_over_batch_size"); L1/L2 penalties are added once, unscaled;
- `ops.cast(python_float, dtype)` goes through a float32 tensor, so the hyper-parameters Keras casts that way
  (SGD momentum, Adam betas in the bias correction, AdamW weight decay, Adagrad's initial accumulator, L1L2
  factors) are float32-rounded even for float64 weights; the others are used at python (float64) precision;
- the learning rate is a `floatx` variable (`optimizers/base_optimizer.py:184-191`): floatx == dtype is assumed.
"""

import math

import numpy as np
from scipy.special import erf, expit

from harness.core import registry, schedules, shapes
from harness.core.reference_optimizers import OPTIMIZERS, clip_gradients, tf_cast

LAYER_TYPES = ("dense", "activation", "dropout", "flatten")
_LOGITS_ACTIVATION = {"binary_crossentropy": "sigmoid", "categorical_crossentropy": "softmax"}


# ------------------------------------------------------------------------------------------ activations
# name -> (value(z), vjp(z, a, g)): a = value(z); g = dL/da; vjp returns dL/dz. All (..., units).

def _pointwise(derivative):
    return lambda z, a, g: g * derivative(z, a)


def _softmax(z):
    exp = np.exp(z - z.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def _log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


_SLOPE, _ALPHA = registry.LEAKY_RELU_NEGATIVE_SLOPE, registry.ELU_ALPHA
_SQRT2, _SQRT2PI = math.sqrt(2), math.sqrt(2 * math.pi)  # python floats: numpy keeps the array's dtype

ACTIVATIONS = {
    "linear": (lambda z: z, lambda z, a, g: g),
    "relu": (lambda z: np.maximum(z, 0), _pointwise(lambda z, a: z > 0)),  # relu'(0) = 0, as TensorFlow's ReluGrad
    "sigmoid": (expit, _pointwise(lambda z, a: a * (1 - a))),
    "tanh": (np.tanh, _pointwise(lambda z, a: 1 - a * a)),
    "softmax": (_softmax, lambda z, a, g: a * (g - (g * a).sum(axis=-1, keepdims=True))),
    "leaky_relu": (lambda z: np.where(z > 0, z, _SLOPE * z), lambda z, a, g: np.where(z > 0, g, _SLOPE * g)),
    "elu": (lambda z: np.where(z > 0, z, _ALPHA * np.expm1(np.minimum(z, 0))),
            lambda z, a, g: np.where(z > 0, g, g * _ALPHA * np.exp(np.minimum(z, 0)))),
    "gelu": (lambda z: 0.5 * z * (1 + erf(z / _SQRT2)),
             _pointwise(lambda z, a: 0.5 * (1 + erf(z / _SQRT2)) + z * np.exp(-0.5 * z * z) / _SQRT2PI)),
    "softplus": (lambda z: np.logaddexp(0, z), _pointwise(lambda z, a: expit(z))),
    # d/dz_j of z_i - logsumexp(z) is delta_ij - softmax_j: g - softmax * sum(g), softmax = exp(output)
    "log_softmax": (_log_softmax, lambda z, a, g: g - np.exp(a) * g.sum(axis=-1, keepdims=True)),
}


# ----------------------------------------------------------------------------------------------- losses
# name -> (takes logits, fn(prediction, target) -> (per-sample losses (N,), d mean loss / d prediction)).
# prediction and target (..., K); Keras reduces the last axis per sample, then averages the rest
# ("sum_over_batch_size"; with class weights sum(w * loss) / N).

def _mse(prediction, target):
    error = prediction - target
    return np.square(error).mean(axis=-1), 2 * error / error.size


def _mae(prediction, target):
    error = prediction - target
    return np.abs(error).mean(axis=-1), np.sign(error) / error.size  # |x|'(0) = 0, as TensorFlow


def _binary_crossentropy(logits, target):
    """tf.nn.sigmoid_cross_entropy_with_logits: max(z, 0) - z y + log(1 + exp(-|z|))."""
    values = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
    return values.mean(axis=-1), (expit(logits) - target) / logits.size


def _categorical_crossentropy(logits, target):
    """tf.nn.softmax_cross_entropy_with_logits; target rows are distributions (one-hot), so the gradient is p - y."""
    log_softmax = _log_softmax(logits)
    values = -(target * log_softmax).sum(axis=-1)
    return values, (np.exp(log_softmax) - target) / values.size


LOSSES = {
    "mse": (False, _mse),
    "mae": (False, _mae),
    "binary_crossentropy": (True, _binary_crossentropy),
    "categorical_crossentropy": (True, _categorical_crossentropy),
}


# -------------------------------------------------------------------------------------------- the model

def supports(spec) -> tuple[bool, str]:
    """(True, "") when `Reference` can run this Spec, else (False, a one-line reason)."""
    layers = spec.model.layers
    for index, layer in enumerate(layers):
        if layer.type not in LAYER_TYPES:
            return False, f"layer {index} is {layer.type!r}; the reference has {', '.join(LAYER_TYPES)}"
        if getattr(layer, "activation", "linear") not in ACTIVATIONS:
            return False, f"layer {index}: activation {layer.activation!r} has no reference formula"
    if spec.loss not in LOSSES:
        return False, f"loss {spec.loss!r} is not one of {', '.join(LOSSES)}"
    if spec.optimizer.type not in OPTIMIZERS:
        return False, f"optimizer {spec.optimizer.type!r} is not one of {', '.join(OPTIMIZERS)}"
    if schedules.per_epoch(spec.optimizer) or getattr(spec.optimizer.schedule, "type", "") == "reduce_on_plateau":
        return False, "the reference steps per batch only: a schedule with step: epoch or reduce_on_plateau"
    needed = _LOGITS_ACTIVATION.get(spec.loss)
    if needed and getattr(layers[-1], "activation", None) != needed:
        return False, f"{spec.loss} needs a last dense or activation layer with activation {needed!r}"
    return True, ""


class Reference:
    """A dense network of `spec` (a harness Spec) with `weights` in the canonical layout, computed in `dtype`.

    weights: per dense layer its kernel (in, units) and, with use_bias, its bias (units,), in layer order.
    """

    def __init__(self, spec, weights: list[np.ndarray], dtype=np.float32, class_weights=None):
        ok, reason = supports(spec)
        if not ok:
            raise ValueError(f"The reference cannot run this spec: {reason}")
        self.spec, self.dtype = spec, np.dtype(dtype)
        # Keras makes sample weights in floatx (float32), then casts them to the loss' dtype
        self.class_weights = None if class_weights is None else np.float32(class_weights).astype(self.dtype)
        self._layers = spec.model.layers
        expected, self._regularizers = self._weight_layout(spec.model)
        received = [tuple(np.shape(w)) for w in weights]
        if received != expected:
            raise ValueError(f"Expected weights of shapes {expected}; received {received}")
        self._weights = [np.array(w, dtype=self.dtype) for w in weights]
        self._slots = [{} for _ in weights]
        self.iterations = 0

    @staticmethod
    def _weight_layout(model):
        """[(in, units), (units,), ...] and the regularizer (or None) of each weight."""
        layout, regularizers = [], []
        for info, layer in zip(shapes.infer(model), model.layers):
            if layer.type == "dense":
                layout.append((info.input_shape[-1], layer.units))
                regularizers.append(layer.kernel_regularizer)
                if layer.use_bias:
                    layout.append((layer.units,))
                    regularizers.append(layer.bias_regularizer)
        return layout, regularizers

    @property
    def weights(self) -> list[np.ndarray]:
        """Copies of the current weights, canonical order and shapes."""
        return [w.copy() for w in self._weights]

    def _layer_weights(self):
        """Per layer, the list of its weights (views into the flat list)."""
        position = 0
        for layer in self._layers:
            count = (1 + layer.use_bias) if layer.type == "dense" else 0
            yield self._weights[position:position + count]
            position += count

    def _run(self, x, masks, training):
        """Per layer (input, pre-activation z or None, output, dropout mask or None)."""
        dropouts = sum(layer.type == "dropout" for layer in self._layers)
        if training and dropouts and (masks is None or len(masks) != dropouts):
            raise ValueError(f"Training needs one mask per dropout layer ({dropouts}); received "
                             f"{'none' if masks is None else len(masks)}")
        masks = iter(masks or [])
        records, x = [], np.asarray(x, dtype=self.dtype)
        for layer, params in zip(self._layers, self._layer_weights()):
            z = mask = None
            if layer.type == "dense":
                z = x @ params[0] + params[1] if layer.use_bias else x @ params[0]  # (..., units)
                out = ACTIVATIONS[layer.activation][0](z)
            elif layer.type == "activation":
                z, out = x, ACTIVATIONS[layer.activation][0](x)
            elif layer.type == "dropout" and training:
                mask = np.asarray(next(masks), dtype=self.dtype)
                if mask.shape != x.shape:
                    raise ValueError(f"Dropout layer {len(records)} needs a mask of shape {x.shape}; "
                                     f"received {mask.shape}")
                out = x * mask / (1 - layer.rate)
            elif layer.type == "flatten":
                out = x.reshape(len(x), -1)
            else:  # dropout in inference
                out = x
            records.append((x, z, out, mask))
            x = out
        return records

    def forward(self, x: np.ndarray, masks=None, training: bool = False) -> list[np.ndarray]:
        """Every layer's output in order, channels last.

        x: (N, *input_shape). masks: in training, one 0/1 array per dropout layer, the shape of its input;
        output = input * mask / (1 - rate) (Keras' rate-0 dropout is the identity: pass ones).
        """
        return [out for _, _, out, _ in self._run(x, masks, training)]

    def _target(self, y, like):
        """Labels as an array shaped like the prediction: integer classes become one-hot, (N,) becomes (N, 1)."""
        y = np.asarray(y)
        if self.spec.loss == "categorical_crossentropy" and np.issubdtype(y.dtype, np.integer):
            return np.eye(like.shape[-1], dtype=self.dtype)[y.reshape(like.shape[:-1])]
        if y.size != like.size:
            raise ValueError(f"Labels of shape {y.shape} do not fit predictions of shape {like.shape}")
        return y.astype(self.dtype).reshape(like.shape)

    def _smoothed(self, target):
        """training.label_smoothing as Keras applies it, python floats in the tensors' dtype: y (1 - s) + s / K
        (binary: y (1 - s) + 0.5 s)."""
        s, kind = self.spec.training.label_smoothing, self.dtype.type
        if not s:
            return target
        share = kind(0.5 * s) if self.spec.loss == "binary_crossentropy" else kind(s) / kind(target.shape[-1])
        return target * kind(1.0 - s) + share

    def _labels(self, y):
        """Class indices as Keras' class_weight reads them: integers, one-hot argmax, a binary label rounded."""
        y = np.asarray(y)
        if np.issubdtype(y.dtype, np.integer):
            return y.reshape(-1)
        return np.round(y).astype(np.int64).reshape(-1) if y.shape[-1] == 1 else y.argmax(-1)

    def _backward(self, records, grad, from_logits):
        """Chain rule from the last layer back: grad is dL/d(output), or dL/dz of the last layer (from_logits)."""
        grads, layer_weights = [], list(self._layer_weights())
        for index in reversed(range(len(self._layers))):
            layer, (x, z, out, mask) = self._layers[index], records[index]
            if z is not None and not (from_logits and index == len(self._layers) - 1):
                grad = ACTIVATIONS[layer.activation][1](z, out, grad)  # now dL/dz
            if layer.type == "dense":
                kernel = layer_weights[index][0]  # (in, units)
                rows, gz = x.reshape(-1, kernel.shape[0]), grad.reshape(-1, kernel.shape[1])
                grads[:0] = [rows.T @ gz] + ([gz.sum(axis=0)] if layer.use_bias else [])
                grad = grad @ kernel.T  # dL/dx (..., in)
            elif mask is not None:
                grad = grad * mask / (1 - layer.rate)
            elif layer.type == "flatten":
                grad = grad.reshape(x.shape)
        return grads

    def _penalty(self, w, regularizer):
        """Keras L1L2 (regularizers.py:198-207): l1 sum|w| + l2 sum w^2 and its gradient (sign(0) = 0)."""
        l1, l2 = tf_cast(regularizer.l1, self.dtype), tf_cast(regularizer.l2, self.dtype)
        return l1 * np.abs(w).sum() + l2 * np.square(w).sum(), l1 * np.sign(w) + 2 * l2 * w

    def loss_and_gradients(self, x: np.ndarray, y: np.ndarray, masks=None) -> tuple[float, list[np.ndarray]]:
        """Training-mode loss (data loss + penalties) and its gradient for every weight, canonical shapes.

        x: (N, *input_shape). y: (N, K) or (N,) (integer classes for categorical_crossentropy, or K = 1).
        """
        records = self._run(x, masks, training=True)
        from_logits, loss_fn = LOSSES[self.spec.loss]
        _, z, out, _ = records[-1]
        values, grad = loss_fn(z if from_logits else out, self._smoothed(self._target(y, out)))
        loss = values.mean()
        if self.class_weights is not None:  # sum(w * loss) / N, Keras' sum_over_batch_size with sample weights
            weights = self.class_weights[self._labels(y)]
            loss, grad = (values * weights).sum() / len(values), grad * weights.reshape(-1, *[1] * (grad.ndim - 1))
        grads = self._backward(records, grad, from_logits)
        for index, (w, regularizer) in enumerate(zip(self._weights, self._regularizers)):
            if regularizer is not None:
                value, penalty_grad = self._penalty(w, regularizer)
                loss, grads[index] = loss + value, grads[index] + penalty_grad
        return float(loss), grads

    def apply_gradients(self, grads: list[np.ndarray]) -> None:
        """One optimizer update of every weight with `grads` (canonical shapes), as Keras `apply_gradients`."""
        if len(grads) != len(self._weights):
            raise ValueError(f"Expected {len(self._weights)} gradients; received {len(grads)}")
        opt = self.spec.optimizer
        lr = self.dtype.type(schedules.rate(opt, self.iterations) if schedules.per_batch(opt) else opt.learning_rate)
        grads = clip_gradients(opt, [np.asarray(g, dtype=self.dtype) for g in grads])
        for w, g, state in zip(self._weights, grads, self._slots):
            OPTIMIZERS[opt.type](opt, w, g, state, self.iterations, lr)
        self.iterations += 1

    def step(self, x: np.ndarray, y: np.ndarray, masks=None) -> float:
        """One training step on a batch; returns the loss before the update, as Keras reports it."""
        loss, grads = self.loss_and_gradients(x, y, masks)
        self.apply_gradients(grads)
        return loss
