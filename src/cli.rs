//! The command line, as DESIGN §3 fixes it. Definitions only: each command's
//! behaviour lives in `src/commands/<name>.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::mqtt::{ConnectOptions, OptionsError};

#[derive(Debug, Parser)]
#[command(
    name = "giot",
    version,
    about = "An IoT-native AI agent shell: natural-language goals to verified MQTT actions",
    long_about = "giot turns an operator's goals into MQTT device actions with a local LLM, \
                  checks them against a policy before anything is published, and confirms \
                  that each device really changed.\n\nStart with `giot demo`.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Embedded broker + simulated fleet + the TUI, with nothing installed
    Demo(DemoArgs),
    /// The operator TUI on a broker
    Tui(TuiArgs),
    /// Simulated devices from devices.yaml on a broker (and the market's contributors)
    Sim(SimArgs),
    /// The embedded MQTT broker on its own
    Broker(BrokerArgs),
    /// Run one goal: plan, check, publish, confirm
    Run(RunArgs),
    /// Measure the agent on a file of goals against a live fleet
    Eval(EvalArgs),
    /// Daemon: goals in over MQTT, results out (`giot bridge status` to check on it)
    Bridge(BridgeArgs),
    /// Goals kept for later by the bridge ("in 10 minutes", "every day at 7"): list or cancel them
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Standing rules kept by the bridge ("if the cellar humidity goes above 70%, …"): list, disable, enable or remove them
    #[command(subcommand)]
    Rules(RulesCommand),
    /// MCP server on stdin/stdout: list_devices, get_state and run_goal for an AI client
    #[command(
        long_about = "A Model Context Protocol server on stdin/stdout, for AI clients \
                      (Claude Desktop, IDEs, any MCP host). Tools: list_devices, get_state \
                      (live, from the broker) and run_goal (the same agent and policy as \
                      `giot run`; a `safety: confirm` device needs `confirm: true` in the \
                      call). Logs go to standard error; standard output is the protocol.\n\n\
                      Client configuration: {\"command\": \"giot\", \"args\": [\"mcp\", \
                      \"--broker\", \"mqtt://127.0.0.1:1883\"]}"
    )]
    Mcp(McpArgs),
    /// Validate or list the device registry
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    Man,
    /// The incentive market: supervise rounds with simulated contributors
    #[command(subcommand)]
    Market(MarketCommand),
    /// Check or show a tamper-evident ledger
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Contract menus for the incentive market: train, draft, evaluate
    #[command(subcommand)]
    Planner(PlannerCommand),
}

