#!/bin/bash
# The end-to-end checks, run by e2e.service inside a container booted with a real systemd
# (tests/machines/e2e_systemd.rs starts it). Each check prints "e2e: ok - NAME" or
# "e2e: FAIL - NAME: WHY" on the console; the first failure stops the run with the daemon's
# journal and exit status 1. Later checks build on earlier ones (the package installed, the
# users made), so they run in order.

# No pipefail: many checks pipe into `grep -q`, which stops reading at the first match, and the
# writer's SIGPIPE must not turn a match into a failure.
set -u
export LC_ALL=C.UTF-8 SYSTEMD_COLORS=0 SYSTEMD_PAGER= NO_COLOR=1

UNIT=learning-contractsd.service
NAME=org.learningcontracts.Daemon1
OBJ=/org/learningcontracts/Daemon1
# The journal's MESSAGE_IDs (src/app/journal.rs).
MSG_STARTED=6f3c1a0e2b7d4f55a1c9e8d7b6a50001
MSG_MODE=6f3c1a0e2b7d4f55a1c9e8d7b6a50002
MSG_CONTRACT=6f3c1a0e2b7d4f55a1c9e8d7b6a50003
MSG_RELOAD=6f3c1a0e2b7d4f55a1c9e8d7b6a50005
# The audit checkpoints' MESSAGE_ID (src/core/checkpoint.rs).
MSG_CHECKPOINT=03c0ff71d07840208240a741a4e03ddd
STORE=/var/lib/learning-contracts/contracts.db

say() { echo "e2e: $*"; }

# Runs one check: `check NAME FUNCTION`. The function returns non-zero after `why`.
WHY=""
why() { WHY="$*"; return 1; }
check() {
    local name="$1"
    WHY=""
    if "$2"; then
        say "ok - $name"
    else
        say "FAIL - $name: ${WHY:-a command failed}"
        say "the daemon's journal:"
        journalctl -u "$UNIT" --no-pager -n 40 -o short-monotonic | sed 's/^/e2e:   /'
        say "polkitd's journal:"
        journalctl -u polkit.service --no-pager -n 20 -o short-monotonic | sed 's/^/e2e:   /'
        exit 1
    fi
}

