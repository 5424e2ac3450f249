//! `report.html`: the report's tables and plots in one self-contained page (inline CSS and
//! SVG, no script, nothing fetched), readable offline and attachable to a change review.

use std::fmt::Write;

use super::report::{Rate, Report, ScoreDistribution};

/// Changed events listed in the page (all of them are in `report.json`).
const PAGE_CHANGED_EVENTS: usize = 500;

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1b1f24;max-width:80rem}\
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}\
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}th,td{border:1px solid #d0d7de;padding:.25rem .6rem;text-align:right}\
th{background:#f6f8fa}td.l,th.l{text-align:left}td.same{background:#eef6ee}td.up{background:#fbe9e7}td.down{background:#e8f0fb}\
.meta{color:#57606a;font-size:.85rem}.plots{display:flex;flex-wrap:wrap;gap:1rem}.plot{border:1px solid #d0d7de;padding:.5rem}\
code{font-size:.85rem}";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Stamps on `<body>` how many tables and plots the browser laid out with a size, so a
/// headless browser's DOM dump shows the page rendered (the report's own test reads it).
const LAYOUT_STAMP: &str = "<script>addEventListener('load',function(){var n=function(s){return Array.prototype.filter.call(document.querySelectorAll(s),function(e){var b=e.getBoundingClientRect();return b.width>0&&b.height>0}).length};document.body.setAttribute('data-tables-rendered',n('table'));document.body.setAttribute('data-plots-rendered',n('svg.plot'))})</script>";

/// Renders the page.
pub fn render(r: &Report) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>railyard replay report</title><style>{STYLE}</style></head><body>"
    );
    let _ = write!(
        h,
        "<h1>railyard replay report</h1><p class=\"meta\">generated {}</p>",
        esc(&r.generated_at)
    );
    sides(&mut h, r);
    summary(&mut h, r);
    matrix(&mut h, r);
    rates(&mut h, "Actions", "action", &r.action_rates);
    by_category(&mut h, r);
    rates(&mut h, "Categories", "category", &r.category_rates);
    rates(&mut h, "Labels", "label", &r.label_rates);
    causes(&mut h, r);
    scores(&mut h, r);
    changed(&mut h, r);
    h.push_str(LAYOUT_STAMP);
    h.push_str("</body></html>\n");
    h
}

fn sides(h: &mut String, r: &Report) {
    h.push_str("<table id=\"sides\"><tr><th class=\"l\"></th><th class=\"l\">source</th><th class=\"l\">topology</th><th>verdicts</th><th>duplicates</th><th>unreadable</th><th>outside range</th><th>dead letters</th></tr>");
    for (name, side) in [("baseline", &r.baseline), ("candidate", &r.candidate)] {
        let topology = side
            .topology
            .as_ref()
            .map(|t| {
                format!(
                    "{} <code>{}</code>",
                    esc(&t.name),
                    esc(&t.hash[..t.hash.len().min(19)])
                )
            })
            .unwrap_or_default();
        let _ = write!(
            h,
            "<tr><td class=\"l\">{name}</td><td class=\"l\"><code>{}</code></td><td class=\"l\">{topology}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&side.source),
            side.verdicts,
            side.duplicates,
            side.unreadable,
            side.outside_range.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            side.dead_letters.map(|n| n.to_string()).unwrap_or_else(|| "-".into())
        );
    }
    h.push_str("</table>");
}

fn summary(h: &mut String, r: &Report) {
    h.push_str("<h2>Summary</h2><table id=\"summary\">");
    for (name, value) in [
        ("events compared", r.compared),
        ("changed", r.changed),
        ("stricter", r.stricter),
        ("more lenient", r.more_lenient),
        ("only in baseline", r.only_in_baseline),
        ("only in candidate", r.only_in_candidate),
    ] {
        let _ = write!(h, "<tr><th class=\"l\">{name}</th><td>{value}</td></tr>");
    }
    h.push_str("</table>");
}

fn matrix(h: &mut String, r: &Report) {
    h.push_str("<h2>Change matrix</h2><p class=\"meta\">rows: baseline action; columns: candidate action</p><table id=\"matrix\"><tr><th class=\"l\">baseline \\ candidate</th>");
    for a in &r.actions {
        let _ = write!(h, "<th>{a}</th>");
    }
    h.push_str("</tr>");
    for (i, row) in r.matrix.iter().enumerate() {
        let _ = write!(h, "<tr><th class=\"l\">{}</th>", r.actions[i]);
        for (j, n) in row.iter().enumerate() {
            let class = match i.cmp(&j) {
                std::cmp::Ordering::Equal => "same",
                std::cmp::Ordering::Less => "up",
                std::cmp::Ordering::Greater => "down",
            };
            let _ = write!(h, "<td class=\"{class}\">{n}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

fn rates(h: &mut String, title: &str, what: &str, rows: &[Rate]) {
    let _ = write!(
        h,
        "<h2>{title}</h2><table id=\"{what}-rates\"><tr><th class=\"l\">{what}</th><th>before</th><th>after</th><th>events before</th><th>events after</th></tr>"
    );
    for row in rows {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&row.name),
            pct(row.before),
            pct(row.after),
            row.before_events,
            row.after_events
        );
    }
    h.push_str("</table>");
    if !rows.is_empty() {
        let bars: Vec<(String, [f64; 2])> = rows
            .iter()
            .map(|r| (r.name.clone(), [r.before, r.after]))
            .collect();
        h.push_str(&bar_chart(&bars, ["before", "after"], pct));
    }
}

fn by_category(h: &mut String, r: &Report) {
    h.push_str("<h2>Changes by category</h2>");
    if r.changes_by_category.is_empty() {
        h.push_str("<p>No event changed its action.</p>");
        return;
    }
    h.push_str("<table id=\"changes-by-category\"><tr><th class=\"l\">category</th><th>stricter</th><th>more lenient</th></tr>");
    for c in &r.changes_by_category {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.category),
            c.stricter,
            c.more_lenient
        );
    }
    h.push_str("</table>");
    let bars: Vec<(String, [f64; 2])> = r
        .changes_by_category
        .iter()
        .map(|c| {
            (
                c.category.clone(),
                [c.stricter as f64, c.more_lenient as f64],
            )
        })
        .collect();
    h.push_str(&bar_chart(&bars, ["stricter", "more lenient"], |x| {
        format!("{x}")
    }));
}

fn causes(h: &mut String, r: &Report) {
    h.push_str("<h2>Changed events by cause</h2><table id=\"causes\"><tr><th class=\"l\">operator</th><th class=\"l\">label</th><th class=\"l\">category</th><th class=\"l\">change</th><th>events</th><th class=\"l\">transitions</th><th>threshold before</th><th>threshold after</th><th class=\"l\">first event ids</th></tr>");
    for c in &r.causes {
        let transitions: Vec<String> = c
            .transitions
            .iter()
            .map(|(t, n)| format!("{t} ({n})"))
            .collect();
        let ids: Vec<String> = c.event_ids.iter().take(5).map(|id| esc(id)).collect();
        let threshold = |t: Option<f32>| t.map(|t| format!("{t:.3}")).unwrap_or_else(|| "-".into());
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td class=\"l\"><code>{}</code></td></tr>",
            esc(&c.operator),
            esc(&c.label),
            c.category.map(|c| c.as_str()).unwrap_or("-"),
            c.change.as_str(),
            c.events,
            esc(&transitions.join(", ")),
            threshold(c.threshold_before),
            threshold(c.threshold_after),
            ids.join(" ")
        );
    }
    h.push_str("</table>");
}

