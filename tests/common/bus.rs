//! Test harness for the daemon on a real bus: a private system-type dbus-daemon that loads the
//! shipped `dbus/` policy, the real `learning-contractsd` binary, and clients connected as any
//! uid (the socket is connected by a thread whose credentials alone were switched).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use zbus::{OwnedVariant, Variant};

/// The client crate's proxies, generated from `dbus/*.xml`: tests call the daemon through the
/// same proxies agents use. (Each test crate, and each bench that includes this file, uses some.)
#[allow(unused_imports)]
pub use learning_contracts_client::proxies::{
    Audit1Proxy, Boundary1Proxy, Contracts1Proxy, Daemon1Proxy, Enforcement1Proxy, Memories1Proxy,
    Sessions1Proxy,
};

pub const BUS_NAME: &str = "org.learningcontracts.Daemon1";
pub const PATH: &str = "/org/learningcontracts/Daemon1";

/// The identities tests act as. dbus-daemon drops connections of uids without a passwd entry,
/// so tests use accounts every Debian system has (base-passwd) instead of adding users.
pub struct Users {
    /// Owns contracts.
    pub owner: u32,
    /// Another local user.
    pub other: u32,
    /// An agent the owner delegated to in the config.
    pub agent: u32,
    /// A member of the admin group configured for unix authorization.
    pub group_admin: u32,
    /// That admin group's gid.
    pub admin_gid: u32,
}

fn uid_of(name: &str) -> u32 {
    nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("the test account '{name}' (from base-passwd) is missing"))
        .uid
        .as_raw()
}

/// The test identities.
pub fn users() -> Users {
    Users {
        owner: uid_of("games"),
        other: uid_of("news"),
        agent: uid_of("uucp"),
        group_admin: uid_of("proxy"),
        admin_gid: nix::unistd::Group::from_name("staff")
            .ok()
            .flatten()
            .expect("the group 'staff' (from base-passwd) is missing")
            .gid
            .as_raw(),
    }
}

/// Tests on a real bus need root (to own the name under the shipped policy and to connect as
/// other uids). Under CI they must run; elsewhere they say what was skipped.
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} needs root, and CI=true: tests may not be skipped in CI");
    }
    eprintln!("skipped {test}: needs root (a private system bus with the shipped policy)");
    false
}

/// Whether the system python (/usr/bin/python3) can import `module`, from the Debian package
/// `package`. Under CI the tests must run; elsewhere they say what was skipped.
pub fn require_python_module(test: &str, module: &str, package: &str) -> bool {
    let present = Command::new("/usr/bin/python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} needs {package} (apt-get install {package}), and CI=true");
    }
    eprintln!("skipped {test}: needs {package} (apt-get install {package})");
    false
}

/// A private dbus-daemon of type system with the repository's policy folder included.
pub struct TestBus {
    pub dir: tempfile::TempDir,
    pub address: String,
    child: Child,
    stderr_path: PathBuf,
}

impl TestBus {
    pub fn start() -> TestBus {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let policy_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dbus");
        let socket = dir.path().join("bus.sock");
        let config = format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <!-- A stock system bus's limits (dbus-daemon's built-in defaults, as the commented-out
       lines of /usr/share/dbus-1/system.conf list them), written out so tests rely on them. -->
  <limit name="max_incoming_bytes">133169152</limit>
  <limit name="max_outgoing_bytes">133169152</limit>
  <limit name="max_message_size">33554432</limit>
  <limit name="max_completed_connections">2048</limit>
  <limit name="max_connections_per_user">256</limit>
  <limit name="max_replies_per_connection">128</limit>
  <limit name="max_match_rules_per_connection">512</limit>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_destination="org.freedesktop.DBus"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
  <policy user="root">
    <allow own="org.freedesktop.PolicyKit1"/>
    <allow own="org.freedesktop.login1"/>
    <allow own="org.freedesktop.systemd1"/>
    <allow send_destination="org.freedesktop.systemd1"/>
    <allow send_destination="org.freedesktop.PolicyKit1"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.freedesktop.PolicyKit1"/>
    <!-- As systemd-logind's own policy file allows; tests may stand in for logind. -->
    <allow send_destination="org.freedesktop.login1"/>
  </policy>
  <includedir>{policy}</includedir>
</busconfig>
"#,
            socket = socket.display(),
            policy = policy_dir.display()
        );
        let config_path = dir.path().join("bus.conf");
        std::fs::write(&config_path, config).unwrap();
        let stderr_path = dir.path().join("bus.stderr");
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config_path.display()))
            .arg("--nofork")
            .arg("--print-address=1")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .expect("dbus-daemon must be installed (package dbus)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim().to_string();
        assert!(
            address.starts_with("unix:"),
            "dbus-daemon printed no address: {line:?}"
        );
        let bus = TestBus {
            dir,
            address,
            child,
            stderr_path,
        };
        bus.assert_policy_loaded();
        bus
    }

    /// The dbus-daemon's pid (to stop and continue it).
    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    /// A malformed policy file does not stop dbus-daemon; it only says so on stderr.
    pub fn assert_policy_loaded(&self) {
        let stderr = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        assert!(
            !stderr.contains("Encountered error"),
            "dbus-daemon refused part of the policy: {stderr}"
        );
    }

    /// Whether someone owns the daemon's name on this bus (asked with busctl).
    pub fn daemon_name_owned(&self) -> bool {
        Command::new("busctl")
            .arg(format!("--address={}", self.address))
            .args(["status", BUS_NAME])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("bus.sock")
    }
}

