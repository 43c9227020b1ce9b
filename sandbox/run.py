"""`make run`: the whole bot on this machine. With SLACK_BOT_TOKEN set, the Procfile's web, worker and clock run
here with the current environment, like `heroku local`; without it, the sandbox (`sandbox.sandbox`) runs them
against stand-ins for every service, with a channel page in the browser.

    python -m sandbox.run            # real bot, or the sandbox when SLACK_BOT_TOKEN is unset
    python -m sandbox.run --verbose  # sandbox: also stream the processes' output

The processes themselves are run by sandbox/processes.py.
"""

from __future__ import annotations

import argparse
import os
import sys

from sandbox.processes import PROCESSES, Supervisor, describe_death, process_env, read_procfile, stop_signals


def run_real(*, echo: bool = True) -> int:
    """The Procfile's web, worker and clock with the current environment; web on $PORT (default 5000)."""
    from domain.settings import SettingsError, load_settings

    try:
        load_settings()
    except SettingsError as exc:
        print(f"cftoken: {exc}", file=sys.stderr)
        return 1
    stop = stop_signals()
    procfile = read_procfile()
    supervisor = Supervisor(echo=echo)
    env = process_env(dict(os.environ), PORT=os.environ.get("PORT", "5000"))
    try:
        for name in PROCESSES:
            supervisor.start(name, procfile[name], env)
        dead = supervisor.wait(stop)
        if dead is not None:
            print(f"cftoken: {describe_death(dead)}", file=sys.stderr)
            return 1
        return 0
    finally:
        supervisor.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run cftoken locally: the real bot, or the sandbox.")
    parser.add_argument("--verbose", "-v", action="store_true", help="sandbox: stream the processes' output")
    parser.add_argument("--fakeredis", action="store_true",
                        help="sandbox: use the embedded fakeredis even when redis-server is installed")
    args = parser.parse_args(argv)
    if os.environ.get("SLACK_BOT_TOKEN"):
        return run_real()
    from sandbox.sandbox import run_sandbox

    return run_sandbox(echo=args.verbose, fakeredis=args.fakeredis)


if __name__ == "__main__":
    sys.exit(main())
