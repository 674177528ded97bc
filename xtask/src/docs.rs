//! `cargo xtask docs`: builds the mdBook and checks every link in it.
//!
//! The check reads the HTML mdBook wrote, not the Markdown, so it sees what
//! a reader clicks: a link to a page that is not in `SUMMARY.md` (mdBook
//! builds no page for it), a heading that was renamed under an anchor, a
//! plot that was never copied in. Links off the site are left alone: CI
//! reaches no other host.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{run, run_cargo};

/// The book's sources, and where `book.toml` sends its build.
const BOOK: &str = "docs";
const BUILT: &str = "docs/book";
/// mdBook's printable single page repeats every chapter with its links
/// rewritten to point within itself, and its 404 page links from the root
/// of the site it is served at; the chapters' own pages are checked.
const SKIPPED: &[&str] = &["print.html", "404.html"];

/// Installs mdBook if it is missing, builds the book and checks its links.
pub fn check(root: &Path) -> Result<(), String> {
    ensure_mdbook(root)?;
    let built = root.join(BUILT);
    // A page left over from an earlier build would hide a missing one.
    if built.exists() {
        fs::remove_dir_all(&built)
            .map_err(|e| format!("could not clear {}: {e}", built.display()))?;
    }
    let mut command = Command::new("mdbook");
    command.arg("build").arg(root.join(BOOK));
    run(command, &format!("mdbook build {BOOK}"))?;

    let mut pages = Vec::new();
    html_files(&built, &mut pages)?;
    let mut broken = Vec::new();
    let mut links = 0;
    for page in &pages {
        let text = read(page)?;
        for target in references(&text) {
            links += 1;
            if let Err(why) = resolve(page, target) {
                let shown = page.strip_prefix(&built).unwrap_or(page);
                broken.push(format!("{}: {target}: {why}", shown.display()));
            }
        }
    }
    if broken.is_empty() {
        println!("    {links} links in {} pages, all resolve", pages.len());
        return Ok(());
    }
    for line in &broken {
        eprintln!("    broken: {line}");
    }
    Err(format!(
        "{} of {links} links in the book lead nowhere (listed above); fix them in {BOOK}/src",
        broken.len()
    ))
}

/// Installs mdBook with cargo unless it is on the path.
fn ensure_mdbook(root: &Path) -> Result<(), String> {
    if let Ok(output) = Command::new("mdbook").arg("--version").output() {
        if output.status.success() {
            print!("    {}", String::from_utf8_lossy(&output.stdout));
            return Ok(());
        }
    }
    // Without its live-reload server, which CI has no use for, mdBook
    // builds in a fraction of the time.
    let install = [
        "install",
        "mdbook",
        "--locked",
        "--no-default-features",
        "--features",
        "search",
    ];
    run_cargo(root, &install, &[])
        .map_err(|e| format!("{e}; install mdBook by hand (cargo install mdbook)"))
}

/// Every page of the built book, but the ones [`SKIPPED`].
fn html_files(dir: &Path, pages: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries =
        fs::read_dir(dir).map_err(|e| format!("could not list {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("could not list {}: {e}", dir.display()))?
            .path();
        if path.is_dir() {
            html_files(&path, pages)?;
        } else if path.extension().is_some_and(|e| e == "html")
            && !SKIPPED
                .iter()
                .any(|s| path.file_name().is_some_and(|n| n == *s))
        {
            pages.push(path);
        }
    }
    Ok(())
}

fn read(page: &Path) -> Result<String, String> {
    fs::read_to_string(page).map_err(|e| format!("could not read {}: {e}", page.display()))
}

/// The targets of a page's `href` and `src` attributes that stay within
/// the book.
fn references(html: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for attribute in ["href=\"", "src=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attribute) {
            rest = &rest[at + attribute.len()..];
            let Some(end) = rest.find('"') else { break };
            let target = &rest[..end];
            let external = target.contains("://")
                || target.starts_with("mailto:")
                || target.starts_with("javascript:")
                || target.starts_with("data:");
            if !external && !target.is_empty() && !target.contains('{') {
                found.push(target);
            }
        }
    }
    found
}

/// Whether `target`, as linked from `page`, is a file of the book and, if
/// it names an anchor, an element of that file.
fn resolve(page: &Path, target: &str) -> Result<(), String> {
    let target = target.split('?').next().unwrap_or(target);
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let file = if path.is_empty() {
        page.to_path_buf()
    } else {
        page.parent().unwrap_or(page).join(path)
    };
    if !file.is_file() {
        return Err("no such page".into());
    }
    let Some(anchor) = anchor.filter(|a| !a.is_empty()) else {
        return Ok(());
    };
    let is_html = file.extension().is_some_and(|e| e == "html");
    if is_html && !read(&file)?.contains(&format!("id=\"{anchor}\"")) {
        return Err(format!("no heading or element with id \"{anchor}\""));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_keep_the_book_and_leave_the_web() {
        let html = r##"<a href="rig.html#ugn">x</a><img src="performance/loss.svg">
            <a href="https://example.invalid/">y</a><a href="mailto:a@b">z</a>
            <a href="{{ path }}">t</a><a href="#top">w</a>"##;
        assert_eq!(
            references(html),
            ["rig.html#ugn", "#top", "performance/loss.svg"]
        );
    }

    #[test]
    fn a_missing_page_or_anchor_is_named() {
        let dir = std::env::temp_dir().join(format!("tidenet-docs-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let page = dir.join("a.html");
        fs::write(&page, r#"<h2 id="here">Here</h2>"#).unwrap();
        assert_eq!(resolve(&page, "a.html#here"), Ok(()));
        assert_eq!(resolve(&page, "#here"), Ok(()));
        assert_eq!(
            resolve(&page, "a.html#gone"),
            Err("no heading or element with id \"gone\"".into())
        );
        assert_eq!(resolve(&page, "b.html"), Err("no such page".into()));
        fs::remove_dir_all(&dir).unwrap();
    }
}
