#!/usr/bin/env python3
"""A minimal agent in Python: it asks learning-contractsd before it keeps a memory, and keeps
it only when the answer is yes. RegisterMemory runs the check and records the memory in one
step, so an agent that stores memories needs no separate CheckMemoryCreation.

    python3 examples/agent.py coding project-x "prefers small commits"

Uses the learning_contracts package (pip install ./python). It talks to the system bus
(DBUS_SYSTEM_BUS_ADDRESS if set); --user picks the session bus of a daemon started with --user.
Exit status: 0 kept, 10 refused by the daemon, 1 error.
"""

import sys

from learning_contracts import Client, LearningContractsError, request


def main(argv):
    bus = "system"
    if argv and argv[0] == "--user":
        bus, argv = "session", argv[1:]
    if len(argv) != 3:
        print("usage: agent.py [--user] DOMAIN CONTEXT NOTE", file=sys.stderr)
        return 2
    domain, context, note = argv
    try:
        with Client(bus) as client:
            answer = client.register_memory(request(domain, context, 1, abstraction="raw"))
    except (LearningContractsError, OSError) as err:
        print(f"agent.py: {err}", file=sys.stderr)
        return 1
    if answer:
        # The daemon said yes: this is where the agent stores the note in its own memory.
        print(f"kept memory {answer.memory_id} under contract {answer.contract_id}: {note}")
        return 0
    # Act on `allowed`, log `code`, show `reason` to the person.
    print(f"not kept ({answer.code}): {answer.reason}")
    return 10


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
