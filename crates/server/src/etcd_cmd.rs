//! `switchyard etcd import|export|status`: moving an inventory between a configuration file
//! and etcd, and describing the members that share it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use switchyard_fleet::etcd::tools::EtcdAdmin;
use switchyard_fleet::etcd::{EtcdConfig, PASSWORD_ENV, Password};
use switchyard_fleet::{InventoryConfig, load_fleet_file};
use switchyard_route::FleetSpec;

/// Arguments of `etcd`.
#[derive(Debug, Args)]
pub struct EtcdArgs {
    #[command(subcommand)]
    command: EtcdCommand,
    #[command(flatten)]
    conn: Connection,
}

/// Where etcd is and how to log in.
#[derive(Debug, Args)]
struct Connection {
    /// etcd client URLs, comma-separated.
    #[arg(long, global = true, value_name = "URL[,URL]", value_delimiter = ',')]
    etcd: Vec<String>,
    /// Key prefix.
    #[arg(long, global = true, value_name = "PREFIX", default_value = "/switchyard/")]
    etcd_prefix: String,
    /// User name; the password comes from SWITCHYARD_ETCD_PASSWORD.
    #[arg(long, global = true, value_name = "USER")]
    username: Option<String>,
    /// CA certificates (PEM) for TLS.
    #[arg(long, global = true, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(long, global = true, value_name = "FILE")]
    cert_file: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    #[arg(long, global = true, value_name = "FILE")]
    key_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum EtcdCommand {
    /// Push a configuration file's inventory (nodes, zones, services and, when it is a JSON
    /// coverage-zone file, the coverage zones) into etcd. Idempotent: keys already holding
    /// the same value are not written.
    Import {
        /// The configuration file (its `[inventory]` or fleet file).
        file: PathBuf,
        /// Delete inventory keys (nodes, zones, services, coverage) the file does not name.
        #[arg(long)]
        prune: bool,
    },
    /// Print the inventory in etcd as a configuration file `serve` loads.
    Export {
        /// Write the coverage-zone document here and name it in the output.
        #[arg(long, value_name = "FILE")]
        coverage_out: Option<PathBuf>,
    },
    /// Print the members, the nodes each probes, the revision and each member's lag.
    Status {
        /// Probers per node, as the members are configured.
        #[arg(long, default_value_t = 2)]
        replicas: usize,
    },
}

/// Runs `etcd`.
pub async fn run(args: EtcdArgs) -> anyhow::Result<ExitCode> {
    let conn = &args.conn;
    if conn.etcd.is_empty() {
        anyhow::bail!("--etcd URL[,URL] is required");
    }
    let mut config = EtcdConfig::new(conn.etcd.clone());
    config.prefix = conn.etcd_prefix.clone();
    config.username = conn.username.clone();
    config.ca_file = conn.ca_file.clone();
    config.cert_file = conn.cert_file.clone();
    config.key_file = conn.key_file.clone();
    let problems = config.validate("--etcd", Path::new("."));
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        return Ok(ExitCode::FAILURE);
    }
    let password = Password::load(&config, Path::new("."), std::env::var(PASSWORD_ENV).ok())
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut admin = EtcdAdmin::connect(&config, Path::new("."), password.as_ref())
        .await
        .map_err(|e| anyhow::anyhow!("connecting to etcd: {e}"))?;
    match args.command {
        EtcdCommand::Import { file, prune } => import(&mut admin, &file, prune).await,
        EtcdCommand::Export { coverage_out } => export(&mut admin, coverage_out.as_deref()).await,
        EtcdCommand::Status { replicas } => status(&mut admin, replicas).await,
    }
}

