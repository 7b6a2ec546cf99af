//! The look of leadscore's self-contained HTML pages (the model report, the backtest, the channel
//! report): one style sheet and small inline SVG charts (lines over the unit square, vertical
//! bars, horizontal bars, horizontal bars with intervals). Hand-written: a plotting crate would
//! bring font handling and many dependencies for the few chart shapes the pages need.

use std::fmt::Write as _;

const W: f64 = 420.0;
const H: f64 = 300.0;
const B: f64 = 36.0;
const T: f64 = 12.0;
const R: f64 = 14.0;
/// The tick labels' font size, and the width of one of their characters (digits and the
/// letters of dates are about 0.6 em wide in the sans-serif fonts browsers pick).
const TICK_FONT: f64 = 10.0;
const TICK_CHAR: f64 = 6.2;
/// The y axis title's column: its text runs upwards along x = 12, from about x = 3 to 15.
const TITLE_X: f64 = 12.0;
const TITLE_RIGHT: f64 = 16.0;

/// The pages' style sheet (inside `<style>`).
pub const CSS: &str = "\
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.wide { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: .5em 0; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; } td.nw, th.nw { white-space: nowrap; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; } .grid figure { margin: 0; }
figcaption { font-size: .85em; color: #555; } .note { color: #555; font-size: .9em; }
.ok { color: #1a7f37; } .bad { color: #b42318; }
";

/// Escapes text for SVG and HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An axis from 0 to `top` in equal steps of a round size (1, 2, 2.5 or 5 times a power of
/// ten), at most five, with labels that all show the same number of decimals (0 shown as "0").
#[derive(Debug, Clone, PartialEq)]
pub struct Ticks {
    /// The distance between two ticks.
    pub step: f64,
    /// The last tick: the axis's end, at or above the largest value.
    pub top: f64,
    /// The label of each tick, from 0 to `top`.
    pub labels: Vec<String>,
}

impl Ticks {
    /// Ticks for values from 0 to `max` (a non-positive or non-finite `max` gives 0 to 1).
    pub fn up_to(max: f64) -> Self {
        let max = if max.is_finite() && max > 0.0 { max } else { 1.0 };
        let raw = max / 5.0;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw * (1.0 - 1e-9));
        let step = step.unwrap_or(10.0 * magnitude);
        let n = ((max / step) * (1.0 - 1e-9)).ceil().max(1.0) as usize;
        // Large values in thousands or millions: "250k", not "250000".
        let (unit, suffix) = match n as f64 * step {
            t if t >= 1e7 => (1e6, "M"),
            t if t >= 1e4 => (1e3, "k"),
            _ => (1.0, ""),
        };
        let decimals = (0..=6).find(|d| {
            let scaled = step / unit * 10f64.powi(*d);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        });
        let decimals = decimals.unwrap_or(6) as usize;
        let label = |k: usize| match k {
            0 => "0".to_string(),
            _ => format!("{:.decimals$}{suffix}", k as f64 * step / unit),
        };
        let labels = (0..=n).map(label).collect();
        Self { step, top: n as f64 * step, labels }
    }

    /// The width the widest label takes.
    fn width(&self) -> f64 {
        self.labels.iter().map(|l| text_width(l)).fold(0.0, f64::max)
    }
}

/// About how wide a tick label is.
fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * TICK_CHAR
}

/// Which of `positions` (x coordinates, increasing) to label so that labels of `widths` do not
/// touch: every k-th, from the first, with the smallest k that leaves a gap between any two.
pub fn thinned(positions: &[f64], widths: &[f64]) -> Vec<usize> {
    let gap = 6.0;
    let fits = |k: usize| {
        let shown: Vec<usize> = (0..positions.len()).step_by(k).collect();
        shown.windows(2).all(|w| positions[w[1]] - positions[w[0]] >= (widths[w[0]] + widths[w[1]]) / 2.0 + gap)
    };
    let k = (1..=positions.len().max(1)).find(|k| fits(*k)).unwrap_or(positions.len().max(1));
    (0..positions.len()).step_by(k).collect()
}

/// The plot area of a chart: a left margin wide enough for the y labels and the axis title.
struct Frame {
    left: f64,
    y: Ticks,
}

impl Frame {
    fn new(y_max: f64) -> Self {
        let y = Ticks::up_to(y_max);
        let left = (TITLE_RIGHT + 6.0 + y.width() + 4.0).max(44.0);
        Self { left, y }
    }

    fn width(&self) -> f64 {
        W - self.left - R
    }

