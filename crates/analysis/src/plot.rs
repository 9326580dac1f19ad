//! SVG plots via `plotters` (SVG backend only, no system fonts needed).
//!
//! Log axes are drawn by transforming the data to `log10` and placing the tick marks
//! ourselves: decades (with 2–9 minor lines) when the data span a decade or more, and
//! "nice" linear values when they span less (typical for losses, e.g. 1.8–3.0), which
//! plotters' own log axis would leave without any label.

use std::path::Path;

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;

use crate::error::AnalysisError;
use crate::format::tick;

/// One data series.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// Legend label.
    pub label: String,
    /// `(x, y)` points in data units. Non-finite points, and non-positive ones on a log axis,
    /// are skipped.
    pub points: Vec<(f64, f64)>,
    /// How the series is drawn.
    pub style: CurveStyle,
}

/// How a [`Curve`] is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CurveStyle {
    /// Markers only (measured data).
    Markers,
    /// A solid line (fits).
    Line,
    /// A dashed line (alternative fits).
    Dashed,
}

/// Everything [`plot_svg`] needs.
#[derive(Clone, Debug, PartialEq)]
pub struct PlotSpec {
    /// Title drawn above the plot.
    pub title: String,
    /// X axis description.
    pub x_label: String,
    /// Y axis description.
    pub y_label: String,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// Data series; colour (and, past the palette's length, marker shape) follows the index.
    pub curves: Vec<Curve>,
    /// Horizontal reference lines `(label, y)` (e.g. the entropy rate), drawn dashed in greys.
    pub hlines: Vec<(String, f64)>,
}

/// Okabe–Ito colour-blind-safe palette (yellow moved last: it is weak on white).
pub const PALETTE: [(u8, u8, u8); 8] = [
    (0x00, 0x72, 0xB2), // blue
    (0xD5, 0x5E, 0x00), // vermillion
    (0x00, 0x9E, 0x73), // bluish green
    (0xCC, 0x79, 0xA7), // reddish purple
    (0xE6, 0x9F, 0x00), // orange
    (0x56, 0xB4, 0xE9), // sky blue
    (0x00, 0x00, 0x00), // black
    (0xF0, 0xE4, 0x42), // yellow
];

const HLINE_COLOURS: [(u8, u8, u8); 3] =
    [(0x44, 0x44, 0x44), (0x88, 0x88, 0x88), (0xAA, 0x33, 0x77)];

