#!/usr/bin/python3
"""A minimal agent in Python: it asks learning-contractsd before it keeps a memory, and keeps
it only when the answer is yes. RegisterMemory runs the check and records the memory in one
step, so an agent that stores memories needs no separate CheckMemoryCreation.

    python3 examples/agent.py coding project-x "prefers small commits"

Uses dbus-python (Debian: apt-get install python3-dbus). It talks to the system bus
(DBUS_SYSTEM_BUS_ADDRESS if set); --user picks the session bus of a daemon started with --user.
Exit status: 0 kept, 10 refused by the daemon, 1 error.
"""

import sys

import dbus

NAME = "org.learningcontracts.Daemon1"
PATH = "/org/learningcontracts/Daemon1"
ENFORCEMENT = "org.learningcontracts.Enforcement1"


def main(argv):
    session = len(argv) > 0 and argv[0] == "--user"
    if session:
        argv = argv[1:]
    if len(argv) != 3:
        print("usage: agent.py [--user] DOMAIN CONTEXT NOTE", file=sys.stderr)
        return 2
    domain, context, note = argv
    bus = dbus.SessionBus() if session else dbus.SystemBus()
    enforcement = dbus.Interface(bus.get_object(NAME, PATH), ENFORCEMENT)
    request = dbus.Dictionary(
        {
            "domain": dbus.String(domain),
            "context": dbus.String(context),
            "classification": dbus.Byte(1),
            "abstraction": dbus.String("raw"),
        },
        signature="sv",
    )
    try:
        allowed, code, reason, contract, memory = enforcement.RegisterMemory(request)
    except dbus.DBusException as err:
        print(f"agent.py: {err.get_dbus_name()}: {err.get_dbus_message()}", file=sys.stderr)
        return 1
    if allowed:
        # The daemon said yes: this is where the agent stores the note in its own memory.
        print(f"kept memory {memory} under contract {contract}: {note}")
        return 0
    # Act on `allowed`, log `code`, show `reason` to the person.
    print(f"not kept ({code}): {reason}")
    return 10


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