async fn import(admin: &mut EtcdAdmin, file: &Path, prune: bool) -> anyhow::Result<ExitCode> {
    let (spec, coverage) = read_inventory(file)?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} keys {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let report = admin
        .import(&spec, coverage.as_deref(), prune, |done, total| {
            if let Some(bar) = &bar {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
        })
        .await
        .map_err(|e| anyhow::anyhow!("import into etcd: {e}"))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    println!(
        "{} written, {} unchanged, {} deleted in {} transaction(s); revision {}",
        report.written, report.unchanged, report.deleted, report.transactions, report.revision
    );
    Ok(ExitCode::SUCCESS)
}

/// The fleet and the coverage document a configuration file names.
fn read_inventory(file: &Path) -> anyhow::Result<(FleetSpec, Option<String>)> {
    let loaded = crate::config::load_file(file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let inv: &InventoryConfig = &loaded.inventory;
    let base = file.parent().unwrap_or(Path::new("."));
    let spec = match &inv.fleet_file {
        Some(f) => load_fleet_file(&base.join(f)).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => inv.fleet.clone(),
    };
    let coverage = match &inv.coverage_zones_file {
        None => None,
        Some(f) if f.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) => {
            anyhow::bail!(
                "{}: etcd holds coverage zones as Traffic Router JSON; convert the CSV first",
                base.join(f).display()
            )
        }
        Some(f) => {
            let path = base.join(f);
            Some(std::fs::read_to_string(&path).with_context(|| path.display().to_string())?)
        }
    };
    Ok((spec, coverage))
}

async fn export(admin: &mut EtcdAdmin, coverage_out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut exported = admin.export().await.map_err(|e| anyhow::anyhow!("export: {e}"))?;
    for p in &exported.problems {
        eprintln!("warning: {}: {} (left out of the export)", p.key, p.problem);
    }
    // Operator states become the nodes' `admin`, so a file-mode instance behaves the same.
    for n in &mut exported.spec.nodes {
        if let Some(&state) = exported.operator.get(&n.id) {
            Arc::make_mut(n).admin = state;
        }
    }
    let mut inventory = toml::Table::new();
    match (&exported.coverage, coverage_out) {
        (Some(doc), Some(out)) => {
            std::fs::write(out, doc).with_context(|| out.display().to_string())?;
            inventory.insert("coverage_zones_file".into(), out.display().to_string().into());
        }
        (Some(_), None) => {
            eprintln!("warning: etcd holds coverage zones; pass --coverage-out FILE to keep them")
        }
        _ => {}
    }
    let fleet = toml::Table::try_from(&exported.spec).context("serializing the inventory")?;
    inventory.extend(fleet);
    let mut root = toml::Table::new();
    root.insert("inventory".into(), inventory.into());
    println!("# Inventory exported from etcd at revision {}.", exported.revision);
    print!("{}", toml::to_string(&root).context("serializing the inventory")?);
    Ok(ExitCode::SUCCESS)
}

async fn status(admin: &mut EtcdAdmin, replicas: usize) -> anyhow::Result<ExitCode> {
    let st = admin.status(replicas).await.map_err(|e| anyhow::anyhow!("status: {e}"))?;
    println!(
        "revision {} (inventory changed at {}), {} nodes, replicas {}",
        st.revision, st.inventory_revision, st.nodes, st.replicas
    );
    if let Some(reason) = &st.maintenance {
        println!("maintenance (every instance): {reason}");
    }
    println!("{} member(s):", st.members.len());
    println!(
        "  {:<24} {:<22} {:>8} {:>10} {:>6} {:>8}",
        "ID", "ADMIN", "VERSION", "APPLIED", "LAG", "PROBES"
    );
    for (id, m, probes) in &st.members {
        let lag = (st.inventory_revision - m.applied_revision).max(0);
        println!(
            "  {:<24} {:<22} {:>8} {:>10} {:>6} {:>8}",
            id,
            m.admin.as_deref().unwrap_or("-"),
            m.version,
            m.applied_revision,
            lag,
            probes
        );
    }
    for p in &st.problems {
        println!("invalid key {}: {}", p.key, p.problem);
    }
    Ok(ExitCode::SUCCESS)
}