fn colour(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// Size of every plot, in pixels.
pub const PLOT_SIZE: (u32, u32) = (800, 560);

/// Draws `spec` into an 800×560 SVG at `path` (overwriting it). Each curve gets the colour of
/// its index in [`PALETTE`]; markers change shape once the palette wraps around. The legend
/// shows each series with its line and/or marker in its colour.
///
/// # Errors
///
/// Each error names the file; nothing panics on odd data (empty curves, NaNs, zeros on log axes).
pub fn plot_svg(path: &Path, spec: &PlotSpec) -> Result<(), AnalysisError> {
    let perr = |e: String| AnalysisError::Plot { path: path.to_path_buf(), message: e };
    let tx = |v: f64| if spec.log_x { v.log10() } else { v };
    let ty = |v: f64| if spec.log_y { v.log10() } else { v };
    let ok_x = |v: f64| v.is_finite() && (!spec.log_x || v > 0.0);
    let ok_y = |v: f64| v.is_finite() && (!spec.log_y || v > 0.0);

    let curves: Vec<Vec<(f64, f64)>> = spec
        .curves
        .iter()
        .map(|c| {
            c.points
                .iter()
                .filter(|(x, y)| ok_x(*x) && ok_y(*y))
                .map(|&(x, y)| (tx(x), ty(y)))
                .collect()
        })
        .collect();
    let hlines: Vec<(String, f64)> =
        spec.hlines.iter().filter(|(_, y)| ok_y(*y)).map(|(l, y)| (l.clone(), ty(*y))).collect();

    let xs: Vec<f64> = curves.iter().flatten().map(|p| p.0).collect();
    let ys: Vec<f64> =
        curves.iter().flatten().map(|p| p.1).chain(hlines.iter().map(|h| h.1)).collect();
    let (x0, x1) = padded_range(&xs, spec.log_x);
    let (y0, mut y1) = padded_range(&ys, spec.log_y);

    // Legend placement: the corner that hides the fewest points; if every corner hides some,
    // raise the top of the y axis so that the legend sits above the data.
    let labels: Vec<&str> = spec
        .curves
        .iter()
        .zip(&curves)
        .filter(|(c, pts)| !c.label.is_empty() && !pts.is_empty())
        .map(|(c, _)| c.label.as_str())
        .chain(hlines.iter().filter(|h| !h.0.is_empty()).map(|h| h.0.as_str()))
        .collect();
    let legend_pos = if labels.is_empty() {
        SeriesLabelPosition::UpperRight
    } else {
        let (wf, hf) = legend_fraction(&labels);
        let frac = |(x, y): (f64, f64)| ((x - x0) / (x1 - x0), (y - y0) / (y1 - y0));
        let pts: Vec<(f64, f64)> = curves.iter().flatten().map(|&p| frac(p)).collect();
        let hl: Vec<f64> = hlines.iter().map(|h| frac((x0, h.1)).1).collect();
        let (pos, hidden) = best_corner(&pts, &hl, wf, hf);
        if hidden > 0 && hf < 0.6 {
            y1 = y0 + (y1 - y0) / (1.0 - hf - 0.03);
            SeriesLabelPosition::UpperRight
        } else {
            pos
        }
    };
    let (xb, xl) = ticks(x0, x1, spec.log_x);
    let (yb, yl) = ticks(y0, y1, spec.log_y);

    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
        && !parent.is_dir()
    {
        return Err(perr(format!("directory {} does not exist", parent.display())));
    }
    // Drawn into memory, then replaced atomically: a kill never leaves half a figure.
    let mut svg = String::new();
    draw(
        &mut svg,
        spec,
        &curves,
        &hlines,
        Axis { lo: x0, hi: x1, bold: xb, light: xl },
        Axis { lo: y0, hi: y1, bold: yb, light: yl },
        legend_pos,
    )
    .map_err(perr)?;
    crate::atomic::write_file(path, svg)
}

/// Draws `spec` as SVG text into `svg`: the curves and horizontal lines already in axis
/// coordinates, the axes' ranges and tick steps, the legend's corner.
#[allow(clippy::too_many_arguments)]
fn draw(
    svg: &mut String,
    spec: &PlotSpec,
    curves: &[Vec<(f64, f64)>],
    hlines: &[(String, f64)],
    x_axis: Axis,
    y_axis: Axis,
    legend_pos: SeriesLabelPosition,
) -> Result<(), String> {
    let perr = |e: String| e;
    let (x_lo, x_hi) = (x_axis.lo, x_axis.hi);
    let root = SVGBackend::with_string(svg, PLOT_SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| perr(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&spec.title, ("sans-serif", 26))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(x_axis, y_axis)
        .map_err(|e| perr(e.to_string()))?;

    let fmt_x = |v: &f64| if spec.log_x { tick(10f64.powf(*v)) } else { tick(*v) };
    let fmt_y = |v: &f64| if spec.log_y { tick(10f64.powf(*v)) } else { tick(*v) };
    chart
        .configure_mesh()
        .x_desc(spec.x_label.as_str())
        .y_desc(spec.y_label.as_str())
        .x_label_formatter(&fmt_x)
        .y_label_formatter(&fmt_y)
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 19))
        .bold_line_style(RGBColor(205, 205, 205))
        .light_line_style(RGBColor(238, 238, 238))
        .draw()
        .map_err(|e| perr(e.to_string()))?;

    let mut has_legend = false;
    for (i, (c, pts)) in spec.curves.iter().zip(curves).enumerate() {
        let col = colour(i);
        let shape = (i / PALETTE.len()) % 4;
        // No legend entry for a series with nothing to show.
        let label = if pts.is_empty() { String::new() } else { c.label.clone() };
        has_legend |= !label.is_empty();
        match c.style {
            CurveStyle::Line => {
                let s = chart
                    .draw_series(LineSeries::new(pts.iter().copied(), col.stroke_width(2)))
                    .map_err(|e| perr(e.to_string()))?;
                if !label.is_empty() {
                    s.label(label).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2))
                    });
                }
            }
            CurveStyle::Dashed => {
                let s = chart
                    .draw_series(DashedLineSeries::new(
                        pts.iter().copied(),
                        8,
                        5,
                        col.stroke_width(2),
                    ))
                    .map_err(|e| perr(e.to_string()))?;
                if !label.is_empty() {
                    s.label(label).legend(move |(x, y)| {
                        EmptyElement::at((x, y))
                            + PathElement::new(vec![(0, 0), (7, 0)], col.stroke_width(2))
                            + PathElement::new(vec![(12, 0), (20, 0)], col.stroke_width(2))
                    });
                }
            }
            CurveStyle::Markers => {
                let s = match shape {
                    0 => chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, col.filled()))),
                    1 => chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 4, col.stroke_width(2)))),
                    2 => chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, col.filled()))),
                    _ => chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 5, col.stroke_width(1)))),
                }
                .map_err(|e| perr(e.to_string()))?;
                if !label.is_empty() {
                    let (size, filled) = match shape {
                        0 => (4, true),
                        1 => (4, false),
                        2 => (3, true),
                        _ => (5, false),
                    };
                    s.label(label).legend(move |(x, y)| {
                        let st = if filled { col.filled() } else { col.stroke_width(2) };
                        EmptyElement::at((x + 10, y))
                            + PathElement::new(
                                vec![(-10, 0), (10, 0)],
                                col.mix(0.4).stroke_width(1),
                            )
                            + Circle::new((0, 0), size, st)
                    });
                }
            }
        }
    }
    for (j, (label, y)) in hlines.iter().enumerate() {
        let (r, g, b) = HLINE_COLOURS[j % HLINE_COLOURS.len()];
        let col = RGBColor(r, g, b);
        let (dash, gap) = if j % 2 == 0 { (10, 6) } else { (3, 4) };
        let s = chart
            .draw_series(DashedLineSeries::new(
                vec![(x_lo, *y), (x_hi, *y)],
                dash,
                gap,
                col.stroke_width(2),
            ))
            .map_err(|e| perr(e.to_string()))?;
        if !label.is_empty() {
            has_legend = true;
            s.label(label.clone()).legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (dash.min(9), 0)], col.stroke_width(2))
                    + PathElement::new(
                        vec![((dash.min(9) + gap).min(14), 0), (20, 0)],
                        col.stroke_width(2),
                    )
            });
        }
    }
    if has_legend {
        chart
            .configure_series_labels()
            .position(legend_pos)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(120, 120, 120))
            .label_font(("sans-serif", 16))
            .draw()
            .map_err(|e| perr(e.to_string()))?;
    }
    root.present().map_err(|e| perr(e.to_string()))?;
    Ok(())
}

