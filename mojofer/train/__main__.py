"""python -m mojofer.train {detector} ...: build a model into models/."""
import argparse
import sys

from . import detector


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mojofer.train", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    detector.add_arguments(commands.add_parser("detector", help=detector.__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    return {"detector": detector.run}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
