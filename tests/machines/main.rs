//! The machines test crate: the Debian package under a real systemd in a container
//! (e2e_systemd, scripts in tests/e2e/) and the boundary mode on devices in a qemu VM
//! (vm_devices, scripts in tests/vm/). Needs root; each takes minutes.

#[path = "../common/mod.rs"]
mod common;

mod e2e_systemd;
mod vm_devices;
