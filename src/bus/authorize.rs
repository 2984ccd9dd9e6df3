//! Authorization (SEMANTICS.md section 12) behind one trait with two implementations: polkit,
//! which asks polkitd about the caller's bus name, and unix, where uid 0 and a configured admin
//! group are admins and a human confirmation is approximated by being the owner's own uid.
//! uid 0 is always an admin in both.

use super::caller::Identity;
use super::error::BusError;
use std::collections::HashMap;
use std::time::Duration;
use zbus::OwnedVariant;

pub use crate::core::access::{Action, Verdict};

/// Decides whether a caller may perform an action.
#[async_trait::async_trait]
pub trait Authorizer: Send + Sync + std::fmt::Debug {
    /// Asks whether `subject` may do `action`. `interactive` is true when the caller set the
    /// message's allow-interactive-authorization flag.
    async fn check(
        &self,
        subject: &Identity,
        action: Action,
        interactive: bool,
    ) -> Result<Verdict, BusError>;

    /// `polkit` or `unix`, for the log and `Features`.
    fn name(&self) -> &'static str;
}

/// uid 0 and members of the admin group are admins; ConfirmOwn is granted (the daemon asks for
/// it only when the caller is the owner's own uid).
#[derive(Debug, Clone)]
pub struct UnixAuthorizer {
    admin_gid: Option<u32>,
}

impl UnixAuthorizer {
    /// An authorizer whose admins are uid 0 and members of `admin_gid`.
    pub fn new(admin_gid: Option<u32>) -> Self {
        Self { admin_gid }
    }
}

#[async_trait::async_trait]
impl Authorizer for UnixAuthorizer {
    async fn check(
        &self,
        subject: &Identity,
        action: Action,
        _interactive: bool,
    ) -> Result<Verdict, BusError> {
        let admin = subject.uid == 0
            || self.admin_gid.is_some_and(|gid| {
                subject
                    .groups
                    .as_ref()
                    .is_some_and(|groups| groups.contains(&gid))
            });
        Ok(if admin || action == Action::ConfirmOwn {
            Verdict::Granted
        } else {
            Verdict::Denied
        })
    }

    fn name(&self) -> &'static str {
        "unix"
    }
}

#[zbus::proxy(
    interface = "org.freedesktop.PolicyKit1.Authority",
    default_service = "org.freedesktop.PolicyKit1",
    default_path = "/org/freedesktop/PolicyKit1/Authority"
)]
trait Authority {
    #[allow(clippy::type_complexity)]
    fn check_authorization(
        &self,
        subject: &(&str, HashMap<&str, OwnedVariant>),
        action_id: &str,
        details: &HashMap<&str, &str>,
        flags: u32,
        cancellation_id: &str,
    ) -> zbus::Result<(bool, bool, HashMap<String, String>)>;
}

/// Asks polkitd, with the caller's bus name as the subject (never the daemon's own pid).
#[derive(Debug, Clone)]
pub struct PolkitAuthorizer {
    authority: AuthorityProxy<'static>,
}

/// How long polkitd has to answer a question no person is asked; past it, denied.
const POLKIT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long polkitd has when it may ask a person (an authentication agent's prompt); past it,
/// denied. The wait holds up only the caller's own lane (bus/fair.rs).
const POLKIT_INTERACTIVE_TIMEOUT: Duration = Duration::from_secs(300);

impl PolkitAuthorizer {
    /// The well-known name polkitd owns.
    pub const SERVICE: &'static str = "org.freedesktop.PolicyKit1";

    /// Connects one long-lived proxy to polkitd's authority over `connection`, which must not
    /// be the serving connection (a flood there must not hold up polkit's answers).
    pub async fn new(connection: &zbus::Connection) -> zbus::Result<Self> {
        let authority = AuthorityProxy::builder(connection)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await?;
        Ok(Self { authority })
    }
}

#[async_trait::async_trait]
impl Authorizer for PolkitAuthorizer {
    async fn check(
        &self,
        subject: &Identity,
        action: Action,
        interactive: bool,
    ) -> Result<Verdict, BusError> {
        if subject.uid == 0 {
            return Ok(Verdict::Granted);
        }
        let mut fields = HashMap::new();
        fields.insert(
            "name",
            OwnedVariant::try_from(zbus::Variant::from(subject.bus_name.as_str()))?,
        );
        const ALLOW_USER_INTERACTION: u32 = 1;
        let flags = if interactive {
            ALLOW_USER_INTERACTION
        } else {
            0
        };
        let within = if interactive {
            POLKIT_INTERACTIVE_TIMEOUT
        } else {
            POLKIT_TIMEOUT
        };
        let subject = ("system-bus-name", fields);
        let details = HashMap::new();
        let asked = self
            .authority
            .check_authorization(&subject, action.id(), &details, flags, "");
        let (authorized, challenge, _) = tokio::time::timeout(within, asked)
            .await
            .map_err(|_| {
                tracing::error!(action = action.id(), timeout = ?within, "polkit did not answer in time; denying");
                BusError::access_denied("the authorization service did not answer in time; denied")
            })?
            .map_err(|err| {
                tracing::error!(error = %err, action = action.id(), "polkit did not answer; denying");
                BusError::access_denied("the authorization service did not answer; denied")
            })?;
        Ok(match (authorized, challenge) {
            (true, _) => Verdict::Granted,
            (false, true) => Verdict::ChallengeRequired,
            (false, false) => Verdict::Denied,
        })
    }

    fn name(&self) -> &'static str {
        "polkit"
    }
}