    fn height(&self) -> f64 {
        H - T - B
    }

    /// The x coordinate of `f` in [0, 1].
    fn x(&self, f: f64) -> f64 {
        self.left + self.width() * f.clamp(0.0, 1.0)
    }

    /// The y coordinate of the value `v`.
    fn y(&self, v: f64) -> f64 {
        T + self.height() * (1.0 - (v / self.y.top).clamp(0.0, 1.0))
    }

    /// The opening tag, the box, the y grid and labels and the axis titles.
    fn open(&self, x_label: &str, y_label: &str) -> String {
        let (left, pw, ph) = (self.left, self.width(), self.height());
        let mut out =
            format!(r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}">"#);
        let _ = write!(out, r##"<rect x="{left}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##);
        let n = self.y.labels.len().saturating_sub(1).max(1) as f64;
        for (k, label) in self.y.labels.iter().enumerate() {
            let y = T + ph * (1.0 - k as f64 / n);
            let _ = write!(
                out,
                r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" font-size="{TICK_FONT}" text-anchor="end">{label}</text>"##,
                left + pw,
                left - 4.0,
                y + 3.0,
            );
        }
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text><text x="{TITLE_X}" y="{:.1}" font-size="11" text-anchor="middle" transform="rotate(-90 {TITLE_X} {:.1})">{}</text>"##,
            left + pw / 2.0,
            H - 4.0,
            esc(x_label),
            T + ph / 2.0,
            T + ph / 2.0,
            esc(y_label)
        );
        out
    }

    /// Labels under the x axis at `(x in [0, 1], label)`, thinned so that none touch.
    fn x_labels(&self, out: &mut String, labels: &[(f64, String)]) {
        let positions: Vec<f64> = labels.iter().map(|(f, _)| self.x(*f)).collect();
        let widths: Vec<f64> = labels.iter().map(|(_, l)| text_width(l)).collect();
        for i in thinned(&positions, &widths) {
            // The first and last labels stay inside the chart.
            let x = positions[i].clamp(widths[i] / 2.0 + 1.0, W - widths[i] / 2.0 - 1.0);
            let _ = write!(
                out,
                r##"<text x="{x:.1}" y="{:.1}" font-size="{TICK_FONT}" text-anchor="middle">{}</text>"##,
                T + self.height() + 14.0,
                esc(&labels[i].1)
            );
        }
    }

    /// The 0 … 1 labels of an x axis over the unit interval.
    fn unit_x_labels(&self, out: &mut String, ticks: &Ticks) {
        let n = ticks.labels.len().saturating_sub(1).max(1) as f64;
        let labels: Vec<(f64, String)> =
            ticks.labels.iter().enumerate().map(|(k, l)| (k as f64 / n, l.clone())).collect();
        self.x_labels(out, &labels);
    }

    /// The dashed corner-to-corner line.
    fn diagonal(&self, out: &mut String) {
        let _ = write!(
            out,
            r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{T}" stroke="#bbb" stroke-dasharray="4 3"/>"##,
            self.left,
            T + self.height(),
            self.left + self.width()
        );
    }

    /// The series as lines (x in [0, 1]), each named in the top left corner.
    fn polylines(&self, out: &mut String, series: &[Series<'_>]) {
        for (k, (name, colour, pts)) in series.iter().enumerate() {
            let path: Vec<String> = pts.iter().map(|(x, y)| format!("{:.1},{:.1}", self.x(*x), self.y(*y))).collect();
            let _ = write!(
                out,
                r##"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/><text x="{:.1}" y="{:.1}" font-size="11" fill="{colour}" stroke="#fff" stroke-width="3" paint-order="stroke">{}</text>"##,
                path.join(" "),
                self.left + 8.0,
                T + 14.0 + 14.0 * k as f64,
                esc(name)
            );
        }
    }
}

/// One line of a chart: name, colour and points.
pub type Series<'a> = (&'a str, &'a str, &'a [(f64, f64)]);

