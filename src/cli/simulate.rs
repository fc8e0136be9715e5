//! `signoff simulate`: shows the plan for a request (who is asked at each step, what built-ins expand to,
//! where fallbacks and self-approval rules apply) without sending anything; `--svg FILE` also draws it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{ConfigArg, load_catalog};
use crate::diag::did_you_mean;
use crate::engine::{self, plan::PlanView};
use crate::request::RequestSpec;
use crate::time::{Duration, Timestamp};

/// Arguments of `signoff simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// Who asks (user id or email).
    #[arg(long, value_name = "ID")]
    requester: String,
    /// The resource asked for.
    #[arg(long, value_name = "ID")]
    resource: String,
    /// The role asked for (repeat for several; each becomes its own item).
    #[arg(long, value_name = "R")]
    role: Vec<String>,
    /// Who the access is for (repeat for several; default: the requester).
    #[arg(long = "for", value_name = "ID")]
    for_: Vec<String>,
    /// How long the access should last, e.g. `8h`.
    #[arg(long, value_name = "DURATION")]
    duration: Option<Duration>,
    /// The requester's reason.
    #[arg(long, value_name = "TEXT")]
    justification: Option<String>,
    /// Plan as of this instant (RFC 3339), to see out-of-office effects; default: now.
    #[arg(long, value_name = "TIME")]
    at: Option<Timestamp>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also draw the plan as an SVG picture into FILE: the picture the request page draws, before anyone
    /// is asked (several items are drawn one after another).
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

pub(super) fn run(args: &Args) -> ExitCode {
    let (_, cat) = match load_catalog(&args.config) {
        Ok(x) => x,
        Err(code) => return code,
    };
    // Checked here rather than left to the planner, so that the message says which flag is wrong and
    // suggests the id that was probably meant.
    let people = std::iter::once(("--requester", &args.requester)).chain(args.for_.iter().map(|id| ("--for", id)));
    for (flag, id) in people {
        if cat.directory.user(id).is_none() {
            let known = cat.directory.users().iter().map(|u| u.id.as_str());
            eprintln!("error: {flag}: unknown user `{id}`{}", did_you_mean(id, known));
            return ExitCode::from(1);
        }
    }
    let now = args.at.unwrap_or_else(Timestamp::now);
    let request = RequestSpec {
        id: "simulated".to_owned(),
        requester: args.requester.clone(),
        resource: args.resource.clone(),
        roles: args.role.clone(),
        beneficiaries: args.for_.clone(),
        justification: args.justification.clone(),
        duration: args.duration,
    };
    let mut views = Vec::new();
    for spec in request.items() {
        match engine::plan(&cat, spec, now) {
            Ok(item) => views.push(PlanView::new(&cat, &item)),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    }
    // Written before the plan is printed, so that a FILE that cannot be written fails the command with
    // nothing on stdout: a script reading the plan never gets one whose picture is missing.
    if let Some(path) = &args.svg
        && let Err(e) = std::fs::write(path, crate::web::picture::plans_svg(&views))
    {
        eprintln!("error: cannot write the picture to `{}`: {e}", path.display());
        return ExitCode::from(1);
    }
    let text = if args.json {
        let value = if views.len() == 1 { serde_json::to_value(&views[0]) } else { serde_json::to_value(&views) };
        match value.and_then(|v| serde_json::to_string_pretty(&v)) {
            Ok(s) => s + "\n",
            Err(e) => {
                eprintln!("error: cannot write JSON: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        let separator = format!("\n{}\n\n", "-".repeat(72));
        views.iter().map(PlanView::to_text).collect::<Vec<_>>().join(&separator)
    };
    // A closed pipe (`signoff simulate ... | head`) is not an error worth a panic.
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write the plan: {e}");
            ExitCode::from(1)
        }
    }
}
