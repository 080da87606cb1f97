"""A bot as its own process against the bench server: started, watched for its peak memory, stopped."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bench.server import BenchServer

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60.0


class BotProcess:
    def __init__(self, server: BenchServer, args: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.server = server
        self.args = args
        self.log_path = log_path
        self.env = {
            **os.environ,
            **env,
            "BOT_TOKEN": server.token,
            "BOT_API_URL": server.base_url,
            "PYTHONUNBUFFERED": "1",
        }
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start it and wait until it polls for updates (its start-up work is done by then)."""
        polls_before = self.server.polls
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, *self.args, cwd=ROOT, env=self.env, stdout=log, stderr=log
            )
        async with asyncio.timeout(START_TIMEOUT):
            while self.server.polls == polls_before:
                if self.process.returncode is not None:
                    raise RuntimeError(
                        f"{self.args} exited with {self.process.returncode}; see {self.log_path}"
                    )
                await asyncio.sleep(0.05)

    def peak_rss_mb(self) -> float:
        """The process's peak resident set so far (VmHWM), in MiB."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc status")

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()  # SIGTERM: aiogram stops polling and closes (and cProfile writes its file)
        await asyncio.wait_for(self.process.wait(), 30)

    def log_errors(self) -> int:
        """Lines of the process's log that report an error."""
        text = self.log_path.read_text(errors="replace")
        return sum(1 for line in text.splitlines() if " ERROR " in line or line.startswith("Traceback"))
