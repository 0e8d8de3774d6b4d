"""Expression benchmark: mojofer's landmark MLP against the `fer` package.

Everything runs the full pipeline on the labelled images of
../shared/data/expressions: mojofer's own detector and landmarks feed the
expression model (trained by mojofer.train.expressions on the training side
of each split, in this run); fer runs its own detector and network. An image
where a method finds no face counts as an error for that method.

    python benchmarks/expressions.py [--data PATH] [--results-dir DIR]

Tests:
  (a) leave one source out: train on the other two sources, test on CK+,
      then on the Taiwanese set (muxspace's noisy labels are training only);
  (b) subject-independent 5-fold cross-validation on the Taiwanese set
      (29 performers, folds by performer, seed 0).
Prints accuracy, macro-F1, per-class recall and confusion matrices and
writes expressions.md / .json / .png under benchmarks/results (or
--results-dir). Needs the `fer` package (see _fer_peer.py for the install).
"""
from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import mojofer
from mojofer.modelfile import write_model
from mojofer.train import expressions as training
from mojofer.train.expression_data import CLASSES, TEST_SOURCES, ExpressionSet, load

from _common import (Run, add_results_dir, default_data, machine_environment, run_lines, table,
                     verdict, write_results)
from _fer_peer import fer_version, predict_fer

FOLDS = 5
GOAL_SOURCE_ACCURACY = 0.65
GOAL_FOLD_ACCURACY = 0.75
NO_FACE = len(CLASSES)  # the extra column of the confusion matrices
SOURCE_NAMES = {"ckplus": "CK+", "taiwanese": "Taiwanese"}


@dataclass
class Scores:
    accuracy: float
    macro_f1: float
    recall: list  # per class
    confusion: np.ndarray  # (7, 8): true class x predicted class, last column = no face
    missed: int

    @classmethod
    def of(cls, truth: np.ndarray, predicted: np.ndarray) -> "Scores":
        confusion = np.zeros((len(CLASSES), len(CLASSES) + 1), int)
        np.add.at(confusion, (truth, predicted), 1)
        f1, recall = [], []
        for c in range(len(CLASSES)):
            tp, fn = confusion[c, c], confusion[c].sum() - confusion[c, c]
            fp = confusion[:, c].sum() - tp
            f1.append(2 * tp / max(2 * tp + fp + fn, 1))
            recall.append(tp / max(tp + fn, 1))
        return cls(float((truth == predicted).mean()), float(np.mean(f1)), recall, confusion,
                   int((predicted == NO_FACE).sum()))

    def as_json(self) -> dict:
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1,
                "recall": dict(zip(CLASSES, self.recall)), "missed": self.missed,
                "confusion": self.confusion.tolist()}


def mojofer_predictions(train: ExpressionSet, test: ExpressionSet) -> np.ndarray:
    """Trains on `train` (as `python -m mojofer.train expressions` does) and
    classifies `test` with the C classifier; NO_FACE where no face was found."""
    model = training.fit(train)
    with tempfile.TemporaryDirectory() as folder:
        path = write_model(Path(folder) / "expressions.mfm", "expressions", model.tensors())
        classifier = mojofer.ExpressionClassifier(path)
        predicted = np.full(len(test.labels), NO_FACE)
        if test.found.any():
            emotions, _, _ = classifier.classify_many(test.points[test.found])
            predicted[test.found] = emotions.argmax(axis=1)
    return predicted


def fer_predictions(test: ExpressionSet) -> np.ndarray:
    return np.array([NO_FACE if label is None else CLASSES.index(label)
                     for label in predict_fer([str(p) for p in test.paths])])


def subject_folds(subjects: np.ndarray, folds: int = FOLDS) -> list[np.ndarray]:
    order = np.random.default_rng(0).permutation(np.unique(subjects))
    return [order[k::folds] for k in range(folds)]


