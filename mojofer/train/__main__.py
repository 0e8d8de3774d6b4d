"""python -m mojofer.train {detector,landmarks,pose,expressions} ...: build a model into models/."""
import argparse
import os
import sys

from . import detector, expressions, landmarks, pose


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mojofer.train", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, module in (("detector", detector), ("landmarks", landmarks), ("pose", pose),
                         ("expressions", expressions)):
        module.add_arguments(commands.add_parser(name, help=module.__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    return {"detector": detector.run, "landmarks": landmarks.run, "pose": pose.run,
            "expressions": expressions.run}[args.command](args)


if __name__ == "__main__":
    # NumPy's own BLAS on one thread, set before NumPy loads (hence the
    # re-exec): a rerun's sums then come out the same, and BLAS threads
    # spinning against other processes on a shared machine cost far more
    # than they give (measured under load: a 20 x 8000 x 48 product took
    # 0.2 s on 2 threads, 0.3 ms on one)
    if "OPENBLAS_NUM_THREADS" not in os.environ:
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
        os.execv(sys.executable, [sys.executable, "-m", "mojofer.train", *sys.argv[1:]])
    sys.exit(main())
