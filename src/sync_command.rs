//! `brokergraph sync [--broker SLUG]`: synchronizes brokers with Partner Center from the
//! command line, with a progress bar on a terminal and plain lines otherwise, and a summary.

use std::io::IsTerminal;
use std::time::Duration;

use entity::broker;
use indicatif::{ProgressBar, ProgressStyle};

use crate::domain::Services;
use crate::domain::sync::Progress;
use crate::domain::sync::schedule::{self, Outcome};

fn describe(progress: Progress) -> String {
    match progress {
        Progress::Page { pages, customers } => {
            format!("page {pages} read ({customers} customers so far)")
        }
        Progress::Relationships { done, total } => {
            format!("admin relationships checked: {done} of {total}")
        }
    }
}

/// The summary line of one broker.
pub fn summary(outcome: &Outcome) -> String {
    let slug = &outcome.broker.slug;
    match &outcome.result {
        Ok(run) => format!(
            "{slug}: {} customers, {} in sync, {} drifted, {} missing, {} need a customer-consent service account, {} unlinked",
            run.customers, run.in_sync, run.drifted, run.missing, run.needs_consent, run.unlinked
        ),
        Err(error) => format!("{slug}: failed: {} ({})", error.message(), error.code()),
    }
}

/// Runs the command; an error when a broker is unknown or any sync failed.
pub async fn run(services: &Services, slug: Option<&str>) -> anyhow::Result<()> {
    let all = schedule::brokers(services)
        .await
        .map_err(|error| anyhow::anyhow!("cannot read the brokers: {}", error.message()))?;
    let brokers: Vec<broker::Model> = match slug {
        None => all,
        Some(slug) => {
            let chosen: Vec<_> = all.into_iter().filter(|b| b.slug == slug).collect();
            anyhow::ensure!(!chosen.is_empty(), "no broker has the slug `{slug}`");
            chosen
        }
    };
    let terminal = std::io::stderr().is_terminal();
    let bar = terminal.then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let observer = |broker: &broker::Model, progress: Progress| match &bar {
        Some(bar) => {
            bar.set_prefix(broker.slug.clone());
            bar.set_message(describe(progress));
        }
        None => println!("{}: {}", broker.slug, describe(progress)),
    };
    let outcomes = schedule::sync_all(services, brokers, "cli", &observer).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    println!("sync summary:");
    for outcome in &outcomes {
        println!("  {}", summary(outcome));
    }
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    anyhow::ensure!(
        failed == 0,
        "{failed} of {} synchronizations failed",
        outcomes.len()
    );
    Ok(())
}
