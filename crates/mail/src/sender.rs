//! Outbound mail: hands finished RFC 5322 messages to a relay over SMTP (lettre, pooled
//! connections), and says whether a failure is worth retrying.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransport, PoolConfig};
use lettre::{AsyncTransport, Tokio1Executor};

/// How the connection to the relay is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayTls {
    /// Plain text; only for a relay on the same host or a trusted network.
    None,
    /// Plain connection upgraded with STARTTLS; refused if the relay does not offer it.
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown relay TLS mode {0:?}: expected \"none\", \"starttls\" or \"tls\"")]
pub struct ParseRelayTlsError(String);

impl FromStr for RelayTls {
    type Err = ParseRelayTlsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "starttls" => Ok(Self::StartTls),
            "tls" => Ok(Self::Tls),
            _ => Err(ParseRelayTlsError(s.to_owned())),
        }
    }
}

/// The SMTP server that outbound mail is handed to.
#[derive(Clone)]
pub struct Relay {
    pub host: String,
    pub port: u16,
    pub tls: RelayTls,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why a message was not handed over.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later: a 4xx reply, or the relay could not be reached or timed out.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Retrying will not help: a 5xx reply, or a message or address that cannot be sent.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// Time allowed for each step of the conversation with the relay.
const RELAY_TIMEOUT: Duration = Duration::from_secs(30);

/// A pooled SMTP client for one relay. Cheap to share: clone the `Arc` it lives in.
pub struct Sender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Sender {
    /// Builds the client; nothing is connected until the first [`Sender::send`].
    ///
    /// Must be called, and the `Sender` dropped, inside a Tokio runtime: lettre's pool runs a
    /// background task that is started here and stopped on drop.
    pub fn new(relay: &Relay) -> Result<Self, SendError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SendError::Permanent(
                "the SMTP sender must be created inside a Tokio runtime".to_owned(),
            ));
        }
        let tls = match relay.tls {
            RelayTls::None => Tls::None,
            RelayTls::StartTls => Tls::Required(tls_parameters(&relay.host)?),
            RelayTls::Tls => Tls::Wrapper(tls_parameters(&relay.host)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&relay.host)
            .port(relay.port)
            .tls(tls)
            .timeout(Some(RELAY_TIMEOUT))
            .pool_config(
                PoolConfig::new()
                    .max_size(8)
                    .idle_timeout(Duration::from_secs(60)),
            );
        match (&relay.user, &relay.password) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
            }
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                return Err(SendError::Permanent(
                    "relay user and password must be given together".to_owned(),
                ));
            }
        }
        Ok(Self {
            transport: builder.build(),
        })
    }

    /// Sends `raw` exactly as given (it must already be a complete message) to every
    /// recipient; an empty `envelope_from` is the null sender `<>`.
    pub async fn send(
        &self,
        envelope_from: &str,
        recipients: &[String],
        raw: &[u8],
    ) -> Result<(), SendError> {
        let from = if envelope_from.is_empty() {
            None
        } else {
            Some(parse_address(envelope_from)?)
        };
        let to = recipients
            .iter()
            .map(|recipient| parse_address(recipient))
            .collect::<Result<Vec<_>, _>>()?;
        let envelope = Envelope::new(from, to)
            .map_err(|error| SendError::Permanent(format!("invalid envelope: {error}")))?;
        // lettre always writes CRLF . CRLF after the data, which would add an empty line to a
        // message that already ends its last line; without it the relay gets `raw` unchanged.
        let body = raw.strip_suffix(b"\r\n").unwrap_or(raw);
        self.transport
            .send_raw(&envelope, body)
            .await
            .map(|_| ())
            .map_err(classify)
    }
}

fn tls_parameters(host: &str) -> Result<TlsParameters, SendError> {
    TlsParameters::new(host.to_owned())
        .map_err(|error| SendError::Permanent(format!("TLS setup for {host}: {error}")))
}

fn parse_address(address: &str) -> Result<Address, SendError> {
    Address::from_str(address)
        .map_err(|error| SendError::Permanent(format!("invalid address {address:?}: {error}")))
}

fn classify(error: lettre::transport::smtp::Error) -> SendError {
    // Client errors are refusals made before sending (e.g. 8-bit content to a relay without
    // 8BITMIME): the same message would be refused again.
    if error.is_permanent() || error.is_client() {
        SendError::Permanent(error.to_string())
    } else {
        SendError::Temporary(error.to_string())
    }
}
