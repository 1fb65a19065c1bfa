//! `kanctl validate blueprint|profile`: offline with `-f FILE`.

use crate::args::{Global, Validate, ValidateWhat};
use crate::{NEEDS_CLUSTER, read_input};
use anyhow::{Result, anyhow, bail};

pub fn run(_g: &Global, v: Validate) -> Result<()> {
    let Some(file) = v.filename.as_deref() else {
        if v.name.is_some() {
            bail!("{NEEDS_CLUSTER}");
        }
        bail!("either --name or -f/--filename is required");
    };
    let text = read_input(file)?;
    match v.what {
        ValidateWhat::Blueprint => {
            let bp = kanister::load::blueprint(&text)?;
            kanister::validate::validate_blueprint_version(&bp, &v.function_version).map_err(|e| anyhow!("{e}"))?;
            kanister::render::check_templates(&bp).map_err(|e| anyhow!("{e}"))?;
            println!("Passed the 'Blueprint validation' check: {}", bp.metadata.name.as_deref().unwrap_or(""));
        }
        ValidateWhat::Profile => {
            let p = kanister::load::profile(&text)?;
            kanister::validate::validate_profile(&p).map_err(|e| anyhow!("{e}"))?;
            println!("Passed the 'Validate Profile schema' check.. ✅");
            if !v.schema_validation_only {
                eprintln!(
                    "Note: the access checks (bucket region, read, write) need the credentials' Secret: {NEEDS_CLUSTER}"
                );
            }
        }
    }
    Ok(())
}
