"""Train the expression MLP on the landmarks mojofer finds in the labelled images.

Data: ../shared/data/expressions (CK+, the Taiwanese set, muxspace) and the
train split of ../shared/data/fer2013. Every image goes through our own
detector and landmark fit (expression_data; FER2013's crops as face crops);
the shapes are aligned on eye corners and nose (expression_reference) and
described against the population and against the person's baseline
(expression.c's header). Baselines for training: where the source names the
person (Taiwanese performers, muxspace names), for each face the median of
that person's neutral faces (the resting face the estimator's baseline
converges to) or, with probability 1 - Settings.resting_share, the
calm-weighted median of all their faces as classify_many(subjects=)
estimates it (each face's calm read by a model trained without that person:
two folds by person, no baselines; the only kind for a person without
neutral faces); where the
source does not name the person (CK+, FER2013, names with one image), a
simulated one: a neutral face is its own baseline, any other face gets the
nearest neutral face of its source by the points expressions barely move
(jaw line, nose, eye corners). Simulated and neutral-face baselines get a
random weight in [0.25, 1]. Every face is drawn each epoch as one of eight
variants (mirrored or not, with or without its baseline, its points as
found or jittered by 1% of its eye distance), so the model reads faces from
a person's first frame (weight 0) as well as against a settled baseline, and
is not thrown by a tracker's frame-to-frame jitter. A ReLU MLP is trained with Adam on
class- and source-balanced, label-smoothed cross entropy. Fixed seed: the
same command gives the same weights (up to BLAS summation order).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..modelfile import names_tensor, write_model
from . import expression_reference as ref
from .expression_data import CLASSES, ExpressionSet, load
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
    # "class": equal weight per class; "source_class": and within a class an
    # equal share per source; "source_class_sqrt": a share growing as the
    # square root of the source's faces
    balance: str = "source_class"
    simulated_weight: tuple = (0.25, 1.0)  # range of a simulated baseline's weight
    calm_epochs: int = 20  # of the models that read how calm the named people's faces are
    # a named person's baseline, per face: with this probability the median
    # of their neutral faces (what the estimator's baseline converges to),
    # else the calm-weighted median of all their faces as classify_many
    # estimates it (the only kind for a person without neutral faces)
    resting_share: float = 1.0
    # landmark jitter, a fraction of each face's outer-eye-corner distance
    # (per coordinate, Gaussian) on half of the variants: a tracked face's
    # points move a little from frame to frame, and a reading must not
    jitter: float = 0.01


@dataclass
class ExpressionModel:
    reference: np.ndarray  # (68, 2) float32, symmetric, outer eye corners 1 apart
    neutral_shape: np.ndarray  # (68, 2) the symmetric mean aligned neutral face
    mean: np.ndarray  # feature standardisation
    std: np.ndarray
    layers: list  # [(W (out, in), b (out,)), ...]

    def probabilities(self, points: np.ndarray, baselines=None, weights=None) -> np.ndarray:
        return ref.probabilities(points, self.reference, self.neutral_shape, self.mean,
                                 self.std, self.layers, baselines, weights)

    def tensors(self) -> dict:
        out = {"reference": self.reference, "neutral_shape": self.neutral_shape,
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
    rng = np.random.default_rng(settings.seed)
    reference = symmetric_reference(data.points.astype(np.float64))
    aligned = ref.align(data.points, reference)
    neutral = aligned[data.labels == CLASSES.index("neutral")].mean(axis=0)
    neutral = ((neutral + ref.mirror(neutral)) / 2).astype(np.float32)
    calmness = cross_fitted_calm(data, reference, neutral, settings)
    baselines, weights = training_baselines(data, aligned, neutral, calmness, settings, rng)
    eyes = np.linalg.norm(data.points[:, 45] - data.points[:, 36], axis=1)
    noisy = data.points + rng.normal(0, 1, data.points.shape) * (settings.jitter * eyes)[:, None, None]
    variants = np.stack([  # without the baseline, then with it (mirrored with its face); clean, jittered
        ref.features(p, reference, neutral, *([] if b is None else [b, weights])).astype(np.float32)
        for points in (data.points, noisy.astype(np.float32))
        for p, b in ((points, None), (ref.mirror(points), None),
                     (points, baselines), (ref.mirror(points), ref.mirror(baselines)))])
    variants, mean, std = standardised(variants)
    layers = train_mlp(variants, data.labels, sample_weights(data, settings.balance), settings, log)
    return ExpressionModel(reference, neutral, mean.astype(np.float32), std.astype(np.float32), layers)


def standardised(variants: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The variants (V, N, F) standardised in place, with the mean and std."""
    mean = variants.mean(axis=(0, 1), dtype=np.float64)
    std = variants.std(axis=(0, 1), dtype=np.float64) + 1e-6
    variants -= mean.astype(np.float32)
    variants /= std.astype(np.float32)
    return variants, mean, std


def cross_fitted_calm(data: ExpressionSet, reference: np.ndarray, neutral: np.ndarray,
                      settings: Settings) -> np.ndarray:
    """How calm each face reads against the population (ref.calm) by a
    model that never saw its person: the named people in two halves, each
    read by a model trained on the rest without baselines (NaN for faces of
    no named person: they get simulated baselines)."""
    out = np.full(len(data.labels), np.nan)
    named = data.subjects != ""
    people = np.random.default_rng(settings.seed).permutation(np.unique(data.subjects[named]))
    plain = np.stack([ref.features(p, reference, neutral).astype(np.float32)
                      for p in (data.points, ref.mirror(data.points))])
    quick = Settings(**{**settings.__dict__, "epochs": settings.calm_epochs})
    for half in (people[0::2], people[1::2]):
        held = np.isin(data.subjects, half)
        if not held.any():
            continue
        x, mean, std = standardised(plain[:, ~held].copy())
        layers = train_mlp(x, data.labels[~held], sample_weights(data.subset(~held), settings.balance),
                           quick)
        out[held] = ref.calm(ref.probabilities(data.points[held], reference, neutral, mean, std, layers))
    return out