/// Lines over [0, 1] x [0, `y_max`] (the axis ends at a round value at or above it); `diagonal`
/// draws the corner-to-corner line (y = x when `y_max` is 1).
pub fn lines(series: &[Series<'_>], x_label: &str, y_label: &str, diagonal: bool, y_max: f64) -> String {
    let frame = Frame::new(y_max);
    let mut s = frame.open(x_label, y_label);
    frame.unit_x_labels(&mut s, &Ticks::up_to(1.0));
    if diagonal {
        frame.diagonal(&mut s);
    }
    frame.polylines(&mut s, series);
    s.push_str("</svg>");
    s
}

/// Lines over a sequence (weeks, periods): the points' x runs over [0, 1] as in [`lines`], and
/// `labels` name positions on the x axis (`(x, label)`), as many as fit without touching.
pub fn lines_over(series: &[Series<'_>], labels: &[(f64, String)], x_label: &str, y_label: &str) -> String {
    let y_max = series.iter().flat_map(|s| s.2.iter().map(|p| p.1)).filter(|v| v.is_finite()).fold(0.0, f64::max);
    let frame = Frame::new(y_max);
    let mut s = frame.open(x_label, y_label);
    frame.x_labels(&mut s, labels);
    frame.polylines(&mut s, series);
    s.push_str("</svg>");
    s
}

/// Points (with a y = x reference), for reliability plots; both axes span 0 to the same round
/// value at or above the largest coordinate.
pub fn scatter(points: &[(f64, f64)], x_label: &str, y_label: &str) -> String {
    let max = points.iter().flat_map(|(x, y)| [*x, *y]).filter(|v| v.is_finite()).fold(0.0_f64, f64::max);
    let frame = Frame::new(max);
    let mut s = frame.open(x_label, y_label);
    let top = frame.y.top;
    frame.unit_x_labels(&mut s, &frame.y);
    frame.diagonal(&mut s);
    for (x, y) in points {
        let _ = write!(s, r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#1f77b4"/>"##, frame.x(x / top), frame.y(*y));
    }
    s.push_str("</svg>");
    s
}

/// Vertical bars: `(label, value, colour)`; as many labels as fit without touching.
pub fn bars(items: &[(String, f64, &str)], y_label: &str) -> String {
    let max = items.iter().map(|i| i.1).filter(|v| v.is_finite()).fold(0.0_f64, f64::max);
    let frame = Frame::new(max);
    let mut s = frame.open("", y_label);
    let n = items.len().max(1) as f64;
    let bw = frame.width() / n;
    let bottom = T + frame.height();
    for (k, (label, v, colour)) in items.iter().enumerate() {
        let top = frame.y(*v);
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>{}: {}</title></rect>"#,
            frame.left + bw * (k as f64 + 0.1),
            bw * 0.8,
            bottom - top,
            esc(label),
            num(*v),
        );
    }
    let labels: Vec<(f64, String)> =
        items.iter().enumerate().map(|(k, (label, ..))| ((k as f64 + 0.5) / n, label.clone())).collect();
    frame.x_labels(&mut s, &labels);
    s.push_str("</svg>");
    s
}

/// A bar's value for its tooltip: whole numbers as such, others with up to four decimals.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v:.4}") }
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
    #![allow(clippy::unwrap_used)]

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

    #[test]
    fn ticks_are_round_steps_with_the_same_decimals_up_to_the_first_tick_at_or_above_the_maximum() {
        let labels = |max: f64| Ticks::up_to(max).labels;
        // The monthly conversions chart once read 146 / 110 / 73 / 37 / 0.00.
        assert_eq!(labels(146.0), ["0", "50", "100", "150"]);
        assert_eq!(labels(1.0), ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        assert_eq!(labels(0.21), ["0", "0.05", "0.10", "0.15", "0.20", "0.25"]);
        assert_eq!(labels(2.73), ["0", "1", "2", "3"]);
        assert_eq!(labels(382_264.0), ["0", "100k", "200k", "300k", "400k"]);
        assert_eq!(labels(12_500_000.0), ["0", "2.5M", "5.0M", "7.5M", "10.0M", "12.5M"]);
        assert_eq!(labels(0.0), labels(1.0));
        assert_eq!(labels(f64::NAN), labels(1.0));
        for max in [0.013, 0.9, 1.7, 7.0, 42.0, 999.0, 1234.5, 8e5, 3.3e8] {
            let t = Ticks::up_to(max);
            assert!(t.top >= max && t.top < max + t.step + 1e-9, "{max}: {t:?}");
            assert!((2..=7).contains(&t.labels.len()), "{max}: {t:?}");
            let decimals = |l: &String| l.split('.').nth(1).map_or(0, |d| d.trim_end_matches(['k', 'M']).len());
            assert!(t.labels[1..].iter().all(|l| decimals(l) == decimals(&t.labels[1])), "{max}: {t:?}");
            let mantissa = t.step / 10f64.powf(t.step.log10().floor());
            assert!([1.0, 2.0, 2.5, 5.0].iter().any(|m| (m - mantissa).abs() < 1e-9), "{max}: {t:?}");
        }
    }

    /// The `<text>` elements of a chart: x, y, anchor and text.
    fn texts(svg: &str) -> Vec<(f64, f64, String, String)> {
        svg.split("<text ")
            .skip(1)
            .map(|t| {
                let attr = |name: &str| {
                    t.split(&format!("{name}=\"")).nth(1).and_then(|v| v.split('"').next()).unwrap_or("").to_string()
                };
                let body = t.split('>').nth(1).unwrap_or("").split('<').next().unwrap_or("").to_string();
                (attr("x").parse().unwrap(), attr("y").parse().unwrap(), attr("text-anchor"), body)
            })
            .collect()
    }

    #[test]
    fn month_labels_under_bars_never_touch_and_stay_inside_the_chart() {
        // Twelve months once ran together as "2025-112025-12…".
        let months: Vec<(String, f64, &str)> =
            (1..=12).map(|m| (format!("2026-{m:02}"), 100.0 + f64::from(m), "#1f77b4")).collect();
        let svg = bars(&months, "conversions");
        let under: Vec<(f64, f64, String, String)> =
            texts(&svg).into_iter().filter(|t| t.3.starts_with("2026-")).collect();
        assert!(under.len() >= 4 && under.len() < 12, "{under:?}");
        assert_eq!(under[0].3, "2026-01");
        for w in under.windows(2) {
            let gap = (w[1].0 - w[0].0) - (text_width(&w[0].3) + text_width(&w[1].3)) / 2.0;
            assert!(gap >= 6.0, "{} and {} are {gap:.1} apart", w[0].3, w[1].3);
        }
        for t in &under {
            assert!(t.0 - text_width(&t.3) / 2.0 >= 0.0 && t.0 + text_width(&t.3) / 2.0 <= W, "{t:?}");
        }
        // A few short labels all show.
        let deciles: Vec<(String, f64, &str)> = (1..=10).map(|d| (d.to_string(), 1.0, "#000")).collect();
        assert_eq!(
            texts(&bars(&deciles, "lift")).iter().filter(|t| t.3.parse::<u32>().is_ok_and(|d| d >= 1)).count(),
            10
        );
    }

    #[test]
    fn the_y_labels_end_left_of_the_plot_and_right_of_the_axis_title() {
        for max in [0.0872, 1.0, 146.0, 382_264.0, 0.0013] {
            let svg = lines_over(&[("v", "#000", &[(0.0, 0.0), (1.0, max)])], &[], "", "a long axis title");
            let frame = Frame::new(max);
            let ticks: Vec<_> = texts(&svg).into_iter().filter(|t| t.2 == "end").collect();
            assert_eq!(ticks.len(), frame.y.labels.len());
            for t in ticks {
                assert!(t.0 <= frame.left - 2.0, "{max}: {t:?}");
                assert!(t.0 - text_width(&t.3) >= TITLE_RIGHT + 2.0, "{max}: {t:?} runs into the title");
            }
        }
    }

    #[test]
    fn lines_over_dates_label_the_axis_with_dates() {
        let pts: Vec<(f64, f64)> = (0..9).map(|i| ((f64::from(i) + 0.5) / 9.0, 0.1 * f64::from(i))).collect();
        let labels: Vec<(f64, String)> =
            pts.iter().enumerate().map(|(i, p)| (p.0, format!("2026-08-{:02}", 1 + 7 * i))).collect();
        let svg = lines_over(&[("precision", "#1f77b4", &pts)], &labels, "first day of the period", "precision");
        let dates: Vec<String> = texts(&svg).into_iter().map(|t| t.3).filter(|t| t.starts_with("2026-08-")).collect();
        assert!(dates.len() >= 3 && dates[0] == "2026-08-01", "{dates:?}");
        assert!(!svg.contains(">0.25<"), "no 0 … 1 axis under dates");
    }

    #[test]
    fn thinning_keeps_every_label_that_fits_and_the_first_always() {
        assert_eq!(thinned(&[0.0, 50.0, 100.0], &[20.0; 3]), [0, 1, 2]);
        assert_eq!(thinned(&[0.0, 20.0, 40.0, 60.0, 80.0], &[30.0; 5]), [0, 2, 4]);
        assert_eq!(thinned(&[0.0], &[500.0]), [0]);
        assert!(thinned(&[], &[]).is_empty());
    }
}
