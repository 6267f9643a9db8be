//! `enricher config check`: resolve the configuration the way `run` does
//! (defaults -> file -> environment -> flags), refuse it as `run` would, and
//! print every setting with its value (secrets masked) and where it came from.

use enricher::config::{Config, Layers};

use super::settings::SettingFlags;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The settings `run` would take as flags, to check them too.
    #[command(flatten)]
    pub settings: SettingFlags,
}

/// Check `config` (resolved from `layers`), then print it to stdout;
/// `file_note` says where the config file's name came from.
pub fn run(layers: &Layers, config: &Config, file_note: &str) -> anyhow::Result<()> {
    // What `run` refuses before it starts anything.
    config.admin.token()?;
    enricher::app::check_admin_settings(config)?;
    let settings = layers.sources(config);
    let width = settings
        .iter()
        .map(|s| s.key.len() + 3 + s.value.len())
        .max()
        .unwrap_or(0);
    let mut out = format!(
        "# enricher configuration: defaults, then {file_note}, then the environment, then flags\n"
    );
    for s in &settings {
        let line = format!("{} = {}", s.key, s.value);
        out.push_str(&format!("{line:<width$}  # {}\n", s.origin));
    }
    out.push_str("# the configuration is valid\n");
    print!("{out}");
    Ok(())
}
