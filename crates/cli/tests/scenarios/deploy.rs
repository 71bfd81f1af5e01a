//! docs/deploy.md followed as written: its configuration files and HAProxy
//! configuration are read from the page, its `cloudconnector` commands run as the
//! operator would run them (the built binary, three `serve` processes), its Graph
//! requests are sent as it lists them, and then an instance is connected and a Mac
//! enrolled through the load balancer until Entra shows its compliance. Only ports,
//! database names and the directory differ from the page (PostgreSQL when
//! `CLOUDCONNECTOR_TEST_POSTGRES` names a server, else SQLite files).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};
use serde_json::{Value, json};

use crate::harness::eventually;
use crate::load_balancer::free_port;

/// A fenced block of the guide: its language and its attribute (`file=…`, `graph=…`).
struct Block {
    lang: String,
    attribute: Option<(String, String)>,
    text: String,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                let (lang, rest) = info.split_once(' ').unwrap_or((&info, ""));
                let attribute = rest.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()));
                open = Some(Block { lang: lang.to_string(), attribute, text: String::new() });
            }
            Event::Text(t) => {
                if let Some(b) = open.as_mut() {
                    b.text.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => out.extend(open.take()),
            _ => {}
        }
    }
    out
}

/// The page's values and the test's: every occurrence is replaced, in this order.
struct Substitutions(Vec<(String, String)>);

impl Substitutions {
    fn apply(&self, text: &str) -> String {
        self.0.iter().fold(text.to_string(), |t, (from, to)| t.replace(from, to))
    }
}

/// The processes the guide starts, stopped when the test ends.
#[derive(Default)]
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Shell steps the test performs its own way rather than by running the line: the
/// databases (`psql`: fresh ones per run), the directory (`mkdir … && cd`: the test's
/// own), and the Graph session of section 6 (`G=`, `TOKEN=`, `graph()`: [`graph_token`]
/// and the `graph=` blocks).
const DONE_OTHERWISE: [&str; 5] = ["psql", "mkdir", "G=", "TOKEN=", "graph()"];

struct Operator {
    dir: PathBuf,
    subs: Substitutions,
    processes: Processes,
    /// The JSON each `provision` command printed.
    printed: Vec<Value>,
}

