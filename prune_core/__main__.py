import sys

from .errors import PruneScopeError

try:
    from .cli import main
except PruneScopeError as exc:  # a method module that cannot load (PRUNESCOPE_METHODS): one line, exit 2
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(2)

sys.exit(main())
