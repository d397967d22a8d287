//! `giot mcp` end to end: the real binary as a child process, driven by the
//! official MCP client (rmcp) over stdio, against a real mosquitto, `giot sim`
//! and the default model.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use giot::fleet::Fleet;
use giot::mqtt::{ConnectOptions, Link, LinkEvent};
use rmcp::model::{CallToolRequestParams, CallToolResult, ErrorCode};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceError, ServiceExt};
use serde_json::{Value, json};

use super::harness::{Mosquitto, Watcher, demo_devices, demo_registry, free_port, giot, spawn_sim};
use super::llm::model_path;

pub(super) type Client = RunningService<RoleClient, ()>;

/// Waits until the simulator's retained states are on the broker.
fn wait_for_sim(broker: &Mosquitto) {
    let out = std::process::Command::new("mosquitto_sub")
        .args(["-p", &broker.port.to_string()])
        .args(["-t", "fleet/vehicles/taxi_01/state", "-C", "1", "-W", "10"])
        .output()
        .unwrap();
    assert!(out.status.success(), "the simulator did not come up");
}

/// `giot mcp` on the broker, its stderr (the logs) going to `log`.
pub(super) async fn start(broker: &Mosquitto, ledger: &Path, log: &Path) -> Client {
    let mut command = giot();
    command
        .args(["mcp", "--broker", &broker.url(), "--devices"])
        .arg(demo_devices())
        .arg("--model")
        .arg(model_path())
        .arg("--ledger")
        .arg(ledger);
    let (transport, _) = TokioChildProcess::builder(tokio::process::Command::from(command))
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), ().serve(transport))
        .await
        .expect("initialize timed out")
        .expect("the MCP session did not start")
}

async fn call(client: &Client, tool: &str, args: Value) -> Result<CallToolResult, ServiceError> {
    let params = CallToolRequestParams::new(tool.to_string())
        .with_arguments(args.as_object().expect("arguments are an object").clone());
    // The first run_goal waits for the model to load and warm.
    tokio::time::timeout(Duration::from_secs(180), client.call_tool(params))
        .await
        .unwrap_or_else(|_| panic!("{tool} timed out"))
}

/// A successful call's structured result.
pub(super) async fn ok(client: &Client, tool: &str, args: Value) -> Value {
    let result = call(client, tool, args.clone()).await.unwrap();
    assert_eq!(result.is_error, Some(false), "{tool} {args}: {result:?}");
    let value = result
        .structured_content
        .clone()
        .expect("structured content");
    // The same JSON is in the text content, for clients that read only text.
    let text = result.content[0]
        .as_text()
        .expect("text content")
        .text
        .clone();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
    value
}

/// A tool-level error's message.
async fn tool_error(client: &Client, tool: &str, args: Value) -> String {
    let result = call(client, tool, args.clone()).await.unwrap();
    assert_eq!(result.is_error, Some(true), "{tool} {args}: {result:?}");
    result.content[0].as_text().unwrap().text.clone()
}

/// A protocol-level (JSON-RPC) error's code.
async fn rpc_error(client: &Client, tool: &str, args: Value) -> ErrorCode {
    match call(client, tool, args.clone()).await {
        Err(ServiceError::McpError(e)) => e.code,
        other => panic!("{tool} {args}: expected a JSON-RPC error, got {other:?}"),
    }
}

/// Messages on `topic` within `wait`.
async fn published(spy: &mut Link, wait: Duration) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, spy.recv()).await {
        if let LinkEvent::Message { payload, .. } = event {
            got.push(payload.to_vec());
        }
    }
    got
}