#[derive(Debug, Subcommand)]
pub enum MarketCommand {
    /// Supervise the market (devices.yaml's market: section): menus, choices, settlements
    ///
    /// Starts from the exact solver's menu and adopts menus that operators
    /// propose (`giot run --yes "publish the cheaper menu"`). The contributors
    /// are the vehicles simulated by `giot sim` on the same broker, or run in
    /// this process with --sim.
    Run {
        #[command(flatten)]
        devices: DevicesArgs,
        #[command(flatten)]
        conn: BrokerConnArgs,
        /// Rounds to run [default: until Ctrl-C]
        #[arg(long)]
        rounds: Option<u64>,
        /// Least seconds from one round's start to the next [default: 0 with --rounds, else 2]
        #[arg(long, value_name = "SECS")]
        interval: Option<f64>,
        /// Simulate the contributors in this process instead of expecting `giot sim`
        #[arg(long)]
        sim: bool,
        /// Seed of the in-process contributors' private types and noise (with --sim)
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Record menus, choices and settlements here [default: $XDG_DATA_HOME/giot/giot.ledger]
        #[arg(long, value_name = "FILE")]
        ledger: Option<PathBuf>,
        /// Record nothing
        #[arg(long, conflicts_with = "ledger")]
        no_ledger: bool,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Check the whole chain, its signatures and its head (exit 0 valid, 1 not)
    Verify {
        /// The ledger [default: $XDG_DATA_HOME/giot/giot.ledger]
        file: Option<PathBuf>,
        /// Check signatures against this public key (hex) instead of the one the ledger names
        #[arg(long, value_name = "FILE")]
        pubkey: Option<PathBuf>,
    },
    /// Print the ledger readably, one entry per line
    Show {
        /// The ledger [default: $XDG_DATA_HOME/giot/giot.ledger]
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PlannerCommand {
    /// Train the diffusion planner and save its weights (safetensors)
    Train {
        /// Training steps
        #[arg(long, default_value_t = 3000)]
        steps: usize,
        /// Seed of the training run
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where to write the weights [default: the shipped weights file]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Training method: bc (behaviour cloning against the exact solver) or ac (actor-critic, no expert)
        #[arg(long, default_value = "bc")]
        method: String,
        /// CPU threads
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
    },
    /// Draft a menu for one market state, with its audit against the optimum
    Draft {
        /// Market state as JSON ({"theta": [...], "rho": [...], "c": .., "omega": .., "m": ..}); - for stdin
        #[arg(long, value_name = "FILE|-")]
        state: Option<PathBuf>,
        /// Weights to use [default: the shipped weights]
        #[arg(long, value_name = "FILE")]
        weights: Option<PathBuf>,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Compare every method over many market states
    Eval {
        /// Number of random states (with --seed)
        #[arg(long, default_value_t = 500)]
        states: usize,
        /// Seed of the random states
        #[arg(long, default_value_t = 12345)]
        seed: u64,
        /// States as JSON lines instead of random ones
        #[arg(long, value_name = "FILE", conflicts_with_all = ["states"])]
        states_file: Option<PathBuf>,
        /// Weights to use [default: the shipped weights]
        #[arg(long, value_name = "FILE")]
        weights: Option<PathBuf>,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
    },
}

/// Which model to run, and how: a local GGUF file through llama.cpp, or a
/// model server (`--llm URL`).
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// GGUF model file [default: SmolLM2-135M-Instruct.Q4_1.gguf in ./models or $XDG_DATA_HOME/giot/models]
    #[arg(long, env = "GIOT_MODEL", value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// CPU threads for inference [default: one fewer than the cores, at least 1]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Model layers to offload to the GPU (builds with the `cuda` feature)
    #[arg(long, value_name = "N")]
    pub gpu_layers: Option<u32>,
    /// OpenAI-compatible model server instead of a local model, e.g. http://127.0.0.1:8080/v1 (API key: env GIOT_LLM_API_KEY)
    #[arg(long, env = "GIOT_LLM", value_name = "URL")]
    pub llm: Option<String>,
    /// Model name on the --llm server [default: the server's only model]
    #[arg(long, env = "GIOT_LLM_MODEL", value_name = "NAME")]
    pub llm_model: Option<String>,
    /// tokenizer.json (or a GGUF of the same family) to count --llm prompt tokens
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// Context length of the --llm server's model, in tokens [default: 4096]
    #[arg(long, value_name = "N")]
    pub llm_context: Option<usize>,
    /// OpenAI-compatible server for goals the local layers cannot decide: only the goal and its candidates' names are sent (API key: env GIOT_ESCALATE_API_KEY)
    #[arg(long, env = "GIOT_ESCALATE", value_name = "URL")]
    pub escalate: Option<String>,
    /// Model name on the --escalate server [default: the server's only model]
    #[arg(long, env = "GIOT_ESCALATE_MODEL", value_name = "NAME")]
    pub escalate_model: Option<String>,
}

/// The environment variable holding the escalation server's API key.
pub const ESCALATE_API_KEY_ENV: &str = "GIOT_ESCALATE_API_KEY";

/// Refuses a server URL that is not `http(s)://host…`.
fn server_url(url: &str) -> Result<(), ModelArgsError> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => Err(ModelArgsError::ServerUrl {
            url: url.to_string(),
            source: None,
        }),
        Err(e) => Err(ModelArgsError::ServerUrl {
            url: url.to_string(),
            source: Some(e),
        }),
    }
}

impl ModelArgs {
    /// The escalation server (`--escalate`), if one is given.
    pub fn escalation(&self) -> Option<crate::llm::http::HttpConfig> {
        let url = self.escalate.as_ref()?;
        let mut config = crate::llm::http::HttpConfig::new(url);
        config.model.clone_from(&self.escalate_model);
        config.api_key = std::env::var(ESCALATE_API_KEY_ENV)
            .ok()
            .filter(|k| !k.is_empty());
        Some(config)
    }

