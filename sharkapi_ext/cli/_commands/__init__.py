"""One module per `sharkapi` command, each imported only when its command is used.

The group (`.._group`) names them in its `COMMANDS` table; nothing imports them
otherwise, so a command's code and imports cost the others nothing.
"""
