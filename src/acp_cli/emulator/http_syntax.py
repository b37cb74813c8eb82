"""The bits of HTTP grammar (RFC 9110 section 5) the emulator checks headers against.

Strictly on the requests it receives; on the headers a fault asks it to send,
only as far as a header line needs (see `BREAKS_HEADER_LINE`).
"""

from __future__ import annotations

import re

HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""A header name: an RFC 9110 token (use ``fullmatch``)."""

NOT_FIELD_VALUE = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
"""A character no header value may hold: CR, LF and other controls, or beyond U+00FF.

Field values are visible ASCII, spaces, tabs and obs-text (bytes 0x80-0xFF,
which Python's http modules map to U+0080-U+00FF through Latin-1).
"""

BREAKS_HEADER_LINE = re.compile(r"[\r\n\x00]|[^\x00-\xff]")
"""What a header value sent in a fault cannot hold: CR and LF would end the line
and start another header, every parser refuses NUL (RFC 9110 section 5.5), and
a character beyond U+00FF has no Latin-1 byte. Other control characters are
invalid but deliverable: a recipient may keep them, so a client must cope."""
