"""What each data source adds to the expression model on faces it has not seen.

The full pipeline, as benchmarks/expressions.py runs it (mojofer's own
detector and landmarks, a model trained by mojofer.train.expressions.fit in
this run, a missed face counted as an error), on three tests: CK+ held out,
the Taiwanese set held out (also with each performer's baseline, estimated
from all of that performer's faces without labels) and FER2013 val. Each test
is trained once on every source it may use (CK+, the Taiwanese set, muxspace
and FER2013 train, less the test's own source: expressions.py's (a) and (c)
tests), then once with each of those sources left out; the difference is
what that source adds. fer's accuracy on the same images is printed for
reference (its network was trained on FER2013).

    python benchmarks/expression_sources.py [--data PATH] [--fer2013 PATH] [--results-dir DIR]

Every model is trained with seed 0; the first row's models also with seeds
OTHER_SEEDS, to show how far a change of seed alone moves a cell (a source
whose change is no larger adds nothing measurable). 19 models, 16 of them
with FER2013 train in: about 460 s on 2 CPUs (the trainer of 3af0a9f).
Writes expression_sources.md / .json under benchmarks/results (or --results-dir).
"""
from __future__ import annotations

import argparse

import numpy as np

from mojofer.train.expression_data import SOURCES, ExpressionSet

from _common import (Run, add_expression_data_arguments, add_results_dir, machine_environment, run_lines,
                     table, write_results)
from _fer_peer import fer_version
from expressions import (BASELINE, OURS, PEER, SOURCE_NAMES, Scores, fer_predictions, load_data,
                         mojofer_probabilities, names_subjects, top_classes, trained)

ALL = "every source"
OTHER_SEEDS = (1, 2)
TRAINING_NAMES = {"ckplus": "CK+", "taiwanese": "Taiwanese", "muxspace": "muxspace",
                  "fer2013": "FER2013 train"}


def tests(labelled: ExpressionSet, fer2013_val: ExpressionSet) -> dict:
    """Test name -> (test images, every face it may train on)."""
    out = {}
    for source in ("ckplus", "taiwanese"):
        held = labelled.sources == source
        out[f"{SOURCE_NAMES[source]} held out"] = labelled.subset(held), labelled.subset(~held)
    out[SOURCE_NAMES["fer2013"]] = fer2013_val, labelled
    return out


def measured(test: ExpressionSet, pool: ExpressionSet) -> dict:
    """Training setup (ALL, a source left out, or ALL with another seed) ->
    method -> Scores."""
    setups = [(ALL, None, 0), *((s, s, 0) for s in SOURCES if s in set(pool.sources)),
              *((seeded(seed), None, seed) for seed in OTHER_SEEDS)]
    out = {}
    for setup, left_out, seed in setups:
        print(f"  training on {'all' if left_out is None else 'all but ' + left_out} (seed {seed}) ...",
              flush=True)
        keep = np.ones(len(pool.labels), bool) if left_out is None else pool.sources != left_out
        with trained(pool.subset(keep), seed) as classifier:
            out[setup] = {OURS: scores(classifier, test)}
            if names_subjects(test):
                out[setup][BASELINE] = scores(classifier, test, baseline=True)
    return out


def seeded(seed: int) -> str:
    return f"{ALL}, seed {seed}"


def scores(classifier, test: ExpressionSet, baseline: bool = False) -> Scores:
    return Scores.of(test.labels, top_classes(mojofer_probabilities(classifier, test, baseline)))


def report_text(results: dict, peer: dict, env: dict, wall_s: float) -> str:
    lines = run_lines("Expressions: what each training source adds", env, wall_s, ("fer", "numpy")) + [
        "- full pipeline, as benchmarks/expressions.py: our detector, a missed face is an error; "
        "mojofer retrained in this run for every cell (`mojofer.train.expressions.fit`, seed 0)",
        "- each column is one test; the first row trains on every source the test may use (its "
        "own source never), each further row leaves one source out of that; a cell is the "
        "accuracy (macro-F1), and in brackets the change in accuracy from the first row: "
        "-0.050 means the source left out adds 0.050",
        f"- every model has seed 0; the last rows retrain the first with seeds "
        f"{', '.join(map(str, OTHER_SEEDS))}: a change no larger than theirs is within what "
        "a seed alone moves", ""]
    columns = [(name, method) for name, by_setup in results.items() for method in by_setup[ALL]]
    setups = [ALL, *(s for s in SOURCES if any(s in by_setup for by_setup in results.values())),
              *map(seeded, OTHER_SEEDS)]
    rows = []
    for setup in setups:
        row = [f"without {TRAINING_NAMES[setup]}" if setup in TRAINING_NAMES else setup]
        for name, method in columns:
            if setup not in results[name]:
                row.append("— (the test's own source)")
                continue
            s, full = results[name][setup][method], results[name][ALL][method]
            change = "" if setup == ALL else f" [{s.accuracy - full.accuracy:+.3f}]"
            row.append(f"{s.accuracy:.3f} ({s.macro_f1:.3f}){change}")
        rows.append(row)
    rows.append([f"{PEER} (reference, as shipped)", *(
        f"{peer[name].accuracy:.3f} ({peer[name].macro_f1:.3f})" if method == OURS else "—"
        for name, method in columns)])
    header = ["training", *(name if method == OURS else f"{name}, {method}" for name, method in columns)]
    return "\n".join(lines + table(header, rows)) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_expression_data_arguments(parser)
    add_results_dir(parser)
    args = parser.parse_args()
    run = Run()
    results, peer = {}, {}
    for name, (test, pool) in tests(*load_data(args.data, args.fer2013)).items():
        print(f"{name}:", flush=True)
        results[name] = measured(test, pool)
        peer[name] = Scores.of(test.labels, fer_predictions(test))
    timing = run.finish()
    env = machine_environment({"fer": fer_version()})
    report = {"environment": env, **timing,
              "tests": {name: {**{setup: {m: s.as_json() for m, s in by_method.items()}
                                  for setup, by_method in by_setup.items()},
                               PEER: peer[name].as_json()}
                        for name, by_setup in results.items()}}
    write_results(args.results_dir, "expression_sources", report,
                  report_text(results, peer, env, timing["wall_s"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
