//! A bare D-Bus client for hostile tests: it writes messages byte by byte, so it can send what
//! zbus would refuse to build (variants nested past any library's limit, messages larger than
//! the bus allows), send thousands of calls without reading a reply, and read the replies
//! (or the bus hanging up) when the test wants them.

#![allow(dead_code)]

use super::bus::{TestBus, connect_socket_as};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// D-Bus body encoding, little endian. Offsets count from the start of the body, which starts
/// on an 8-byte boundary of its message, so alignment works out the same.
#[derive(Default)]
pub struct Enc {
    pub buf: Vec<u8>,
}

impl Enc {
    pub fn pad(&mut self, align: usize) {
        while !self.buf.len().is_multiple_of(align) {
            self.buf.push(0);
        }
    }

    pub fn byte(&mut self, value: u8) {
        self.buf.push(value);
    }

    pub fn u32(&mut self, value: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    pub fn str(&mut self, text: &str) {
        self.u32(text.len() as u32);
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.push(0);
    }

    pub fn sig(&mut self, signature: &str) {
        self.buf.push(signature.len() as u8);
        self.buf.extend_from_slice(signature.as_bytes());
        self.buf.push(0);
    }

    /// An array whose elements align to `align`, filled by `fill`.
    pub fn array(&mut self, align: usize, fill: impl FnOnce(&mut Enc)) {
        self.u32(0);
        let length_at = self.buf.len() - 4;
        self.pad(align);
        let start = self.buf.len();
        fill(self);
        let length = (self.buf.len() - start) as u32;
        self.buf[length_at..length_at + 4].copy_from_slice(&length.to_le_bytes());
    }

    /// One `{sv}` entry of an `a{sv}`, its value written by `value` after the signature.
    pub fn entry(&mut self, key: &str, signature: &str, value: impl FnOnce(&mut Enc)) {
        self.pad(8);
        self.str(key);
        self.sig(signature);
        value(self);
    }

    /// An `a{sv}` filled by `fill` (which writes entries).
    pub fn dict(&mut self, fill: impl FnOnce(&mut Enc)) {
        self.array(8, fill);
    }
}

/// A body that is one `a{sv}` filled by `fill`.
pub fn dict_body(fill: impl FnOnce(&mut Enc)) -> Vec<u8> {
    let mut enc = Enc::default();
    enc.dict(fill);
    enc.buf
}

/// A check request (domain, context, classification) as an `a{sv}` body, with `extra` entries.
pub fn check_body(domain: &str, context: &str, extra: impl FnOnce(&mut Enc)) -> Vec<u8> {
    dict_body(|e| {
        e.entry("domain", "s", |e| e.str(domain));
        e.entry("context", "s", |e| e.str(context));
        e.entry("classification", "y", |e| e.byte(1));
        extra(e);
    })
}

/// A whole method call message.
pub fn method_call(
    serial: u32,
    destination: &str,
    path: &str,
    interface: &str,
    member: &str,
    signature: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut enc = Enc::default();
    enc.buf.extend_from_slice(&[b'l', 1, 0, 1]);
    enc.u32(body.len() as u32);
    enc.u32(serial);
    enc.array(8, |e| {
        let field = |e: &mut Enc, code: u8, sig: &str, text: &str| {
            e.pad(8);
            e.byte(code);
            e.sig(sig);
            if sig == "g" {
                e.sig(text);
            } else {
                e.str(text);
            }
        };
        field(e, 1, "o", path);
        field(e, 2, "s", interface);
        field(e, 3, "s", member);
        field(e, 6, "s", destination);
        if !signature.is_empty() {
            field(e, 8, "g", signature);
        }
    });
    enc.pad(8);
    enc.buf.extend_from_slice(body);
    enc.buf
}

/// What came back for a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A method return.
    Return,
    /// An error: its name, and its message when it has one.
    Error(String, String),
}

