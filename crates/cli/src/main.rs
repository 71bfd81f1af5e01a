//! `cloudconnector`: a thin command line over the library.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use cloudconnector::{admin, config, demo, stack};
use platform::Clock;

#[derive(Parser)]
#[command(
    name = "cloudconnector",
    version,
    about = "Joins device-management servers to an Intune/Entra-compatible cloud for Conditional Access."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start every service on loopback, connect two instances, register Macs and report.
    Demo {
        #[arg(long, default_value = ".cloudconnector")]
        data_dir: PathBuf,
        /// Number of Macs to register, split across the instances.
        #[arg(long, default_value_t = 200)]
        devices: usize,
        /// Stop after the summary instead of serving until Ctrl-C.
        #[arg(long)]
        exit: bool,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Measurements on this machine (loopback only, bounded in time).
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// Operator tasks over the running services named in an endpoints file.
    Admin {
        /// Written by `demo` and `serve --role all` into their data directory.
        #[arg(long, default_value = ".cloudconnector/endpoints.json")]
        endpoints: PathBuf,
        /// Print the API's JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        task: AdminTask,
    },
    /// Seal every stored secret and private key again with new keys; run it with the
    /// services stopped. The old keys are kept beside the new ones as `*.previous`.
    RotateSealingKeys {
        /// The services' configuration; without it, the layout of a `demo` data directory.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value = ".cloudconnector")]
        data_dir: PathBuf,
    },
    /// Run services from a configuration file (and `CLOUDCONNECTOR__…` variables).
    Serve {
        #[arg(long, value_enum)]
        role: Role,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Let tests move this process's clock (never use in production).
        #[arg(long)]
        test_clock: bool,
    },
    /// Create what no API creates: a tenant with its first Global Administrator, the
    /// Cloud Connector's app registrations, an mdm instance (docs/deploy.md). Prints JSON.
    Provision {
        /// The `serve` configuration naming the role's database.
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        what: ProvisionWhat,
    },
}

#[derive(Subcommand)]
enum ProvisionWhat {
    /// A cloud tenant and its Global Administrator `admin@<domain>` (password printed).
    Tenant {
        /// The tenant's domain, such as contoso.example.
        #[arg(long)]
        domain: String,
        #[arg(long)]
        name: String,
        /// Subscribe the tenant to Intune and Entra ID P1 (a customer's tenant).
        #[arg(long)]
        licensed: bool,
    },
    /// The Cloud Connector app (certificate credential) and its user registration app, in
    /// the provider's tenant; writes the certificate, key and a `[[connector.clouds]]` section.
    ConnectorApps {
        /// The provider's tenant (domain or id).
        #[arg(long)]
        tenant: String,
        /// The connector's consent callback: `<connector public URL>/onboarding/callback`.
        #[arg(long)]
        redirect_uri: String,
        /// Where to write the credentials.
        #[arg(long)]
        out: PathBuf,
        /// Also give the Cloud Connector app a client secret (printed).
        #[arg(long)]
        secret: bool,
    },
    /// An mdm instance with its administrator `admin` (password printed).
    Instance {
        /// Short name in its URL (`/i/<slug>`).
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "11.12.0")]
        version: String,
    },
}

