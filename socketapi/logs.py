"""A logging set-up for serving with uvicorn: socketapi's loggers beside uvicorn's, one format.

socketapi logs on ``socketapi`` (sockets: refusals, limits, handler tracebacks; every line about
a socket starts with ``Socket <id>:``), ``socketapi.pubsub`` (the hub and its backend) and
``socketapi.relay`` (broadcasts handed in from scripts). Without a handler of its own, Python
prints only WARNING and above, with no time and no level: ``socketapi run`` applies
:func:`logging_config`; with plain uvicorn pass it as ``log_config`` (see docs/logging.md).
"""

from __future__ import annotations

from typing import Any

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def logging_config(level: str = "INFO", *, access_log: bool = True) -> dict[str, Any]:
    """A ``dictConfig`` dict for uvicorn's ``log_config``: ``socketapi`` at ``level``, uvicorn at INFO."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": FORMAT},
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(asctime)s ACCESS  %(client_addr)s - "%(request_line)s" %(status_code)s',
                "use_colors": False,
            },
        },
        "handlers": {
            "default": {"formatter": "plain", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
            "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "socketapi": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {
                "handlers": ["access"] if access_log else [],
                "level": "INFO",
                "propagate": False,
            },
        },
    }
