"""``python -m mmtheory``: the command line (see ``mmtheory.cli``)."""

from mmtheory.cli import main

if __name__ == "__main__":  # pragma: no cover - exercised through subprocess in tests
    raise SystemExit(main())
