"""acp: the command-line client for the ACP API."""

__version__ = "0.1.0"