#[derive(Subcommand)]
enum AdminTask {
    /// Every link: state, backlog, lag, dead letters, last upload, failing checks.
    Status,
    /// Resend the current state of every computer of a link (all active links without one).
    Reconcile { link_id: Option<String> },
    /// Re-test a link now: token, permissions, discovery.
    HealthCheck { link_id: String },
    /// Updates that could not be delivered, with the reason.
    DeadLetters,
    /// Queue dead letters again (the given ids, or all).
    Replay {
        #[arg(long = "id")]
        ids: Vec<i64>,
    },
    /// Export an instance's change-management log (JSON).
    ChangeLog {
        /// The instance's short name (`hq`, `labs`).
        instance: String,
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        password: Option<String>,
        /// Write to this file instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Everything the connector did with one Entra device.
    Trace { device_id: String },
    /// What Intune would decide for every Mac of an instance (agent-reported or imported
    /// from Jamf Pro) under the tenant's compliance policies, or a draft: one row per Mac.
    CompliancePreview {
        /// The instance's short name (`hq`, `labs`).
        instance: String,
        /// A draft policy (or an array of them) in Graph's macOS compliance policy shape,
        /// e.g. `{"displayName":"Sonoma","osMinimumVersion":"14.0"}`; without it, the
        /// tenant's policies.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// `csv` (one row per Mac) or `json` (with the counts per setting and model).
        #[arg(long, default_value = "csv", value_parser = ["csv", "json"])]
        format: String,
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        password: Option<String>,
        /// Write to this file instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Load a Jamf Pro server's inventory into an instance: each file one page of
    /// `GET /api/v1/computers-inventory` (sections GENERAL, HARDWARE, OPERATING_SYSTEM,
    /// SECURITY, DISK_ENCRYPTION, LOCAL_USER_ACCOUNTS, USER_AND_LOCATION).
    ImportJamf {
        /// The instance's short name (`hq`, `labs`).
        instance: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        password: Option<String>,
    },
}

#[derive(Subcommand)]
enum BenchWhat {
    /// Client-credentials tokens per second from the cloud's token endpoint.
    Tokens {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Authenticate with a certificate assertion instead of a secret.
        #[arg(long)]
        certificate: bool,
        #[arg(long, default_value = ".cloudconnector-bench")]
        data_dir: PathBuf,
    },
    /// Inventory reports accepted per second by one mdm instance.
    Inventory {
        #[arg(long, default_value_t = 1000)]
        computers: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value = ".cloudconnector-bench")]
        data_dir: PathBuf,
    },
    /// End-to-end delivery through the connector: devices from intake to Completed.
    Delivery {
        #[arg(long, default_value_t = 100_000)]
        devices: usize,
        /// The connector's batch size (1: one device per message, the simple baseline).
        #[arg(long, default_value_t = 1000)]
        per_message: usize,
        /// Run every role on fresh databases of this PostgreSQL server instead of SQLite.
        #[arg(long)]
        postgres: Option<String>,
        /// Let the cloud enforce its default partner-upload limits.
        #[arg(long)]
        throttle: bool,
        #[arg(long, default_value = ".cloudconnector-bench")]
        data_dir: PathBuf,
    },
    /// The connector's resident memory with many instances and known devices.
    ConnectorMemory {
        #[arg(long, default_value_t = 1000)]
        instances: usize,
        #[arg(long, default_value_t = 1_000_000)]
        devices: usize,
        #[arg(long, default_value = ".cloudconnector-bench")]
        data_dir: PathBuf,
    },
    /// A Jamf Pro inventory imported into a connected instance and evaluated end to end.
    Import {
        #[arg(long, default_value_t = 1000)]
        computers: usize,
        #[arg(long, default_value = ".cloudconnector-bench")]
        data_dir: PathBuf,
    },
    /// Graph queries ($filter, $count, $orderby, paging) over many devices.
    Graph {
        #[arg(long, default_value_t = 100_000)]
        devices: usize,
        /// Run on fresh databases of this PostgreSQL server instead of SQLite.
        #[arg(long)]
        postgres: Option<String>,
        #[arg(long, default_value = ".cloudconnector-bench")]
        data_dir: PathBuf,
    },
    /// Devices evaluated per second by the cloud's compliance engine.
    Evaluation {
        #[arg(long, default_value_t = 20000)]
        devices: usize,
        #[arg(long, default_value_t = 1000)]
        per_message: usize,
        #[arg(long, default_value = ".cloudconnector-bench")]
        data_dir: PathBuf,
    },
    /// How soon a Mac's change (FileVault off or on, by partial inventory) shows in Entra
    /// `isCompliant`, at a set rate of changes.
    Freshness {
        #[arg(long, default_value_t = 2000)]
        macs: usize,
        /// Changes per second.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value = ".cloudconnector-bench")]
        data_dir: PathBuf,
    },
    /// Conditional Access decisions per second and the server's time for each, as Macs of
    /// the fleet sign in (compliant, noncompliant and unknown devices).
    SignIn {
        #[arg(long, default_value_t = 100)]
        macs: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value = ".cloudconnector-bench")]
        data_dir: PathBuf,
    },
    /// The connector's database before and after retention prunes old delivery history.
    Retention {
        #[arg(long, default_value_t = 100_000)]
        devices: usize,
        /// Delivered updates per device (all older than the retention period).
        #[arg(long, default_value_t = 2)]
        updates: usize,
        /// Run on a fresh database of this PostgreSQL server instead of SQLite.
        #[arg(long)]
        postgres: Option<String>,
        #[arg(long, default_value = ".cloudconnector-bench")]
        data_dir: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Role {
    Cloud,
    Mdm,
    Connector,
    All,
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLOUDCONNECTOR_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logs();
    platform::http::install_crypto_provider();
    match Cli::parse().command {
        Command::Demo { data_dir, devices, exit, json } => {
            let summary =
                demo::run(demo::DemoOptions { data_dir, devices, exit, json, noncompliant_share: 0.25, drift_share: 0.05 }).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            }
            Ok(())
        }
        Command::Serve { role, config, test_clock } => serve(role, config, test_clock).await,
        Command::Provision { config, what } => provision(config, what).await,
        Command::RotateSealingKeys { config, data_dir } => {
            for line in cloudconnector::sealing::rotate(config.as_deref(), &data_dir).await? {
                println!("{line}");
            }
            Ok(())
        }
        Command::Admin { endpoints, json, task } => admin(&endpoints, json, task).await,
        Command::Bench { what } => bench(what).await,
    }
}

