"""`python -m provider` is the same as the `adr-emulator` console script."""

from provider.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
