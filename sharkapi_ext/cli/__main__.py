"""`python -m sharkapi_ext.cli`, the same as the `sharkapi` script."""

from sharkapi_ext.cli import main

main()
