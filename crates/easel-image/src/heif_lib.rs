//! The process's one libheif instance and the mapping of libheif's errors onto the
//! engine's error codes, shared by the HEIF/AVIF decoder and the AVIF encoder.
//!
//! libheif-rs 0.20 (the newest binding that builds against Debian 12's libheif 1.15)
//! frees `DecodingOptions`/`EncodingOptions` before libheif reads them when they are
//! passed as `Some(..)` (fixed upstream in 1.0.1 and 1.1.0). This crate therefore
//! always passes `None`: libheif's defaults apply the `clap`/`irot`/`imir`
//! transforms, keep the alpha channel and write no thumbnail, which is what we want.

use std::sync::OnceLock;

use libheif_rs::{HeifError, HeifErrorCode, HeifErrorSubCode, LibHeif};

use crate::error::ImageError;
use crate::format::Format;

/// libheif, initialised on first use and never torn down: a per-image
/// `heif_init`/`heif_deinit` pair would register and release every codec each time.
pub(crate) fn libheif() -> &'static LibHeif {
    static LIB: OnceLock<LibHeif> = OnceLock::new();
    LIB.get_or_init(LibHeif::new)
}

/// Maps a libheif failure while reading `format` to the code the other formats use:
/// damaged or truncated data and libheif's own security limits are `corrupt-image`,
/// a codec or feature this libheif lacks is `unsupported-format`, and only a failed
/// allocation is `internal` (a retry may find the memory).
pub(crate) fn read_error(format: Format, e: HeifError) -> ImageError {
    let reason = format!("{}: {}", format.mime(), describe(&e));
    match e.code {
        HeifErrorCode::UnsupportedFileType | HeifErrorCode::UnsupportedFeature => {
            ImageError::UnsupportedFormat { reason }
        }
        HeifErrorCode::MemoryAllocationError
            if !matches!(e.sub_code, HeifErrorSubCode::SecurityLimitExceeded) =>
        {
            ImageError::internal("decode", reason)
        }
        _ => ImageError::corrupt("decode", reason),
    }
}

/// Maps a libheif failure while writing: never the input's fault.
pub(crate) fn write_error(e: HeifError) -> ImageError {
    ImageError::internal("encode", format!("AVIF: {}", describe(&e)))
}

/// libheif's message, or its codes when it gave none.
fn describe(e: &HeifError) -> String {
    if e.message.is_empty() {
        format!("{:?} ({:?})", e.code, e.sub_code)
    } else {
        e.message.clone()
    }
}
