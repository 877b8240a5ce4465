"""Getting Ray: the install hint, and a private local cluster that listens on 127.0.0.1 only.

Kept apart from the executor so that ``check_executor`` can say "install Ray" before any work is
planned, without importing the actor code.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import ConfigError

RAY_INSTALL = "pip install 'fabricator-data[ray]'"
#: the switch Ray reads to decide whether a node may join others (off: its IP is 127.0.0.1)
_RAY_CLUSTER_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def start_local_ray(**options: Any) -> None:
    """``ray.init`` of a private local cluster whose ports listen on 127.0.0.1 only, no dashboard.

    Ray binds its servers to the loopback interface only when the node's IP is 127.0.0.1; on Linux
    it takes the machine's address instead (and maps ``_node_ip_address="127.0.0.1"`` back to it)
    unless multi-node clusters are switched off, as Ray does on macOS and Windows. The switch (an
    environment variable its processes inherit, and the constant the driver reads) is on only
    while the cluster starts, so a later ``ray.init(address=...)`` in this process is unchanged.
    """
    ray = require_ray()
    constants: Any = getattr(getattr(ray, "_private", None), "ray_constants", None)
    saved_env = os.environ.get(_RAY_CLUSTER_SWITCH)
    saved_flag = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[_RAY_CLUSTER_SWITCH] = "0"
    if saved_flag is not None:
        constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(**{"_node_ip_address": "127.0.0.1", "include_dashboard": False, **options})
    finally:
        if saved_env is None:
            os.environ.pop(_RAY_CLUSTER_SWITCH, None)
        else:
            os.environ[_RAY_CLUSTER_SWITCH] = saved_env
        if saved_flag is not None:
            constants.ENABLE_RAY_CLUSTER = saved_flag


def require_ray() -> Any:
    """The ``ray`` module with Ray Data, or a ``ConfigError`` that says how to install it."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ConfigError(
            f"engine='ray' needs Ray Data, which is not installed: {RAY_INSTALL}",
            hint=f"{RAY_INSTALL} (Ray >= 2.40), or use engine='local'",
        ) from exc
    return ray


__all__ = ["RAY_INSTALL", "require_ray", "start_local_ray"]
