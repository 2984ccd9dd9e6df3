#!/bin/bash
# The device checks, run by vm.service inside a qemu VM running the Debian kernel under a real
# systemd (tests/machines/vm_devices.rs boots it). Each check prints "vm: ok - NAME" or
# "vm: FAIL - NAME: WHY" followed by the daemon's explanation of its mode, and the run goes on:
# after each check a reset step puts the guest back in a known state (volumes unmounted, no
# lockdown latched), so one failure does not hide the rest. The VM powers off when this ends.
#
# What the guest has (see tests/machines/vm_devices.rs): virtio disks with serials vmluks and
# vmlvm (empty) and vmdata (ext4, label VMDATA); an SD card (ext4, label VMSD) in an SDHCI
# reader; an xHCI controller the host hot-plugs a USB stick (ext4, label VMSTICK) into when
# asked with the console line "vm: host plug-usb" (and removes on "vm: host unplug-usb"); no
# network link but loopback.

# No pipefail: checks pipe into `grep -q`, which stops reading at the first match.
set -u
export LC_ALL=C.UTF-8 SYSTEMD_COLORS=0 SYSTEMD_PAGER= NO_COLOR=1

UNIT=learning-contractsd.service
DROPINS=/etc/learning-contracts/daemon.toml.d
# How long a check waits for the mode it expects. Under emulation on a busy 2-core host the
# daemon follows a change within about 5 s; only a check that fails waits all of it.
WAIT=15

say() { echo "vm: $*"; }

WHY=""
FAILED=0
why() { WHY="$*"; return 1; }
# Runs one check: `check NAME FUNCTION`. The function returns non-zero after `why`.
check() {
    local name="$1" started=$SECONDS
    WHY=""
    if "$2"; then
        say "ok - $name"
        say "  took $((SECONDS - started)) s"
    else
        FAILED=$((FAILED + 1))
        say "FAIL - $name: ${WHY:-a command failed}"
        say "  contractctl mode --explain:"
        contractctl mode --explain 2>&1 | sed 's/^/vm:    /'
        say "  the daemon's journal:"
        journalctl -u "$UNIT" --no-pager -n 15 -o short-monotonic | sed 's/^/vm:    /'
        say "  took $((SECONDS - started)) s"
    fi
}