impl Drop for TestBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The daemon binary, started on a test bus.
pub struct DaemonProcess {
    pub child: Child,
    pub state_dir: PathBuf,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
}

/// The config most tests use: a fixed mode, unix authorization.
pub fn static_config(mode: &str, extra: &str) -> String {
    format!(
        "[authorization]\nmode = \"unix\"\n\n[mode]\nsource = \"static\"\nstatic_mode = \"{mode}\"\nsettle_time_ms = 0\n\n{extra}\n"
    )
}

impl DaemonProcess {
    /// Starts the daemon with `config` and waits until it owns the name.
    pub fn start(bus: &TestBus, config: &str) -> DaemonProcess {
        let root = tempfile::tempdir().unwrap().keep();
        Self::start_in(bus, config, &root, &[])
    }

    /// Starts the daemon with its files in `root` and extra environment.
    pub fn start_in(
        bus: &TestBus,
        config: &str,
        root: &Path,
        env: &[(&str, &str)],
    ) -> DaemonProcess {
        Self::start_with(bus, config, root, env, &[])
    }

    /// Starts the daemon inside another network namespace (`ip netns exec NAME` execs it, so
    /// the pid is the daemon's).
    pub fn start_in_netns(bus: &TestBus, config: &str, netns: &str) -> DaemonProcess {
        let root = tempfile::tempdir().unwrap().keep();
        Self::start_with(bus, config, &root, &[], &["ip", "netns", "exec", netns])
    }

    /// Starts the daemon, run through `prefix` (a command that execs its arguments) if given,
    /// and waits until it owns the name.
    pub fn start_with(
        bus: &TestBus,
        config: &str,
        root: &Path,
        env: &[(&str, &str)],
        prefix: &[&str],
    ) -> DaemonProcess {
        let mut daemon = Self::spawn_with(bus, config, root, env, prefix);
        daemon.wait_for_name(bus);
        daemon
    }

    /// Starts the daemon like [`DaemonProcess::start_with`] without waiting for anything.
    pub fn spawn_with(
        bus: &TestBus,
        config: &str,
        root: &Path,
        env: &[(&str, &str)],
        prefix: &[&str],
    ) -> DaemonProcess {
        let state_dir = root.join("state");
        let config_path = root.join("daemon.toml");
        std::fs::write(&config_path, config).unwrap();
        let log_path = root.join("daemon.log");
        let binary = env!("CARGO_BIN_EXE_learning-contractsd");
        let mut command = match prefix.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        let child = command
            .arg("--bus-address")
            .arg(&bus.address)
            .arg("--state-dir")
            .arg(&state_dir)
            .arg("--config")
            .arg(&config_path)
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap();
        DaemonProcess {
            child,
            state_dir,
            config_path,
            log_path,
        }
    }

    fn wait_for_name(&mut self, bus: &TestBus) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the daemon exited with {status} before owning the name:\n{}",
                    self.log()
                );
            }
            if bus.daemon_name_owned() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not own its name in time:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    /// Sends `signal` to the daemon.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(self.pid(), signal).unwrap();
    }

    /// SIGTERM and wait; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGTERM);
        self.wait_exit()
    }

    /// Waits up to 10 s for the daemon to exit on its own; returns the exit status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the daemon did not exit:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Connects the bus socket with the credentials `uid`/`gid`/`groups` on a thread of its own:
