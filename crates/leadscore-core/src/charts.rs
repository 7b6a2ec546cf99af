//! The look of leadscore's self-contained HTML pages (the model report, the backtest, the channel
//! report): one style sheet and small inline SVG charts (lines over the unit square, vertical
//! bars, horizontal bars, horizontal bars with intervals). Hand-written: a plotting crate would
//! bring font handling and many dependencies for the few chart shapes the pages need.

use std::fmt::Write as _;

const W: f64 = 420.0;
const H: f64 = 300.0;
const L: f64 = 48.0;
const B: f64 = 36.0;
const T: f64 = 12.0;
const R: f64 = 12.0;

/// The pages' style sheet (inside `<style>`).
pub const CSS: &str = "\
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5em 0; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; } .grid figure { margin: 0; }
figcaption { font-size: .85em; color: #555; } .note { color: #555; font-size: .9em; }
.ok { color: #1a7f37; } .bad { color: #b42318; }
";

/// Escapes text for SVG and HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn frame(out: &mut String, x_label: &str, y_label: &str, y_max: f64, x_ticks: bool) {
    let (pw, ph) = (W - L - R, H - T - B);
    let _ = write!(out, r##"<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##);
    for k in 0..=4 {
        let f = f64::from(k) / 4.0;
        let y = T + ph * (1.0 - f);
        let _ = write!(
            out,
            r##"<line x1="{L}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"##,
            L + pw,
            L - 4.0,
            y + 3.0,
            fmt_tick(f * y_max)
        );
        if x_ticks {
            let x = L + pw * f;
            let _ = write!(
                out,
                r##"<text x="{x:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"##,
                T + ph + 14.0,
                fmt_tick(f)
            );
        }
    }
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text><text x="12" y="{:.1}" font-size="11" text-anchor="middle" transform="rotate(-90 12 {:.1})">{}</text>"##,
        L + pw / 2.0,
        H - 4.0,
        esc(x_label),
        T + ph / 2.0,
        T + ph / 2.0,
        esc(y_label)
    );
}

fn fmt_tick(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// One line of a chart: name, colour and points.
pub type Series<'a> = (&'a str, &'a str, &'a [(f64, f64)]);

/// Lines over [0, 1] x [0, `y_max`]; `diagonal` draws the corner-to-corner line (y = x when
/// `y_max` is 1).
pub fn lines(series: &[Series<'_>], x_label: &str, y_label: &str, diagonal: bool, y_max: f64) -> String {
    let mut s = lines_framed(series, x_label, y_label, diagonal, y_max, true);
    s.push_str("</svg>");
    s
}

/// The chart of [`lines`] without its closing tag; `x_ticks` labels the x axis 0 … 1.
fn lines_framed(
    series: &[Series<'_>],
    x_label: &str,
    y_label: &str,
    diagonal: bool,
    y_max: f64,
    x_ticks: bool,
) -> String {
    let (pw, ph) = (W - L - R, H - T - B);
    let y_max = if y_max > 0.0 { y_max } else { 1.0 };
    let mut s = format!(r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}">"#);
    frame(&mut s, x_label, y_label, y_max, x_ticks);
    if diagonal {
        let _ = write!(
            s,
            r##"<line x1="{L}" y1="{:.1}" x2="{:.1}" y2="{T}" stroke="#bbb" stroke-dasharray="4 3"/>"##,
            T + ph,
            L + pw
        );
    }
    for (k, (name, colour, pts)) in series.iter().enumerate() {
        let path: Vec<String> = pts
            .iter()
            .map(|(x, y)| {
                format!("{:.1},{:.1}", L + pw * x.clamp(0.0, 1.0), T + ph * (1.0 - (y / y_max).clamp(0.0, 1.0)))
            })
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/><text x="{:.1}" y="{:.1}" font-size="11" fill="{colour}">{}</text>"#,
            path.join(" "),
            L + 8.0,
            T + 14.0 + 14.0 * k as f64,
            esc(name)
        );
    }
    s
}

/// Lines over a sequence (weeks, say) whose first and last positions are labelled `ends`; the
/// points' x runs over [0, 1] as in [`lines`].
pub fn lines_between(series: &[Series<'_>], ends: (&str, &str), y_label: &str, y_max: f64) -> String {
    let mut s = lines_framed(series, "", y_label, false, y_max, false);
    let y = H - B + 14.0;
    let _ = write!(
        s,
        r##"<text x="{L}" y="{y:.1}" font-size="10" text-anchor="start">{}</text><text x="{:.1}" y="{y:.1}" font-size="10" text-anchor="end">{}</text></svg>"##,
        esc(ends.0),
        W - R,
        esc(ends.1)
    );
    s
}

/// Points (with a y = x reference), for reliability plots; the axes span [0, `max`].
pub fn scatter(points: &[(f64, f64)], x_label: &str, y_label: &str) -> String {
    let max = points.iter().flat_map(|(x, y)| [*x, *y]).fold(0.0_f64, f64::max).max(1e-3) * 1.1;
    let (pw, ph) = (W - L - R, H - T - B);
    let mut s = format!(r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}">"#);
    frame(&mut s, x_label, y_label, max, false);
    for k in 0..=4 {
        let f = f64::from(k) / 4.0;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"##,
            L + pw * f,
            T + ph + 14.0,
            fmt_tick(f * max)
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{L}" y1="{:.1}" x2="{:.1}" y2="{T}" stroke="#bbb" stroke-dasharray="4 3"/>"##,
        T + ph,
        L + pw
    );
    for (x, y) in points {
        let _ = write!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#1f77b4"/>"##,
            L + pw * x / max,
            T + ph * (1.0 - y / max)
        );
    }
    s.push_str("</svg>");
    s
}

/// Vertical bars: `(label, value, colour)`.
pub fn bars(items: &[(String, f64, &str)], y_label: &str) -> String {
    let max = items.iter().map(|i| i.1).fold(0.0_f64, f64::max).max(1e-9) * 1.1;
    let (pw, ph) = (W - L - R, H - T - B);
    let mut s = format!(r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}">"#);
    frame(&mut s, "", y_label, max, false);
    let n = items.len().max(1) as f64;
    let bw = pw / n;
    for (k, (label, v, colour)) in items.iter().enumerate() {
        let h = ph * v / max;
        let x = L + bw * k as f64;
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{colour}"><title>{}: {}</title></rect><text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle">{}</text>"#,
            x + bw * 0.1,
            T + ph - h,
            bw * 0.8,
            esc(label),
            fmt_tick(*v),
            x + bw / 2.0,
            T + ph + 12.0,
            esc(label)
        );
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars with labels on the left: `(label, value)`.
pub fn hbars(items: &[(String, f64)]) -> String {
    let row = 18.0;
    let label_w = 190.0;
    let width = 560.0;
    let height = row * items.len() as f64 + 8.0;
    let max = items.iter().map(|i| i.1).fold(0.0_f64, f64::max).max(1e-9);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}">"#
    );
    for (k, (label, v)) in items.iter().enumerate() {
        let y = 4.0 + row * k as f64;
        let w = (width - label_w - 60.0) * v / max;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text><rect x="{label_w}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="#1f77b4"/><text x="{:.1}" y="{:.1}" font-size="10">{:.1}%</text>"##,
            label_w - 6.0,
            y + 12.0,
            esc(label),
            y + 2.0,
            row - 5.0,
            label_w + w + 4.0,
            y + 12.0,
            100.0 * v
        );
    }
    s.push_str("</svg>");
    s
}

