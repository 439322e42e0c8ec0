//! `pixelgym envs`: what can be made, with its spaces.

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let mut rows = Vec::new();
    for spec in sim::registry() {
        let env = (spec.build)(&sim::EnvConfig::new())?;
        rows.push((
            spec.id,
            env.observation_space().to_string(),
            env.action_space().to_string(),
            spec.scripted.is_some(),
            spec.description,
        ));
    }
    if args.json {
        for (id, obs, act, scripted, desc) in rows {
            let line = serde_json::json!({
                "id": id, "observation_space": obs, "action_space": act,
                "scripted_policy": scripted, "description": desc,
            });
            println!("{line}");
        }
        return Ok(());
    }
    let w_id = rows.iter().map(|r| r.0.len()).max().unwrap_or(2).max(2);
    let w_obs = rows.iter().map(|r| r.1.len()).max().unwrap_or(3).max(17);
    let w_act = rows.iter().map(|r| r.2.len()).max().unwrap_or(3).max(12);
    println!(
        "{:w_id$}  {:w_obs$}  {:w_act$}  scripted  description",
        "id", "observation space", "action space"
    );
    for (id, obs, act, scripted, desc) in rows {
        let s = if scripted { "yes" } else { "no" };
        println!("{id:w_id$}  {obs:w_obs$}  {act:w_act$}  {s:8}  {desc}");
    }
    Ok(())
}
