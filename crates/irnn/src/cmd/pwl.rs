//! `irnn pwl`: the adaptive-PWL evidence — error per knot budget, adaptive
//! against uniform knots, as a Markdown table and an SVG plot.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use irnn_train::quant::pwl_fit::Activation;
use irnn_train::quant::pwl_report::{error_rows, ErrorRow};
use plotters::prelude::*;

#[derive(Args, Debug)]
pub struct PwlArgs {
    /// The int16 input grid covers [−range, range).
    #[arg(value_parser = crate::args::parse::rate, long, default_value_t = 8.0)]
    range: f64,
    /// Knot budgets.
    #[arg(value_parser = crate::args::parse::knots, long, value_delimiter = ',', default_values_t = [4, 8, 16, 32, 64])]
    knots: Vec<usize>,
    /// Write the plot here (SVG).
    #[arg(long)]
    svg: Option<PathBuf>,
}

fn name(f: Activation) -> &'static str {
    match f {
        Activation::Sigmoid => "sigmoid",
        Activation::Tanh => "tanh",
    }
}

pub fn run(a: PwlArgs) -> Result<()> {
    if !(a.range > 0.0 && a.range.is_finite()) {
        bail!("--range must be a positive number, got {}", a.range);
    }
    if a.knots.iter().any(|&k| !(2..=1024).contains(&k)) {
        bail!("--knots must be between 2 and 1024");
    }
    let rows: Vec<ErrorRow> = [Activation::Sigmoid, Activation::Tanh]
        .into_iter()
        .flat_map(|f| error_rows(f, a.range, &a.knots))
        .collect();
    outln!(
        "Error of the PWL table against the ideal integer function, int16 input on \
         [−{r}, {r}), output Q0.15, in output LSBs (all 65,536 inputs):\n",
        r = a.range
    );
    outln!("| function | knots | adaptive max | adaptive mean | uniform max | uniform mean |");
    outln!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        outln!(
            "| {} | {} | {} | {:.2} | {} | {:.2} |",
            name(r.function),
            r.knots,
            r.adaptive.0,
            r.adaptive.1,
            r.uniform.0,
            r.uniform.1
        );
    }
    if let Some(path) = &a.svg {
        plot(path, &rows, a.range).with_context(|| format!("writing {}", path.display()))?;
        outln!("\nplot: {}", path.display());
    }
    Ok(())
}

fn plot(path: &PathBuf, rows: &[ErrorRow], range: f64) -> Result<()> {
    let tmp = path.with_extension("svg.tmp");
    {
        let root = SVGBackend::new(&tmp, (760, 480)).into_drawing_area();
        root.fill(&WHITE)?;
        let kmin = rows.iter().map(|r| r.knots).min().unwrap_or(4) as f64;
        let kmax = rows.iter().map(|r| r.knots).max().unwrap_or(64) as f64;
        let ymax = rows
            .iter()
            .map(|r| r.uniform.0.max(r.adaptive.0) as f64)
            .fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("PWL max error vs knot budget (int16 input on ±{range}, Q0.15 output)"),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((kmin..kmax).log_scale(), (1.0..ymax * 1.5).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("knots")
            .y_desc("max |error| (output LSBs)")
            .draw()?;
        let series = [
            (Activation::Sigmoid, true, RED, "sigmoid, adaptive"),
            (
                Activation::Sigmoid,
                false,
                RGBColor(240, 150, 150),
                "sigmoid, uniform",
            ),
            (Activation::Tanh, true, BLUE, "tanh, adaptive"),
            (
                Activation::Tanh,
                false,
                RGBColor(140, 150, 240),
                "tanh, uniform",
            ),
        ];
        for (f, adaptive, color, label) in series {
            let pts: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.function == f)
                .map(|r| {
                    let e = if adaptive { r.adaptive.0 } else { r.uniform.0 };
                    (r.knots as f64, (e as f64).max(1.0))
                })
                .collect();
            let style = ShapeStyle::from(&color).stroke_width(if adaptive { 3 } else { 2 });
            chart
                .draw_series(LineSeries::new(pts.clone(), style))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, style.filled())))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}