async fn bench(what: BenchWhat) -> anyhow::Result<()> {
    match what {
        BenchWhat::Tokens { seconds, concurrency, certificate, data_dir } => {
            stack::remove_databases(&data_dir);
            let result = cloudconnector::bench::tokens(&data_dir, seconds, concurrency, certificate).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }
        BenchWhat::Inventory { computers, seconds, concurrency, data_dir } => {
            stack::remove_databases(&data_dir);
            let result = cloudconnector::bench::inventory(&data_dir, computers, seconds, concurrency).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }
        BenchWhat::Delivery { devices, per_message, postgres, throttle, data_dir } => {
            stack::remove_databases(&data_dir);
            // The same run against a cloud that completes every message at once: the
            // connector's ceiling, and the share of it reached with the real cloud.
            let intune = cloudconnector::bench::delivery(&data_dir, devices, per_message, postgres.clone(), throttle, false).await?;
            stack::remove_databases(&data_dir);
            let ceiling = cloudconnector::bench::delivery(&data_dir, devices, per_message, postgres, throttle, true).await?;
            let share = intune.devices_per_second / ceiling.devices_per_second;
            let result = serde_json::json!({"intune": intune, "null_sink": ceiling, "share_of_ceiling": share});
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }
        BenchWhat::ConnectorMemory { instances, devices, data_dir } => {
            stack::remove_databases(&data_dir);
            let result = cloudconnector::bench::connector_memory(&data_dir, instances, devices).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }
        BenchWhat::Import { computers, data_dir } => {
            stack::remove_databases(&data_dir);
            let result = cloudconnector::bench_import::import(&data_dir, computers).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }
        BenchWhat::Graph { devices, postgres, data_dir } => {
            stack::remove_databases(&data_dir);
            let result = cloudconnector::bench_graph::graph(&data_dir, devices, postgres).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }
        BenchWhat::Evaluation { devices, per_message, data_dir } => {
            stack::remove_databases(&data_dir);
            let result = cloudconnector::bench::evaluation(&data_dir, devices, per_message).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }
        BenchWhat::Freshness { macs, rate, seconds, data_dir } => {
            stack::remove_databases(&data_dir);
            let result = cloudconnector::bench_freshness::freshness(&data_dir, macs, rate, seconds).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }
        BenchWhat::SignIn { macs, seconds, concurrency, data_dir } => {
            stack::remove_databases(&data_dir);
            let result = cloudconnector::bench_sign_in::sign_in(&data_dir, macs, seconds, concurrency).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }
        BenchWhat::Retention { devices, updates, postgres, data_dir } => {
            stack::remove_databases(&data_dir);
            let result = cloudconnector::bench_retention::retention(&data_dir, devices, updates, postgres.as_deref()).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }
    }
}

async fn admin(endpoints: &std::path::Path, json: bool, task: AdminTask) -> anyhow::Result<()> {
    let a = admin::Admin::from_file(endpoints)?;
    let print = |text: String, value: serde_json::Value| {
        if json {
            println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
        } else {
            print!("{text}");
        }
    };
    match task {
        AdminTask::Status => {
            let s = a.status().await?;
            print(admin::render_status(&s), serde_json::to_value(&s)?);
        }
        AdminTask::Reconcile { link_id } => {
            let r = a.reconcile(link_id.as_deref()).await?;
            let text = r.iter().map(|r| format!("link {}: {} update(s) queued again\n", r.link_id, r.queued)).collect();
            print(text, serde_json::to_value(&r)?);
        }
        AdminTask::HealthCheck { link_id } => {
            let v = a.health_check(&link_id).await?;
            let mut text = format!("link {}: {}\n", v.link_id, v.status);
            for c in &v.checks {
                text.push_str(&format!("  {} {}: {}\n", if c.passed { "✓" } else { "✗" }, c.name, c.detail));
            }
            print(text, serde_json::to_value(&v)?);
        }
        AdminTask::DeadLetters => {
            let d = a.dead_letters().await?;
            let mut text = format!("{} dead letter(s)\n", d.dead_letters.len());
            for l in &d.dead_letters {
                text.push_str(&format!(
                    "  {}  computer {} #{} device {}: {}\n",
                    l.id,
                    l.computer_id,
                    l.sequence,
                    l.device_id,
                    l.reason.as_deref().unwrap_or("-")
                ));
            }
            print(text, serde_json::to_value(&d)?);
        }
        AdminTask::Replay { ids } => {
            let r = a.replay((!ids.is_empty()).then_some(ids)).await?;
            print(format!("{} replayed, {} superseded by newer updates\n", r.replayed, r.superseded), serde_json::to_value(&r)?);
        }
        AdminTask::ChangeLog { instance, username, password, output } => {
            let log = a.change_log(&instance, username.as_deref(), password.as_deref()).await?;
            let text = serde_json::to_string_pretty(&log)?;
            match output {
                Some(path) => {
                    std::fs::write(&path, &text)?;
                    eprintln!("{} entries written to {}", log["logs"].as_array().map(Vec::len).unwrap_or(0), path.display());
                }
                None => println!("{text}"),
            }
        }
        AdminTask::Trace { device_id } => {
            let t = a.trace(&device_id).await?;
            print(admin::render_trace(&t), serde_json::to_value(&t)?);
        }
        task @ AdminTask::CompliancePreview { .. } => compliance_preview(&a, task).await?,
        AdminTask::ImportJamf { instance, files, username, password } => {
            let results = a.import_jamf(&instance, &files, username.as_deref(), password.as_deref()).await?;
            let json = serde_json::Value::Array(results.iter().map(|(f, s)| serde_json::json!({"file": f, "summary": s})).collect());
            print(admin::render_import(&results), json);
        }
    }
    Ok(())
}

