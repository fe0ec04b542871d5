//! Time-series charts drawn with `plotters` into SVG (the same code on the server, for
//! benchmarks, and in the browser): one line per series, labelled axes in the panel's unit,
//! the alert threshold as a dashed red line, and hover values (the nearest sample of every
//! series under the pointer).

use crate::monitoring::PanelData;
use leptos::prelude::*;
use plotters::prelude::*;

pub const WIDTH: u32 = 560;
pub const HEIGHT: u32 = 240;
/// Room for the y labels and the margin, in pixels (the hover maps x back through these).
const Y_LABEL_AREA: u32 = 64;
const MARGIN: u32 = 10;
const X_LABEL_AREA: u32 = 26;

/// `12.3 MiB`, `850 KiB`, or a plain number with at most 3 significant decimals.
pub fn format_value(v: f64, bytes: bool) -> String {
    if bytes {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut v = v;
        let mut i = 0;
        while v.abs() >= 1024.0 && i < units.len() - 1 {
            v /= 1024.0;
            i += 1;
        }
        return if v.fract() == 0.0 {
            format!("{v:.0} {}", units[i])
        } else {
            format!("{v:.1} {}", units[i])
        };
    }
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn time_label(ts: i64, span: i64) -> String {
    use chrono::TimeZone;
    let Some(t) = chrono::Local.timestamp_opt(ts, 0).single() else {
        return String::new();
    };
    if span > 36 * 3600 {
        t.format("%m-%d %H:%M").to_string()
    } else {
        t.format("%H:%M").to_string()
    }
}

/// The chart as an SVG document.
pub fn render_svg(data: &PanelData, bytes: bool, width: u32, height: u32) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        let _ = draw(&root, data, bytes);
        let _ = root.present();
    }
    svg
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    data: &PanelData,
    bytes: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&TRANSPARENT)?;
    let (start, end) = (data.start, data.end.max(data.start + 1));
    let mut top = data
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    if let Some(t) = data.threshold {
        top = top.max(t);
    }
    let top = if top <= 0.0 { 1.0 } else { top * 1.1 };
    let text = RGBColor(120, 128, 140);
    let mut chart = ChartBuilder::on(root)
        .margin(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(start..end, 0.0..top)?;
    let span = end - start;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(128, 128, 128).mix(0.12))
        .bold_line_style(RGBColor(128, 128, 128).mix(0.25))
        .axis_style(text)
        .label_style(("sans-serif", 11).into_font().color(&text))
        .x_labels(6)
        .y_labels(5)
        .x_label_formatter(&|ts| time_label(*ts, span))
        .y_label_formatter(&|v| format_value(*v, bytes))
        .draw()?;
    for (i, s) in data.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart.draw_series(LineSeries::new(
            s.points.iter().copied(),
            color.stroke_width(2),
        ))?;
    }
    if let Some(t) = data.threshold {
        let red = RGBColor(220, 38, 38);
        // dashed: short segments along the threshold
        let step = (span / 60).max(1);
        let mut x = start;
        while x < end {
            let x2 = (x + step / 2 + 1).min(end);
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x, t), (x2, t)],
                red.stroke_width(2),
            )))?;
            x += step;
        }
    }
    Ok(())
}

/// Index of the sample nearest to `ts` in sorted points.
pub fn nearest(points: &[(i64, f64)], ts: i64) -> Option<(i64, f64)> {
    let i = points.partition_point(|p| p.0 < ts);
    [i.checked_sub(1), Some(i)]
        .into_iter()
        .flatten()
        .filter_map(|k| points.get(k))
        .min_by_key(|p| (p.0 - ts).abs())
        .copied()
}