def run_tests(data: ExpressionSet) -> dict:
    tests = {}
    for source in TEST_SOURCES:
        name = f"(a) {SOURCE_NAMES[source]} held out"
        test = data.subset(data.sources == source)
        print(f"{name}: training on the other sources ...", flush=True)
        tests[name] = (test.labels, mojofer_predictions(data.subset(data.sources != source), test),
                       fer_predictions(test))
    taiwanese = data.subset(data.sources == "taiwanese")
    truth, ours, peer = [], [], []
    for k, fold in enumerate(subject_folds(taiwanese.subjects)):
        print(f"(b) Taiwanese fold {k + 1}/{FOLDS} ...", flush=True)
        held = np.isin(taiwanese.subjects, fold)
        test = taiwanese.subset(held)
        truth.append(test.labels)
        ours.append(mojofer_predictions(taiwanese.subset(~held), test))
        peer.append(fer_predictions(test))
    tests["(b) Taiwanese 5-fold by performer"] = tuple(map(np.concatenate, (truth, ours, peer)))
    return {name: {"n": len(t), "mojofer": Scores.of(t, o), "fer": Scores.of(t, p)}
            for name, (t, o, p) in tests.items()}


def confusion_lines(scores: Scores) -> list[str]:
    header = ["true \\ predicted", *CLASSES, "no face"]
    return table(header, [[c, *map(str, row)] for c, row in zip(CLASSES, scores.confusion)])


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(6 * len(results), 11))
    for col, (name, r) in enumerate(results.items()):
        for row, method in enumerate(("mojofer", "fer")):
            s, ax = r[method], axes[row, col]
            rates = s.confusion / np.maximum(s.confusion.sum(axis=1, keepdims=True), 1)
            ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
            for i in range(rates.shape[0]):
                for j in range(rates.shape[1]):
                    ax.text(j, i, s.confusion[i, j], ha="center", va="center", fontsize=8,
                            color="white" if rates[i, j] > 0.5 else "black")
            ax.set_xticks(range(len(CLASSES) + 1), [*CLASSES, "no face"], rotation=45, ha="right")
            ax.set_yticks(range(len(CLASSES)), CLASSES)
            ax.set_title(f"{method}: {name}\naccuracy {s.accuracy:.3f}, macro-F1 {s.macro_f1:.3f}",
                         fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def report_text(results: dict, env: dict, wall_s: float) -> str:
    lines = run_lines("Expressions: mojofer (68 points + MLP) vs fer (mini-Xception)", env, wall_s,
                      ("fer", "numpy")) + [
        "- full pipeline: each method's own face detector; no face found = an error",
        "- mojofer is retrained on each split's training side in this run "
        "(`mojofer.train.expressions.fit`, seed 0) and classified by the C core", ""]
    rows = []
    for name, r in results.items():
        for method in ("mojofer", "fer"):
            s = r[method]
            rows.append([name, method, r["n"], s.missed, f"{s.accuracy:.3f}", f"{s.macro_f1:.3f}",
                         " / ".join(f"{v:.2f}" for v in s.recall)])
    lines += table(["test", "method", "images", "no face", "accuracy", "macro-F1",
                    "recall " + " / ".join(c[:4] for c in CLASSES)], rows)
    for name, r in results.items():
        for method in ("mojofer", "fer"):
            lines += [f"### {name}: {method}", ""] + confusion_lines(r[method])
    goals = []
    for name, r in results.items():
        goal = GOAL_FOLD_ACCURACY if name.startswith("(b)") else GOAL_SOURCE_ACCURACY
        ours, peer = r["mojofer"], r["fer"]
        goals.append(f"- {name}: accuracy ≥ {goal}: {verdict(ours.accuracy >= goal)} "
                     f"({ours.accuracy:.3f}); macro-F1 ≥ fer's: "
                     f"{verdict(ours.macro_f1 >= peer.macro_f1)} ({ours.macro_f1:.3f} vs {peer.macro_f1:.3f})")
    return "\n".join(lines + ["## Goals", ""] + goals) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data("expressions"),
                        help="folder with labels.csv and images/")
    add_results_dir(parser)
    args = parser.parse_args()
    run = Run()
    data = load(args.data)
    results = run_tests(data)
    timing = run.finish()
    env = machine_environment({"fer": fer_version()})
    text = report_text(results, env, timing["wall_s"])
    args.results_dir.mkdir(parents=True, exist_ok=True)
    plot(results, args.results_dir / "expressions.png")
    report = {"environment": env, **timing,
              "tests": {name: {"n": r["n"], "mojofer": r["mojofer"].as_json(),
                               "fer": r["fer"].as_json()} for name, r in results.items()}}
    write_results(args.results_dir, "expressions", report, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
