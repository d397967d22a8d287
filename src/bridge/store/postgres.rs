//! The shared store: PostgreSQL, for several bridge instances on one goal
//! stream (`--store postgres://…`, `--share GROUP`).
//!
//! - Each goal row has an `owner`, the instance that claimed it (by
//!   inserting it first, or by taking it over). An instance renews its lease
//!   (`giot_instances.alive_until_ms`) every fraction of `lease`; a goal
//!   whose owner's lease has run out is taken over by another instance with
//!   a compare-and-set on `owner`, and worked on again from its stage:
//!   `accepted` is planned again, `executing` only verified.
//! - Every write of a goal is fenced: `UPDATE … WHERE owner = me`. An
//!   instance that lost a goal (its lease ran out while it was slow or cut
//!   off) cannot mark it executing, so it never publishes the goal's
//!   commands, nor its result, after another instance took it.
//! - Leases are measured on the database's clock, so the instances' clocks
//!   need not agree.
//! - Confirmation tokens are spent with one conditional `UPDATE`: of two
//!   instances redeeming a token at once, one wins.
//! - The schema is versioned (`giot_schema`) and migrated by the bridge on
//!   start, under an advisory lock, so instances starting together migrate
//!   once.
//!
//! Records are kept as JSON text, the same serde shape as the embedded store.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::RwLock;
use tokio_postgres::{Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{Record, Stage, StoreError, Token, err};

/// The schema, one entry per version; a version once released never changes.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE FUNCTION giot_now_ms() RETURNS bigint LANGUAGE sql VOLATILE
         AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;
     CREATE TABLE giot_goals (
         agent text NOT NULL,
         id text NOT NULL,
         owner text NOT NULL,
         stage text NOT NULL,
         received_ms bigint NOT NULL,
         record text NOT NULL,
         PRIMARY KEY (agent, id));
     CREATE INDEX giot_goals_unfinished ON giot_goals (agent) WHERE stage <> 'done';
     CREATE TABLE giot_tokens (
         agent text NOT NULL,
         token text NOT NULL,
         expires_ms bigint NOT NULL,
         used boolean NOT NULL,
         record text NOT NULL,
         PRIMARY KEY (agent, token));
     CREATE TABLE giot_instances (
         agent text NOT NULL,
         id text NOT NULL,
         alive_until_ms bigint NOT NULL,
         PRIMARY KEY (agent, id));",
    ),
    (
        2,
        "CREATE TABLE giot_kept (
             agent text NOT NULL,
             kind text NOT NULL,
             id text NOT NULL,
             record text NOT NULL,
             PRIMARY KEY (agent, kind, id));
         CREATE TABLE giot_kept_versions (
             agent text NOT NULL,
             kind text NOT NULL,
             version bigint NOT NULL,
             PRIMARY KEY (agent, kind));",
    ),
    (
        3,
        "CREATE TABLE giot_conversations (
             agent text NOT NULL,
             id text NOT NULL,
             record text NOT NULL,
             updated_ms bigint NOT NULL,
             PRIMARY KEY (agent, id));",
    ),
];

/// One bridge instance's connection to the shared store.
pub struct Postgres {
    url: String,
    agent: String,
    /// This process's owner id: its instance name and a random suffix, so
    /// that a restarted instance does not mistake its predecessor's claims
    /// for its own.
    owner: String,
    lease: Duration,
    client: RwLock<Arc<Client>>,
    /// The connection stopped answering: make a new one.
    stale: std::sync::atomic::AtomicBool,
}

/// How long to wait for a connection when the URL sets no `connect_timeout`.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);

/// The longest one store operation may take.
const QUERY_LIMIT: Duration = Duration::from_secs(10);

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Accepted => "accepted",
        Stage::Executing => "executing",
        Stage::Done => "done",
    }
}

/// A PostgreSQL error with its cause (the server's message, or the I/O error).
pub(crate) fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(crate::error_chain(&e))
}

