"""What the tests share: free ports, polling, clocks moved by hand, and launching and
stopping server processes (``facekeep serve``, OpenBao, ...).

Import from here (``from tests.support import free_port``) rather than copying a helper
into a test module: one copy, one behaviour.
"""

from tests.support.clocks import START, Clock, Ticker
from tests.support.ports import free_port
from tests.support.servers import Server, http_ready, launch_server, stop_process, wait_ready
from tests.support.waiting import wait_until

__all__ = [
    "START",
    "Clock",
    "Server",
    "Ticker",
    "free_port",
    "http_ready",
    "launch_server",
    "stop_process",
    "wait_ready",
    "wait_until",
]
