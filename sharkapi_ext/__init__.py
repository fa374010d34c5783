"""SharkAPI Python SDK: the hand-written layer over the generated client."""

from ._version import __version__

__all__ = ["__version__"]
