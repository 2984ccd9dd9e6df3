//! An alarm at a wall-clock instant that also goes off when the wall clock is set.
//!
//! Timebound contracts end at wall-clock instants. A tokio sleep measures a duration on the
//! monotonic clock, so after the wall clock steps forward past an end the sleep would still run
//! its course (up to a minute) before the expiry is committed. A `timerfd` on
//! `CLOCK_REALTIME`, armed at the absolute instant with `TFD_TIMER_CANCEL_ON_SET`, goes off at
//! that instant by the wall clock, and at once when the wall clock is set in either direction,
//! so the timer task looks again right after every step.

use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use tokio::io::unix::AsyncFd;

use crate::core::Timestamp;

/// The timer descriptor, in the form tokio's reactor takes.
struct Descriptor(TimerFd);

impl AsRawFd for Descriptor {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// A one-shot alarm on the wall clock.
pub struct WallAlarm {
    fd: AsyncFd<Descriptor>,
}

impl WallAlarm {
    /// A disarmed alarm. Needs a tokio runtime with I/O enabled.
    pub fn new() -> io::Result<Self> {
        let timer = TimerFd::new(
            ClockId::CLOCK_REALTIME,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        // SAFETY: the `TimerFd` owns its descriptor, which stays open and the same until the
        // `AsyncFd` (its only owner) drops it; nothing here swaps the timer out.
        let fd = unsafe { AsyncFd::register(Descriptor(timer)) }.map_err(io::Error::from)?;
        Ok(Self { fd })
    }

    /// Arms the alarm for `at` (an instant already past goes off at once), replacing any
    /// earlier setting.
    pub fn arm(&self, at: Timestamp) -> io::Result<()> {
        let millis = at.as_millis().max(0);
        // A zero instant would disarm the timer instead; one nanosecond after the epoch is
        // just as past.
        let nanos = ((millis % 1000) * 1_000_000).max(if millis == 0 { 1 } else { 0 });
        let instant = TimeSpec::new(millis / 1000, nanos);
        self.fd.get_ref().0.set(
            Expiration::OneShot(instant),
            TimerSetTimeFlags::TFD_TIMER_ABSTIME | TimerSetTimeFlags::TFD_TIMER_CANCEL_ON_SET,
        )?;
        Ok(())
    }

    /// Disarms the alarm.
    pub fn disarm(&self) -> io::Result<()> {
        self.fd.get_ref().0.unset()?;
        Ok(())
    }

    /// Waits until the armed instant is reached or the wall clock is set. Waits forever when
    /// disarmed.
    pub async fn fired(&self) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            let outcome = guard.try_io(|fd| {
                let mut expirations = [0u8; 8];
                match nix::unistd::read(fd.get_ref().0.as_fd(), &mut expirations) {
                    // ECANCELED: the wall clock was set.
                    Ok(_) | Err(Errno::ECANCELED) => Ok(()),
                    Err(err) => Err(io::Error::from(err)),
                }
            });
            match outcome {
                Ok(result) => return result,
                // Not ready after all (EAGAIN): readiness was cleared; wait again.
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_alarm_in_the_past_goes_off_at_once() {
        let alarm = WallAlarm::new().unwrap();
        alarm.arm(Timestamp::from_millis(0)).unwrap();
        alarm.fired().await.unwrap();
        alarm.arm(Timestamp::now().plus_millis(-1_000)).unwrap();
        alarm.fired().await.unwrap();
    }

    #[tokio::test]
    async fn an_alarm_goes_off_at_its_wall_clock_instant() {
        let alarm = WallAlarm::new().unwrap();
        let at = Timestamp::now().plus_millis(200);
        alarm.arm(at).unwrap();
        alarm.fired().await.unwrap();
        assert!(Timestamp::now() >= at, "the alarm went off early");
    }
}
