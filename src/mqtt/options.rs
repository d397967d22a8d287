//! Connection settings: a broker URL plus credentials and TLS files, turned
//! into rumqttc options.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rumqttc::{MqttOptions, TlsConfiguration, Transport};

use super::MAX_PACKET;

/// Everything needed to reach a broker.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `mqtt://host:port` or `mqtts://host:port`.
    pub url: String,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub keep_alive: Duration,
    /// false: a persistent session, so the broker keeps QoS 1 messages for
    /// this client while it is away (the bridge).
    pub clean_session: bool,
    /// Topic and payload the broker publishes, retained, if this client
    /// drops without saying goodbye.
    pub last_will: Option<(String, String)>,
}

/// Why the connection options cannot be used: a configuration error.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// The broker URL does not parse.
    #[error("invalid broker URL `{url}`")]
    UrlSyntax {
        url: String,
        #[source]
        source: url::ParseError,
    },
    /// The broker URL parses but is not one giot can use (`why`: no host, a
    /// scheme other than mqtt:// or mqtts://).
    #[error("invalid broker URL `{url}`: {why}")]
    Url { url: String, why: String },
    /// A CA, client certificate, key or password file cannot be read.
    #[error("cannot read {what} {}", path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Only one of `--client-cert` and `--client-key`.
    #[error("--client-cert and --client-key go together: give both or neither")]
    HalfClientAuth,
    /// An `mqtts://` URL without `--ca-file` on a system without a CA bundle.
    #[error(
        "mqtts:// needs a CA certificate: give --ca-file (no system bundle at /etc/ssl/certs/ca-certificates.crt)"
    )]
    NoCa,
}

const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

impl ConnectOptions {
    /// Options for `url` with a client id made unique by `prefix` and the
    /// process id, so two giot processes never kick each other off.
    pub fn new(url: impl Into<String>, prefix: &str) -> Self {
        Self {
            url: url.into(),
            client_id: format!("giot-{prefix}-{}", std::process::id()),
            username: None,
            password: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            keep_alive: Duration::from_secs(15),
            clean_session: true,
            last_will: None,
        }
    }

    /// Host, port and whether TLS is used.
    pub fn endpoint(&self) -> Result<(String, u16, bool), OptionsError> {
        let bad = |why: &str| OptionsError::Url {
            url: self.url.clone(),
            why: why.to_string(),
        };
        let parsed = url::Url::parse(&self.url).map_err(|source| OptionsError::UrlSyntax {
            url: self.url.clone(),
            source,
        })?;
        let tls = match parsed.scheme() {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" | "tls" => true,
            other => return Err(bad(&format!("scheme `{other}` is not mqtt:// or mqtts://"))),
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = parsed.port().unwrap_or(if tls { 8883 } else { 1883 });
        Ok((host, port, tls))
    }

    pub fn to_rumqttc(&self) -> Result<MqttOptions, OptionsError> {
        let (host, port, tls) = self.endpoint()?;
        let mut options = MqttOptions::new(&self.client_id, host, port);
        options
            .set_keep_alive(self.keep_alive)
            .set_max_packet_size(super::MAX_WIRE, MAX_PACKET)
            .set_clean_session(self.clean_session);
        if let Some((topic, payload)) = &self.last_will {
            options.set_last_will(rumqttc::LastWill::new(
                topic,
                payload.clone(),
                rumqttc::QoS::AtLeastOnce,
                true,
            ));
        }
        if let Some(user) = &self.username {
            options.set_credentials(user, self.password.clone().unwrap_or_default());
        }
        if tls {
            let ca = match &self.ca_file {
                Some(path) => read(path, "CA file")?,
                None if Path::new(SYSTEM_CA).exists() => read(Path::new(SYSTEM_CA), "CA bundle")?,
                None => return Err(OptionsError::NoCa),
            };
            let client_auth = match (&self.client_cert, &self.client_key) {
                (Some(cert), Some(key)) => {
                    Some((read(cert, "client certificate")?, read(key, "client key")?))
                }
                (None, None) => None,
                _ => return Err(OptionsError::HalfClientAuth),
            };
            options.set_transport(Transport::Tls(TlsConfiguration::Simple {
                ca,
                alpn: None,
                client_auth,
            }));
        } else if self.client_cert.is_some() || self.client_key.is_some() || self.ca_file.is_some()
        {
            tracing::warn!("TLS files are ignored for a plain mqtt:// broker URL");
        }
        Ok(options)
    }
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, OptionsError> {
    std::fs::read(path).map_err(|source| OptionsError::File {
        what,
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_port_and_tls() {
        let o = ConnectOptions::new("mqtt://127.0.0.1:1884", "t");
        assert_eq!(o.endpoint().unwrap(), ("127.0.0.1".into(), 1884, false));
        let o = ConnectOptions::new("mqtts://broker.example", "t");
        assert_eq!(o.endpoint().unwrap(), ("broker.example".into(), 8883, true));
        let o = ConnectOptions::new("mqtt://[::1]:1883", "t");
        assert_eq!(o.endpoint().unwrap(), ("::1".into(), 1883, false));
    }

    #[test]
    fn other_schemes_are_refused_with_the_url() {
        let err = ConnectOptions::new("http://x:1", "t")
            .endpoint()
            .unwrap_err();
        assert!(err.to_string().contains("http://x:1"), "{err}");
        assert!(
            ConnectOptions::new("localhost:1883", "t")
                .endpoint()
                .is_err()
        );
    }

    #[test]
    fn a_client_cert_without_a_key_is_refused() {
        let mut o = ConnectOptions::new("mqtts://x", "t");
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "x").unwrap();
        o.ca_file = Some(ca.clone());
        o.client_cert = Some(ca);
        assert!(matches!(o.to_rumqttc(), Err(OptionsError::HalfClientAuth)));
    }
}