/// A URL split into what tokio-postgres reads and the CA file of libpq's
/// `sslrootcert` parameter, which it does not.
fn split_ca(url: &str) -> Result<(String, Option<std::path::PathBuf>), StoreError> {
    let bad = |e: &dyn std::fmt::Display| {
        StoreError::Backend(format!("the store URL is not a PostgreSQL URL: {e}"))
    };
    let mut parsed = url::Url::parse(url).map_err(|e| bad(&e))?;
    let mut ca = None;
    let rest: Vec<(String, String)> = parsed
        .query_pairs()
        .filter_map(|(k, v)| {
            if k == "sslrootcert" {
                ca = Some(std::path::PathBuf::from(v.as_ref()));
                None
            } else if k == "sslmode" && matches!(v.as_ref(), "verify-ca" | "verify-full") {
                // libpq's strictest modes: giot always checks the chain and
                // the host name once it speaks TLS, so they are `require`.
                Some((k.into_owned(), "require".into()))
            } else {
                Some((k.into_owned(), v.into_owned()))
            }
        })
        .collect();
    if rest.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(rest);
    }
    Ok((parsed.to_string(), ca))
}

/// TLS for the connection: the web's root certificates (webpki-roots), and
/// the CA in `ca` (PEM) when given, as managed databases sign with their own.
fn tls(ca: Option<&std::path::Path>) -> Result<MakeRustlsConnect, StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca {
        let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect())
            .map_err(|e| StoreError::Backend(format!("sslrootcert {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(StoreError::Backend(format!(
                "sslrootcert {}: no certificate in it",
                path.display()
            )));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| StoreError::Backend(format!("sslrootcert {}: {e}", path.display())))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(err)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// Connects to `url` (libpq's URL form): over TLS unless `sslmode=disable`
/// (`prefer`, the default, falls back to plain text only when the server
/// offers no TLS; `require` insists). The server's certificate is checked
/// against the web's roots and `sslrootcert`, for the host in the URL.
pub(crate) async fn connect(url: &str) -> Result<Client, StoreError> {
    let (url, ca) = split_ca(url)?;
    let config: tokio_postgres::Config = url.parse().map_err(|e| {
        StoreError::Backend(format!(
            "the store URL is not a PostgreSQL URL: {}",
            crate::error_chain(&e)
        ))
    })?;
    let failed = |e: tokio_postgres::Error| {
        let why = crate::error_chain(&e);
        let hint = if why.contains("UnknownIssuer") {
            "; if the database signs with a CA of its own, name its certificate: \
             sslrootcert=FILE in the URL"
        } else {
            ""
        };
        StoreError::Backend(format!("cannot connect to PostgreSQL: {why}{hint}"))
    };
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    tracing::info!("connecting to PostgreSQL at {host}:{port}");
    // A server that takes the connection and never answers is given up on.
    let connecting = async {
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Disable {
            let (client, connection) = config.connect(NoTls).await.map_err(failed)?;
            tokio::spawn(watch(connection));
            Ok(client)
        } else {
            let (client, connection) = config.connect(tls(ca.as_deref())?).await.map_err(failed)?;
            tokio::spawn(watch(connection));
            Ok(client)
        }
    };
    let limit = config
        .get_connect_timeout()
        .copied()
        .unwrap_or(CONNECT_LIMIT);
    tokio::time::timeout(limit, connecting)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Backend(format!(
                "cannot connect to PostgreSQL at {host}:{port}: no answer within {limit:?} \
                 (connect_timeout=SECONDS in the URL sets how long to wait)"
            )))
        })
}

async fn watch<F: std::future::Future<Output = Result<(), tokio_postgres::Error>>>(connection: F) {
    if let Err(e) = connection.await {
        tracing::warn!("the PostgreSQL connection ended: {e}");
    }
}

impl Postgres {
    /// Connects, applies the migrations this version has not seen, and
    /// starts this instance's lease.
    pub async fn open(
        url: &str,
        agent: &str,
        instance: &str,
        lease: Duration,
    ) -> Result<Self, StoreError> {
        let mut client = connect(url).await?;
        migrate(&mut client).await?;
        one_of_a_name(&client, agent, instance, lease).await?;
        let store = Self {
            url: url.to_string(),
            agent: agent.to_string(),
            owner: format!("{instance}/{}", hex::encode(rand::random::<[u8; 4]>())),
            lease,
            client: RwLock::new(Arc::new(client)),
            stale: Default::default(),
        };
        store.heartbeat().await?;
        Ok(store)
    }