    pub fn config(&self) -> crate::llm::Backend {
        if let Some(url) = &self.llm {
            let mut config = crate::llm::http::HttpConfig::new(url);
            config.model.clone_from(&self.llm_model);
            config.tokenizer.clone_from(&self.tokenizer);
            config.context = self.llm_context.unwrap_or(config.context);
            return crate::llm::Backend::Http(config);
        }
        let mut config = crate::llm::llama::LlamaConfig::new(
            self.model
                .clone()
                .unwrap_or_else(crate::llm::llama::default_model_path),
        );
        if let Some(t) = self.threads {
            config.threads = t.max(1);
        }
        config.gpu_layers = self.gpu_layers.unwrap_or(0);
        crate::llm::Backend::Llama(config)
    }

    /// Refuses `--gpu-layers` in a build without GPU support, and flags of
    /// one backend given to the other.
    pub fn check(&self) -> Result<(), ModelArgsError> {
        if self.gpu_layers.is_some_and(|n| n > 0) && !cfg!(feature = "cuda") {
            return Err(ModelArgsError::NoGpu);
        }
        match &self.escalate {
            Some(url) => server_url(url)?,
            None if self.escalate_model.is_some() => {
                return Err(ModelArgsError::EscalateModelWithoutServer);
            }
            None => {}
        }
        let Some(url) = &self.llm else {
            for (given, flag) in [
                (self.llm_model.is_some(), "--llm-model (env GIOT_LLM_MODEL)"),
                (self.tokenizer.is_some(), "--tokenizer"),
                (self.llm_context.is_some(), "--llm-context"),
            ] {
                if given {
                    return Err(ModelArgsError::ServerFlagWithoutServer(flag));
                }
            }
            return Ok(());
        };
        for (given, flag) in [
            (self.model.is_some(), "--model (env GIOT_MODEL)"),
            (self.threads.is_some(), "--threads"),
            (self.gpu_layers.is_some(), "--gpu-layers"),
        ] {
            if given {
                return Err(ModelArgsError::BothBackends(flag));
            }
        }
        server_url(url)?;
        if self.llm_context == Some(0) {
            return Err(ModelArgsError::NoContext);
        }
        Ok(())
    }
}

/// Model flags that cannot be used together, or as given: a usage error.
#[derive(Debug, thiserror::Error)]
pub enum ModelArgsError {
    /// `--gpu-layers N` (N > 0) in a build without the `cuda` feature.
    #[error(
        "--gpu-layers needs a GPU build: cargo build --features cuda (this build runs on the CPU only)"
    )]
    NoGpu,
    /// `--escalate-model` without `--escalate URL`.
    #[error(
        "--escalate-model (env GIOT_ESCALATE_MODEL) applies to an escalation server: give --escalate URL too"
    )]
    EscalateModelWithoutServer,
    /// A flag of the model server (named here) without `--llm URL`.
    #[error("{0} applies to a model server: give --llm URL too")]
    ServerFlagWithoutServer(&'static str),
    /// `--llm` together with a flag of the local model (named here).
    #[error(
        "--llm (env GIOT_LLM) and {0} are alternatives: a model server or a local model, not both"
    )]
    BothBackends(&'static str),
    /// `--llm` is not an http(s) URL with a host; `source` says why it
    /// does not parse, when it does not.
    #[error("--llm must be the server's API base URL, like http://127.0.0.1:8080/v1, not {url:?}")]
    ServerUrl {
        url: String,
        #[source]
        source: Option<url::ParseError>,
    },
    /// `--llm-context 0`.
    #[error("--llm-context must be at least 1 token")]
    NoContext,
}

