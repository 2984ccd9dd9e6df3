//! Network namespaces for tests: each test makes its own, with links and routes inside it
//! only (no traffic leaves it), and removes it when done.

#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace, deleted on drop (which removes its links too).
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    /// A new, empty namespace with loopback up.
    pub fn new() -> NetNs {
        let name = format!(
            "lc-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        run("ip", &["netns", "add", &name]);
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Runs `ip -n NAME ARGS…`, panicking with its output when it fails.
    pub fn ip(&self, args: &[&str]) {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run("ip", &full);
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, program: &str, args: &[&str]) {
        let mut full = vec!["netns", "exec", self.name.as_str(), program];
        full.extend_from_slice(args);
        run("ip", &full);
    }

    /// A veth pair eth0/eth1 inside the namespace, both up, eth0 at 192.0.2.1/24 (TEST-NET-1).
    pub fn add_ethernet(&self) {
        self.ip(&[
            "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
        ]);
        self.ip(&["addr", "add", "192.0.2.1/24", "dev", "eth0"]);
        self.ip(&["link", "set", "eth1", "up"]);
        self.ip(&["link", "set", "eth0", "up"]);
    }

    /// A tun device named wg0 (the VPN stand-in: a tun with no owner stays NO-CARRIER).
    pub fn add_tun(&self, name: &str) {
        self.exec("ip", &["tuntap", "add", "dev", name, "mode", "tun"]);
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program}: {err}"));
    assert!(
        output.status.success(),
        "{program} {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