    /// This instance's owner id in the goal rows.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs one store operation, giving up after [`QUERY_LIMIT`]: a
    /// database that stopped answering (frozen, cut off) fails the goal
    /// with the reason instead of holding it, and the connection is made
    /// again for the next one.
    pub async fn timed<T>(
        &self,
        operation: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(QUERY_LIMIT, operation).await {
            Ok(done) => done,
            Err(_) => {
                self.stale.store(true, std::sync::atomic::Ordering::Relaxed);
                Err(StoreError::Backend(format!(
                    "no answer from PostgreSQL within {QUERY_LIMIT:?}"
                )))
            }
        }
    }

    /// The connection, made again if it broke or stopped answering.
    async fn client(&self) -> Result<Arc<Client>, StoreError> {
        let stale = || self.stale.load(std::sync::atomic::Ordering::Relaxed);
        {
            let c = self.client.read().await;
            if !c.is_closed() && !stale() {
                return Ok(c.clone());
            }
        }
        let mut c = self.client.write().await;
        if c.is_closed() || stale() {
            self.stale
                .store(false, std::sync::atomic::Ordering::Relaxed);
            *c = Arc::new(connect(&self.url).await?);
            tracing::info!("reconnected to PostgreSQL");
        }
        Ok(c.clone())
    }