# Runs `CMD…` every 200 ms until it succeeds, for at most SECONDS (a command may itself take
# a while under emulation, so the bound is on the clock, not on the tries).
wait_until() {
    local until=$((SECONDS + $1))
    shift
    while ((SECONDS < until)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    "$@" >/dev/null 2>&1
}

# The mode as contractctl shows it; the waits poll it with busctl, which starts far faster than
# contractctl under emulation.
mode() { contractctl mode 2>&1; }
mode_is() {
    [ "$(busctl get-property org.learningcontracts.Daemon1 /org/learningcontracts/Daemon1 \
        org.learningcontracts.Boundary1 Mode 2>/dev/null)" = "s \"$1\"" ]
}
# The daemon's Explain text as the bus gives it (contractctl renders it for people, without the
# one-line `Facts:` JSON the checks read): busctl prints it as `s "..."` with \n and \" escaped.
explain() {
    busctl call org.learningcontracts.Daemon1 /org/learningcontracts/Daemon1 \
        org.learningcontracts.Boundary1 Explain 2>/dev/null |
        sed 's/^s "//; s/"$//; s/\\n/\n/g; s/\\"/"/g'
}
# What the daemon read, on one line, for the reasons of a failure: the reading, the latch, the
# rule's facts, and the facts of the links or of the mounts at the MOUNT_POINTs given. The
# whole explanation follows each failure.
facts() {
    local text facts
    text=$(explain)
    facts=$(echo "$text" | sed -n 's/^Facts: //p')
    echo "$text" | grep -E '^(Reading|Lockdown latched):' | tr '\n' ';'
    echo -n " $(echo "$facts" | grep -o '"facts":{[^}]*}')"
    local mount_point
    for mount_point in "$@"; do
        if [ "$mount_point" = links ]; then
            echo -n "; $(echo "$facts" | grep -o '"links":\[[^]]*\]')"
        else
            echo -n "; $mount_point: $(mount_json "$mount_point" "$facts")"
        fi
    done
}
# The facts of the mount at MOUNT_POINT (flat objects, one per mount) from FACTS.
mount_json() {
    echo "$2" | tr '{}' '\n\n' | grep "\"mount_point\":\"$1\"" | sed 's/^/{/; s/$/}/'
}
# Waits for MODE; on a timeout sets the reason to what the daemon says instead, with the facts
# of the mount points (or "links") given.
expect_mode() {
    local want="$1" context="$2"
    shift 2
    wait_until $WAIT mode_is "$want" || why "$context: the mode is $(mode), not $want; $(facts "$@")"
}
# Whether the daemon's facts hold the mount at MOUNT_POINT with FACT set to VALUE, e.g.
# `mount_fact /srv/luks encrypted true`.
mount_fact() {
    mount_json "$1" "$(explain | sed -n 's/^Facts: //p')" | grep -q "\"$2\":$3"
}
latched() { explain | grep -q '^Lockdown latched'; }
release() {
    contractctl release-lockdown --reason "$1" >/dev/null 2>&1
}
settle() {
    # Lets udev finish with the devices a step added or removed.
    udevadm settle --timeout=30 >/dev/null 2>&1
}
restart_daemon() {
    systemctl restart $UNIT || return 1
    wait_until $WAIT busctl status org.learningcontracts.Daemon1
}

# Asks the host to act and waits for what it does to show.
host() { say "host $1"; }

# The package's files, as dpkg would unpack them, and its unit started by systemd. Not dpkg -i:
# under emulation its database and the maintainer scripts' perl take most of a minute, and the
# end-to-end suite (tests/machines/e2e_systemd.rs) checks installing and removing the package
# already.
check_install() {
    install -D -m 0644 /vm/50-vm.toml $DROPINS/50-vm.toml
    dpkg-deb -x /vm/learning-contractsd.deb / || why "dpkg-deb -x failed" || return
    # What the postinst does: the service user, the bus policy in force, the unit started.
    systemd-sysusers learning-contractsd.conf || why "systemd-sysusers failed" || return
    busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig ||
        why "dbus-daemon did not reload its configuration" || return
    systemctl start $UNIT || why "systemctl start failed: $(systemctl status $UNIT --no-pager 2>&1 | tail -n 5)" || return
    [ "$(readlink -f "$(systemctl show -P FragmentPath $UNIT)")" = /usr/lib/systemd/system/$UNIT ] ||
        why "the unit is not the packaged one: $(systemctl show -P FragmentPath $UNIT)" || return
    wait_until $WAIT busctl status org.learningcontracts.Daemon1 || why "the daemon is not on the bus" || return
    journalctl -u $UNIT --no-pager -o verbose | grep -q 'FILE=.*/50-vm.toml' || why "the daemon did not read 50-vm.toml" || return
}

check_baseline() {
    expect_mode COLDROOM "loopback only, a volatile root and no disk mounted" || return
}

LUKS_KEY=/run/vm-luks.key
luks_format() {
    # Cheap key derivation: the emulated CPU is slow and the key is a test's.
    cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
        --key-file $LUKS_KEY "$1" && cryptsetup open --key-file $LUKS_KEY "$1" "$2"
}

check_luks() {
    head -c 32 /dev/urandom >$LUKS_KEY
    modprobe dm_crypt || why "modprobe dm_crypt failed" || return
    luks_format /dev/disk/by-id/virtio-vmluks vmluks >/tmp/luks.log 2>&1 || why "cryptsetup failed: $(cat /tmp/luks.log)" || return
    mkfs.ext4 -q /dev/mapper/vmluks || why "mkfs.ext4 on the LUKS volume failed" || return
    mkdir -p /srv/luks && mount -o rw /dev/mapper/vmluks /srv/luks || why "cannot mount the LUKS volume" || return
    touch /srv/luks/written || why "the LUKS volume is not writable" || return
    expect_mode COLDROOM "a LUKS2 volume mounted at /srv/luks" /srv/luks || return
    mount_fact /srv/luks encrypted true || why "/srv/luks does not read as encrypted: $(facts /srv/luks)" || return
    mount_fact /srv/luks writable true || why "/srv/luks does not read as writable: $(facts /srv/luks)" || return
}

check_lvm_on_luks() {
    luks_format /dev/disk/by-id/virtio-vmlvm vmlvm >/tmp/luks.log 2>&1 || why "cryptsetup failed: $(cat /tmp/luks.log)" || return
    {
        pvcreate -q /dev/mapper/vmlvm && vgcreate -q vmvg /dev/mapper/vmlvm &&
            lvcreate -q -y -n data -l 100%FREE vmvg
    } >/tmp/lvm.log 2>&1 || why "LVM failed: $(cat /tmp/lvm.log)" || return
    settle
    mkfs.ext4 -q /dev/vmvg/data || why "mkfs.ext4 on the logical volume failed" || return
    mkdir -p /srv/lvm && mount -o rw /dev/vmvg/data /srv/lvm || why "cannot mount the logical volume" || return
    touch /srv/lvm/written || why "the logical volume is not writable" || return
    expect_mode COLDROOM "LVM on LUKS mounted at /srv/lvm" /srv/lvm || return
    mount_fact /srv/lvm encrypted true || why "/srv/lvm does not read as encrypted: $(facts /srv/lvm)" || return
}

USB_PLUGGED=0
check_usb_latches() {
    expect_mode COLDROOM "before the USB stick" || return
    host plug-usb
    USB_PLUGGED=1
    wait_until 30 test -e /dev/disk/by-label/VMSTICK || why "the USB stick did not appear (ls /dev/disk/by-id: $(ls /dev/disk/by-id | tr '\n' ' '))" || return
    mkdir -p /media/stick && mount /dev/disk/by-label/VMSTICK /media/stick || why "cannot mount the USB stick" || return
    expect_mode LOCKDOWN "a USB stick mounted in COLDROOM" /media/stick || return
    latched || why "LOCKDOWN is not latched: $(facts)" || return
}

check_usb_release() {
    umount /media/stick 2>/dev/null
    if [ $USB_PLUGGED = 1 ]; then
        host unplug-usb
        USB_PLUGGED=0
        wait_until 30 test ! -e /dev/disk/by-label/VMSTICK || why "the USB stick did not go away" || return
    fi
    release "the USB stick is gone" || why "contractctl release-lockdown failed: $(release x 2>&1)" || return
    expect_mode COLDROOM "the USB stick removed and the lockdown released" || return
}

check_sd_latches() {
    expect_mode COLDROOM "before the SD card" || return
    wait_until 10 test -e /dev/disk/by-label/VMSD || why "no SD card (ls /sys/block: $(ls /sys/block | tr '\n' ' '))" || return
    mkdir -p /media/sd && mount /dev/disk/by-label/VMSD /media/sd || why "cannot mount the SD card" || return
    expect_mode LOCKDOWN "an SD card ($(basename "$(readlink -f /dev/disk/by-label/VMSD)")) mounted in COLDROOM" /media/sd || return
    latched || why "LOCKDOWN is not latched: $(facts)" || return
}

check_data_disk_running() {
    expect_mode COLDROOM "before the data disk" || return
    mkdir -p /srv/data && mount -o rw /dev/disk/by-label/VMDATA /srv/data || why "cannot mount the data disk" || return
    expect_mode AIRGAP "an unencrypted ext4 disk mounted writable at /srv/data" /srv/data || return
    mount_fact /srv/data encrypted false || why "/srv/data does not read as unencrypted: $(facts /srv/data)" || return
}

check_data_disk_at_start() {
    mountpoint -q /srv/data || mount -o rw /dev/disk/by-label/VMDATA /srv/data || why "cannot mount the data disk" || return
    # As on a real host, where the disks are mounted at boot: the unit's ProtectSystem=strict
    # remounts what is there at its start read-only in the daemon's own view.
    restart_daemon || why "the daemon did not restart" || return
    expect_mode AIRGAP "an unencrypted ext4 disk mounted writable at /srv/data before the daemon started" /srv/data || return
    mount_fact /srv/data writable true || why "/srv/data does not read as writable: $(facts /srv/data)" || return
}

check_wifi_latches() {
    # Mounted while the daemon runs, so it reads writable whatever the unit's sandbox does to
    # mounts that were there at its start.
    mount -o rw /dev/disk/by-label/VMDATA /srv/data || why "cannot mount the data disk" || return
    expect_mode AIRGAP "the data disk mounted, before the wifi interface" /srv/data || return
    modprobe mac80211_hwsim radios=1 || why "modprobe mac80211_hwsim failed" || return
    wait_until 10 test -e /sys/class/ieee80211 -a -n "$(ls /sys/class/ieee80211)" || why "no wifi device appeared" || return
    expect_mode LOCKDOWN "a wifi interface ($(ls /sys/class/net | tr '\n' ' ')) appeared in AIRGAP" links || return
    latched || why "LOCKDOWN is not latched: $(facts)" || return
}

# The link checks bring links up in AIRGAP; that latching LOCKDOWN has checks of its own.
links_without_tripwire() {
    printf '[mode.detect.tripwires]\nlink_up_while_isolated = false\nlink_appears_while_isolated = false\n' >$DROPINS/60-vm-links.toml
    restart_daemon
}

check_wireguard_trusted() {
    links_without_tripwire || why "the daemon did not restart without the link tripwire" || return
    modprobe wireguard || why "modprobe wireguard failed" || return
    ip link add wg0 type wireguard || why "cannot make a wireguard link" || return
    wg set wg0 private-key <(wg genkey) || why "wg set failed" || return
    ip addr add 10.99.0.1/24 dev wg0 && ip link set wg0 up || why "cannot bring wg0 up" || return
    ip route add default dev wg0 || why "cannot route through wg0" || return
    expect_mode TRUSTED "the only default route through wireguard wg0" links || return
}

check_plain_open() {
    ip link show wg0 >/dev/null 2>&1 || why "no wg0 (the wireguard check failed)" || return
    modprobe dummy || why "modprobe dummy failed" || return
    ip link add plain0 type dummy || why "cannot make a dummy link" || return
    ip addr add 192.0.2.1/24 dev plain0 && ip link set plain0 up || why "cannot bring plain0 up" || return
    ip route replace default via 192.0.2.254 dev plain0 || why "cannot route through plain0" || return
    expect_mode OPEN "the only default route through plain0 (kind dummy)" links || return
}

# Puts the guest back where the next check expects it: nothing but the encrypted volumes
# mounted, no removable media, no lockdown latched.
reset() {
    umount /media/stick /media/sd /srv/data 2>/dev/null
    if [ $USB_PLUGGED = 1 ]; then
        host unplug-usb
        USB_PLUGGED=0
        wait_until 30 test ! -e /dev/disk/by-label/VMSTICK
    fi
    rmmod mac80211_hwsim 2>/dev/null
    settle
    if latched; then
        release "vm: reset after a check" || say "  reset: the release failed: $(facts)"
    fi
    return 0
}

say "start"
check "the daemon runs under the packaged unit" check_install
check "loopback only and a volatile root read COLDROOM" check_baseline
check "a LUKS2 volume mounted writable reads encrypted: COLDROOM" check_luks
check "LVM on LUKS mounted writable reads encrypted: COLDROOM" check_lvm_on_luks
check "a USB stick hot-plugged and mounted in COLDROOM latches LOCKDOWN" check_usb_latches
check "removing the USB stick and an admin release return to COLDROOM" check_usb_release
reset
check "an SD card mounted in COLDROOM latches LOCKDOWN" check_sd_latches
reset
check "an unencrypted ext4 data disk mounted while the daemon runs reads AIRGAP" check_data_disk_running
check "an unencrypted ext4 data disk mounted before the daemon starts reads AIRGAP" check_data_disk_at_start
reset
check "a wifi interface appearing in AIRGAP latches LOCKDOWN" check_wifi_latches
reset
check "a wireguard link carrying the only default route reads TRUSTED" check_wireguard_trusted
check "the default route through a plain link reads OPEN" check_plain_open
if [ $FAILED = 0 ]; then
    say "all checks passed"
else
    say "$FAILED checks failed"
fi
# The verdict is in the lines above; the unit's status ends the VM either way.
exit $((FAILED > 0))
