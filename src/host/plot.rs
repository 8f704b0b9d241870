//! Figures as PNG (feature `plot`): plotters draws into an RGB buffer (bitmap backend, no system libraries), text in
//! DejaVu Sans (embedded by the `dejavu` crate; Bitstream Vera licence, free to embed and redistribute), and `png`
//! encodes the buffer. The figures themselves are in `stimuli::preview` (`synth --preview`) and `train::plot` (the
//! training and evaluation figures).

use plotters::coord::Shift;
use plotters::prelude::*;
use std::fmt;
use std::sync::OnceLock;

/// The font family every figure uses (registered once).
pub const FONT: &str = "sans-serif";

/// A figure could not be drawn or encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlotError {
    /// The embedded font could not be loaded (a broken build).
    Font,
    /// plotters refused to draw (says what).
    Draw(String),
    /// The PNG encoder failed (says why).
    Encode(String),
    /// The data cannot be plotted (says why: empty, not finite, mismatched sizes).
    Data(String),
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlotError::Font => write!(f, "plot: the embedded font could not be loaded"),
            PlotError::Draw(m) => write!(f, "plot: drawing failed: {m}"),
            PlotError::Encode(m) => write!(f, "plot: PNG encoding failed: {m}"),
            PlotError::Data(m) => write!(f, "plot: {m}"),
        }
    }
}

impl std::error::Error for PlotError {}

/// plotters' drawing errors as [`PlotError::Draw`].
pub fn draw_err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// The figures' key: the series labels in the label font, in a light box at `position`.
pub fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font(label_style())
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(draw_err)
}

fn register_font() -> Result<(), PlotError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        // One face (0.75 MB): bold text falls back to it, which keeps the binary smaller.
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
    });
    ok.then_some(()).ok_or(PlotError::Font)
}

/// The drawing area every figure draws on.
pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Draw a `width`×`height` figure on a white canvas with `draw`, then encode it as PNG. `draw` may also return the
/// raw pixels to patch afterwards (e.g. video thumbnails), through `patch`.
pub fn figure(
    width: u32,
    height: u32,
    draw: impl FnOnce(&Area<'_>) -> Result<(), PlotError>,
    patch: impl FnOnce(&mut [u8]),
) -> Result<Vec<u8>, PlotError> {
    register_font()?;
    let mut buf = vec![0u8; width as usize * height as usize * 3];
    {
        let backend = BitMapBackend::with_buffer_and_format(&mut buf, (width, height))
            .map_err(|e| PlotError::Draw(e.to_string()))?;
        let root = backend.into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    patch(&mut buf);
    crate::host::stimuli::io::png_rgb(width as usize, height as usize, &buf)
        .map_err(|e| PlotError::Encode(e.to_string()))
}

/// The text style of a figure's title.
pub fn title_style() -> TextStyle<'static> {
    (FONT, 22).into_font().into()
}

/// The text style of a panel's caption.
pub fn caption_style() -> TextStyle<'static> {
    (FONT, 17).into_font().into()
}

/// The text style of axis descriptions and legends.
pub fn label_style() -> TextStyle<'static> {
    (FONT, 14).into_font().into()
}