    pub async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT record FROM giot_goals WHERE agent = $1 AND id = $2",
                &[&self.agent, &id],
            )
            .await
            .map_err(pg)?;
        row.map(|r| serde_json::from_str(r.get::<_, &str>(0)).map_err(err))
            .transpose()
    }

    /// Writes a goal this instance owns; [`StoreError::Lost`] if it does not.
    pub async fn put(&self, id: &str, record: &Record) -> Result<(), StoreError> {
        let text = serde_json::to_string(record).map_err(err)?;
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE giot_goals SET stage = $4, record = $5
                 WHERE agent = $1 AND id = $2 AND owner = $3",
                &[
                    &self.agent,
                    &id,
                    &self.owner,
                    &stage_name(record.stage),
                    &text,
                ],
            )
            .await
            .map_err(pg)?;
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::Lost(id.to_string()))
        }
    }

    /// Inserts the goals whose ids are new, owned by this instance, in one
    /// statement; returns which of them it inserted.
    pub async fn claim_new(&self, records: &[(String, Record)]) -> Result<Vec<bool>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = Vec::with_capacity(records.len());
        let mut stages = Vec::with_capacity(records.len());
        let mut received = Vec::with_capacity(records.len());
        let mut texts = Vec::with_capacity(records.len());
        for (id, r) in records {
            ids.push(id.clone());
            stages.push(stage_name(r.stage).to_string());
            received.push(r.received_ms as i64);
            texts.push(serde_json::to_string(r).map_err(err)?);
        }
        let c = self.client().await?;
        let rows = c
            .query(
                "INSERT INTO giot_goals (agent, id, owner, stage, received_ms, record)
                 SELECT $1, u.id, $2, u.stage, u.received_ms, u.record
                 FROM unnest($3::text[], $4::text[], $5::bigint[], $6::text[])
                     AS u(id, stage, received_ms, record)
                 ON CONFLICT (agent, id) DO NOTHING
                 RETURNING id",
                &[&self.agent, &self.owner, &ids, &stages, &received, &texts],
            )
            .await
            .map_err(pg)?;
        let inserted: std::collections::HashSet<String> =
            rows.iter().map(|r| r.get::<_, String>(0)).collect();
        Ok(ids.iter().map(|id| inserted.contains(id)).collect())
    }

    pub async fn put_token(&self, token: &str, value: &Token) -> Result<(), StoreError> {
        let text = serde_json::to_string(value).map_err(err)?;
        let c = self.client().await?;
        c.execute(
            "INSERT INTO giot_tokens (agent, token, expires_ms, used, record)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (agent, token) DO UPDATE
                 SET expires_ms = EXCLUDED.expires_ms, used = EXCLUDED.used, record = EXCLUDED.record",
            &[
                &self.agent,
                &token,
                &(value.expires_ms as i64),
                &value.used,
                &text,
            ],
        )
        .await
        .map_err(pg)?;
        Ok(())
    }

    pub async fn spend_token(
        &self,
        token: &str,
        now_ms: u64,
    ) -> Result<Result<Token, &'static str>, StoreError> {
        let c = self.client().await?;
        let spent = c
            .query_opt(
                "UPDATE giot_tokens SET used = true
                 WHERE agent = $1 AND token = $2 AND NOT used AND expires_ms >= $3
                 RETURNING record",
                &[&self.agent, &token, &(now_ms as i64)],
            )
            .await
            .map_err(pg)?;
        if let Some(row) = spent {
            let mut t: Token = serde_json::from_str(row.get::<_, &str>(0)).map_err(err)?;
            t.used = true;
            return Ok(Ok(t));
        }
        let why = c
            .query_opt(
                "SELECT used FROM giot_tokens WHERE agent = $1 AND token = $2",
                &[&self.agent, &token],
            )
            .await
            .map_err(pg)?;
        Ok(Err(match why {
            None => "unknown confirmation token",
            Some(r) if r.get::<_, bool>(0) => "duplicate confirmation: the token was already used",
            Some(_) => "the confirmation token has expired",
        }))
    }

    /// Claims the unfinished goals whose owner's lease has run out, one
    /// compare-and-set each (of two instances claiming one goal, one wins).
    pub async fn take_orphans(&self) -> Result<Vec<(String, Record)>, StoreError> {
        let c = self.client().await?;
        let orphans = c
            .query(
                "SELECT g.id, g.owner FROM giot_goals g
                 WHERE g.agent = $1 AND g.stage <> 'done' AND g.owner <> $2
                   AND NOT EXISTS (
                       SELECT 1 FROM giot_instances i
                       WHERE i.agent = g.agent AND i.id = g.owner
                         AND i.alive_until_ms >= giot_now_ms())
                 ORDER BY g.received_ms",
                &[&self.agent, &self.owner],
            )
            .await
            .map_err(pg)?;
        let mut taken = Vec::new();
        for row in orphans {
            let (id, old): (String, String) = (row.get(0), row.get(1));
            let claimed = c
                .query_opt(
                    "UPDATE giot_goals SET owner = $3
                     WHERE agent = $1 AND id = $2 AND owner = $4 AND stage <> 'done'
                     RETURNING record",
                    &[&self.agent, &id, &self.owner, &old],
                )
                .await
                .map_err(pg)?;
            if let Some(r) = claimed {
                let record: Record = serde_json::from_str(r.get::<_, &str>(0)).map_err(err)?;
                tracing::info!("took over goal {id} from {old}, whose lease ran out");
                taken.push((id, record));
            }
        }
        Ok(taken)
    }

    /// Renews this instance's lease to `lease` from now (the database's clock).
    pub async fn heartbeat(&self) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO giot_instances (agent, id, alive_until_ms)
             VALUES ($1, $2, giot_now_ms() + $3)
             ON CONFLICT (agent, id) DO UPDATE SET alive_until_ms = EXCLUDED.alive_until_ms",
            &[&self.agent, &self.owner, &(self.lease.as_millis() as i64)],
        )
        .await
        .map_err(pg)?;
        Ok(())
    }

    pub async fn release(&self) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "DELETE FROM giot_instances WHERE agent = $1 AND id = $2",
            &[&self.agent, &self.owner],
        )
        .await
        .map_err(pg)?;
        Ok(())
    }

    pub async fn conversation(&self, id: &str) -> Result<Option<String>, StoreError> {
        let c = self.client().await?;
        Ok(c.query_opt(
            "SELECT record FROM giot_conversations WHERE agent = $1 AND id = $2",
            &[&self.agent, &id],
        )
        .await
        .map_err(pg)?
        .map(|r| r.get(0)))
    }

    pub async fn put_conversation(&self, id: &str, record: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO giot_conversations (agent, id, record, updated_ms)
             VALUES ($1, $2, $3, giot_now_ms())
             ON CONFLICT (agent, id)
                 DO UPDATE SET record = EXCLUDED.record, updated_ms = EXCLUDED.updated_ms",
            &[&self.agent, &id, &record],
        )
        .await
        .map_err(pg)?;
        Ok(())
    }

    pub async fn all(&self) -> Result<Vec<(String, Record)>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT id, record FROM giot_goals WHERE agent = $1 ORDER BY received_ms",
                &[&self.agent],
            )
            .await
            .map_err(pg)?;
        rows.iter()
            .map(|r| {
                let record = serde_json::from_str(r.get::<_, &str>(1)).map_err(err)?;
                Ok((r.get::<_, String>(0), record))
            })
            .collect()
    }

    pub async fn prune(&self, max_age_ms: u64) -> Result<usize, StoreError> {
        let c = self.client().await?;
        let age = max_age_ms as i64;
        let goals = c
            .execute(
                "DELETE FROM giot_goals
                 WHERE agent = $1 AND stage = 'done' AND received_ms < giot_now_ms() - $2",
                &[&self.agent, &age],
            )
            .await
            .map_err(pg)?;
        c.execute(
            "DELETE FROM giot_tokens WHERE agent = $1 AND expires_ms < giot_now_ms() - $2",
            &[&self.agent, &age],
        )
        .await
        .map_err(pg)?;
        c.execute(
            "DELETE FROM giot_conversations WHERE agent = $1 AND updated_ms < giot_now_ms() - $2",
            &[&self.agent, &age],
        )
        .await
        .map_err(pg)?;
        // Instances gone for longer than that are forgotten too.
        c.execute(
            "DELETE FROM giot_instances WHERE agent = $1 AND alive_until_ms < giot_now_ms() - $2",
            &[&self.agent, &age],
        )
        .await
        .map_err(pg)?;
        Ok(goals as usize)
    }
}