# The points expressions barely move, by which a face without a known
# person finds the neutral face that stands in for its baseline.
IDENTITY_POINTS = np.r_[0:17, 27:36, 36, 39, 42, 45]


def training_baselines(data: ExpressionSet, aligned: np.ndarray, neutral: np.ndarray,
                       calmness: np.ndarray, settings: Settings, rng) -> tuple[np.ndarray, np.ndarray]:
    """Each face's baseline (N, 68, 2) and weight (N,), as the module says."""
    baselines = np.empty(aligned.shape, np.float32)
    weights = np.empty(len(aligned))
    _, person, counts = np.unique(data.subjects, return_inverse=True, return_counts=True)
    known = (data.subjects != "") & (counts[person] >= 2)
    is_neutral = data.labels == CLASSES.index("neutral")
    for k in np.unique(person[known]):
        rows = person == k
        resting = rows & is_neutral
        baselines[rows] = ref.weighted_median(aligned[rows].astype(np.float32),
                                              calmness[rows].astype(np.float32))
        weights[rows] = min(1.0, rows.sum() / ref.SETTLED_FACES)
        if resting.any():
            chosen = rows & (rng.random(len(rows)) < settings.resting_share)
            baselines[chosen] = np.median(aligned[resting], axis=0)
            weights[chosen] = rng.uniform(*settings.simulated_weight, int(chosen.sum()))
    own = ~known & is_neutral
    baselines[own] = aligned[own]
    for source in np.unique(data.sources[~known & ~is_neutral]):
        rows = np.flatnonzero(~known & ~is_neutral & (data.sources == source))
        pool = np.flatnonzero(is_neutral & (data.sources == source))
        if not len(pool):
            pool = np.flatnonzero(is_neutral)
        baselines[rows] = aligned[pool[nearest(aligned[rows][:, IDENTITY_POINTS],
                                               aligned[pool][:, IDENTITY_POINTS])]]
    weights[~known] = rng.uniform(*settings.simulated_weight, int((~known).sum()))
    return baselines, weights


def nearest(queries: np.ndarray, pool: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Index into `pool` (M, k, 2) of each query's (N, k, 2) nearest shape."""
    q, p = queries.reshape(len(queries), -1), pool.reshape(len(pool), -1)
    p_norm = (p * p).sum(axis=1)
    return np.concatenate([np.argmin(p_norm - 2 * q[i:i + chunk] @ p.T, axis=1)
                           for i in range(0, len(q), chunk)])


def sample_weights(data: ExpressionSet, balance: str) -> np.ndarray:
    """Weights that give every class the same total and, within a class,
    each source the share `balance` says (Settings.balance): the 4,840 web
    crops of FER2013's neutral class must not drown the 78 posed neutrals
    of the Taiwanese set."""
    cells = data.labels if balance == "class" else np.char.add(data.sources, data.labels.astype(str))
    _, cell, cell_count = np.unique(cells, return_inverse=True, return_counts=True)
    weights = 1.0 / (np.sqrt(cell_count[cell]) if balance == "source_class_sqrt" else cell_count[cell])
    class_total = np.bincount(data.labels, weights, minlength=len(CLASSES))
    weights /= class_total[data.labels]
    return weights * len(weights) / weights.sum()


def train_mlp(x: np.ndarray, labels: np.ndarray, weights: np.ndarray, s: Settings, log=None) -> list:
    """Adam on weighted, label-smoothed softmax cross entropy with dropout
    on the hidden layers and decoupled weight decay. `x` (V, N, F) holds V
    variants of each of the N faces' inputs; each epoch sees every face
    once, as a variant drawn at random."""
    rng = np.random.default_rng(s.seed)
    sizes = (x.shape[2], *s.hidden, len(CLASSES))
    layers = [[rng.normal(0, np.sqrt(2 / n_in), (n_out, n_in)), np.zeros(n_out)]
              for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    moments = [[np.zeros_like(p) for p in layer + layer] for layer in layers]
    target = np.full((len(labels), len(CLASSES)), s.label_smoothing / len(CLASSES))
    target[np.arange(len(labels)), labels] += 1 - s.label_smoothing
    step = 0
    for epoch in range(s.epochs):
        order = rng.permutation(len(labels))
        variant = rng.integers(len(x), size=len(labels))
        total = 0.0
        for start in range(0, len(order), s.batch):
            rows = order[start:start + s.batch]
            step += 1
            grads, loss = _gradients(layers, x[variant[rows], rows], target[rows], weights[rows],
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
    parser.add_argument("--fer2013", type=Path, default=Path("../shared/data/fer2013"),
                        help="FER2013's folder (its train split is used; none: omit with --no-fer2013)")
    parser.add_argument("--no-fer2013", dest="fer2013", action="store_const", const=None)
    parser.add_argument("--out", type=Path, default=Path("models/expressions.mfm"))
    parser.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    started = time.time()
    data = load(args.data)
    if args.fer2013 is not None:
        data = data.concatenate(load(args.fer2013, split="train"))
    for source in np.unique(data.sources):
        rows = data.sources == source
        print(f"{source}: {int(rows.sum())} images, pipeline found a face in "
              f"{int(data.found[rows].sum())}")
    model = fit(data, Settings(seed=args.seed), log=print)
    write_model(args.out, "expressions", model.tensors())
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes) in {time.time() - started:.0f} s")
    return 0
