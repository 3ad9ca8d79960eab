"""`python -m scenarios [--import MODULE ...] NAME [options]`: run one scenario; `python -m scenarios`
lists them. `--import MODULE` imports a module first (repeatable), e.g. one whose
`evsim.register_encoder` calls make its encoders valid encoder options."""

import importlib
import sys

from . import SCENARIOS


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    while argv[:1] == ["--import"]:
        if len(argv) < 2:
            print("--import needs a module name", file=sys.stderr)
            return 2
        importlib.import_module(argv[1])
        argv = argv[2:]
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m scenarios [--import MODULE] NAME [options]   (NAME --help for its options)\n\nscenarios:")
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