/// A chart with a legend and hover values.
#[component]
pub fn Chart(
    #[prop(into)] title: String,
    data: PanelData,
    bytes: bool,
    #[prop(into)] testid: String,
) -> impl IntoView {
    let svg = render_svg(&data, bytes, WIDTH, HEIGHT);
    let hover = RwSignal::new(None::<(f64, Vec<String>)>);
    let data_for_hover = data.clone();
    let on_move = move |ev: leptos::ev::MouseEvent| {
        let (x, w) = pointer_x(&ev);
        if w <= 0.0 {
            return;
        }
        // the plot area, scaled from the drawn size to the shown size
        let scale = w / f64::from(WIDTH);
        let left = f64::from(MARGIN + Y_LABEL_AREA) * scale;
        let right = w - f64::from(MARGIN) * scale;
        let frac = ((x - left) / (right - left)).clamp(0.0, 1.0);
        let d = &data_for_hover;
        let ts = d.start + ((d.end - d.start) as f64 * frac) as i64;
        let mut lines = vec![time_label(ts, 0)];
        for s in &d.series {
            if let Some((_, v)) = nearest(&s.points, ts) {
                lines.push(format!("{}: {}", s.label, format_value(v, bytes)));
            }
        }
        if let Some(t) = d.threshold {
            lines.push(format!("threshold: {}", format_value(t, bytes)));
        }
        hover.set(Some((x, lines)));
    };
    let notice = data.notice.clone();
    let legend: Vec<(String, String)> = data
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let c = Palette99::pick(i).to_rgba();
            (
                s.label.clone(),
                format!("background: rgb({},{},{})", c.0, c.1, c.2),
            )
        })
        .collect();
    let empty = data.series.is_empty();
    view! {
        <figure class="chart" data-testid=testid data-series=data.series.len().to_string()
            data-threshold=data.threshold.map(|t| t.to_string()).unwrap_or_default()>
            <figcaption>{title}</figcaption>
            <div class="chart-plot" inner_html=svg on:mousemove=on_move on:mouseleave=move |_| hover.set(None)></div>
            {move || hover.get().map(|(x, lines)| view! {
                <div class="chart-hover" style=format!("left: {}px", x + 12.0) data-testid="chart-hover">
                    {lines.into_iter().map(|l| view! { <div>{l}</div> }).collect_view()}
                </div>
            })}
            {notice.map(|n| view! { <p class="muted">{move || crate::i18n::tr(&n)}</p> })}
            {empty.then(|| view! { <p class="muted chart-empty">{crate::i18n::t("No data in this range.", "此时间段没有数据。")}</p> })}
            <ul class="chart-legend">
                {legend.into_iter().map(|(l, style)| view! { <li><span class="swatch" style=style></span>{l}</li> }).collect_view()}
            </ul>
        </figure>
    }
}

#[cfg(feature = "csr")]
fn pointer_x(ev: &leptos::ev::MouseEvent) -> (f64, f64) {
    use wasm_bindgen::JsCast;
    let Some(el) = ev
        .current_target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
    else {
        return (0.0, 0.0);
    };
    let r = el.get_bounding_client_rect();
    (f64::from(ev.client_x()) - r.left(), r.width())
}

#[cfg(not(feature = "csr"))]
fn pointer_x(_ev: &leptos::ev::MouseEvent) -> (f64, f64) {
    (0.0, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::Series;

    #[test]
    fn values_read_in_their_unit() {
        assert_eq!(format_value(512.0 * 1024.0 * 1024.0, true), "512 MiB");
        assert_eq!(format_value(1536.0, true), "1.5 KiB");
        assert_eq!(format_value(42.0, false), "42");
        assert_eq!(format_value(0.1234, false), "0.123");
    }

    #[test]
    fn the_nearest_sample_is_found() {
        let p = [(10, 1.0), (20, 2.0), (30, 3.0)];
        assert_eq!(nearest(&p, 24), Some((20, 2.0)));
        assert_eq!(nearest(&p, 26), Some((30, 3.0)));
        assert_eq!(nearest(&p, 99), Some((30, 3.0)));
        assert_eq!(nearest(&[], 1), None);
    }

    #[test]
    // NB: how fast it draws is a benchmark's question, not a test's (shared, noisy machines).
    fn a_chart_of_ten_thousand_points_draws_with_its_threshold() {
        let points: Vec<(i64, f64)> = (0..10_000)
            .map(|i| (i, (i as f64 / 100.0).sin() + 2.0))
            .collect();
        let data = PanelData {
            series: vec![Series {
                label: "p".into(),
                points,
            }],
            threshold: Some(2.5),
            start: 0,
            end: 10_000,
            notice: None,
        };
        let svg = render_svg(&data, false, WIDTH, HEIGHT);
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(
            svg.ends_with("</svg>\n") || svg.ends_with("</svg>"),
            "a complete document"
        );
        let threshold_segments = svg.matches("#DC2626").count();
        assert!(
            threshold_segments >= 30,
            "the threshold is drawn as a dashed red line ({threshold_segments} segments)"
        );
    }
}