/// `admin compliance-preview`: the draft read from its file, the answer written out.
async fn compliance_preview(a: &admin::Admin, task: AdminTask) -> anyhow::Result<()> {
    let AdminTask::CompliancePreview { instance, policy, format, username, password, output } = task else { return Ok(()) };
    let policies = match policy {
        Some(file) => Some(serde_json::from_slice(&std::fs::read(&file)?).with_context(|| format!("{} is not JSON", file.display()))?),
        None => None,
    };
    let text = a.compliance_preview(&instance, username.as_deref(), password.as_deref(), policies, format == "csv").await?;
    match output {
        Some(path) => std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

async fn provision(file: Option<PathBuf>, what: ProvisionWhat) -> anyhow::Result<()> {
    use cloudconnector::provision;
    let cfg = config::load(file.as_deref())?;
    let out = match what {
        ProvisionWhat::Tenant { domain, name, licensed } => serde_json::to_value(provision::tenant(&cfg, &domain, &name, licensed).await?)?,
        ProvisionWhat::ConnectorApps { tenant, redirect_uri, out, secret } => {
            serde_json::to_value(provision::connector_apps(&cfg, &tenant, &redirect_uri, &out, secret).await?)?
        }
        ProvisionWhat::Instance { slug, name, version } => serde_json::to_value(provision::instance(&cfg, &slug, &name, &version).await?)?,
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

async fn serve(role: Role, file: Option<PathBuf>, test_clock: bool) -> anyhow::Result<()> {
    let cfg = config::load(file.as_deref())?;
    let clock = if test_clock { Clock::test() } else { Clock::system() };
    std::fs::create_dir_all(&cfg.data_dir)?;
    let ca = platform::tls::LocalCa::load_or_create(&cfg.data_dir)?;
    match role {
        Role::All => {
            stack::remove_databases(&cfg.data_dir);
            let mut opts = stack::StackOptions::new(&cfg.data_dir, 20);
            opts.ports = cfg.ports;
            opts.test_clock = test_clock;
            let s = stack::Stack::start(opts).await?;
            let path = s.write_endpoints(&cfg.data_dir)?;
            eprintln!("cloud {} · connector {} · mdm {} · endpoints {}", s.cloud.url(), s.connector.url(), s.mdm.url(), path.display());
            tokio::signal::ctrl_c().await?;
            s.shutdown().await;
        }
        Role::Cloud => {
            let c = cfg.cloud.context("the configuration has no [cloud] section")?;
            let cloud = cloud::start(c.config, platform::http::bind(c.port)?, &ca, clock).await?;
            eprintln!("cloud listening on {}, published as {}", cloud.served.url(), cloud.url());
            tokio::signal::ctrl_c().await?;
            cloud.shutdown().await;
        }
        Role::Connector => {
            let c = cfg.connector.context("the configuration has no [connector] section")?;
            if c.config.clouds.is_empty() {
                bail!("[connector] needs at least one [[connector.clouds]] app registration");
            }
            let connector = connector::start(c.config, platform::http::bind(c.port)?, &ca, clock).await?;
            eprintln!("connector listening on {}, published as {}", connector.served.url(), connector.url());
            tokio::signal::ctrl_c().await?;
            connector.shutdown().await;
        }
        Role::Mdm => {
            let c = cfg.mdm.context("the configuration has no [mdm] section")?;
            let mdm = mdm::start(c.config, platform::http::bind(c.port)?, &ca, clock).await?;
            eprintln!("mdm listening on {}, published as {}", mdm.served.url(), mdm.url());
            tokio::signal::ctrl_c().await?;
            mdm.shutdown().await;
        }
    }
    Ok(())
}
