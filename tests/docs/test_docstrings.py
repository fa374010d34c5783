"""The public surface is documented: a `Raises:` section on every method that can raise,
and no docstring that sends a reader to a private module."""

from __future__ import annotations

import inspect
import re

import pytest

import sharkapi_ext
import sharkapi_ext.mcp
import sharkapi_ext.sandbox

#: Methods that only release resources: they raise nothing of their own.
_NOTHING_TO_RAISE = {"close", "aclose"}


def _public_callables() -> list[tuple[str, object]]:
    found = []
    for module in (sharkapi_ext, sharkapi_ext.sandbox, sharkapi_ext.mcp):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) and not issubclass(obj, BaseException):
                found.append((f"{module.__name__}.{name}", obj))
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and inspect.isfunction(member):
                        found.append((f"{module.__name__}.{name}.{attr}", member))
            elif inspect.isfunction(obj):
                found.append((f"{module.__name__}.{name}", obj))
    return found


@pytest.mark.parametrize("client", ["SharkAPI", "AsyncSharkAPI"])
def test_client_methods_say_what_they_raise(client: str) -> None:
    cls = getattr(sharkapi_ext, client)
    missing = [
        name
        for name, member in vars(cls).items()
        if inspect.isfunction(member)
        and not name.startswith("_")
        and name not in _NOTHING_TO_RAISE
        and "Raises:" not in (inspect.getdoc(member) or "")
    ]
    assert missing == []
    assert "Raises:" in (inspect.getdoc(cls) or "")  # the constructor, documented on the class


def test_no_docstring_points_to_a_private_module() -> None:
    private = re.compile(r"`+_[a-z]+`+")
    offenders = [
        name
        for name, obj in _public_callables()
        if private.search(inspect.getdoc(obj) or "")  # type: ignore[arg-type]
    ]
    assert offenders == []
