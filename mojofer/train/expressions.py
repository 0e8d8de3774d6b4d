"""Train the expression MLP on the landmarks mojofer finds in the labelled images.

Data: ../shared/data/expressions (CK+, the Taiwanese set, muxspace). Every
image goes through our own detector and landmark fit (expression_data); the
shapes are aligned on eye corners and nose (expression_reference), turned
into offsets from a mirror-symmetric reference plus action-unit proxies, and
a ReLU MLP is trained with Adam on class-balanced, label-smoothed cross
entropy, every face also seen mirrored. Fixed seed: the same command gives
the same weights (up to BLAS summation order).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..modelfile import names_tensor, write_model
from . import expression_reference as ref
from .expression_data import CLASSES, SOURCES, ExpressionSet, load
from .landmarks import mean_shape_of


@dataclass
class Settings:
    hidden: tuple = (128, 64)
    epochs: int = 60
    batch: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    dropout: float = 0.2
    seed: int = 0
    balance: str = "source_class"  # equal weight per class, or per (source, class) cell


@dataclass
class ExpressionModel:
    reference: np.ndarray  # (68, 2) float32, symmetric, outer eye corners 1 apart
    neutral_measures: np.ndarray  # (9,) measures of the mean neutral face
    mean: np.ndarray  # feature standardisation
    std: np.ndarray
    layers: list  # [(W (out, in), b (out,)), ...]

    def probabilities(self, points: np.ndarray) -> np.ndarray:
        return ref.probabilities(points, self.reference, self.neutral_measures, self.mean,
                                 self.std, self.layers)

    def tensors(self) -> dict:
        out = {"reference": self.reference, "neutral_measures": self.neutral_measures,
               "feature_mean": self.mean, "feature_std": self.std}
        for i, (w, b) in enumerate(self.layers):
            out[f"layer{i}.weight"], out[f"layer{i}.bias"] = w, b
        tensors = {k: np.ascontiguousarray(v, np.float32) for k, v in out.items()}
        # the names of the outputs and units, which the C loader checks against its own
        tensors["emotion_names"] = names_tensor(CLASSES)
        tensors["action_unit_names"] = names_tensor(ref.ACTION_UNITS)
        return tensors


def symmetric_reference(points: np.ndarray) -> np.ndarray:
    """Procrustes mean of the shapes, averaged with its own mirror image."""
    mean = mean_shape_of(points)
    return ((mean + ref.mirror(mean)) / 2).astype(np.float32)


def fit(data: ExpressionSet, settings: Settings = Settings(), log=None) -> ExpressionModel:
    """Trains on the faces of `data` the pipeline found."""
    data = data.subset(data.found)
    reference = symmetric_reference(data.points.astype(np.float64))
    aligned = ref.align(data.points, reference)
    neutral = ref.measures(aligned[data.labels == CLASSES.index("neutral")]).mean(axis=0)
    shapes = np.concatenate([data.points, ref.mirror(data.points)])
    labels = np.concatenate([data.labels, data.labels])
    weights = np.tile(sample_weights(data, settings.balance), 2)
    x = ref.features(shapes, reference, neutral)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    layers = train_mlp((x - mean) / std, labels, weights, settings, log)
    return ExpressionModel(reference, neutral.astype(np.float32), mean.astype(np.float32),
                           std.astype(np.float32), layers)


def sample_weights(data: ExpressionSet, balance: str) -> np.ndarray:
    """Weights that give every class the same total, or (balance =
    "source_class") every class the same total and, within a class, every
    source the same share: the 1,500 web faces of muxspace's neutral class
    must not drown the 78 posed neutrals of the Taiwanese set."""
    cells = data.labels if balance == "class" else np.char.add(data.sources, data.labels.astype(str))
    _, cell, cell_count = np.unique(cells, return_inverse=True, return_counts=True)
    weights = 1.0 / cell_count[cell]
    class_total = np.bincount(data.labels, weights, minlength=len(CLASSES))
    weights /= class_total[data.labels]
    return weights * len(weights) / weights.sum()


def train_mlp(x: np.ndarray, labels: np.ndarray, weights: np.ndarray, s: Settings, log=None) -> list:
    """Adam on weighted, label-smoothed softmax cross entropy with dropout
    on the hidden layers and decoupled weight decay."""
    rng = np.random.default_rng(s.seed)
    sizes = (x.shape[1], *s.hidden, len(CLASSES))
    layers = [[rng.normal(0, np.sqrt(2 / n_in), (n_out, n_in)), np.zeros(n_out)]
              for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    moments = [[np.zeros_like(p) for p in layer + layer] for layer in layers]
    target = np.full((len(labels), len(CLASSES)), s.label_smoothing / len(CLASSES))
    target[np.arange(len(labels)), labels] += 1 - s.label_smoothing
    step = 0
    for epoch in range(s.epochs):
        order = rng.permutation(len(labels))
        total = 0.0
        for start in range(0, len(order), s.batch):
            rows = order[start:start + s.batch]
            step += 1
            grads, loss = _gradients(layers, x[rows], target[rows], weights[rows],
                                     s.dropout, rng)
            total += loss * len(rows)
            for layer, grad, moment in zip(layers, grads, moments):
                for k in range(2):
                    m, v = moment[k], moment[k + 2]
                    m *= 0.9
                    m += 0.1 * grad[k]
                    v *= 0.999
                    v += 0.001 * grad[k] ** 2
                    m_hat, v_hat = m / (1 - 0.9 ** step), v / (1 - 0.999 ** step)
                    rate = s.learning_rate * 0.5 * (1 + np.cos(np.pi * epoch / s.epochs))
                    layer[k] -= rate * (m_hat / (np.sqrt(v_hat) + 1e-8) + s.weight_decay * layer[k])
        if log and (epoch + 1) % 20 == 0:
            log(f"  epoch {epoch + 1}/{s.epochs}: loss {total / len(labels):.4f}")
    return [(w.astype(np.float32), b.astype(np.float32)) for w, b in layers]


def _gradients(layers, x, target, weight, dropout, rng):
    activations, masks = [x], []
    h = x
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            mask = (h > 0) * (rng.random(h.shape) >= dropout) / (1 - dropout)
            h = h * mask
            masks.append(mask)
            activations.append(h)
    p = ref.softmax(h)
    norm = weight.sum()
    loss = -(weight * (target * np.log(p + 1e-12)).sum(axis=1)).sum() / norm
    delta = (p - target) * (weight / norm)[:, None]
    grads = [None] * len(layers)
    for i in range(len(layers) - 1, -1, -1):
        grads[i] = (delta.T @ activations[i], delta.sum(axis=0))
        if i:
            delta = (delta @ layers[i][0]) * masks[i - 1]
    return grads, loss


def add_arguments(parser) -> None:
    parser.add_argument("--data", type=Path, default=Path("../shared/data/expressions"),
                        help="folder with labels.csv and images/")
    parser.add_argument("--out", type=Path, default=Path("models/expressions.mfm"))
    parser.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    started = time.time()
    data = load(args.data)
    print(f"{len(data.labels)} images, pipeline found a face in {int(data.found.sum())}")
    model = fit(data, Settings(seed=args.seed), log=print)
    write_model(args.out, "expressions", model.tensors())
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes) in {time.time() - started:.0f} s")
    return 0
