//! Colour management: everything becomes sRGB right after decoding, so an Adobe RGB,
//! Display P3 or CMYK input does not come out with shifted colours once its profile
//! is stripped. Uses moxcms (pure Rust, already a dependency of `image`).

use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

use crate::error::ImageError;
use crate::raster::Raster;

/// Converts RGB(A) pixels tagged with `icc` to sRGB. Profiles that already describe
/// sRGB, unreadable profiles and non-RGB profiles leave the pixels unchanged (an
/// unreadable profile is common in the wild and not worth refusing the image over).
pub(crate) fn to_srgb(raster: Raster, icc: &[u8]) -> Result<Raster, ImageError> {
    if describes_srgb(icc) {
        return Ok(raster);
    }
    let Ok(profile) = ColorProfile::new_from_slice(icc) else {
        return Ok(raster);
    };
    if profile.color_space != DataColorSpace::Rgb {
        return Ok(raster);
    }
    let layout = if raster.has_alpha() {
        Layout::Rgba
    } else {
        Layout::Rgb
    };
    let srgb = ColorProfile::new_srgb();
    let Ok(transform) =
        profile.create_transform_8bit(layout, &srgb, layout, TransformOptions::default())
    else {
        return Ok(raster);
    };
    let mut out = vec![0u8; raster.data.len()];
    transform
        .transform(&raster.data, &mut out)
        .map_err(|e| ImageError::internal("colour", format!("ICC transform: {e}")))?;
    Ok(Raster {
        data: out,
        ..raster
    })
}

/// A profile whose description names sRGB (e.g. "sRGB IEC61966-2.1", in ASCII or
/// UTF-16) is taken as sRGB: converting it would cost time and change nothing.
fn describes_srgb(icc: &[u8]) -> bool {
    let head = &icc[..icc.len().min(1024)];
    head.windows(4).any(|w| w == b"sRGB") || head.windows(8).any(|w| w == b"\0s\0R\0G\0B")
}

/// Converts CMYK pixels to sRGB. With an embedded CMYK profile the conversion goes
/// through it; without one it uses the naive complement formula, as browsers do.
/// `inverted` is Photoshop's convention (signalled by an Adobe APP14 marker): stored
/// values are 255 − ink.
pub(crate) fn cmyk_to_srgb(
    cmyk: &[u8],
    width: u32,
    height: u32,
    icc: Option<&[u8]>,
    inverted: bool,
) -> Result<Raster, ImageError> {
    let ink: Vec<u8> = if inverted {
        cmyk.iter().map(|v| 255 - v).collect()
    } else {
        cmyk.to_vec()
    };
    if let Some(raster) = icc.and_then(|p| cmyk_via_profile(&ink, width, height, p)) {
        return Ok(raster);
    }
    let mut rgb = Vec::with_capacity(ink.len() / 4 * 3);
    for p in ink.chunks_exact(4) {
        let k = 255 - u32::from(p[3]);
        for &c in &p[..3] {
            rgb.push(((255 - u32::from(c)) * k / 255) as u8);
        }
    }
    Ok(Raster::new(width, height, 3, rgb))
}

fn cmyk_via_profile(ink: &[u8], width: u32, height: u32, icc: &[u8]) -> Option<Raster> {
    let profile = ColorProfile::new_from_slice(icc).ok()?;
    if profile.color_space != DataColorSpace::Cmyk {
        return None;
    }
    let srgb = ColorProfile::new_srgb();
    let transform = profile
        .create_transform_8bit(
            Layout::Rgba,
            &srgb,
            Layout::Rgb,
            TransformOptions::default(),
        )
        .ok()?;
    let mut out = vec![0u8; ink.len() / 4 * 3];
    transform.transform(ink, &mut out).ok()?;
    Some(Raster::new(width, height, 3, out))
}