# Polls `CMD…` every 100 ms until it succeeds, for at most SECONDS.
wait_until() {
    local seconds="$1"
    shift
    local tries=$((seconds * 10))
    while ((tries-- > 0)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

prop() { systemctl show -P "$2" "$1"; }
as_user() { runuser -u "$1" -- "${@:2}"; }
mode_is() { [ "$(contractctl mode)" = "$1" ]; }
journal_of() { journalctl -u "$UNIT" --no-pager -o cat "$@"; }

check_install() {
    dpkg -i /e2e/learning-contractsd.deb >/tmp/dpkg.log 2>&1 || why "dpkg -i failed: $(cat /tmp/dpkg.log)" || return
    getent passwd learning-contracts >/dev/null || why "sysusers made no learning-contracts user" || return
    [ "$(systemctl is-enabled $UNIT)" = enabled ] || why "the postinst did not enable the unit" || return
    [ "$(systemctl is-active $UNIT)" = active ] || why "the postinst did not start the unit" || return
    dpkg-query -W -f='${Conffiles}' learning-contractsd | grep -q /etc/learning-contracts/daemon.toml ||
        why "daemon.toml is not a conffile" || return
    local file
    for file in /usr/share/man/man8/learning-contractsd.8.gz /usr/share/man/man1/contractctl.1.gz \
        /usr/share/bash-completion/completions/contractctl /usr/share/zsh/vendor-completions/_contractctl \
        /usr/share/fish/vendor_completions.d/contractctl.fish \
        /usr/share/dbus-1/system.d/$NAME.conf /usr/share/dbus-1/system-services/$NAME.service \
        /usr/share/dbus-1/interfaces/org.learningcontracts.Enforcement1.xml \
        /usr/share/polkit-1/actions/org.learningcontracts.policy \
        /usr/share/polkit-1/rules.d/learning-contractsd.rules; do
        [ -s "$file" ] || why "the package did not install $file" || return
    done
    zcat /usr/share/man/man8/learning-contractsd.8.gz | grep -q '^\.TH learning-contractsd 8' ||
        why "learning-contractsd(8) is not a section 8 man page" || return
}

check_setup() {
    useradd -M e2e-admin && useradd -M e2e-user || why "useradd failed" || return
    install -D -m 0644 /e2e/50-e2e-admin.rules /etc/polkit-1/rules.d/50-e2e-admin.rules
    install -D -m 0644 /e2e/50-e2e.toml /etc/learning-contracts/daemon.toml.d/50-e2e.toml
    install -m 0644 /e2e/e2e-agent.service /run/systemd/system/e2e-agent.service
    systemctl daemon-reload
    systemctl start e2e-agent.service || why "the dummy agent did not start" || return
    systemctl restart $UNIT || why "the restart with the test configuration failed" || return
}

check_ready_before_active() {
    systemctl stop $UNIT
    [ "$(prop $UNIT ActiveState)" = inactive ] || why "the unit did not stop" || return
    local cursor
    cursor=$(journalctl -n 0 --show-cursor -q | sed -n 's/^-- cursor: //p')
    systemctl start $UNIT || why "systemctl start failed" || return
    [ "$(prop $UNIT Type)" = notify ] || why "the unit is not Type=notify" || return
    [ "$(prop $UNIT ActiveState)/$(prop $UNIT SubState)" = active/running ] ||
        why "not active/running after systemctl start returned" || return
    # systemctl start returns for a notify unit only once READY=1 came: by then the name is
    # owned and the first mode reading is in, so the STATUS line names a mode.
    busctl status $NAME >/dev/null 2>&1 || why "active, but $NAME has no owner" || return
    prop $UNIT StatusText | grep -q '^Mode [A-Z]' || why "active without a STATUS line: '$(prop $UNIT StatusText)'" || return
    # The journal in order: the daemon opened its store (before READY) before systemd said the
    # unit had started.
    local order
    order=$(journal_of --after-cursor="$cursor" | grep -n -e '^store opened' -e "^Started $UNIT" | cut -d: -f2-)
    [ "$(echo "$order" | head -n 1)" = "store opened" ] && echo "$order" | grep -q "^Started $UNIT" ||
        why "the journal does not show the store opened before the unit started: $order" || return
}

check_status_line() {
    local status
    status=$(systemctl status $UNIT --no-pager)
    echo "$status" | grep -Eq 'Status: "Mode AIRGAP \(source detect, healthy\); [0-9]+ active, [0-9]+ suspended contracts"' ||
        why "systemctl status shows no STATUS line: $status" || return
}

check_polkit() {
    journal_of | grep -q '^authorization mode' || why "no authorization mode logged" || return
    journalctl -u $UNIT -o verbose --no-pager | grep -q 'AUTHORIZATION=polkit' ||
        why "the daemon did not choose polkit" || return
    # An owner activating their own contract: polkit's confirm-own. The rule lets e2e-admin
    # through without a password; e2e-user would have to authenticate and cannot here.
    local draft
    draft=$(as_user e2e-user contractctl new episodic --domain coding --context '*' --retention permanent | awk '/^Draft /{print $2}')
    [ -n "$draft" ] || why "e2e-user could not draft a contract" || return
    as_user e2e-user contractctl submit "$draft" >/dev/null || why "e2e-user could not submit" || return
    as_user e2e-user contractctl activate "$draft" --yes >/dev/null 2>&1
    local status=$?
    [ $status -eq 3 ] || why "activation without authentication answered exit $status, not 3 (denied)" || return
    as_user e2e-user contractctl lockdown --reason "not an admin" >/dev/null 2>&1
    status=$?
    [ $status -eq 3 ] || why "lockdown by e2e-user answered exit $status, not 3" || return
    busctl status org.freedesktop.PolicyKit1 >/dev/null 2>&1 || why "polkitd is not on the bus" || return
    ADMIN_CONTRACT=$(as_user e2e-admin contractctl new episodic --domain coding --context '*' --retention permanent | awk '/^Draft /{print $2}')
    as_user e2e-admin contractctl submit "$ADMIN_CONTRACT" >/dev/null &&
        as_user e2e-admin contractctl activate "$ADMIN_CONTRACT" --yes >/dev/null ||
        why "e2e-admin, allowed by the polkit rule, could not activate its contract" || return
    as_user e2e-admin contractctl show "$ADMIN_CONTRACT" --json | grep -q '"state": *"active"' ||
        why "the contract is not active" || return
}

check_journal() {
    journal_of MESSAGE_ID=$MSG_STARTED | grep -q "is ready on $NAME, mode" ||
        why "no start entry with MESSAGE_ID=$MSG_STARTED" || return
    journal_of MESSAGE_ID=$MSG_MODE | grep -q 'to AIRGAP' ||
        why "no mode entry with MESSAGE_ID=$MSG_MODE" || return
    journal_of MESSAGE_ID=$MSG_CONTRACT | grep -q "$ADMIN_CONTRACT" ||
        why "no lifecycle entry for $ADMIN_CONTRACT with MESSAGE_ID=$MSG_CONTRACT" || return
}

tool_gate() {
    busctl call $NAME $OBJ org.learningcontracts.Enforcement1 ToolGate 'sa{sv}' e2e-forbidden 0
}

check_reload() {
    tool_gate | grep -q '^bss true' || why "the tool gate did not allow e2e-forbidden before: $(tool_gate)" || return
    local pid
    pid=$(prop $UNIT MainPID)
    printf '[gates]\ndenied_tools = ["e2e-forbidden"]\n' >/etc/learning-contracts/daemon.toml.d/60-e2e-reload.toml
    systemctl reload $UNIT || why "systemctl reload failed" || return
    [ "$(prop $UNIT MainPID)" = "$pid" ] || why "reload restarted the daemon" || return
    tool_gate | grep -q '^bss false "tool_denied"' || why "the new denied_tools is not in force: $(tool_gate)" || return
    journal_of MESSAGE_ID=$MSG_RELOAD | grep -qi reload || why "no reload entry in the journal" || return
    rm /etc/learning-contracts/daemon.toml.d/60-e2e-reload.toml
    systemctl reload $UNIT
}

check_bus_policy() {
    local out
    out=$(busctl get-property $NAME $OBJ org.learningcontracts.Daemon1 Version 2>&1) ||
        why "root cannot read Version: $out" || return
    out=$(as_user e2e-user busctl call $NAME $OBJ org.learningcontracts.Enforcement1 CheckMemoryCreation 'a{sv}' 3 \
        domain s cooking context s home classification y 1 2>&1)
    echo "$out" | grep -q '^bsss false "no_contract"' || why "e2e-user's check was not answered: $out" || return
    # Interfaces the policy does not list are refused by the bus itself, for root too.
    local who
    for who in root e2e-user; do
        out=$(as_user $who busctl call $NAME $OBJ org.learningcontracts.Debug1 Dump 2>&1)
        echo "$out" | grep -qi 'access denied' || why "$who's call to an unlisted interface was not denied by the bus: $out" || return
    done
    out=$(as_user e2e-user busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus RequestName su $NAME 4 2>&1)
    echo "$out" | grep -qi 'access denied\|not allowed to own' || why "e2e-user could ask for the daemon's name: $out" || return
}

check_bus_activation() {
    systemctl stop $UNIT
    [ "$(prop $UNIT ActiveState)" = inactive ] || why "the unit did not stop" || return
    local out
    out=$(as_user e2e-user busctl get-property $NAME $OBJ org.learningcontracts.Daemon1 Version 2>&1) ||
        why "the call that should activate the daemon failed: $out" || return
    [ "$(prop $UNIT ActiveState)" = active ] || why "the unit is not active after activation" || return
    journalctl -u dbus.service --no-pager -o cat | grep -q "Activating via systemd: service name='$NAME'" ||
        why "dbus-daemon did not activate through systemd" || return
}

check_network_modes() {
    wait_until 10 mode_is AIRGAP || why "not AIRGAP at the start: $(contractctl mode)" || return
    ip link add e2e0 type veth peer name e2e1 || why "cannot make a veth pair" || return
    ip addr add 192.0.2.1/24 dev e2e0
    ip link set e2e1 up && ip link set e2e0 up
    wait_until 10 mode_is RESTRICTED || why "a link up without a route: $(contractctl mode), not RESTRICTED" || return
    ip route add default via 192.0.2.254 dev e2e0
    wait_until 10 mode_is OPEN || why "a default route out: $(contractctl mode), not OPEN" || return
    ip tuntap add dev wg0 mode tun || why "cannot make a tun device" || return
    ip link set wg0 up
    ip route del default
    ip route add default dev wg0
    wait_until 10 mode_is TRUSTED || why "the only default route through the tun: $(contractctl mode), not TRUSTED" || return
    contractctl mode --explain | grep -q 'all_routes_out_vpn' || why "Explain does not name the VPN fact" || return
    ip link del e2e0 && ip link del wg0
    wait_until 10 mode_is AIRGAP || why "every link gone: $(contractctl mode), not AIRGAP" || return
}

frozen_is() { [ "$(prop e2e-agent.service FreezerState)" = "$1" ]; }

check_lockdown_freezes() {
    frozen_is running || why "the dummy agent is not running" || return
    as_user e2e-admin contractctl lockdown --reason "end-to-end test" >/dev/null || why "e2e-admin could not enter lockdown" || return
    wait_until 10 frozen_is frozen || why "LOCKDOWN did not freeze e2e-agent.service: $(prop e2e-agent.service FreezerState)" || return
    mode_is LOCKDOWN || why "the mode is $(contractctl mode), not LOCKDOWN" || return
    as_user e2e-admin contractctl release-lockdown --reason "end-to-end test done" >/dev/null ||
        why "e2e-admin could not release the lockdown" || return
    wait_until 10 frozen_is running || why "the release did not thaw e2e-agent.service: $(prop e2e-agent.service FreezerState)" || return
    wait_until 10 mode_is AIRGAP || why "after the release the mode is $(contractctl mode), not AIRGAP" || return
    ! journal_of | grep -q 'could not freeze\|could not thaw' || why "the journal reports a unit that could not be frozen or thawed" || return
    # The shipped polkit rule lets the service user freeze and thaw, and nothing more.
    ! as_user learning-contracts busctl call org.freedesktop.systemd1 /org/freedesktop/systemd1 \
        org.freedesktop.systemd1.Manager StopUnit ss e2e-agent.service replace >/dev/null 2>&1 ||
        why "the service user could stop a unit" || return
    [ "$(prop e2e-agent.service ActiveState)" = active ] || why "the dummy agent was stopped" || return
}

check_watchdog() {
    mkdir -p /run/systemd/system/$UNIT.d
    install -m 0644 /e2e/watchdog.conf /run/systemd/system/$UNIT.d/50-e2e-watchdog.conf
    systemctl daemon-reload
    systemctl restart $UNIT || why "restart with the watchdog drop-in failed" || return
    local pid restarts
    pid=$(prop $UNIT MainPID)
    restarts=$(prop $UNIT NRestarts)
    # The daemon stops answering: stopped, it cannot ping the watchdog.
    kill -STOP "$pid"
    new_main_pid() { local now; now=$(prop $UNIT MainPID); [ "$now" != 0 ] && [ "$now" != "$pid" ] && [ "$(prop $UNIT ActiveState)" = active ]; }
    wait_until 30 new_main_pid || why "systemd did not replace the hung daemon (MainPID $(prop $UNIT MainPID))" || return
    [ "$(prop $UNIT NRestarts)" -gt "$restarts" ] || why "NRestarts did not grow" || return
    journalctl -u $UNIT --no-pager -o cat | grep -q 'Watchdog timeout' || why "the journal has no watchdog timeout" || return
    rm -r /run/systemd/system/$UNIT.d
    systemctl daemon-reload
    systemctl restart $UNIT
}

contract_ids() { contractctl list --json | grep -o '"id": *"[^"]*"' | sort; }

check_restart_keeps_contracts() {
    local before after
    before=$(contract_ids)
    [ "$(echo "$before" | grep -c id)" -ge 2 ] || why "fewer than two contracts to keep: $before" || return
    systemctl restart $UNIT || why "restart failed" || return
    after=$(contract_ids)
    [ "$before" = "$after" ] || why "the contracts changed across the restart: before $before, after $after" || return
    as_user e2e-admin contractctl show "$ADMIN_CONTRACT" | grep -qi active || why "the active contract is not active after the restart" || return
    contractctl audit verify >/tmp/verify.log 2>&1 || why "contractctl audit verify failed: $(cat /tmp/verify.log)" || return
}

checkpoints_json() { journalctl --no-pager -o json MESSAGE_ID=$MSG_CHECKPOINT _SYSTEMD_UNIT=$UNIT; }

check_audit_checkpoints() {
    checkpoints_json | grep -q '"LC_AUDIT_REASON":"start"' || why "no start checkpoint in the journal" || return
    # More records than the e2e configuration's checkpoint_every_records (5).
    local i
    for i in 1 2 3 4 5 6; do
        contractctl new episodic --domain "checkpoint$i" --context '*' --retention permanent >/dev/null ||
            why "root could not draft a contract" || return
    done
    checkpoints_json | grep -q '"LC_AUDIT_REASON":"records"' || why "no checkpoint after five records: $(journal_of MESSAGE_ID=$MSG_CHECKPOINT)" || return
    contractctl audit verify --journal >/tmp/verify.log 2>&1 ||
        why "verify --journal failed on an untouched store: $(cat /tmp/verify.log)" || return
    grep -q 'checkpoints\? from the journal match\(es\)\? the store, latest at record' /tmp/verify.log ||
        why "verify --journal did not say the checkpoints match: $(cat /tmp/verify.log)" || return
    # The latest checkpoint by count names a record; the store is rewritten from that record on
    # and re-chained, so the chain verifies on its own and only the journal can tell.
    local seq status
    seq=$(checkpoints_json | grep '"LC_AUDIT_REASON":"records"' | sed -n 's/.*"LC_AUDIT_SEQ":"\([0-9]*\)".*/\1/p' | tail -n 1)
    [ -n "$seq" ] || why "no LC_AUDIT_SEQ in the checkpoints: $(checkpoints_json | tail -n 1)" || return
    systemctl stop $UNIT
    # The head the store ends with at the clean stop is the journal's latest checkpoint.
    local head last
    head=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT seq FROM audit_head").fetchone()[0])' $STORE)
    last=$(checkpoints_json | tail -n 1 | sed -n 's/.*"LC_AUDIT_SEQ":"\([0-9]*\)".*/\1/p')
    [ -n "$head" ] && [ "$head" = "$last" ] || why "the store ends at record $head but the latest checkpoint is of record $last" || return
    python3 /e2e/rewrite_audit.py $STORE "$seq" >/tmp/rewrite.log 2>&1 || why "the rewrite failed: $(cat /tmp/rewrite.log)" || return
    chown learning-contracts:learning-contracts /var/lib/learning-contracts/*
    systemctl start $UNIT || why "the daemon did not start on the rewritten store" || return
    contractctl audit verify >/tmp/verify.log 2>&1 ||
        why "the rewritten chain does not verify on its own (the rewrite is not what an attacker would do): $(cat /tmp/verify.log)" || return
    contractctl audit verify --journal >/tmp/verify.log 2>&1
    status=$?
    [ $status -eq 1 ] || why "verify --journal on a rewritten store exited $status, not 1: $(cat /tmp/verify.log)" || return
    grep -q "the store's record $seq differs from the journal's checkpoint: the store was rewritten" /tmp/verify.log ||
        why "verify --journal did not name record $seq: $(cat /tmp/verify.log)" || return
    contractctl --json audit verify --journal | grep -q '"verdict": *"rewritten"' ||
        why "--json does not report the rewritten record" || return
}

# The facts Explain gives (contractctl --json mode --explain) for the mount at $1: "writable=BOOL removable=BOOL" and its reasons.
mount_fact() {
    contractctl --json mode --explain | python3 -c '
import json, sys
facts = json.load(sys.stdin)["facts"]["mounts"]
for m in facts["mounts"]:
    if m["mount_point"] == sys.argv[1]:
        print("writable=%s removable=%s reasons=%s" % (str(m["writable"]).lower(), str(m["removable"]).lower(), m.get("reasons")))
' "$1"
}
unencrypted() {
    contractctl --json mode --explain |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["facts"]["mounts"]["unencrypted_persistent_writable"])'
}

# Issue 14, F4: ProtectSystem=strict remounts every mount read-only in the service's mount
# namespace; an unencrypted data disk the host writes must still keep the host out of COLDROOM.
check_sandboxed_data_disk() {
    local disk point=/srv/data pid
    disk=$(cat /e2e/data-disk) || why "the test gave no data disk" || return
    install -m 0644 /e2e/55-e2e-coldroom.toml /etc/learning-contracts/daemon.toml.d/55-e2e-coldroom.toml
    systemctl restart $UNIT || why "the restart with the COLDROOM drop-in failed" || return
    wait_until 10 mode_is COLDROOM ||
        why "without the data disk the mode is $(contractctl mode), not COLDROOM; unencrypted: $(unencrypted)" || return
    mkdir -p $point && mount "$disk" $point || why "cannot mount $disk at $point" || return
    # Mounted before the daemon starts, so the sandbox remounts it read-only in its namespace.
    systemctl restart $UNIT || why "the restart with the data disk mounted failed" || return
    pid=$(prop $UNIT MainPID)
    grep " $point " /proc/$pid/mountinfo | grep -q " ro,.* - ext4 [^ ]* rw" ||
        why "the sandbox did not show $point read-only over a rw super block: $(grep " $point " /proc/$pid/mountinfo)" || return
    if mode_is COLDROOM; then
        why "an unencrypted writable disk at $point, and the mode is COLDROOM ($(mount_fact $point))"
        return
    fi
    mode_is AIRGAP || why "the mode is $(contractctl mode), not AIRGAP" || return
    mount_fact $point | grep -q '^writable=true removable=false' ||
        why "Explain does not show $point writable: $(mount_fact $point)" || return
    mount_fact $point | grep -q 'super block rw' || why "no reason names the super block: $(mount_fact $point)" || return
    umount $point
    rm /etc/learning-contracts/daemon.toml.d/55-e2e-coldroom.toml
    systemctl restart $UNIT
    wait_until 10 mode_is AIRGAP || why "after the check the mode is $(contractctl mode), not AIRGAP" || return
}

check_remove() {
    rm -rf /etc/learning-contracts/daemon.toml.d
    dpkg -r learning-contractsd >/tmp/dpkg.log 2>&1 || why "dpkg -r failed: $(cat /tmp/dpkg.log)" || return
    [ "$(prop $UNIT ActiveState)" = inactive ] || why "the daemon still runs after dpkg -r" || return
    local file
    for file in /usr/sbin/learning-contractsd /usr/bin/contractctl /usr/lib/systemd/system/$UNIT \
        /usr/share/dbus-1/system.d/$NAME.conf /usr/share/dbus-1/system-services/$NAME.service \
        /usr/share/polkit-1/rules.d/learning-contractsd.rules /usr/share/man/man8/learning-contractsd.8.gz; do
        [ ! -e "$file" ] || why "dpkg -r left $file" || return
    done
    [ -e /etc/learning-contracts/daemon.toml ] || why "dpkg -r removed the conffile (only purge should)" || return
    dpkg -P learning-contractsd >/tmp/dpkg.log 2>&1 || why "dpkg -P failed: $(cat /tmp/dpkg.log)" || return
    [ ! -e /etc/learning-contracts/daemon.toml ] || why "dpkg -P left the conffile" || return
    [ ! -e /etc/systemd/system/$UNIT ] || why "dpkg -P left the unit masked" || return
    [ -z "$(find /etc/systemd/system -name "$UNIT" 2>/dev/null)" ] || why "dpkg -P left enablement links" || return
    ! dpkg -s learning-contractsd >/dev/null 2>&1 || why "dpkg still knows the package" || return
}

say "start"
check "the package installs, enables and starts the service" check_install
check "test users, polkit rule, configuration and dummy agent" check_setup
check "systemctl start reaches active only after READY" check_ready_before_active
check "systemctl status shows the STATUS line" check_status_line
check "polkitd answers the daemon's authorization checks" check_polkit
check "journalctl shows the start, the mode and a lifecycle event by MESSAGE_ID" check_journal
check "systemctl reload re-reads the configuration" check_reload
check "busctl from root and an unprivileged user gets the bus policy's answers" check_bus_policy
check "bus activation starts the service through systemd" check_bus_activation
check "links and default routes in the container change the mode" check_network_modes
check "LOCKDOWN freezes the agent unit and its release thaws it" check_lockdown_freezes
check "the watchdog restarts a hung daemon" check_watchdog
check "a restart keeps every contract and the audit chain verifies" check_restart_keeps_contracts
check "the journal's audit checkpoints match the store and catch a rewritten store" check_audit_checkpoints
check "an unencrypted data disk the sandbox shows read-only keeps the host out of COLDROOM" check_sandboxed_data_disk
check "dpkg -r and dpkg -P remove the package cleanly" check_remove
say "all checks passed"