/// One horizontal bar with its interval: label, value, low and high end.
pub type IntervalBar = (String, f64, f64, f64);

/// Horizontal bars with labels on the left and a whisker for each bar's interval; `fmt` writes
/// the value beside the bar. Bars start at 0; a negative value or end is drawn at 0.
pub fn interval_hbars(items: &[IntervalBar], fmt: impl Fn(f64) -> String) -> String {
    let row = 20.0;
    let label_w = 220.0;
    let width = 620.0;
    let height = row * items.len() as f64 + 8.0;
    let max = items.iter().map(|i| i.1.max(i.3)).filter(|v| v.is_finite()).fold(0.0_f64, f64::max).max(1e-9);
    let scale = |v: f64| (width - label_w - 90.0) * (v.max(0.0) / max).min(1.0);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}">"#
    );
    for (k, (label, v, lo, hi)) in items.iter().enumerate() {
        let y = 4.0 + row * k as f64;
        let mid = y + (row - 4.0) / 2.0;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text><rect x="{label_w}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#1f77b4"><title>{}: {} ({} to {})</title></rect>"##,
            label_w - 6.0,
            y + 12.0,
            esc(label),
            y + 2.0,
            scale(*v),
            row - 6.0,
            esc(label),
            fmt(*v),
            fmt(*lo),
            fmt(*hi)
        );
        if lo.is_finite() && hi.is_finite() {
            let (x1, x2) = (label_w + scale(*lo), label_w + scale(*hi));
            let _ = write!(
                s,
                r##"<line x1="{x1:.1}" y1="{mid:.1}" x2="{x2:.1}" y2="{mid:.1}" stroke="#333"/><line x1="{x1:.1}" y1="{:.1}" x2="{x1:.1}" y2="{:.1}" stroke="#333"/><line x1="{x2:.1}" y1="{:.1}" x2="{x2:.1}" y2="{:.1}" stroke="#333"/>"##,
                mid - 4.0,
                mid + 4.0,
                mid - 4.0,
                mid + 4.0
            );
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
            label_w + scale(v.max(*hi)) + 6.0,
            y + 12.0,
            esc(&fmt(*v))
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_well_formed_svg_with_escaped_labels() {
        let l = lines(&[("a<b", "#000", &[(0.0, 0.0), (1.0, 1.0)])], "x", "y", true, 1.0);
        assert!(l.starts_with("<svg") && l.ends_with("</svg>") && l.contains("a&lt;b") && l.contains("polyline"));
        let b = bars(&[("2026-01".into(), 3.0, "#123")], "n");
        assert_eq!(b.matches("<rect").count(), 2);
        assert!(hbars(&[("f".into(), 0.5)]).contains("50.0%"));
        assert!(scatter(&[(0.1, 0.2)], "p", "o").contains("<circle"));
    }
}
