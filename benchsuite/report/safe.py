"""Text from a results file, the machine or the user, made safe for a terminal.

A case id, a parameter, a torch version or a host name can hold anything: a results file
copied from another machine may carry ``ESC ] 0 ; title BEL`` (set the window title),
``ESC [ 2 J`` (clear the screen) or a hyperlink, and ``[bold]`` / ``[/x]`` are read as
rich markup (an unbalanced closing tag is a MarkupError). Every printer of the command
line passes such text through here:

* `plain`: escape sequences (CSI, OSC, DCS/PM/APC/SOS, two-byte ESC, their 8-bit C1
  forms) removed, other C0/C1 controls and DEL removed, bidirectional overrides removed
  (they reorder what is shown); newlines become spaces unless the text is meant to span
  lines (a table printed as markdown or csv).
* `markup`: `plain`, then rich's markup escaped, for text put inside a markup string.
* `cell`: `plain` as a rich ``Text`` (never read as markup), for table cells.

HTML escaping of markdown output is `benchsuite.report.markup.markdown`'s. Torch-free.
"""

from __future__ import annotations

import re
from typing import Any

from rich.markup import escape
from rich.text import Text

_SEQUENCES = re.compile(
    r"\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"      # OSC ... BEL or ST (or cut short)
    r"|\x1b[P^_X][^\x1b\x9c]*(?:\x1b\\|\x9c)?"         # DCS, PM, APC, SOS ... ST
    r"|\x1b\[[0-?]*[ -/]*[@-~]?"                        # CSI parameters, intermediates, final
    r"|\x1b[ -/]*[0-~]?"                                # two- and three-byte escapes (ESC c, ESC ( B)
    r"|\x9d[^\x07\x1b\x9c]*(?:\x07|\x9c)?"             # 8-bit OSC
    r"|[\x90\x98\x9e\x9f][^\x1b\x9c]*\x9c?"            # 8-bit DCS, SOS, PM, APC
    r"|\x9b[0-?]*[ -/]*[@-~]?"                          # 8-bit CSI
)
# C0 but tab and newline, DEL, C1, and the bidirectional embeddings, overrides and isolates.
_CONTROLS = "".join(chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F,
                                      *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_REMOVE = str.maketrans("", "", _CONTROLS)
_ONE_LINE = str.maketrans({"\n": " ", "\r": " ", "\t": " "})
_LINES = str.maketrans({"\r": ""})


def plain(value: Any, *, lines: bool = False) -> str:
    """``str(value)`` with no escape sequence or control character left; ``lines``: keep
    newlines and tabs (text meant to span lines), else they become spaces."""
    text = _SEQUENCES.sub("", str(value))
    text = text.translate(_LINES if lines else _ONE_LINE)
    return text.translate(_REMOVE)


def markup(value: Any) -> str:
    """`plain` with rich markup escaped: safe inside a markup string (``f"[red]{markup(x)}[/]"``)."""
    return escape(plain(value))


def cell(value: Any) -> Text:
    """`plain` as rich ``Text``: a table cell that is never read as markup."""
    return Text(plain(value))