/// Which agent, and how long to wait for devices.
#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// Agent definition: agents/NAME.yaml
    #[arg(long, default_value = "operator", value_name = "NAME")]
    pub agent: String,
    /// Seconds to wait for a device's state to confirm a command
    #[arg(long, default_value_t = 3.0, value_name = "SECS")]
    pub confirm_timeout: f64,
    /// Record executed actions in this ledger [default: $XDG_DATA_HOME/giot/giot.ledger]
    #[arg(long, value_name = "FILE")]
    pub ledger: Option<PathBuf>,
    /// Record nothing in the ledger
    #[arg(long, conflicts_with = "ledger")]
    pub no_ledger: bool,
    /// Language to read goals in first (Home Assistant's codes: en, de, fr,
    /// es, …); goals in English, German, French and Spanish are recognised
    /// whatever this says
    #[arg(long, env = "GIOT_LANGUAGE", value_name = "CODE")]
    pub language: Option<String>,
}

impl AgentArgs {
    /// The ledger executed actions go into, unless `--no-ledger`.
    pub fn ledger_path(&self) -> Option<PathBuf> {
        (!self.no_ledger).then(|| {
            self.ledger
                .clone()
                .unwrap_or_else(crate::ledger::default_path)
        })
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub devices: DevicesArgs,
    #[command(flatten)]
    pub conn: BrokerConnArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Plan and check, but publish nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Confirm actions on `safety: confirm` devices
    #[arg(long)]
    pub yes: bool,
    /// Print one JSON object on standard output
    #[arg(long)]
    pub json: bool,
    /// The room the goal is said in (id or name): "turn off the lights"
    /// then means that room's lights
    #[arg(long, value_name = "ROOM")]
    pub room: Option<String>,
    /// Continue conversation ID: "turn it off again", "the same for the
    /// bedroom" and answers to a question giot asked ("the front one")
    /// refer to its last goal. Kept in
    /// $XDG_STATE_HOME/giot/conversations/ID.json (ID: letters, digits, _ . -)
    #[arg(long, value_name = "ID")]
    pub conversation: Option<String>,
    /// The goal, e.g. "dim the hall light to 10%"
    #[arg(required = true, num_args = 1.., value_name = "GOAL")]
    pub goal: Vec<String>,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(flatten)]
    pub devices: DevicesArgs,
    #[command(flatten)]
    pub conn: BrokerConnArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub agent: AgentArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BridgeAction {
    /// Run the daemon (the default)
    Run,
    /// Print the daemon's status and metrics from the broker, then exit
    Status,
}

#[derive(Debug, Args)]
pub struct BridgeArgs {
    /// What to do
    #[arg(value_enum, default_value = "run")]
    pub action: BridgeAction,
    #[command(flatten)]
    pub devices: DevicesArgs,
    #[command(flatten)]
    pub conn: BrokerConnArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub agent: AgentArgs,
    /// The bridge's record of goals and results: a file (one instance), or a PostgreSQL URL shared by several instances, postgres://USER@HOST:PORT/DB?sslmode=require (a URL with a password belongs in GIOT_BRIDGE_STORE, not on the command line) [default: $XDG_DATA_HOME/giot/bridge-AGENT.redb]
    #[arg(
        long,
        env = "GIOT_BRIDGE_STORE",
        value_name = "FILE|URL",
        hide_env_values = true
    )]
    pub store: Option<String>,
    /// Share the goal stream with the other instances of this group (an MQTT shared subscription, $share/GROUP/giot/AGENT/goals); needs a PostgreSQL --store
    #[arg(long, value_name = "GROUP")]
    pub share: Option<String>,
    /// This instance's name, unique among the agent's instances: its MQTT client id, its status topic and its claims in a shared store [default: the host name]; with `status`, the instance to look at
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// Seconds a shared store keeps this instance's goals after it was last heard from; then another instance takes them over
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub lease: f64,
    /// Require goals signed with HMAC-SHA256 under this key (the file's raw bytes, at least 32)
    #[arg(long, value_name = "FILE")]
    pub goal_key_file: Option<PathBuf>,
    /// Goals waiting at most; more are answered `rejected: overloaded`
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub queue: usize,
    /// Seconds between metrics on giot/AGENT/metrics
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub metrics_every: f64,
    /// Seconds a confirmation token stays valid
    #[arg(long, default_value_t = 300.0, value_name = "SECS")]
    pub token_ttl: f64,
    /// Hours finished goals are remembered (a repeated id within it is answered from the record)
    #[arg(long, default_value_t = 168.0, value_name = "HOURS")]
    pub keep: f64,
    /// Where goals for later are kept [default: beside --store as STORE.schedules.json, else $XDG_STATE_HOME/giot/schedules-AGENT.json]
    #[arg(long, value_name = "FILE")]
    pub schedules: Option<PathBuf>,
    /// Where standing rules are kept [default: beside --store as STORE.rules.json, else $XDG_STATE_HOME/giot/rules-AGENT.json]
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Seconds a standing rule rests after it acts before it may act again
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub rule_interval: f64,
    /// The operator's time zone for "at 7 pm" (IANA name, e.g. Europe/Berlin) [default: the system's]
    #[arg(long, env = "GIOT_TIME_ZONE", value_name = "ZONE")]
    pub time_zone: Option<String>,
    /// With `status`: print JSON
    #[arg(long)]
    pub json: bool,
}