fn scores(h: &mut String, r: &Report) {
    h.push_str("<h2>Score distributions</h2>");
    if r.scores.is_empty() {
        h.push_str("<p>No operator recorded varying scores.</p>");
        return;
    }
    h.push_str("<div class=\"plots\">");
    for s in &r.scores {
        h.push_str(&histogram(s, r.score_bins));
    }
    h.push_str("</div>");
}

fn changed(h: &mut String, r: &Report) {
    let _ = write!(h, "<h2>Changed events</h2><p class=\"meta\">{} changed; the first {} listed here, every one in report.json{}</p>", r.changed, PAGE_CHANGED_EVENTS.min(r.changed_events.len()), if r.changed_events_truncated { " (truncated there too)" } else { "" });
    let with_text = r.changed_events.iter().any(|e| e.text.is_some());
    h.push_str("<table id=\"changed-events\"><tr><th class=\"l\">event id</th><th class=\"l\">before</th><th class=\"l\">after</th><th class=\"l\">causes</th>");
    if with_text {
        h.push_str("<th class=\"l\">redacted text</th>");
    }
    h.push_str("</tr>");
    for e in r.changed_events.iter().take(PAGE_CHANGED_EVENTS) {
        let _ = write!(
            h,
            "<tr><td class=\"l\"><code>{}</code></td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td>",
            esc(&e.event_id),
            e.before,
            e.after,
            esc(&e.causes.join("; "))
        );
        if with_text {
            let _ = write!(
                h,
                "<td class=\"l\">{}</td>",
                esc(e.text.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

const COLORS: [&str; 2] = ["#8c959f", "#cf222e"];

/// Horizontal grouped bars: one group per row, two series.
fn bar_chart(
    rows: &[(String, [f64; 2])],
    series: [&str; 2],
    label: impl Fn(f64) -> String,
) -> String {
    let max = rows
        .iter()
        .flat_map(|(_, v)| *v)
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE);
    // Room for the longest row name at about 6 px a character (10 px font).
    let longest = rows
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0);
    let left = (longest as f64 * 6.0 + 16.0).clamp(80.0, 320.0);
    let (width, row_h) = (360.0, 30.0);
    let height = 24.0 + row_h * rows.len() as f64;
    let mut svg = format!(
        "<svg class=\"plot\" role=\"img\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\" xmlns=\"http://www.w3.org/2000/svg\">",
        left + width + 80.0,
        left + width + 80.0
    );
    for (i, name) in series.iter().enumerate() {
        let x = left + i as f64 * 120.0;
        let _ = write!(svg, "<rect x=\"{x}\" y=\"4\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"13\" font-size=\"11\">{}</text>", COLORS[i], x + 14.0, esc(name));
    }
    for (r, (name, values)) in rows.iter().enumerate() {
        let y = 24.0 + r as f64 * row_h;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y + 16.0,
            esc(name)
        );
        for (i, v) in values.iter().enumerate() {
            let w = width * v / max;
            let yy = y + 3.0 + i as f64 * 12.0;
            let _ = write!(svg, "<rect x=\"{left}\" y=\"{yy}\" width=\"{w:.1}\" height=\"11\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"10\">{}</text>", COLORS[i], left + w + 4.0, yy + 9.0, label(*v));
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Score histogram of one label, both sides over [0, 1].
fn histogram(s: &ScoreDistribution, bins: usize) -> String {
    let max = s
        .before
        .iter()
        .chain(&s.after)
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (w, hgt, pad) = (320.0, 120.0, 20.0);
    let bar = w / bins as f64 / 2.0;
    let mut svg = format!(
        "<svg class=\"plot\" role=\"img\" width=\"{}\" height=\"{}\" xmlns=\"http://www.w3.org/2000/svg\"><text x=\"{pad}\" y=\"14\" font-size=\"12\">{} / {}</text>",
        w + 2.0 * pad,
        hgt + 3.0 * pad,
        esc(&s.operator),
        esc(&s.label)
    );
    for (side, counts) in [&s.before, &s.after].iter().enumerate() {
        for (b, &n) in counts.iter().enumerate() {
            let bh = hgt * n as f64 / max;
            let x = pad + b as f64 * 2.0 * bar + side as f64 * bar;
            let _ = write!(svg, "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{}\"><title>{}: {n}</title></rect>", pad + hgt - bh + 8.0, bar - 1.0, COLORS[side], if side == 0 { "before" } else { "after" });
        }
    }
    let base = pad + hgt + 8.0;
    let _ = write!(svg, "<line x1=\"{pad}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#57606a\"/><text x=\"{pad}\" y=\"{}\" font-size=\"10\">0</text><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">1</text><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">score (grey: before, red: after)</text>", pad + w, base + 12.0, pad + w, base + 12.0, pad + w / 2.0, base + 12.0);
    svg.push_str("</svg>");
    svg
}