/// Approximate plotting-area size in pixels (canvas minus margins, caption and label areas).
const PLOT_AREA: (f64, f64) = (700.0, 440.0);
const LEGEND_FONT: f64 = 16.0;

/// Estimated legend box size as fractions of the plotting area (mirrors plotters' naive text
/// metrics: 0.7 em per byte, em = size / 1.24², lines 1.25 × size / 1.24 apart).
fn legend_fraction(labels: &[&str]) -> (f64, f64) {
    let em = LEGEND_FONT / 1.24 / 1.24;
    let longest = labels.iter().map(|l| l.len()).max().unwrap_or(0) as f64;
    let w = longest * em * 0.7 + 30.0 + 20.0 + 10.0;
    let h = labels.len() as f64 * 1.25 * LEGEND_FONT / 1.24 + 20.0 + 10.0;
    (w / PLOT_AREA.0, h / PLOT_AREA.1)
}

/// The legend corner covering the fewest points (fractions of the axes), with the count.
/// Horizontal lines count once for each corner whose vertical span they cross.
fn best_corner(
    pts: &[(f64, f64)],
    hlines: &[f64],
    wf: f64,
    hf: f64,
) -> (SeriesLabelPosition, usize) {
    let corners = [
        (SeriesLabelPosition::UpperRight, (1.0 - wf, 1.0), (1.0 - hf, 1.0)),
        (SeriesLabelPosition::UpperLeft, (0.0, wf), (1.0 - hf, 1.0)),
        (SeriesLabelPosition::LowerLeft, (0.0, wf), (0.0, hf)),
        (SeriesLabelPosition::LowerRight, (1.0 - wf, 1.0), (0.0, hf)),
    ];
    let mut best = (SeriesLabelPosition::UpperRight, usize::MAX);
    for (pos, (xa, xb), (ya, yb)) in corners {
        let inside =
            pts.iter().filter(|(x, y)| *x >= xa && *x <= xb && *y >= ya && *y <= yb).count()
                + hlines.iter().filter(|y| **y >= ya && **y <= yb).count();
        if inside < best.1 {
            best = (pos, inside);
        }
    }
    best
}