/// `giot schedule list|cancel`.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// The schedules kept, soonest first
    List(ScheduleArgs),
    /// Cancel a schedule by its id (a running bridge notices within a second)
    Cancel {
        #[command(flatten)]
        args: ScheduleArgs,
        /// The schedule's id, as `list` and the `scheduled` result show it
        #[arg(value_name = "ID")]
        id: String,
    },
}

/// Which schedules file.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// The schedules file [default: $XDG_STATE_HOME/giot/schedules-AGENT.json]
    #[arg(long, value_name = "FILE")]
    pub schedules: Option<PathBuf>,
    /// The agent whose schedules (its bridge's default file)
    #[arg(long, default_value = "operator", value_name = "NAME")]
    pub agent: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

impl ScheduleArgs {
    /// The file: `--schedules`, else the agent's default.
    pub fn path(&self) -> PathBuf {
        self.schedules
            .clone()
            .unwrap_or_else(|| default_schedules(&self.agent))
    }
}

/// `giot rules list|disable|enable|remove`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// The standing rules kept, in the order they were armed
    List(RulesArgs),
    /// Stop evaluating a rule, keeping it (a running bridge notices within a second)
    Disable {
        #[command(flatten)]
        args: RulesArgs,
        /// The rule's id, as `list` and the `rule` result show it
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Evaluate a disabled rule again
    Enable {
        #[command(flatten)]
        args: RulesArgs,
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Remove a rule
    Remove {
        #[command(flatten)]
        args: RulesArgs,
        #[arg(value_name = "ID")]
        id: String,
    },
}

/// Which rules file.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// The rules file [default: $XDG_STATE_HOME/giot/rules-AGENT.json]
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// The agent whose rules (its bridge's default file)
    #[arg(long, default_value = "operator", value_name = "NAME")]
    pub agent: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

impl RulesArgs {
    /// The file: `--rules`, else the agent's default.
    pub fn path(&self) -> PathBuf {
        self.rules
            .clone()
            .unwrap_or_else(|| default_rules(&self.agent))
    }
}

/// `$XDG_STATE_HOME/giot/rules-AGENT.json`.
pub fn default_rules(agent: &str) -> PathBuf {
    crate::paths::state_dir().join(format!("rules-{agent}.json"))
}

/// `$XDG_STATE_HOME/giot/schedules-AGENT.json`.
pub fn default_schedules(agent: &str) -> PathBuf {
    crate::paths::state_dir().join(format!("schedules-{agent}.json"))
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub devices: DevicesArgs,
    #[command(flatten)]
    pub conn: BrokerConnArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Print one JSON object instead of tables
    #[arg(long)]
    pub json: bool,
    /// Skip the comparison run with the model taken out of the loop
    #[arg(long)]
    pub no_baseline: bool,
    /// Goals in JSON lines: {"goal": ..., "status": ..., "actions": [[device, capability, value], ...]}
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log level: error, warn, info, debug, trace (or a tracing filter)
    #[arg(long, global = true, env = "GIOT_LOG", value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Write logs to this file instead of standard error
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

/// Where the device registry comes from.
#[derive(Debug, Clone, Args)]
pub struct DevicesArgs {
    /// The device registry [default: ./devices.yaml, then $XDG_CONFIG_HOME/giot/devices.yaml]
    #[arg(long, value_name = "FILE")]
    pub devices: Option<PathBuf>,
}

impl DevicesArgs {
    pub fn path(&self) -> PathBuf {
        self.devices
            .clone()
            .unwrap_or_else(crate::registry::default_path)
    }
}

/// How to reach the broker.
#[derive(Debug, Clone, Args)]
pub struct BrokerConnArgs {
    /// Broker URL: mqtt://host:port, or mqtts://host:port for TLS
    #[arg(
        long,
        env = "GIOT_BROKER",
        default_value = "mqtt://127.0.0.1:1883",
        value_name = "URL"
    )]
    pub broker: String,
    /// User name for the broker
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,
    /// Read the broker password from this file (or set GIOT_PASSWORD)
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// CA certificate (PEM) to verify an mqtts:// broker
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

impl BrokerConnArgs {
    /// Connection options; the password comes from `--password-file` or
    /// `GIOT_PASSWORD`, never from the command line.
    /// An unreadable password file is an [`OptionsError::File`], like an
    /// unreadable certificate.
    pub fn options(&self, role: &str) -> Result<ConnectOptions, OptionsError> {
        let mut o = ConnectOptions::new(&self.broker, role);
        o.username = self.username.clone();
        o.password = match &self.password_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|source| OptionsError::File {
                        what: "password file",
                        path: path.clone(),
                        source,
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            ),
            None => std::env::var("GIOT_PASSWORD").ok(),
        };
        o.ca_file = self.ca_file.clone();
        o.client_cert = self.client_cert.clone();
        o.client_key = self.client_key.clone();
        o.endpoint()?;
        Ok(o)
    }
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub devices: DevicesArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Port of the embedded broker
    #[arg(long, default_value_t = 1883)]
    pub port: u16,
    /// Where goals for later are kept [default: $XDG_STATE_HOME/giot/schedules-demo.json]
    #[arg(long, value_name = "FILE")]
    pub schedules: Option<PathBuf>,
    /// Where standing rules are kept [default: $XDG_STATE_HOME/giot/rules-demo.json]
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// The operator's time zone for "at 7 pm" (IANA name) [default: the system's]
    #[arg(long, env = "GIOT_TIME_ZONE", value_name = "ZONE")]
    pub time_zone: Option<String>,
    /// Past values kept per topic (the detail pane's history)
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub history: usize,
}

