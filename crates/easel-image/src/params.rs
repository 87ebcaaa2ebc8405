//! Small parameter types shared by pipeline operations: gravity, colour, resize mode
//! and filter. Each parses from its JSON/TOML string form and nothing else.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where to anchor a crop or a watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gravity {
    /// The middle.
    #[default]
    Center,
    /// Top edge, centred horizontally.
    North,
    /// Top-right corner.
    Northeast,
    /// Right edge, centred vertically.
    East,
    /// Bottom-right corner.
    Southeast,
    /// Bottom edge, centred horizontally.
    South,
    /// Bottom-left corner.
    Southwest,
    /// Left edge, centred vertically.
    West,
    /// Top-left corner.
    Northwest,
    /// Crops only: keep the most interesting region (edges, saturation, skin tones).
    /// Placed like `center` where it makes no sense (watermarks).
    Smart,
    /// Crops only: frame the objects a `detect` operation found (weighted by its
    /// `weights`); `center` when none were found.
    Objects,
}

impl Gravity {
    /// Offset of a `inner`-sized span inside an `outer`-sized one along x and y, as
    /// fractions 0 (start), 0.5 (middle) or 1 (end).
    pub(crate) fn fractions(self) -> (f32, f32) {
        match self {
            Gravity::Center | Gravity::Smart | Gravity::Objects => (0.5, 0.5),
            Gravity::North => (0.5, 0.0),
            Gravity::Northeast => (1.0, 0.0),
            Gravity::East => (1.0, 0.5),
            Gravity::Southeast => (1.0, 1.0),
            Gravity::South => (0.5, 1.0),
            Gravity::Southwest => (0.0, 1.0),
            Gravity::West => (0.0, 0.5),
            Gravity::Northwest => (0.0, 0.0),
        }
    }

    /// Places a `w`×`h` box inside a `cw`×`ch` canvas, `margin` pixels from the edges
    /// it is anchored to. May return negative coordinates when the box is larger.
    pub(crate) fn place(self, cw: u32, ch: u32, w: u32, h: u32, margin: i64) -> (i64, i64) {
        let (fx, fy) = self.fractions();
        let axis = |outer: u32, inner: u32, f: f32| -> i64 {
            let free = i64::from(outer) - i64::from(inner);
            if f == 0.0 {
                margin
            } else if f == 1.0 {
                free - margin
            } else {
                free / 2
            }
        };
        (axis(cw, w, fx), axis(ch, h, fy))
    }
}

/// How `resize` maps the image onto the requested box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeMode {
    /// Scale to fit inside the box, keeping the aspect ratio.
    #[default]
    Fit,
    /// Scale to cover the box, keeping the aspect ratio, then crop by gravity.
    Fill,
    /// Scale to exactly the box, distorting the aspect ratio if needed.
    Exact,
}

/// The resampling filter for `resize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// Nearest neighbour (pixel art).
    Nearest,
    /// Bilinear (triangle).
    Bilinear,
    /// Catmull-Rom bicubic.
    CatmullRom,
    /// Mitchell-Netravali bicubic.
    Mitchell,
    /// Lanczos with a = 3: sharpest, the default.
    #[default]
    Lanczos3,
}

/// An sRGB colour written `#rrggbb` (or `#rgb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color(pub [u8; 3]);

impl Color {
    /// White, the default watermark and background colour.
    pub const WHITE: Color = Color([255, 255, 255]);

    /// Parses `#rrggbb` or `#rgb` (case-insensitive).
    pub fn parse(s: &str) -> Result<Color, String> {
        let hex = s
            .strip_prefix('#')
            .ok_or_else(|| format!("colour {s:?} must start with '#'"))?;
        let digits: Vec<u8> = hex
            .chars()
            .map(|c| c.to_digit(16).map(|d| d as u8))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("colour {s:?} has a non-hex digit"))?;
        match digits.as_slice() {
            [r, g, b] => Ok(Color([r * 17, g * 17, b * 17])),
            [r1, r0, g1, g0, b1, b0] => Ok(Color([r1 * 16 + r0, g1 * 16 + g0, b1 * 16 + b0])),
            _ => Err(format!("colour {s:?} must be #rgb or #rrggbb")),
        }
    }
}

impl Default for Color {
    fn default() -> Self {
        Color::WHITE
    }
}

impl Serialize for Color {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let [r, g, b] = self.0;
        s.serialize_str(&format!("#{r:02x}{g:02x}{b:02x}"))
    }
}

impl<'de> Deserialize<'de> for Color {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Color::parse(&s).map_err(serde::de::Error::custom)
    }
}
