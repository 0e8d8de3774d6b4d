"""python -m mojofer.train {detector,landmarks,pose,expressions} ...: build a model into models/."""
import argparse
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
    sys.exit(main())