/// Refuses to start a second instance under a name that is running: two
/// would take each other's MQTT connection (one client id) for ever. A
/// predecessor that died keeps its lease for up to `lease`; this waits that
/// long, and goes ahead if the lease was not renewed.
async fn one_of_a_name(
    client: &Client,
    agent: &str,
    instance: &str,
    lease: Duration,
) -> Result<(), StoreError> {
    let pattern = format!("{}/%", instance.replace('%', "\\%").replace('_', "\\_"));
    let live = || async {
        client
            .query_opt(
                "SELECT max(alive_until_ms) FROM giot_instances
                 WHERE agent = $1 AND id LIKE $2 AND alive_until_ms >= giot_now_ms()",
                &[&agent, &pattern],
            )
            .await
            .map_err(pg)
            .map(|r| r.and_then(|r| r.get::<_, Option<i64>>(0)))
    };
    let Some(first) = live().await? else {
        return Ok(());
    };
    tracing::info!(
        "an instance named {instance} held a lease until moments ago; waiting up to {lease:?} for it to end"
    );
    let deadline = tokio::time::Instant::now() + lease + Duration::from_secs(1);
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        match live().await? {
            None => return Ok(()),
            Some(until) if until > first => {
                return Err(StoreError::Backend(format!(
                    "an instance named {instance} is running for agent {agent} (its lease is \
                     being renewed): give each instance its own --instance"
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Applies the migrations newer than the database's version, in one
/// transaction under an advisory lock (instances starting together wait
/// for each other; the second finds nothing to do).
async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('giot-schema'))", &[])
        .await
        .map_err(pg)?;
    let exists: bool = tx
        .query_one("SELECT to_regclass('giot_schema') IS NOT NULL", &[])
        .await
        .map_err(pg)?
        .get(0);
    if !exists {
        tx.batch_execute(
            "CREATE TABLE giot_schema (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .map_err(pg)?;
    }
    let current: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM giot_schema", &[])
        .await
        .map_err(pg)?
        .get(0);
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > newest {
        return Err(StoreError::Backend(format!(
            "the database's schema is version {current}, newer than this giot knows ({newest}); \
             upgrade giot"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql).await.map_err(|e| {
            StoreError::Backend(format!("migration {version}: {}", crate::error_chain(&e)))
        })?;
        tx.execute("INSERT INTO giot_schema (version) VALUES ($1)", &[version])
            .await
            .map_err(pg)?;
        tracing::info!("applied the store's migration {version}");
    }
    tx.commit().await.map_err(pg)
}