impl Operator {
    /// Runs one command line of the guide: `cloudconnector …` (in the background with a
    /// trailing `&`), `cat … > file`, `head … > file` (a random secret), `haproxy … &`.
    async fn run(&mut self, line: &str) {
        let line = self.subs.apply(line);
        let first = line.split_whitespace().next().unwrap_or_default();
        if DONE_OTHERWISE.iter().any(|p| first.starts_with(p)) {
            return;
        }
        // `NAME=$(cloudconnector … | jq -r .field)`: the command's output is kept.
        if let Some(inner) = line.split_once("=$(").and_then(|(_, rest)| rest.split_once(" | jq")).map(|(cmd, _)| cmd.to_string()) {
            return Box::pin(self.run(&inner)).await;
        }
        if first == "curl" {
            return self.health_check(&line).await;
        }
        let background = line.trim_end().ends_with('&');
        let words = shlex::split(line.trim_end().trim_end_matches('&')).unwrap_or_else(|| panic!("not a command line: {line}"));
        let split = words.iter().position(|w| !w.contains('=')).unwrap_or(words.len());
        let (env, argv) = words.split_at(split);
        match argv[0].as_str() {
            "cloudconnector" | "haproxy" => {
                let program = if argv[0] == "cloudconnector" { env!("CARGO_BIN_EXE_cloudconnector").to_string() } else { argv[0].clone() };
                let mut cmd = Command::new(program);
                cmd.args(&argv[1..]).current_dir(&self.dir).env_remove("CLOUDCONNECTOR_TEST_POSTGRES");
                for pair in env {
                    let (k, v) = pair.split_once('=').unwrap();
                    cmd.env(k, v);
                }
                if background {
                    let log = std::fs::File::create(self.dir.join(format!("{}.log", self.processes.0.len()))).unwrap();
                    cmd.stdout(Stdio::from(log.try_clone().unwrap())).stderr(Stdio::from(log));
                    self.processes.0.push(cmd.spawn().unwrap_or_else(|e| panic!("{line}: {e}")));
                    self.ready(&argv[1..]).await;
                } else {
                    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
                    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
                    assert!(out.status.success(), "{line}\n{stdout}\n{stderr}");
                    self.printed.push(serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{line} printed no JSON ({e}): {stdout}")));
                }
            }
            "cat" => {
                let (files, target) = argv[1..].split_at(argv.len() - 3);
                assert_eq!(target[0], ">", "{line}");
                let text: String = files.iter().map(|f| std::fs::read_to_string(self.dir.join(f)).unwrap()).collect();
                std::fs::write(self.dir.join(&target[1]), text).unwrap();
            }
            "head" => {
                let target = argv.last().unwrap();
                std::fs::write(self.dir.join(target), platform::secrets::random_token(24)).unwrap();
            }
            _ => panic!("a step of the guide this test does not follow: {line}"),
        }
    }

    /// Waits for a `serve` process to answer `/health/ready` on its listener, or for
    /// HAProxy to accept connections on every front end.
    async fn ready(&self, args: &[String]) {
        let file = |flag: &str| args.iter().position(|a| a == flag).map(|i| std::fs::read_to_string(self.dir.join(&args[i + 1])).unwrap());
        if let Some(cfg) = file("-f") {
            for front in cfg.lines().filter_map(|l| l.trim().strip_prefix("bind ")) {
                let front = front.to_string();
                eventually(&format!("haproxy on {front}"), || async { tokio::net::TcpStream::connect(&front).await.ok().map(|_| ()) })
                    .await;
            }
            return;
        }
        let (Some(config), Some(role)) = (file("--config"), args.iter().position(|a| a == "--role").map(|i| &args[i + 1])) else { return };
        let config: toml::Value = config.parse().unwrap();
        let port = config[role.as_str()]["port"].as_integer().unwrap();
        // The service creates the CA it is checked against as it starts: this probe of
        // liveness alone does not check the certificate.
        let http = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
        let url = format!("https://127.0.0.1:{port}/health/ready");
        eventually(&format!("the {role} ready"), || async {
            http.get(&url).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
        })
        .await;
    }

    /// `curl --cacert tls/ca.pem <url>/health/ready`: the service answers through HAProxy
    /// with a certificate the local CA vouches for.
    async fn health_check(&self, line: &str) {
        let words = shlex::split(line).unwrap();
        let url = words.iter().find(|w| w.starts_with("https://")).unwrap_or_else(|| panic!("no URL in {line}"));
        assert!(url.ends_with("/health/ready"), "a curl step of the guide this test does not follow: {line}");
        let ca = std::fs::read_to_string(self.dir.join("tls/ca.pem")).unwrap();
        let resp = platform::http::client(&ca).get(url).send().await.unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(resp.status(), 200, "{line}");
    }

    fn printed(&self, key: &str, value: &str) -> &Value {
        self.printed.iter().find(|p| p[key] == value).unwrap_or_else(|| panic!("no command printed {key} = {value}"))
    }
}

/// Databases for the three roles: fresh PostgreSQL databases, or SQLite files in `dir`.
async fn databases(dir: &Path) -> (Vec<(String, String)>, Option<(String, Vec<String>)>) {
    let mut subs = Vec::new();
    let server = std::env::var("CLOUDCONNECTOR_TEST_POSTGRES").ok();
    let mut created = Vec::new();
    for role in ["cloud", "connector", "mdm"] {
        let url = match &server {
            Some(s) => {
                let name = format!("cc_deploy_{role}_{}", uuid::Uuid::new_v4().simple());
                created.push(name.clone());
                platform::db::create_postgres_database(s, &name).await.unwrap()
            }
            None => platform::db::sqlite_url(&dir.join(format!("{role}.db"))),
        };
        subs.push((format!("postgres://postgres@127.0.0.1:5432/cc_{role}"), url));
    }
    (subs, server.map(|s| (s, created)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployment_guide_runs_as_written() {
    let guide = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/deploy.md")).unwrap();
    let blocks = blocks(&guide);
    let dir = std::env::temp_dir().join(format!("cc-deploy-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut subs, created) = databases(&dir).await;
    subs.push(("/var/lib/cloudconnector".into(), dir.display().to_string()));
    // Each port only where the page writes it as a port, so that no generated name or
    // port is rewritten again.
    let ports: Vec<u16> = (0..6).map(|_| free_port()).collect();
    for (n, page_port) in ["8443", "8444", "8445", "9443", "9444", "9445"].into_iter().enumerate() {
        for form in ["localhost:", "127.0.0.1:", "port = "] {
            subs.push((format!("{form}{page_port}"), format!("{form}{}", ports[n])));
        }
    }
    let mut op = Operator { dir: dir.clone(), subs: Substitutions(subs), processes: Processes::default(), printed: Vec::new() };

    // The files, then the commands in the page's order.
    for b in blocks.iter().filter(|b| matches!(&b.attribute, Some((k, _)) if k == "file")) {
        let name = &b.attribute.as_ref().unwrap().1;
        std::fs::write(dir.join(name), op.subs.apply(&b.text)).unwrap();
    }
    for b in blocks.iter().filter(|b| b.lang == "sh") {
        let joined = b.text.replace("\\\n", " ");
        for line in joined.lines().map(str::trim).filter(|l| !l.is_empty()) {
            op.run(line).await;
        }
    }

    let ca_pem = std::fs::read_to_string(dir.join("tls/ca.pem")).unwrap();
    let http = platform::http::client(&ca_pem);
    let [cloud, _connector, mdm] = [0, 1, 2].map(|n| format!("https://localhost:{}", ports[n]));
    let tenant = op.printed("domain", "contoso.example").clone();
    let instance = op.printed("slug", "hq").clone();
    let admin = (tenant["admin_upn"].as_str().unwrap(), tenant["admin_password"].as_str().unwrap());
    assert_eq!(instance["url"], format!("{mdm}/i/hq"), "the instance is published at the load balancer");

    // Section 6: the Global Administrator's Graph requests, in order.
    let token = graph_token(&http, &cloud, admin).await;
    send_graph_blocks(&blocks, &http, &cloud, &token).await;
    let (_, users) = get(&http, &token, &format!("{cloud}/graph/v1.0/users")).await;
    assert_eq!(users["value"].as_array().unwrap().len(), 2, "the administrator and Ada, nothing seeded: {users}");

    // Section 7: the instance connected, then a Mac of Ada's enrolled at it.
    let site = cloudconnector::admin_steps::Site { cloud_url: cloud.clone(), mdm_url: mdm.clone(), ca_pem };
    let mdm_admin = (instance["admin_username"].as_str().unwrap(), instance["admin_password"].as_str().unwrap());
    let page = cloudconnector::admin_steps::connect_instance_at(&site, "hq", mdm_admin, admin).await.unwrap();
    assert_eq!(page.element_text("status").as_deref(), Some("Active"), "{}", page.body);
    let fleet = fleet::Fleet::new(http.clone(), &cloud);
    let ada = ("ada@contoso.example".to_string(), "Analytical-1843".to_string());
    let mut profile = fleet::generate(&[ada], 7, 0.0).remove(0);
    profile.filevault = true;
    let invitation = instance["enrolment_invitation"].as_str().unwrap();
    let mac = fleet.onboard(profile, &format!("{mdm}/i/hq"), invitation, chrono::Utc::now()).await.unwrap();
    let device = mac.device_id.clone().unwrap();
    eventually("the Mac's compliance in Entra", || async {
        let (_, d) = get(&http, &token, &format!("{cloud}/graph/v1.0/devices?$filter=deviceId%20eq%20'{device}'")).await;
        (d["value"][0]["isCompliant"] == true).then_some(())
    })
    .await;

    drop(op);
    if let Some((server, names)) = created {
        for name in names {
            let _ = platform::db::drop_postgres_database(&server, &name).await;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `graph=METHOD path` blocks of the guide, sent in order; `{user}`, `{group}` and
/// `{policy}` are the ids of the user, group and compliance policy created before.
async fn send_graph_blocks(blocks: &[Block], http: &reqwest::Client, cloud: &str, token: &str) {
    let mut ids: HashMap<&str, String> = HashMap::new();
    for b in blocks.iter().filter(|b| matches!(&b.attribute, Some((k, _)) if k == "graph")) {
        let (method, path) = b.attribute.as_ref().unwrap().1.split_once(' ').unwrap();
        let fill = |s: &str| ids.iter().fold(s.to_string(), |s, (k, v)| s.replace(&format!("{{{k}}}"), v));
        let body: Value = serde_json::from_str(&fill(&b.text)).unwrap();
        let url = format!("{cloud}/graph/v1.0/{}", fill(path));
        let resp = http.request(method.parse().unwrap(), url).bearer_auth(token).json(&body).send().await.unwrap();
        let status = resp.status().as_u16();
        let answer: Value = resp.json().await.unwrap_or(Value::Null);
        assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
        for (created_at, name) in [("users", "user"), ("groups", "group"), ("deviceManagement/deviceCompliancePolicies", "policy")] {
            if path == created_at {
                ids.insert(name, answer["id"].as_str().unwrap().to_string());
            }
        }
    }
}

async fn graph_token(http: &reqwest::Client, cloud: &str, admin: (&str, &str)) -> String {
    let resp = http
        .post(format!("{cloud}/organizations/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", wire::ids::GRAPH_COMMAND_LINE_TOOLS_APP_ID),
            ("username", admin.0),
            ("password", admin.1),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap_or_else(|| panic!("no token: {body}")).to_string()
}

async fn get(http: &reqwest::Client, token: &str, url: &str) -> (u16, Value) {
    let resp = http.get(url).bearer_auth(token).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(json!(null)))
}
