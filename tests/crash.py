"""Run kpki commands in processes that kill themselves at a named fault point.

:class:`CrashRunner` starts one worker process (a fresh interpreter, single-threaded) that
imports kpki once; for each :meth:`CrashRunner.run` the worker forks a child that sets
``KPKI_FAULT`` and runs the CLI, so the child dies by SIGKILL exactly at that point
(:mod:`pki.faults`), with no interpreter start-up per run. RSA keys in the worker come from
a small pre-generated pool (generating them is not what these tests are about). The test
inspects the files and the store between runs; the worker holds no store open.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

_WORKER = r"""
import itertools, json, os, signal, sys
from cryptography.hazmat.primitives.asymmetric import rsa
from pki.keys import generate
from pki.cli.main import load_commands, main

load_commands()  # every command imported here once, not in each forked child

_pool = itertools.cycle([rsa.generate_private_key(public_exponent=65537, key_size=2048)
                         for _ in range(4)])
generate.RSAKeyGenerator.generate = lambda self, bits: next(_pool)
print("ready", flush=True)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.environ.update(request["env"])
        if request["fault"]:
            os.environ["KPKI_FAULT"] = request["fault"]
        else:
            os.environ.pop("KPKI_FAULT", None)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os._exit(main(request["argv"]))
    _, status = os.waitpid(pid, 0)
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    print(json.dumps({"killed": killed, "exit": code}), flush=True)
"""


@dataclass(frozen=True)
class Outcome:
    killed: bool
    exit: int | None


class CrashRunner:
    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KPKI_")}
        self._proc = subprocess.Popen([sys.executable, "-c", _WORKER], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, env=env)
        assert self._proc.stdout is not None
        assert self._proc.stdout.readline().strip() == "ready"

    def run(self, argv: list[str], *, fault: str | None, env: dict[str, str]) -> Outcome:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps({"argv": argv, "fault": fault, "env": env}) + "\n")
        self._proc.stdin.flush()
        result = json.loads(self._proc.stdout.readline())
        return Outcome(result["killed"], result["exit"])

    def close(self) -> None:
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                pipe.close()
        self._proc.wait(timeout=30)