impl Reply {
    pub fn error_name(&self) -> &str {
        match self {
            Reply::Return => "ok",
            Reply::Error(name, _) => name,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Reply::Return => "",
            Reply::Error(_, message) => message,
        }
    }
}

/// One message read off the socket: type, reply serial, error name, and the first string of
/// the body when its signature starts with one.
struct Incoming {
    kind: u8,
    /// The serial the sender gave the message (the bus passes it on unchanged).
    serial: u32,
    reply_serial: Option<u32>,
    error_name: Option<String>,
    first_string: Option<String>,
}

impl Incoming {
    /// The message as a reply: a return, or an error's name and message.
    fn reply(&self) -> Reply {
        match self.kind {
            2 => Reply::Return,
            _ => Reply::Error(
                self.error_name.clone().unwrap_or_default(),
                self.first_string.clone().unwrap_or_default(),
            ),
        }
    }
}

pub struct RawClient {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
    next_serial: u32,
    unique_name: String,
}

pub const DAEMON: &str = "org.learningcontracts.Daemon1";
pub const OBJECT: &str = "/org/learningcontracts/Daemon1";

impl RawClient {
    /// Connects to `bus` as `uid`, authenticates and says Hello.
    pub fn connect(bus: &TestBus, uid: u32) -> RawClient {
        let stream = connect_socket_as(&bus.socket(), uid, uid, &[]);
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        // A bus that stops reading from a hostile client must not hang the test.
        stream
            .set_write_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let hex: String = uid
            .to_string()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        (&stream)
            .write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())
            .unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(
            line.starts_with("OK "),
            "the bus refused EXTERNAL: {line:?}"
        );
        (&stream).write_all(b"BEGIN\r\n").unwrap();
        let mut client = RawClient {
            stream,
            reader,
            next_serial: 1,
            unique_name: String::new(),
        };
        let hello = client.call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "Hello",
            "",
            &[],
        );
        client.unique_name = loop {
            let incoming = client.read_message().unwrap();
            if incoming.reply_serial == Some(hello) {
                assert_eq!(incoming.kind, 2, "the bus refused Hello");
                break incoming.first_string.unwrap_or_default();
            }
        };
        client
    }

    /// The unique bus name the bus gave this connection.
    pub fn unique_name(&self) -> String {
        self.unique_name.clone()
    }

    /// Sends a call to `destination` and returns its serial without waiting for the reply.
    pub fn call(
        &mut self,
        destination: &str,
        path: &str,
        interface: &str,
        member: &str,
        signature: &str,
        body: &[u8],
    ) -> u32 {
        let serial = self.next_serial;
        self.next_serial += 1;
        let message = method_call(
            serial,
            destination,
            path,
            interface,
            member,
            signature,
            body,
        );
        // A write may fail when the bus has already hung up; reading says so.
        let _ = (&self.stream).write_all(&message);
        serial
    }

    /// Sends a call to the daemon's object flagged NO_REPLY_EXPECTED: the daemon handles it
    /// but sends nothing back, so the client may leave at once.
    pub fn call_daemon_no_reply(&mut self, interface: &str, member: &str, sig: &str, body: &[u8]) {
        let serial = self.next_serial;
        self.next_serial += 1;
        let mut message = method_call(serial, DAEMON, OBJECT, interface, member, sig, body);
        // The header's third byte holds the flags; 0x1 is NO_REPLY_EXPECTED.
        message[2] |= 0x1;
        let _ = (&self.stream).write_all(&message);
    }

    /// Sends a call to the daemon's object.
    pub fn call_daemon(&mut self, interface: &str, member: &str, sig: &str, body: &[u8]) -> u32 {
        self.call(DAEMON, OBJECT, interface, member, sig, body)
    }

    /// Reads until the reply to `serial` arrives; an error if the bus hangs up first.
    pub fn reply(&mut self, serial: u32) -> io::Result<Reply> {
        loop {
            let incoming = self.read_message()?;
            if incoming.reply_serial != Some(serial) {
                continue;
            }
            return Ok(incoming.reply());
        }
    }

    /// Reads until any reply arrives: its serial, whether it is an error (and which), and the
    /// first string of its body (a returned id). Signals are skipped.
    pub fn next_reply(&mut self) -> io::Result<(u32, Reply, Option<String>)> {
        loop {
            let incoming = self.read_message()?;
            let Some(serial) = incoming.reply_serial else {
                continue;
            };
            let reply = incoming.reply();
            return Ok((serial, reply, incoming.first_string));
        }
    }

    /// Reads until any reply arrives: the serial its sender gave it (the daemon numbers what
    /// it sends in the order it sends it), the serial of the call it answers, and whether it
    /// is an error. Signals are skipped.
    pub fn next_reply_numbered(&mut self) -> io::Result<(u32, u32, Reply)> {
        loop {
            let incoming = self.read_message()?;
            let Some(answers) = incoming.reply_serial else {
                continue;
            };
            return Ok((incoming.serial, answers, incoming.reply()));
        }
    }

    /// Reads (and drops) messages until the bus hangs up; true if it did within the read
    /// timeout.
    pub fn hung_up(&mut self) -> bool {
        loop {
            match self.read_message() {
                Ok(_) => continue,
                Err(err) => {
                    return matches!(
                        err.kind(),
                        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
                    );
                }
            }
        }
    }

    fn read_message(&mut self) -> io::Result<Incoming> {
        let mut fixed = [0u8; 16];
        self.reader.read_exact(&mut fixed)?;
        assert_eq!(
            fixed[0], b'l',
            "the test client reads little-endian messages only"
        );
        let word = |at: usize| u32::from_le_bytes(fixed[at..at + 4].try_into().unwrap());
        let body_len = word(4) as usize;
        let fields_len = word(12) as usize;
        let header_len = (16 + fields_len).next_multiple_of(8);
        let mut rest = vec![0u8; header_len - 16 + body_len];
        self.reader.read_exact(&mut rest)?;
        let mut message = fixed.to_vec();
        message.extend_from_slice(&rest);
        let mut incoming = Incoming {
            kind: fixed[1],
            serial: word(8),
            reply_serial: None,
            error_name: None,
            first_string: None,
        };
        let read_u32 =
            |at: usize| u32::from_le_bytes(message[at..at + 4].try_into().unwrap()) as usize;
        let read_str = |at: usize| {
            let len = read_u32(at);
            String::from_utf8_lossy(&message[at + 4..at + 4 + len]).into_owned()
        };
        let mut signature = String::new();
        let mut at = 16;
        while at < 16 + fields_len {
            at = at.next_multiple_of(8);
            let code = message[at];
            let sig_len = message[at + 1] as usize;
            let sig = message[at + 2..at + 2 + sig_len].to_vec();
            at += 3 + sig_len;
            match sig.as_slice() {
                b"s" | b"o" => {
                    at = at.next_multiple_of(4);
                    let text = read_str(at);
                    at += 4 + text.len() + 1;
                    if code == 4 {
                        incoming.error_name = Some(text);
                    }
                }
                b"u" => {
                    at = at.next_multiple_of(4);
                    if code == 5 {
                        incoming.reply_serial = Some(read_u32(at) as u32);
                    }
                    at += 4;
                }
                b"g" => {
                    let len = message[at] as usize;
                    if code == 8 {
                        signature = String::from_utf8_lossy(&message[at + 1..at + 1 + len]).into();
                    }
                    at += len + 2;
                }
                other => panic!("unexpected header field type {other:?}"),
            }
        }
        if signature.starts_with('s') {
            incoming.first_string = Some(read_str(header_len));
        }
        Ok(incoming)
    }

    /// How long a read may wait.
    pub fn set_read_timeout(&self, timeout: Duration) {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
    }

    /// Stops reading and writing; the bus sees the connection close.
    pub fn close(self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// A `/proc/PID/status` field in KiB (VmRSS, VmHWM).
pub fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}
