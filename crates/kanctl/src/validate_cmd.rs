//! `kanctl validate blueprint|profile`: a file (`-f`) or an object in the cluster (`--name`,
//! in `--resource-namespace`). A profile's bucket checks read its Secret from the cluster
//! unless `--schema-validation-only`.

use crate::args::{Global, Validate, ValidateWhat};
use crate::create::validate_profile_stages;
use crate::{connect, read_input};
use anyhow::{Result, anyhow, bail};

pub async fn run(g: &Global, v: Validate) -> Result<()> {
    let (name, file) = (v.name.as_deref().filter(|n| !n.is_empty()), v.filename.as_deref().filter(|f| !f.is_empty()));
    if name.is_none() && file.is_none() {
        bail!("neither name nor filename specified");
    }
    let ns = v.resource_namespace.as_str();
    match v.what {
        ValidateWhat::Blueprint => {
            // Upstream reads blueprints from files only; --name reads one from the cluster.
            let bp = match (file, name) {
                (Some(f), _) => kanister::load::blueprint(&read_input(f)?)?,
                (None, Some(n)) => connect(g).await?.blueprint(ns, n).await?,
                (None, None) => unreachable!("checked above"),
            };
            kanister::validate::validate_blueprint_version(&bp, &v.function_version).map_err(|e| anyhow!("{e}"))?;
            kanister::render::check_templates(&bp).map_err(|e| anyhow!("{e}"))?;
            println!("Passed the 'Blueprint validation' check: {}", bp.metadata.name.as_deref().unwrap_or(""));
        }
        ValidateWhat::Profile => {
            // The bucket checks need the profile's Secret, hence the cluster.
            let cl = match (name, v.schema_validation_only) {
                (Some(_), _) | (None, false) => Some(connect(g).await?),
                (None, true) => None,
            };
            let p = match (name, &cl) {
                (Some(n), Some(cl)) => cl.profile(ns, n).await?,
                _ => kanister::load::profile(&read_input(file.unwrap_or("-"))?)?,
            };
            validate_profile_stages(cl.as_ref(), &p, v.schema_validation_only, false).await?;
        }
    }
    Ok(())
}
