//! `giot mcp`: a Model Context Protocol server on stdin/stdout (the library's
//! [`giot::mcp`]). Connects to the broker and checks the model file before
//! the session starts, so a misconfiguration ends with a clear message and
//! the documented exit code instead of a client that cannot connect.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use giot::cli::McpArgs;
use giot::exec::Live;
use giot::llm::{Backend, LlmError, Scorer};
use giot::mcp::{self, McpConfig};

pub fn run(args: McpArgs) -> Result<ExitCode> {
    args.model.check()?;
    let registry = super::load_registry(&args.devices.path())?;
    let definition = super::load_agent(&args.agent.agent)?;
    let options = args.conn.options("mcp")?;
    let model = args.model.config();
    if let Backend::Llama(c) = &model
        && !c.model.is_file()
    {
        return Err(LlmError::Missing(c.model.clone()).into());
    }
    let config = McpConfig {
        definition,
        confirm_timeout: super::run::confirm_timeout(args.agent.confirm_timeout)?,
        language: args.agent.language.clone(),
        ledger: args.agent.ledger_path(),
        escalation: args.model.escalation(),
    };
    let load: mcp::Loader = Box::new(move || {
        let (llm, took) = giot::llm::spawn(model)?;
        tracing::info!("model {} loaded in {took:?}", llm.name());
        Ok(Box::new(llm) as Box<dyn Scorer>)
    });
    let rt = super::runtime()?;
    let served = rt.block_on(async move {
        let live = Live::connect(
            &options,
            registry,
            Duration::from_secs(3),
            Duration::from_millis(700),
        )
        .await?;
        tracing::info!("connected to {}; serving MCP on stdin/stdout", options.url);
        mcp::serve(config, live, load, super::stop_signal()).await?;
        anyhow::Ok(())
    });
    // Do not wait for a model that is still loading when the client leaves.
    rt.shutdown_timeout(Duration::from_secs(1));
    served?;
    Ok(ExitCode::SUCCESS)
}
