//! Colour management: everything becomes sRGB right after decoding, so an Adobe RGB,
//! Display P3 or CMYK input (ICC profile) or a P3/BT.2020 HEIF or AVIF (`nclx`
//! code points) does not come out with shifted colours once its description is
//! stripped. Uses moxcms (pure Rust, already a dependency of `image`).

use moxcms::{
    CicpColorPrimaries, CicpProfile, ColorProfile, DataColorSpace, Layout, MatrixCoefficients,
    TransferCharacteristics, TransformOptions,
};

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
    convert(raster, &profile)
}

/// The colour that a HEIF/AVIF `nclx` box (ITU-T H.273 code points) describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cicp {
    /// `colour_primaries`: 1 BT.709/sRGB, 9 BT.2020, 12 Display P3 …
    pub primaries: u8,
    /// `transfer_characteristics`: 13 sRGB, 1/6/14/15 the BT.709 curve, 16 PQ, 18 HLG …
    pub transfer: u8,
}

/// Transfer curves that are displayed as sRGB's, as browsers and libvips do: the
/// BT.709 family differs from sRGB only near black, and "unspecified" means sRGB.
const SDR_TRANSFERS: [u8; 6] = [1, 2, 6, 13, 14, 15];

/// Converts RGB(A) pixels described by `cicp` to sRGB. BT.709 (or unspecified)
/// primaries with an SDR transfer are sRGB already; other primaries (Display P3,
/// BT.2020) go through moxcms with the sRGB curve for SDR transfers, and with their
/// own curve for PQ/HLG (no tone mapping: highlights above SDR white clip). Code
/// points moxcms does not know leave the pixels unchanged, like an unreadable ICC.
pub(crate) fn cicp_to_srgb(raster: Raster, cicp: Cicp) -> Result<Raster, ImageError> {
    let sdr = SDR_TRANSFERS.contains(&cicp.transfer);
    if sdr && matches!(cicp.primaries, 1 | 2) {
        return Ok(raster);
    }
    let transfer = if sdr { 13 } else { cicp.transfer };
    let (Ok(primaries), Ok(transfer)) = (
        CicpColorPrimaries::try_from(cicp.primaries),
        TransferCharacteristics::try_from(transfer),
    ) else {
        return Ok(raster);
    };
    let profile = ColorProfile::new_from_cicp(CicpProfile {
        color_primaries: primaries,
        transfer_characteristics: transfer,
        matrix_coefficients: MatrixCoefficients::Identity,
        full_range: true,
    });
    convert(raster, &profile)
}

/// Runs `raster` through `profile` → sRGB; a profile moxcms cannot build a transform
/// for leaves the pixels as they are.
fn convert(raster: Raster, profile: &ColorProfile) -> Result<Raster, ImageError> {
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
