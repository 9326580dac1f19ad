//! The report as one HTML file: the same content as `report.md`, with its plots inline, for a
//! browser.
//!
//! [`markdown_to_html`] renders the markdown our reports are written in, not markdown at
//! large: `#`–`####` headings, paragraphs, `- ` lists, pipe tables with a `|---|` rule, fenced
//! code blocks, images on a line of their own, and inline `**bold**`, `` `code` `` and
//! `[text](link)`. Every other character is escaped, so a run id or a path in a cell shows as
//! written. An image whose file is an SVG beside the report is inlined (the page stands alone);
//! any other image stays a link.

use std::fmt::Write as _;
use std::path::Path;

/// `text` with `&`, `<`, `>` and `"` escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Inline markdown: `**bold**`, `` `code` ``, `[text](link)`, and `\|` (a pipe inside a table
/// cell); everything else escaped.
fn inline(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('`')
            && let Some(end) = r.find('`')
        {
            let _ = write!(out, "<code>{}</code>", escape(&r[..end]));
            rest = &r[end + 1..];
        } else if let Some(r) = rest.strip_prefix("**")
            && let Some(end) = r.find("**")
        {
            let _ = write!(out, "<strong>{}</strong>", inline(&r[..end]));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[')
            && let Some(close) = r.find("](")
            && let Some(end) = r[close + 2..].find(')')
        {
            let (label, href) = (&r[..close], &r[close + 2..close + 2 + end]);
            let _ = write!(out, "<a href=\"{}\">{}</a>", escape(href), inline(label));
            rest = &r[close + 3 + end..];
        } else if let Some(r) = rest.strip_prefix("\\|") {
            out.push('|');
            rest = r;
        } else {
            let c = rest.chars().next().expect("rest is not empty");
            out.push_str(&escape(&rest[..c.len_utf8()]));
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The cells of a table row `| a | b |` (a `\|` inside a cell is not a separator).
fn cells(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut out = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                out.last_mut().expect("one cell").push_str("\\|");
            }
            '|' => out.push(String::new()),
            c => out.last_mut().expect("one cell").push(c),
        }
    }
    out.into_iter().map(|c| c.trim().to_string()).collect()
}

fn is_rule(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('|') && t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

/// An image on a line of its own: `![alt](src)`.
fn image(line: &str) -> Option<(&str, &str)> {
    let r = line.trim().strip_prefix("![")?;
    let close = r.find("](")?;
    let src = r[close + 2..].strip_suffix(')')?;
    Some((&r[..close], src))
}

/// The markdown of a report as a standalone HTML page titled `title`; images that are SVG files
/// in `dir` are inlined.
pub fn markdown_to_html(markdown: &str, title: &str, dir: &Path) -> String {
    let mut body = String::new();
    let lines: Vec<&str> = markdown.lines().collect();
    let mut i = 0;
    let mut paragraph: Vec<&str> = Vec::new();
    let flush = |paragraph: &mut Vec<&str>, body: &mut String| {
        if !paragraph.is_empty() {
            let _ = writeln!(body, "<p>{}</p>", inline(&paragraph.join(" ")));
            paragraph.clear();
        }
    };
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim_end();
        if t.starts_with("```") {
            flush(&mut paragraph, &mut body);
            let mut code = String::new();
            i += 1;
            while i < lines.len() && !lines[i].trim_end().starts_with("```") {
                code.push_str(lines[i]);
                code.push('\n');
                i += 1;
            }
            let _ = writeln!(body, "<pre><code>{}</code></pre>", escape(&code));
            i += 1;
            continue;
        }
        if t.is_empty() {
            flush(&mut paragraph, &mut body);
        } else if let Some(level) =
            (1..=4).find(|&l| t.starts_with(&"#".repeat(l)) && t[l..].starts_with(' '))
        {
            flush(&mut paragraph, &mut body);
            let _ = writeln!(body, "<h{level}>{}</h{level}>", inline(t[level..].trim()));
        } else if let Some((alt, src)) = image(t) {
            flush(&mut paragraph, &mut body);
            let svg = src
                .ends_with(".svg")
                .then(|| std::fs::read_to_string(dir.join(src)).ok())
                .flatten()
                .filter(|s| s.trim_start().starts_with("<svg"));
            match svg {
                Some(svg) => {
                    let _ = writeln!(
                        body,
                        "<figure>{}<figcaption>{}</figcaption></figure>",
                        svg.trim(),
                        escape(alt)
                    );
                }
                None => {
                    let _ = writeln!(body, "<img src=\"{}\" alt=\"{}\">", escape(src), escape(alt));
                }
            }
        } else if t.trim_start().starts_with('|') && i + 1 < lines.len() && is_rule(lines[i + 1]) {
            flush(&mut paragraph, &mut body);
            body.push_str("<table>\n<thead><tr>");
            for c in cells(t) {
                let _ = write!(body, "<th>{}</th>", inline(&c));
            }
            body.push_str("</tr></thead>\n<tbody>\n");
            i += 2;
            while i < lines.len() && lines[i].trim_start().starts_with('|') {
                body.push_str("<tr>");
                for c in cells(lines[i]) {
                    let _ = write!(body, "<td>{}</td>", inline(&c));
                }
                body.push_str("</tr>\n");
                i += 1;
            }
            body.push_str("</tbody>\n</table>\n");
            continue;
        } else if let Some(item) = t.trim_start().strip_prefix("- ") {
            flush(&mut paragraph, &mut body);
            body.push_str("<ul>\n");
            let _ = write!(body, "<li>{}", inline(item));
            i += 1;
            while i < lines.len() {
                let l = lines[i].trim_end();
                if let Some(item) = l.trim_start().strip_prefix("- ") {
                    let _ = write!(body, "</li>\n<li>{}", inline(item));
                } else if !l.is_empty() && l.starts_with("  ") {
                    let _ = write!(body, " {}", inline(l.trim()));
                } else {
                    break;
                }
                i += 1;
            }
            body.push_str("</li>\n</ul>\n");
            continue;
        } else {
            paragraph.push(t.trim());
        }
        i += 1;
    }
    flush(&mut paragraph, &mut body);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
         <style>\nbody {{ font-family: sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }}\n\
         table {{ border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }}\n\
         th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; }}\n\
         pre {{ background: #f6f6f6; padding: 0.75rem; overflow-x: auto; }}\n\
         figure svg {{ max-width: 100%; height: auto; }}\n</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

/// Every element [`markdown_to_html`] opens, closed in order: a check that the page is
/// well-formed (void elements and the DOCTYPE aside). Returns the tags in the order opened, or
/// the first mismatch.
pub fn check_well_formed(html: &str) -> Result<Vec<String>, String> {
    const VOID: [&str; 4] = ["meta", "img", "br", "hr"];
    let mut stack: Vec<String> = Vec::new();
    let mut opened = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let end = rest.find('>').ok_or("a tag that never closes")?;
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        let self_closing = tag.ends_with('/');
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim();
            match stack.pop() {
                Some(open) if open == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        } else {
            let name: String =
                tag.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
            if name.is_empty() {
                return Err(format!("a bare '<' before {:?}", &tag[..tag.len().min(20)]));
            }
            opened.push(name.clone());
            if !self_closing && !VOID.contains(&name.as_str()) {
                stack.push(name);
            }
        }
    }
    match stack.last() {
        Some(open) => Err(format!("<{open}> is never closed")),
        None => Ok(opened),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_becomes_a_well_formed_page_with_its_tables_lists_code_and_plots() {
        let dir = std::env::temp_dir().join(format!("scalinglab-html-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("p.svg"), "<svg width=\"2\" height=\"2\"><rect x=\"0\"/></svg>\n")
            .unwrap();
        let md = "# Title <x>\n\nSome **bold** and `a<b` with [a link](r.md).\nSecond line.\n\n\
                  | law | α |\n|---|---|\n| L(N) \\| emb | 0.5 |\n| L(D) | **0.4** |\n\n\
                  - one\n  continued\n- two & three\n\n```\nL(N) < 3\n```\n\n\
                  ![The plot](p.svg)\n\n![missing](q.svg)\n";
        let html = markdown_to_html(md, "t & t", &dir);
        let tags = check_well_formed(&html).unwrap();
        let count = |t: &str| tags.iter().filter(|x| *x == t).count();
        assert_eq!((count("table"), count("tr"), count("th"), count("td")), (1, 3, 2, 4));
        assert_eq!(
            (count("ul"), count("li"), count("pre"), count("svg"), count("img")),
            (1, 2, 1, 1, 1)
        );
        assert!(html.contains("<h1>Title &lt;x&gt;</h1>"), "{html}");
        assert!(html.contains("<strong>bold</strong>") && html.contains("<code>a&lt;b</code>"));
        assert!(html.contains("<a href=\"r.md\">a link</a>") && html.contains("Second line"));
        assert!(html.contains("<td>L(N) | emb</td>") && html.contains("<li>one continued"));
        assert!(html.contains("L(N) &lt; 3") && html.contains("<title>t &amp; t</title>"));
        assert!(check_well_formed("<p><b></p></b>").is_err());
        assert!(check_well_formed("<table><tr>").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
