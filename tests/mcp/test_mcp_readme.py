"""The README's host config block for `sharkapi mcp` is valid and matches the command."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sharkapi_ext.mcp import mcp_command

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_host_config_snippet_parses_and_names_real_options() -> None:
    text = README.read_text(encoding="utf-8")
    snippets = [
        json.loads(block)
        for block in re.findall(r"^```json\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
        if "mcpServers" in block
    ]
    assert len(snippets) == 1
    server = snippets[0]["mcpServers"]["sharkapi"]
    assert server["command"].endswith("/sharkapi")
    args = server["args"]
    assert args[0] == "mcp"
    options = {opt for param in mcp_command.params for opt in param.opts}
    given = [arg for arg in args[1:] if arg.startswith("--")]
    assert given
    assert set(given) <= options
    assert "--token" not in args  # the token goes in env, never on the command line
    assert list(server["env"]) == ["SHARKAPI_TOKEN"]
