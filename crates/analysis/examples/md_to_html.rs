//! Renders a report's markdown as the HTML page the tool writes beside it (plots inline):
//!
//! ```sh
//! cargo run -p scalinglab-analysis --example md_to_html -- docs/reproduce-graphs/reproduce.md
//! ```
//!
//! writes `docs/reproduce-graphs/reproduce.html`. For reports written before the tool wrote
//! HTML itself.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(md_path) = std::env::args().nth(1).map(PathBuf::from) else {
        return Err("usage: md_to_html REPORT.md".into());
    };
    let md = std::fs::read_to_string(&md_path)
        .map_err(|e| format!("cannot read {}: {e}", md_path.display()))?;
    let dir = md_path.parent().map(PathBuf::from).unwrap_or_default();
    let title = md.lines().next().unwrap_or("report").trim_start_matches("# ").to_string();
    let html = scalinglab_analysis::html::markdown_to_html(&md, &title, &dir);
    scalinglab_analysis::html::check_well_formed(&html)
        .map_err(|e| format!("{}: the page is not well-formed: {e}", md_path.display()))?;
    let out = md_path.with_extension("html");
    std::fs::write(&out, html).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(())
}
