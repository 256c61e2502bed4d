//! PNG line charts of the simulation's series (plotters, bitmap backend).
//!
//! Text needs a TrueType font. None is bundled, to keep the binary small: the first readable
//! file of `$SUBNET_FONT` and a few common system paths is used. Without one, charts are drawn
//! without title, axis labels or legend (the CSV files hold the numbers), and
//! [`Fonts::available`] says so.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

/// Where a font is looked for after `$SUBNET_FONT`.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
];

/// Font family name the charts ask for.
const FAMILY: &str = "sans-serif";

/// Chart size in pixels.
const SIZE: (u32, u32) = (1000, 560);

/// Whether chart text can be drawn.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fonts {
    /// A font was registered.
    pub(crate) available: bool,
}

/// Registers a font once per process.
pub(crate) fn fonts() -> Fonts {
    static FONTS: OnceLock<bool> = OnceLock::new();
    let available = *FONTS.get_or_init(|| {
        let env = std::env::var_os("SUBNET_FONT").map(std::path::PathBuf::from);
        let candidates = env
            .into_iter()
            .chain(FONT_PATHS.iter().map(std::path::PathBuf::from));
        for path in candidates {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            // plotters keeps fonts for the life of the process; one font is leaked, once.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if register_font(FAMILY, FontStyle::Normal, bytes).is_ok() {
                return true;
            }
        }
        false
    });
    Fonts { available }
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    /// Legend entry.
    pub(crate) label: String,
    /// `(epoch, value)` points.
    pub(crate) points: Vec<(f64, f64)>,
}

/// Draws `lines` into a PNG at `path`.
pub(crate) fn line_chart(path: &Path, title: &str, y_label: &str, lines: &[Line]) -> Result<()> {
    let fonts = fonts();
    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", path.display());
    let (x_max, y_min, y_max) = bounds(lines);
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(16);
    if fonts.available {
        builder
            .caption(title, (FAMILY, 22))
            .x_label_area_size(44)
            .y_label_area_size(80);
    }
    let mut chart = builder
        .build_cartesian_2d(1.0..x_max, y_min..y_max)
        .map_err(|e| err(&e))?;
    if fonts.available {
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc(y_label)
            .label_style((FAMILY, 14))
            .draw()
            .map_err(|e| err(&e))?;
    }
    for (k, line) in lines.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        let style = ShapeStyle::from(color).stroke_width(2);
        let series = chart
            .draw_series(LineSeries::new(line.points.iter().copied(), style))
            .map_err(|e| err(&e))?;
        if fonts.available {
            series
                .label(line.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
    }
    if fonts.available && !lines.is_empty() {
        chart
            .configure_series_labels()
            .label_font((FAMILY, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// The x extent and a padded y extent of `lines` (never empty ranges).
fn bounds(lines: &[Line]) -> (f64, f64, f64) {
    let points = || lines.iter().flat_map(|l| l.points.iter());
    let x_max = points().map(|p| p.0).fold(1.0, f64::max).max(2.0);
    let y_lo = points().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let y_hi = points().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    if !y_lo.is_finite() || !y_hi.is_finite() {
        return (x_max, 0.0, 1.0);
    }
    let y_min = y_lo.min(0.0);
    let span = (y_hi - y_min).max(f64::EPSILON);
    (x_max, y_min, y_hi + span * 0.08)
}
