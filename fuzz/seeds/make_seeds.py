#!/usr/bin/env python3
"""Writes the hand-made seeds of every target into corpus/<target>/seed-*.

The fuzzers start from these and grow the corpus from there; rerunning this only rewrites the
seed-* files. Request seeds are D-Bus a{sv} bodies, marshalled here by hand (little-endian,
with a few big-endian ones) so no build is needed.
"""

import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FUZZ = os.path.dirname(HERE)
ROOT = os.path.dirname(FUZZ)


def put(target, name, data):
    folder = os.path.join(FUZZ, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


# --- config -----------------------------------------------------------------------------
with open(os.path.join(ROOT, "config", "daemon.toml")) as f:
    put("config", "shipped", f.read())
CONFIGS = {
    "empty": "",
    "static": '[mode]\nsource = "static"\nstatic_mode = "AIRGAP"\nsettle_time_ms = 500\n',
    "unix": '[authorization]\nmode = "unix"\nadmin_group = "adm"\n',
    "delegation": '[[delegation]]\nagent = 1000\nowners = [1001, "alice"]\n',
    "rules": '[[mode.detect.rules]]\nwhen = ["!removable_media", "storage_encrypted"]\nmode = "COLDROOM"\n'
    '[[mode.detect.rules]]\nwhen = []\nmode = "AIRGAP"\n',
    "mounts": '[mode.detect.mounts]\nvolatile_fstypes = ["tmpfs"]\nignore_mount_points = ["/proc"]\n'
    'sysfs_root = "/sys"\nremovable_buses = ["usb", "sd", "sata_hotplug"]\n[mode.detect.tripwires]\n',
    "boundary": '[mode]\nsource = "boundary-daemon"\n[mode.boundary_daemon]\n'
    'socket = "/run/boundary-daemon/boundary.sock"\npoll_interval_ms = 10\ntimeout_ms = 1\n'
    'max_backoff_ms = 10\ntoken = "bd_x"\npush_lockdown = true\n',
    "limits": "[limits]\nmax_entries = 1\nmax_string_bytes = 0\nmax_audit_read = 1\n"
    "[sessions]\nidle_timeout_secs = 9223372036854775807\nmax_per_owner = 1\n",
    "settle-huge": "[mode]\nsettle_time_ms = 9223372036854775807\n",
    "gates": '[gates]\ndenied_tools = [" Curl ", "ssh"]\n[lockdown]\nfreeze_units = ["agent.service"]\n',
    "links": '[mode.detect]\nvpn_kinds = ["WireGuard"]\nvpn_links = ["tun*", "*vpn*"]\nignore_links = ["docker0"]\n',
}
for name, text in CONFIGS.items():
    put("config", name, text)

# --- boundary_reply -----------------------------------------------------------------------
def status(mode, latch=None, **extra):
    reply = {
        "success": True,
        "status": {
            "running": True,
            "boundary_state": {
                "mode": mode,
                "network": "online",
                "last_transition": "2025-01-02T03:00:00Z",
                "operator": "human",
            },
            "lockdown": latch,
            "environment": {"interfaces": [{"name": "eth0", "up": True}], "hostname": "h"},
        },
    }
    reply.update(extra)
    return json.dumps(reply, separators=(",", ":"))


for mode in ["open", "restricted", "trusted", "airgap", "coldroom", "lockdown"]:
    put("boundary_reply", mode, status(mode))
put("boundary_reply", "latched", status("open", {"in_lockdown": True, "reason": "usb\ninserted", "timestamp": "2025-01-02T03:04:05Z"}))
put("boundary_reply", "unknown-mode", status("OPEN"))
put("boundary_reply", "number-mode", status(3))
put("boundary_reply", "top-level-mode", '{"success":true,"status":{"mode":"open"}}')
put("boundary_reply", "refused", '{"success":false,"error":"invalid token","auth_error":true}')
put("boundary_reply", "refused-message", '{"success":false,"message":"' + "x" * 300 + '"}')
put("boundary_reply", "invalid-json", '{"error": "Invalid JSON"}')
put("boundary_reply", "garbage", "HTTP/1.1 400 Bad Request\r\n\r\n")
put("boundary_reply", "array", '[{"success":true}]')

# --- plain_text ---------------------------------------------------------------------------
SENTENCES = [
    "Learn coding tips from project alpha for 3 weeks",
    "Never learn anything about my health",
    "Watch my cooking but keep nothing",
    "Remember my travel plans at home until 1 March 2027, but not at work",
    "Learn strategies for finance in any context forever, and share them with my team",
    "Don't generalize: remember episodes of debugging in the beta repo for this session only",
    "Learn music with the browser and the terminal until 2027-02-30",
    "Learn writing tips in the thesis project for the next two months only while I am present",
    "forbid learning about finance except at work until I revoke it",
    "Learn python via any tool except the browser for 99999 years",
    "learn cooking recipes / coding at school for a fortnight; not forever",
    "Learn ‘rust’ in project-x until March 1, 2027",
]
for index, sentence in enumerate(SENTENCES):
    put("plain_text", f"{index:02}", bytes([index % 4]) + sentence.encode())

# --- mountinfo ----------------------------------------------------------------------------
MOUNTS = """22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:21 / /proc rw,nosuid - proc proc rw
24 22 0:22 / /sys rw - sysfs sysfs rw
25 22 0:23 / /tmp rw shared:5 master:2 - tmpfs tmpfs rw,size=1024k
26 22 253:0 / /home rw - ext4 /dev/mapper/cryptroot rw
27 22 8:17 / /media/usb\\040stick ro,nosuid - vfat /dev/sdb1 ro
28 22 0:40 / /data rw - btrfs /dev/dm-0 rw
29 22 0:41 / /mnt/fuse rw - fuse.sshfs /dev/sda2 rw
30 22 253:1 / /usr ro - ext4 /dev/mapper/verity ro
31 22 253:3 / /srv rw - xfs /dev/dm-3 rw
32 22 0:50 / /mnt/nfs rw - nfs4 server:/export rw
33 22 0:51 / /mnt/empty rw - tmpfs  rw
"""
put("mountinfo", "table", MOUNTS)
put("mountinfo", "no-root", "".join(MOUNTS.splitlines(True)[1:]))
put("mountinfo", "escapes", "40 22 8:2 / /a\\011b\\012c\\134d\\400e\\1 rw - ext4 /dev/sda2 rw\n")
put("mountinfo", "desktop", """1 0 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
2 1 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw,size=8000000k,mode=755
3 1 0:24 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=1600000k,mode=755
4 3 8:33 / /run/media/alice/USB\040DISK rw,nosuid,nodev shared:300 - exfat /dev/sdc1 rw,uid=1000
5 1 0:60 / /home/alice/remote rw,nosuid,nodev shared:310 - fuse.sshfs alice@host:/srv rw,user_id=1000
6 1 0:30 / /snap/core/1 ro,nodev,relatime shared:40 - squashfs /dev/loop0 ro
""")

# --- requests -----------------------------------------------------------------------------
class Writer:
    def __init__(self, endian):
        self.e = endian
        self.b = bytearray()

    def pad(self, n):
        while len(self.b) % n:
            self.b.append(0)

    def u32(self, v):
        self.pad(4)
        self.b += struct.pack(self.e + "I", v)

    def string(self, s):
        s = s.encode()
        self.u32(len(s))
        self.b += s + b"\0"

    def signature(self, s):
        self.b += bytes([len(s)]) + s.encode() + b"\0"

    def value(self, sig, v):
        if sig == "s":
            self.string(v)
        elif sig == "b":
            self.u32(1 if v else 0)
        elif sig == "u":
            self.u32(v)
        elif sig == "y":
            self.b.append(v)
        elif sig == "x":
            self.pad(8)
            self.b += struct.pack(self.e + "q", v)
        elif sig == "as":
            self.u32(0)
            at = len(self.b)
            start = len(self.b)
            for item in v:
                self.string(item)
            struct.pack_into(self.e + "I", self.b, at - 4, len(self.b) - start)
        elif sig == "v":
            inner_sig, inner = v
            self.signature(inner_sig)
            self.value(inner_sig, inner)
        else:
            raise ValueError(sig)


def asv(entries, endian="<"):
    w = Writer(endian)
    w.u32(0)
    at = len(w.b)
    w.pad(8)
    start = len(w.b)
    for key, (sig, value) in entries.items():
        w.pad(8)
        w.string(key)
        w.signature(sig)
        w.value(sig, value)
    struct.pack_into(endian + "I", w.b, at - 4, len(w.b) - start)
    return bytes(w.b)


REQUESTS = {
    "spec": {"domains": ("as", ["coding", "Rust"]), "contexts": ("as", ["project-alpha"]),
             "tools": ("as", ["*"]), "retention": ("s", "timebound"),
             "retention_until": ("x", 1830000000), "classification_cap": ("y", 3),
             "required_mode": ("s", "airgap"), "max_abstraction": ("s", "heuristic"),
             "transferable": ("b", False), "recall_requires_owner": ("b", True),
             "description": ("s", "coding tips"), "system": ("b", False)},
    "check": {"domain": ("s", "coding"), "context": ("s", "project-alpha"), "tool": ("s", "editor"),
              "classification": ("y", 2), "contract_id": ("s", "01HZX"), "owner": ("u", 1000)},
    "abstraction": {"domain": ("s", "coding"), "context": ("s", "work"), "classification": ("y", 0),
                    "abstraction": ("s", "strategy")},
    "recall": {"domain": ("s", "coding"), "context": ("s", "work"), "classification": ("y", 5),
               "memory_id": ("s", "01HZY")},
    "register": {"domain": ("s", "coding"), "context": ("s", "work"), "classification": ("y", 1),
                 "abstraction": ("s", "pattern"), "memory_id": ("s", "m1"),
                 "derived_from": ("as", ["m0", "m00"])},
    "filter": {"state": ("s", "active"), "kind": ("s", "episodic"), "owner": ("u", 0)},
    "needs": {"network": ("b", True), "filesystem": ("b", False), "usb": ("b", True)},
    "options": {"owner": ("u", 1000)},
    "params-coding": {"project": ("s", "alpha"), "language": ("s", "rust"), "tool": ("s", "editor")},
    "params-journal": {"until": ("s", "2027-03-01")},
    "params-weeks": {"weeks": ("s", "3"), "subject": ("s", "cooking")},
    "any-domain": {"domain": ("s", "*"), "context": ("s", "x"), "classification": ("y", 9)},
    "wrong-type": {"domain": ("u", 1), "unknown": ("s", "x")},
    "nested": {"description": ("v", ("s", "inside"))},
    "empty": {},
}
for name, entries in REQUESTS.items():
    put("requests", name, b"\x00" + asv(entries))
    put("requests", name + "-tiny", b"\x02" + asv(entries))
put("requests", "check-be", b"\x01" + asv(REQUESTS["check"], ">"))
# Oversized keys and values: refused, and echoed only cut short.
put("requests", "long-key", b"\x00" + asv({"k" * 2000: ("s", "x")}))
put("requests", "long-key-u", b"\x00" + asv({"k" * 2000: ("u", 1)}))
put("requests", "long-unknown-param", b"\x00" + asv({"q" * 3000: ("s", "x")}))
put("requests", "long-value", b"\x00" + asv({"project": ("s", "p" * 3000)}))
print("seeds written", file=sys.stderr)