/// A linear axis (in plot coordinates, i.e. log10 for log axes) with tick positions chosen
/// by [`ticks`].
struct Axis {
    lo: f64,
    hi: f64,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let frac = (v - self.lo) / (self.hi - self.lo);
        let len = f64::from(limit.1 - limit.0);
        // Clamp far outside values so that integer conversion stays sane.
        let off = len * frac.clamp(-10.0, 10.0);
        let off = if len >= 0.0 { (off + 1e-3).floor() } else { (off - 1e-3).ceil() };
        let px = f64::from(limit.0) + off;
        if px.is_finite() { px as i32 } else { limit.0 }
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() { self.light.clone() } else { self.bold.clone() }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// Axis range (in plot coordinates) covering `v` with 5% padding; sensible defaults when
/// there is no data or a single value.
fn padded_range(v: &[f64], log: bool) -> (f64, f64) {
    let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if hi - lo <= 1e-12 * lo.abs().max(1.0) {
        let w = if log { 0.25 } else { 0.1 * lo.abs().max(1e-9) };
        return (lo - w, hi + w);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// A "nice" step (1, 2 or 5 × 10^k) near `raw`.
fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f < 1.5 {
        1.0
    } else if f < 3.0 {
        2.0
    } else if f < 7.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

fn linear_ticks(lo: f64, hi: f64, target: f64) -> Vec<f64> {
    if hi.is_nan() || lo.is_nan() || hi <= lo {
        return vec![lo];
    }
    let step = nice_step((hi - lo) / target);
    let mut out = Vec::new();
    let mut k = (lo / step).ceil();
    while k * step <= hi + 1e-9 * step && out.len() < 100 {
        out.push(k * step);
        k += 1.0;
    }
    out
}

/// Bold (labelled) and light tick positions, in plot coordinates (log10 for a log axis).
fn ticks(lo: f64, hi: f64, log: bool) -> (Vec<f64>, Vec<f64>) {
    if !log {
        let bold = linear_ticks(lo, hi, 6.0);
        return (bold, Vec::new());
    }
    let span = hi - lo;
    if span < 1.0 {
        // Less than a decade: nice linear values, placed logarithmically.
        let (vlo, vhi) = (10f64.powf(lo), 10f64.powf(hi));
        let bold: Vec<f64> =
            linear_ticks(vlo, vhi, 6.0).into_iter().filter(|v| *v > 0.0).map(f64::log10).collect();
        return (bold, Vec::new());
    }
    let (k0, k1) = (lo.ceil() as i64, hi.floor() as i64);
    let decades = (k1 - k0 + 1).max(0) as usize;
    let every = decades.div_ceil(10).max(1) as i64;
    let mut bold: Vec<f64> =
        (k0..=k1).filter(|k| (k - k0) % every == 0).map(|k| k as f64).collect();
    let mut light = Vec::new();
    let (d0, d1) = (lo.floor() as i64, hi.ceil() as i64);
    for k in d0..=d1 {
        for m in 2..=9 {
            let v = k as f64 + (m as f64).log10();
            if v >= lo && v <= hi {
                if decades < 3 && (m == 2 || m == 5) {
                    bold.push(v);
                } else if every == 1 {
                    light.push(v);
                }
            }
        }
    }
    bold.sort_by(f64::total_cmp);
    (bold, light)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir()
            .join(format!("scalinglab-analysis-plot-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn tick_choice() {
        // Three decades: labels on decades, minor lines between.
        let (b, l) = ticks(2.9, 6.1, true);
        assert_eq!(b, vec![3.0, 4.0, 5.0, 6.0]);
        // 8e2, 9e2, then 2..9 × 10^3, 10^4, 10^5 (2e6 is beyond 10^6.1).
        assert_eq!(l.len(), 2 + 3 * 8);
        // Narrow loss range: linear ticks placed on the log axis.
        let (b, _) = ticks(2.0f64.log10(), 3.0f64.log10(), true);
        let vals: Vec<String> = b.iter().map(|v| tick(10f64.powf(*v))).collect();
        assert_eq!(vals, ["2", "2.2", "2.4", "2.6", "2.8", "3"]);
        // Linear.
        assert_eq!(ticks(0.0, 1.0, false).0, vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
    }

    #[test]
    fn writes_svg_with_legend_and_odd_data() {
        let dir = temp_dir("basic");
        let path = dir.join("p.svg");
        let mut curves = Vec::new();
        for i in 0..10 {
            let pts =
                (0..5).map(|k| (10f64.powi(3 + k), 2.0 + 10.0 / (k + 1 + i) as f64)).collect();
            curves.push(Curve {
                label: format!("D = {i}"),
                points: pts,
                style: CurveStyle::Markers,
            });
        }
        curves.push(Curve {
            label: "fit".into(),
            points: vec![(1e3, 5.0), (f64::NAN, 1.0), (0.0, 3.0), (1e7, 2.1)],
            style: CurveStyle::Line,
        });
        curves.push(Curve {
            label: "alt".into(),
            points: vec![(1e3, 4.0), (1e7, 2.2)],
            style: CurveStyle::Dashed,
        });
        curves.push(Curve { label: "empty".into(), points: vec![], style: CurveStyle::Markers });
        let spec = PlotSpec {
            title: "loss vs N".into(),
            x_label: "N".into(),
            y_label: "loss".into(),
            log_x: true,
            log_y: true,
            curves,
            hlines: vec![
                ("entropy rate".into(), 1.9),
                ("unigram".into(), 6.0),
                ("bad".into(), -1.0),
            ],
        };
        plot_svg(&path, &spec).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        assert!(svg.contains("width=\"800\"") && svg.contains("height=\"560\""));
        assert!(svg.contains("entropy rate") && svg.contains("D = 9") && svg.contains("loss vs N"));
        assert!(svg.contains("#0072B2") || svg.to_lowercase().contains("#0072b2"));
        assert!(svg.contains("\n1e4\n") && svg.contains("\n1e6\n"), "decade tick labels");
        assert!(!svg.contains("\nempty\n"), "no legend entry for an empty series");

        // No data at all still gives a (blank) plot rather than a panic.
        let empty = PlotSpec { curves: vec![], hlines: vec![], ..spec.clone() };
        plot_svg(&dir.join("empty.svg"), &empty).unwrap();
        // Linear axes.
        let lin = PlotSpec { log_x: false, log_y: false, ..spec.clone() };
        plot_svg(&dir.join("lin.svg"), &lin).unwrap();
        // Missing directory is an error naming the file.
        let msg = plot_svg(&dir.join("nope/p.svg"), &spec).unwrap_err().to_string();
        assert!(msg.contains("p.svg"), "{msg}");
    }
}
