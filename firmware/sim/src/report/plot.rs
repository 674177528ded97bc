//! A figure in the report's two forms: a CSV with one column per curve,
//! for whoever wants the numbers, and an SVG line chart, for the docs.
//!
//! Plotted with `plotters`' SVG backend only: text goes into the SVG as
//! text, so no fonts or image libraries are needed on the machine.

use std::fmt::Write as _;
use std::fs;
use std::ops::Range;
use std::path::Path;

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::Shift;
use plotters::prelude::*;

/// One curve: a name for the legend and the CSV header, and its points.
pub struct Curve {
    /// The legend's label.
    pub name: String,
    /// `(x, y)`, in the order to draw them.
    pub points: Vec<(f64, f64)>,
}

/// A line chart of curves that share their x values.
pub struct Figure {
    /// The file name without extension: `<name>.csv` and `<name>.svg`.
    pub name: String,
    /// The chart's title.
    pub title: String,
    /// The x axis' label, also the CSV's first column.
    pub x: &'static str,
    /// The y axis' label.
    pub y: &'static str,
    /// The y axis' range; `None` fits the data.
    pub y_range: Option<Range<f64>>,
    /// Both axes logarithmic, for data spanning decades.
    pub log: bool,
    /// The curves.
    pub curves: Vec<Curve>,
}

impl Figure {
    /// Writes `<dir>/<name>.csv` and `<dir>/<name>.svg`.
    pub fn write(&self, dir: &Path) -> Result<(), String> {
        let csv = dir.join(format!("{}.csv", self.name));
        fs::write(&csv, self.csv()).map_err(|e| format!("write {}: {e}", csv.display()))?;
        let svg = dir.join(format!("{}.svg", self.name));
        self.svg(&svg)
            .map_err(|e| format!("plot {}: {e}", svg.display()))
    }

    /// The CSV: the x column, then one column per curve; a curve without a
    /// point at some x leaves that cell empty.
    pub fn csv(&self) -> String {
        let mut xs: Vec<f64> = self
            .curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.0))
            .collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let mut out = field(self.x);
        for curve in &self.curves {
            out.push(',');
            out += &field(&curve.name);
        }
        out.push('\n');
        for x in xs {
            out += &format!("{x}");
            for curve in &self.curves {
                out.push(',');
                if let Some((_, y)) = curve.points.iter().find(|p| p.0 == x) {
                    let _ = write!(out, "{y:.6}");
                }
            }
            out.push('\n');
        }
        out
    }

    fn svg(&self, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let points = || self.curves.iter().flat_map(|c| c.points.iter().copied());
        let (x0, x1) = bounds(points().map(|p| p.0));
        let (y0, y1) = bounds(points().map(|p| p.1));
        let root = SVGBackend::new(path, (760, 460)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(self.title.as_str(), ("sans-serif", 18))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(64);
        if self.log {
            let chart = builder.build_cartesian_2d(
                (x0 * 0.8..x1 * 1.25).log_scale(),
                (y0 * 0.8..y1 * 1.25).log_scale(),
            )?;
            return self.draw(chart, root);
        }
        let y_range = self.y_range.clone().unwrap_or(y0.min(0.0)..y1 * 1.05);
        let chart = builder.build_cartesian_2d(x0..x1, y_range)?;
        self.draw(chart, root)
    }

    /// Draws the axes, curves and legend on `chart`, and writes the file.
    fn draw<'a, X, Y>(
        &self,
        mut chart: ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
        root: DrawingArea<SVGBackend<'a>, Shift>,
    ) -> Result<(), Box<dyn std::error::Error>>
    where
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        chart
            .configure_mesh()
            .x_desc(self.x)
            .y_desc(self.y)
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (i, curve) in self.curves.iter().enumerate() {
            let color = COLORS[i % COLORS.len()].to_rgba();
            chart
                .draw_series(LineSeries::new(
                    curve.points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(curve.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart.draw_series(
                curve
                    .points
                    .iter()
                    .map(|&p| Circle::new(p, 3, color.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(if self.log {
                SeriesLabelPosition::UpperLeft
            } else {
                SeriesLabelPosition::UpperRight
            })
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    }
}

/// The curves' colours, in order: distinct on white and in grey scale.
const COLORS: [RGBColor; 5] = [
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x44, 0x44, 0x44),
];

/// The smallest and largest of `values`, widened if they are equal, so
/// that an axis always has a length.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    match (lo.is_finite(), hi.is_finite()) {
        (true, true) if hi > lo => (lo, hi),
        (true, true) => (lo - 0.5, hi + 0.5),
        _ => (0.0, 1.0),
    }
}

/// A CSV field: quoted if it holds a comma or a quote.
fn field(text: &str) -> String {
    if text.contains([',', '"']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure() -> Figure {
        Figure {
            name: "t".into(),
            title: "t".into(),
            x: "loss",
            y: "efficiency",
            y_range: Some(0.0..1.0),
            log: false,
            curves: vec![
                Curve {
                    name: "depth 16".into(),
                    points: vec![(0.0, 0.5), (0.1, 0.25)],
                },
                Curve {
                    name: "a, b".into(),
                    points: vec![(0.0, 0.75)],
                },
            ],
        }
    }

    #[test]
    fn the_csv_has_a_column_per_curve_and_a_row_per_x() {
        assert_eq!(
            figure().csv(),
            "loss,depth 16,\"a, b\"\n0,0.500000,0.750000\n0.1,0.250000,\n"
        );
    }

    #[test]
    fn the_svg_names_every_curve() {
        let dir = std::env::temp_dir().join(format!("tidenet-plot-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        figure().write(&dir).unwrap();
        let svg = fs::read_to_string(dir.join("t.svg")).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        assert!(svg.contains("depth 16") && svg.contains("a, b"));
    }
}