fn power(fleet: &Fleet, device: &str) -> Option<Value> {
    fleet.value(device, "power")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_client_lists_reads_and_acts_through_the_agent_and_its_policy() {
    let broker = Mosquitto::start();
    let _sim = spawn_sim(&broker.url(), "0.5");
    wait_for_sim(&broker);
    let dir = tempfile::tempdir().unwrap();
    let (ledger, log) = (dir.path().join("mcp.ledger"), dir.path().join("mcp.log"));
    let mut spy = Link::start(
        &ConnectOptions::new(broker.url(), "spy"),
        vec!["home/hallway/front_door/set".into()],
    )
    .unwrap();
    spy.wait_connected(Duration::from_secs(5), |_| {})
        .await
        .unwrap();
    let client = start(&broker, &ledger, &log).await;

    // initialize
    let info = client.peer_info().expect("the server answered initialize");
    assert_eq!(info.server_info.as_ref().unwrap().name, "giot");
    assert!(info.capabilities.tools.is_some());
    assert!(info.instructions.as_deref().unwrap().contains("run_goal"));

    // tools/list: three tools with the schemas an LLM client needs.
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    assert_eq!(names, ["get_state", "list_devices", "run_goal"]);
    let schema = |name: &str| {
        let t = tools.iter().find(|t| t.name == name).unwrap();
        assert!(t.description.as_ref().unwrap().len() > 100, "{name}");
        Value::Object((*t.input_schema).clone())
    };
    let run_goal = schema("run_goal");
    assert_eq!(run_goal["properties"]["goal"]["type"], "string");
    assert_eq!(run_goal["properties"]["confirm"]["type"], "boolean");
    assert_eq!(run_goal["required"], json!(["goal"]));
    assert_eq!(schema("get_state")["required"], json!(["device"]));
    let list = schema("list_devices");
    assert!(list["properties"]["room"].is_object());
    assert!(list.get("required").is_none_or(|r| r == &json!([])));
    for read_only in ["list_devices", "get_state"] {
        let t = tools.iter().find(|t| t.name == read_only).unwrap();
        assert_eq!(t.annotations.as_ref().unwrap().read_only_hint, Some(true));
    }

    // list_devices, all and by room.
    let all = ok(&client, "list_devices", json!({})).await;
    assert_eq!(all["count"], demo_registry().len());
    let device = |list: &Value, id: &str| {
        list["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not listed"))
    };
    let door = device(&all, "front_door");
    assert_eq!(door["safety"], "confirm");
    assert_eq!(door["needs_confirmation"], true);
    let light = device(&all, "kitchen_light");
    let brightness = &light["capabilities"].as_array().unwrap()[1];
    assert_eq!(brightness["name"], "brightness");
    assert_eq!(brightness["min"].as_f64(), Some(0.0));
    assert_eq!(brightness["max"].as_f64(), Some(100.0));
    let kitchen = ok(&client, "list_devices", json!({"room": "kitchen"})).await;
    let kitchen_devices = kitchen["devices"].as_array().unwrap();
    assert!(kitchen_devices.len() >= 2 && kitchen_devices.len() < demo_registry().len());
    assert!(kitchen_devices.iter().all(|d| d["room"] == "kitchen"));
    let no_room = tool_error(&client, "list_devices", json!({"room": "attic"})).await;
    assert!(no_room.contains("kitchen"), "{no_room}");

    // get_state: live state, and near matches for an unknown id.
    let state = ok(&client, "get_state", json!({"device": "kitchen_light"})).await;
    assert_eq!(state["state"]["power"], "off", "{state}");
    assert_eq!(state["broker_connected"], true);
    let unknown = tool_error(&client, "get_state", json!({"device": "kitchen_lamp"})).await;
    assert!(unknown.contains("`kitchen_light`"), "{unknown}");

    // run_goal: executed, and confirmed by the device's own state echo.
    let mut watcher = Watcher::start(&broker.url(), demo_registry());
    let done = ok(
        &client,
        "run_goal",
        json!({"goal": "turn on the kitchen light"}),
    )
    .await;
    assert_eq!(done["status"], "executed", "{done}");
    assert_eq!(done["actions"].as_array().unwrap().len(), 1, "{done}");
    let action = &done["actions"][0];
    assert_eq!(
        (&action["device"], &action["capability"], &action["value"]),
        (&json!("kitchen_light"), &json!("power"), &json!("on"))
    );
    assert_eq!(action["confirmed"], true, "{done}");
    watcher
        .until(Duration::from_secs(5), "the kitchen light on", |f| {
            power(f, "kitchen_light") == Some(json!("on"))
        })
        .await;
    let state = ok(&client, "get_state", json!({"device": "kitchen_light"})).await;
    assert_eq!(state["state"]["power"], "on", "{state}");

    // A confirm device: nothing published without confirm: true...
    let held = ok(
        &client,
        "run_goal",
        json!({"goal": "unlock the front door"}),
    )
    .await;
    assert_eq!(held["status"], "needs_confirmation", "{held}");
    assert_eq!(held["actions"][0]["device"], "front_door");
    assert_eq!(held["actions"][0]["confirmed"], Value::Null);
    assert!(
        held["reason"].as_str().unwrap().contains("confirm: true"),
        "{held}"
    );
    assert!(
        published(&mut spy, Duration::from_millis(800))
            .await
            .is_empty(),
        "a command went out without confirm: true"
    );
    let door = ok(&client, "get_state", json!({"device": "front_door"})).await;
    assert_eq!(door["state"]["lock"], "locked");
    // ...and the command, echoed by the lock, with it.
    let confirmed = ok(
        &client,
        "run_goal",
        json!({"goal": "unlock the front door", "confirm": true}),
    )
    .await;
    assert_eq!(confirmed["status"], "executed", "{confirmed}");
    assert_eq!(confirmed["actions"][0]["confirmed"], true, "{confirmed}");
    assert_eq!(
        published(&mut spy, Duration::from_secs(1)).await,
        [br#"{"lock":"unlocked"}"#.to_vec()]
    );

    // Refused, answered, planned.
    let refused = ok(&client, "run_goal", json!({"goal": "turn on the sauna"})).await;
    assert_eq!(refused["status"], "refused");
    assert!(
        refused["reason"].as_str().unwrap().contains("sauna"),
        "{refused}"
    );
    assert_eq!(refused["actions"], json!([]));
    let answered = ok(
        &client,
        "run_goal",
        json!({"goal": "how humid is the cellar?"}),
    )
    .await;
    assert_eq!(answered["status"], "answered", "{answered}");
    assert!(answered["answer"].as_str().unwrap().contains('%'));
    let planned = ok(
        &client,
        "run_goal",
        json!({"goal": "turn on the garden light", "dry_run": true}),
    )
    .await;
    assert_eq!(planned["status"], "planned", "{planned}");
    assert_eq!(planned["actions"][0]["confirmed"], Value::Null);

    // Arguments that do not fit the schema are tool errors the client's model
    // can read and correct; an unknown tool is a JSON-RPC error; the server stays up.
    let wrong_type = tool_error(&client, "get_state", json!({"device": 5})).await;
    assert!(wrong_type.contains("expected a string"), "{wrong_type}");
    let missing = tool_error(&client, "run_goal", json!({})).await;
    assert!(missing.contains("missing field `goal`"), "{missing}");
    let misspelt = tool_error(
        &client,
        "run_goal",
        json!({"goal": "unlock the front door", "confirmed": true}),
    )
    .await;
    assert!(misspelt.contains("unknown field `confirmed`"), "{misspelt}");
    assert_eq!(
        rpc_error(&client, "reboot_everything", json!({})).await,
        ErrorCode::INVALID_PARAMS
    );
    let empty = tool_error(&client, "run_goal", json!({"goal": "   "})).await;
    assert!(empty.contains("empty"), "{empty}");
    assert_eq!(
        ok(&client, "list_devices", json!({})).await["count"],
        all["count"]
    );

    // Exactly the two executed plans are in the ledger, with who confirmed them.
    let raw = std::fs::read_to_string(&ledger).unwrap();
    let actions: Vec<&str> = raw
        .lines()
        .filter(|l| l.contains(r#""kind":"action""#))
        .collect();
    assert_eq!(actions.len(), 2, "{raw}");
    assert!(
        actions[0].contains("kitchen_light")
            && actions[0].contains(r#""confirmed_by":"policy (mcp)""#)
    );
    assert!(actions[1].contains("front_door") && actions[1].contains("mcp client (confirm: true)"));
    super::harness::assert_ledger_verifies(&ledger);

    client.cancel().await.unwrap();
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("serving MCP on stdin/stdout"), "{logs}");
}

#[test]
fn giot_mcp_without_a_broker_fails_with_a_clear_message_and_no_protocol_output() {
    let out = giot()
        .args([
            "mcp",
            "--broker",
            &format!("mqtt://127.0.0.1:{}", free_port()),
        ])
        .arg("--devices")
        .arg(demo_devices())
        .arg("--model")
        .arg(model_path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach the broker"), "{stderr}");
}

/// Issue 15, kind 11: a request that is not JSON gets JSON-RPC's parse
/// error (-32700, id null) and the session goes on.
#[test]
fn kind11_invalid_json_gets_a_parse_error_with_id_null_and_the_session_goes_on() {
    use std::io::{BufRead, BufReader, Write};

    let broker = Mosquitto::start();
    let mut child = super::harness::Process(
        giot()
            .args(["mcp", "--broker", &broker.url(), "--devices"])
            .arg(demo_devices())
            .arg("--model")
            .arg(model_path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut stdin = child.0.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut read = || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        serde_json::from_str::<Value>(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    };
    let mut send = |text: &str| {
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    };
    send(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
    );
    assert_eq!(read()["id"], 1);
    send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list""#);
    let error = read();
    assert_eq!(error["error"]["code"], -32700, "{error}");
    assert!(error.get("id").is_some_and(Value::is_null), "{error}");
    send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#);
    let tools = read();
    assert_eq!(tools["id"], 3, "{tools}");
    assert!(
        tools["result"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
}