/// Linux credentials are per thread, so only that connect() sees them, and the bus records
/// them as the peer's.
pub fn connect_socket_as(
    socket: &Path,
    uid: u32,
    gid: u32,
    groups: &[u32],
) -> std::os::unix::net::UnixStream {
    let socket = socket.to_path_buf();
    let groups = groups.to_vec();
    std::thread::spawn(move || {
        // SAFETY: raw syscalls change this thread's credentials only (glibc's wrappers would
        // change every thread's); the thread ends right after.
        unsafe {
            let gids: Vec<libc::gid_t> = groups.clone();
            assert_eq!(
                libc::syscall(libc::SYS_setgroups, gids.len(), gids.as_ptr()),
                0,
                "setgroups"
            );
            assert_eq!(
                libc::syscall(libc::SYS_setresgid, -1i32, gid, -1i32),
                0,
                "setresgid"
            );
            assert_eq!(
                libc::syscall(libc::SYS_setresuid, -1i32, uid, -1i32),
                0,
                "setresuid"
            );
        }
        std::os::unix::net::UnixStream::connect(&socket).expect("connect to the test bus")
    })
    .join()
    .unwrap()
}

/// A client connection as `uid` (gid = uid, no extra groups unless given).
pub async fn connect_as(bus: &TestBus, uid: u32, groups: &[u32]) -> zbus::Connection {
    let stream = connect_socket_as(&bus.socket(), uid, uid, groups);
    match zbus::connection::Builder::unix_stream(stream)
        .user_id(uid)
        .build()
        .await
    {
        Ok(connection) => connection,
        Err(err) => panic!(
            "cannot authenticate on the test bus as uid {uid}: {err}\n{}",
            std::fs::read_to_string(&bus.stderr_path).unwrap_or_default()
        ),
    }
}

/// A request dictionary (a{sv}) as the proxies take it.
pub type Args<'a> = HashMap<&'a str, Variant<'a>>;

/// A request dictionary from literal pairs.
pub fn dict<'a>(pairs: &[(&'a str, Variant<'a>)]) -> Args<'a> {
    pairs.iter().map(|(k, v)| (*k, v.clone())).collect()
}

/// A plain value as a variant, for request dictionaries.
pub fn variant<'a>(value: impl Into<zbus::Variant<'a>>) -> OwnedVariant {
    OwnedVariant::try_from(value.into()).unwrap()
}

/// Calls `method` of the daemon's interface `interface` (its short name, such as
/// "Enforcement1") and decodes the reply.
pub async fn call_daemon<B, R>(
    conn: &zbus::Connection,
    interface: &str,
    method: &str,
    body: &B,
) -> zbus::Result<R>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
    R: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
{
    let reply = conn
        .call_method(
            Some(BUS_NAME),
            PATH,
            Some(format!("org.learningcontracts.{interface}").as_str()),
            method,
            body,
        )
        .await?;
    reply.body().deserialize()
}

/// Reads a property of Boundary1 straight from the daemon (no cache).
pub async fn boundary_property(conn: &zbus::Connection, name: &str) -> OwnedVariant {
    let proxy = zbus::fdo::PropertiesProxy::builder(conn)
        .destination(BUS_NAME)
        .path(PATH)
        .build()
        .await
        .unwrap();
    proxy
        .get(
            zbus::names::InterfaceName::from_static_str_unchecked(
                "org.learningcontracts.Boundary1",
            ),
            name,
        )
        .await
        .unwrap()
}

/// The error name of a failed call, or "ok".
pub fn outcome<T>(result: &zbus::Result<T>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(zbus::Error::MethodError(name, _, _)) => name.to_string(),
        Err(zbus::Error::FDO(fdo)) => format!("org.freedesktop.DBus.Error.{}", fdo_name(fdo)),
        Err(other) => format!("other: {other}"),
    }
}

fn fdo_name(err: &zbus::fdo::Error) -> String {
    use zbus::DBusError;
    err.name()
        .as_str()
        .trim_start_matches("org.freedesktop.DBus.Error.")
        .to_string()
}

/// The message of a failed call.
pub fn error_message<T: std::fmt::Debug>(result: &zbus::Result<T>) -> String {
    match result {
        Err(zbus::Error::MethodError(_, Some(message), _)) => message.clone(),
        other => format!("{other:?}"),
    }
}

