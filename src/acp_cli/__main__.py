"""The ``acp`` console script, and ``python -m acp_cli``.

The console script imports this module before anything else of acp's, so its
first lines decide what Ctrl-C does while the rest loads: until main() has its
own handling in place, SIGINT ends the process as it does by default (status
130, no traceback, nothing half-done to clean up). _signal, not signal: it is
built in and free to import, where signal would first load enum.
"""

import _signal  # type: ignore[import-not-found]  # no stub; the same API as signal

if _signal.getsignal(_signal.SIGINT) != _signal.SIG_IGN:  # a background job ignores it
    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)


def main() -> None:
    """Run acp on this process's arguments and exit (`acp_cli.cli.boundary.main`).

    A command that plans a workspace folder has git list it while the rest of acp
    loads (`acp_cli.workspace.early`).

    The garbage collector is off until the command runs (`acp_cli.cli.options`): start-up
    (imports, the command tree) allocates much and frees next to nothing, and collecting
    in between costs a few per cent of a short command's time."""
    import gc
    import sys

    gc.disable()
    # httpx imports its own command line (click, rich, pygments: about 40 ms) whenever
    # click is installed beside it, and acp never runs it. An empty module in its place
    # makes httpx take its own fallback for a missing click. Only in acp's process: the
    # library leaves httpx to whoever imports it.
    sys.modules.setdefault("httpx._main", type(sys)("httpx._main"))

    planning = sys.argv[1:2] == ["push"]
    if planning:
        import os

        from acp_cli.workspace import early

        early.start(sys.argv[1:], os.environ)
    from acp_cli.cli.boundary import main as run_console

    try:
        run_console()
    finally:
        if planning:
            early.discard()


if __name__ == "__main__":
    main()
