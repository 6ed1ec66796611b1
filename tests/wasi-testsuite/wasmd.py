"""wasi-testsuite runtime adapter for wasmd.

The WebAssembly/wasi-testsuite runner loads this file as a module (`-r
wasmd.py`) and asks it how to run each test: `compute_argv` turns a test's
arguments, environment and directory into a `wasmd run` command line,

    wasmd run --env K=V ... --fs-root ROOT --grant file:/ TEST.wasm -- ARGS

so the test's directory is the preopen `/` and its environment exactly the
`--env` pairs. The `wasmd` binary is `$WASMD` (split like a shell would, so
extra options can ride along), else `wasmd` on PATH. Only WASI preview 1
command modules (`wasm32-wasip1`, `wasi:cli/command`) are supported.
"""

import os
import shlex
import subprocess
from typing import Dict, List, Optional, Tuple

WASMD = shlex.split(os.getenv("WASMD", "wasmd"))


def get_name() -> str:
    return "wasmd"


def get_version() -> str:
    # `wasmd --version` prints `wasmd X.Y.Z`; no extra options from $WASMD.
    result = subprocess.run(WASMD[0:1] + ["--version"], encoding="UTF-8",
                            capture_output=True, check=True)
    return result.stdout.split()[1]


def get_wasi_versions() -> List[str]:
    return ["wasm32-wasip1"]


def get_wasi_worlds() -> List[str]:
    return ["wasi:cli/command"]


def compute_argv(test_path: str,
                 args_env_root: Tuple[List[str], Dict[str, str], Optional[str]],
                 proposals: List[str],
                 wasi_world: str,
                 wasi_version: str) -> List[str]:
    # Only what get_wasi_versions and get_wasi_worlds name reaches here;
    # proposals (sockets, http) have nothing to map to.
    del proposals, wasi_world, wasi_version
    args, env, root = args_env_root
    argv = WASMD + ["run"]
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]
    if root:
        argv += ["--fs-root", str(root), "--grant", "file:/"]
    argv += [test_path, "--"] + list(args)
    return argv
