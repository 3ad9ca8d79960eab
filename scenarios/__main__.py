"""`python -m scenarios NAME [options]`: run one scenario; `python -m scenarios` lists them."""

import importlib
import sys

from . import SCENARIOS


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m scenarios NAME [options]   (NAME --help for its options)\n\nscenarios:")
        for name, (_, doc) in SCENARIOS.items():
            print(f"  {name:<16}{doc}")
        return 0
    name = argv[0]
    if name not in SCENARIOS:
        print(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    importlib.import_module(SCENARIOS[name][0]).main(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