/// Lists `connection` to hear its uid's signals (Daemon1.Subscribe), for a connection that
/// only listens: the daemon addresses an owner's signals to listening connections only.
pub async fn subscribe(connection: &zbus::Connection) -> bool {
    Daemon1Proxy::new(connection)
        .await
        .unwrap()
        .subscribe()
        .await
        .expect("Daemon1.Subscribe")
}

/// A spec for an episodic, permanent contract over `domains` in any context.
pub fn episodic_spec(domains: &[&str]) -> Args<'static> {
    let domains: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
    dict(&[
        ("domains", domains.into()),
        ("contexts", vec!["*".to_string()].into()),
        ("retention", "permanent".into()),
    ])
}

/// A config with a fixed mode, unix authorization with `admin_group` as the admin group (empty:
/// root only), and `extra` TOML after it (tables only, such as `[[delegation]]` or `[sessions]`).
pub fn unix_config(mode: &str, admin_group: &str, extra: &str) -> String {
    format!(
        "[authorization]\nmode = \"unix\"\nadmin_group = \"{admin_group}\"\n\n[mode]\nsource = \"static\"\nstatic_mode = \"{mode}\"\nsettle_time_ms = 0\n\n{extra}\n"
    )
}

/// A config with a fixed mode and polkit authorization, and `extra` TOML after it.
pub fn polkit_config(mode: &str, extra: &str) -> String {
    format!(
        "[authorization]\nmode = \"polkit\"\n\n[mode]\nsource = \"static\"\nstatic_mode = \"{mode}\"\nsettle_time_ms = 0\n\n{extra}\n"
    )
}

/// The value under `key` of a dictionary the daemon returned, as `T`.
pub fn field<T>(dict: &HashMap<String, OwnedVariant>, key: &str) -> T
where
    T: TryFrom<OwnedVariant>,
    T::Error: std::fmt::Debug,
{
    let value = dict
        .get(key)
        .unwrap_or_else(|| panic!("the dictionary has no key '{key}': {dict:?}"));
    T::try_from(value.try_clone().unwrap())
        .unwrap_or_else(|err| panic!("the key '{key}' has another type ({err:?}): {value:?}"))
}

/// Awaits `future` for at most 5 seconds.
pub async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Polls `probe` every 20 ms until it answers `Some`, for at most 5 seconds.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A proxy that reads properties from the daemon on every call (no cache), so a test sees a
/// change as soon as it is committed.
pub async fn uncached<P>(connection: &zbus::Connection) -> P
where
    P: From<zbus::Proxy<'static>> + zbus::proxy::Defaults,
{
    zbus::proxy::Builder::<P>::new(connection)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap()
}

/// A check request for `domain` and `context` with `classification`.
pub fn check_request(domain: &str, context: &str, classification: u8) -> Args<'static> {
    dict(&[
        ("domain", domain.to_string().into()),
        ("context", context.to_string().into()),
        ("classification", classification.into()),
    ])
}

/// Creates a contract of `kind` with `spec`, submits and activates it (as the connection's
/// user, who is its owner), and returns its id.
pub async fn activate_new(contracts: &Contracts1Proxy<'_>, kind: &str, spec: Args<'_>) -> String {
    let id = contracts.create_draft(kind, &spec).await.unwrap();
    contracts.submit(&id).await.unwrap();
    contracts.activate(&id).await.unwrap();
    id
}

/// A spec for a session-retention episodic contract over `domains` in any context.
pub fn session_spec(domains: &[&str]) -> Args<'static> {
    let domains: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
    dict(&[
        ("domains", domains.into()),
        ("contexts", vec!["*".to_string()].into()),
        ("retention", "session".into()),
    ])
}

/// Every audit record after `after`, with its details parsed.
pub async fn records_after(
    audit: &Audit1Proxy<'_>,
    after: u64,
) -> Vec<(u32, String, serde_json::Value)> {
    let mut records = Vec::new();
    let mut seq = after;
    loop {
        let page = audit.read(seq, 1000).await.unwrap();
        if page.is_empty() {
            return records;
        }
        for record in &page {
            seq = field::<u64>(record, "seq");
            let uid = record
                .get("caller_uid")
                .map(|_| field::<u32>(record, "caller_uid"))
                .unwrap_or(u32::MAX);
            let details = serde_json::from_str(&field::<String>(record, "details")).unwrap();
            records.push((uid, field::<String>(record, "action"), details));
        }
    }
}
