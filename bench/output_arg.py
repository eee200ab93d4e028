"""The output path of a bench model generator (its first argument), refused when missing or an option.

`make_resnet50.py --help` once wrote a 102 MB model to a file named `--help` in the checkout.
"""
import sys


def output_path(usage):
    if len(sys.argv) < 2 or sys.argv[1].startswith('-'):
        print(f'usage: {usage}', file=sys.stderr)
        sys.exit(2)
    return sys.argv[1]