#[derive(Debug, Args)]
pub struct TuiArgs {
    #[command(flatten)]
    pub devices: DevicesArgs,
    #[command(flatten)]
    pub conn: BrokerConnArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Where goals for later are kept [default: $XDG_STATE_HOME/giot/schedules-tui.json]
    #[arg(long, value_name = "FILE")]
    pub schedules: Option<PathBuf>,
    /// Where standing rules are kept [default: $XDG_STATE_HOME/giot/rules-tui.json]
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// The operator's time zone for "at 7 pm" (IANA name) [default: the system's]
    #[arg(long, env = "GIOT_TIME_ZONE", value_name = "ZONE")]
    pub time_zone: Option<String>,
    /// Past values kept per topic (the detail pane's history)
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub history: usize,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    #[command(flatten)]
    pub devices: DevicesArgs,
    #[command(flatten)]
    pub conn: BrokerConnArgs,
    /// Seconds between sensor and vehicle updates
    #[arg(long, default_value_t = 2.0, value_name = "SECS")]
    pub tick: f64,
    /// Seed of the simulated readings
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Port to listen on
    #[arg(long, default_value_t = 1883)]
    pub port: u16,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
}

#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// Validate a registry file (exit 0 if valid, 2 if not)
    Check {
        /// The file to check [default: the --devices lookup]
        file: Option<PathBuf>,
    },
    /// List the devices of the registry, or (--discovered) those announced on the broker
    List {
        #[command(flatten)]
        devices: DevicesArgs,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
        /// Connect and list the devices announced on the broker (Home Assistant, Zigbee2MQTT, Tasmota)
        #[arg(long)]
        discovered: bool,
        /// Seconds to listen for announcements (with --discovered)
        #[arg(
            long,
            default_value_t = 3.0,
            value_name = "SECS",
            requires = "discovered"
        )]
        wait: f64,
        #[command(flatten)]
        conn: BrokerConnArgs,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
