"""Allow `python -m srzoo`."""

from srzoo.cli import main

main()
