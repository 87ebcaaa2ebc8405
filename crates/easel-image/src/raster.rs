//! The in-memory image every operation works on: 8-bit interleaved sRGB, with or
//! without a straight (not premultiplied) alpha channel.

/// An 8-bit RGB (3 channels) or RGBA (4 channels) image, rows packed without padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Raster {
    pub width: u32,
    pub height: u32,
    /// 3 (RGB) or 4 (RGBA, straight alpha).
    pub channels: usize,
    pub data: Vec<u8>,
}

impl Raster {
    /// Wraps a buffer, checking that its length matches the dimensions.
    pub(crate) fn new(width: u32, height: u32, channels: usize, data: Vec<u8>) -> Self {
        debug_assert!(channels == 3 || channels == 4);
        debug_assert_eq!(data.len(), width as usize * height as usize * channels);
        Raster {
            width,
            height,
            channels,
            data,
        }
    }

    pub(crate) fn has_alpha(&self) -> bool {
        self.channels == 4
    }

    /// True when an alpha channel exists and some pixel is not fully opaque.
    pub(crate) fn uses_alpha(&self) -> bool {
        self.has_alpha() && self.data.chunks_exact(4).any(|p| p[3] != 255)
    }

    /// Adds an opaque alpha channel (no-op if there is one already).
    pub(crate) fn to_rgba(&self) -> Raster {
        if self.has_alpha() {
            return self.clone();
        }
        let mut data = Vec::with_capacity(self.data.len() / 3 * 4);
        for p in self.data.chunks_exact(3) {
            data.extend_from_slice(&[p[0], p[1], p[2], 255]);
        }
        Raster::new(self.width, self.height, 4, data)
    }

    /// Composites over an opaque background colour and drops the alpha channel.
    pub(crate) fn flatten(&self, background: [u8; 3]) -> Raster {
        if !self.has_alpha() {
            return self.clone();
        }
        let mut data = Vec::with_capacity(self.data.len() / 4 * 3);
        for p in self.data.chunks_exact(4) {
            let a = u32::from(p[3]);
            for c in 0..3 {
                let v = (u32::from(p[c]) * a + u32::from(background[c]) * (255 - a) + 127) / 255;
                data.push(v as u8);
            }
        }
        Raster::new(self.width, self.height, 3, data)
    }

    /// Copies out a rectangle; the caller guarantees it lies inside the image.
    pub(crate) fn crop(&self, x: u32, y: u32, width: u32, height: u32) -> Raster {
        debug_assert!(x + width <= self.width && y + height <= self.height);
        let c = self.channels;
        let stride = self.width as usize * c;
        let mut data = Vec::with_capacity(width as usize * height as usize * c);
        for row in y..y + height {
            let start = row as usize * stride + x as usize * c;
            data.extend_from_slice(&self.data[start..start + width as usize * c]);
        }
        Raster::new(width, height, c, data)
    }

    /// Mirrors left-right.
    pub(crate) fn flop(&self) -> Raster {
        let c = self.channels;
        let mut out = self.clone();
        for (src, dst) in self
            .data
            .chunks_exact(self.width as usize * c)
            .zip(out.data.chunks_exact_mut(self.width as usize * c))
        {
            for (s, d) in src.chunks_exact(c).rev().zip(dst.chunks_exact_mut(c)) {
                d.copy_from_slice(s);
            }
        }
        out
    }

    /// Mirrors top-bottom.
    pub(crate) fn flip(&self) -> Raster {
        let row = self.width as usize * self.channels;
        let mut data = Vec::with_capacity(self.data.len());
        for r in self.data.chunks_exact(row).rev() {
            data.extend_from_slice(r);
        }
        Raster::new(self.width, self.height, self.channels, data)
    }

    /// Rotates by 180°.
    pub(crate) fn rotate180(&self) -> Raster {
        let c = self.channels;
        let mut data = Vec::with_capacity(self.data.len());
        for p in self.data.chunks_exact(c).rev() {
            data.extend_from_slice(p);
        }
        Raster::new(self.width, self.height, c, data)
    }

    /// Swaps axes: output (x, y) = input (y, x).
    pub(crate) fn transpose(&self) -> Raster {
        self.remap_swapped(|x, y, _, _| (y, x))
    }

    /// Rotates 90° clockwise.
    pub(crate) fn rotate90(&self) -> Raster {
        // The input's left column becomes the output's top row, bottom pixel first.
        // Output width equals input height.
        self.remap_swapped(|x, y, ow, _| (y, ow - 1 - x))
    }

    /// Rotates 270° clockwise (90° counter-clockwise).
    pub(crate) fn rotate270(&self) -> Raster {
        self.remap_swapped(|x, y, _, oh| (oh - 1 - y, x))
    }

    /// Builds an image with swapped dimensions where output pixel (x, y) comes from
    /// input pixel `f(x, y, out_w, out_h)` given as (input_x, input_y).
    fn remap_swapped(&self, f: impl Fn(u32, u32, u32, u32) -> (u32, u32)) -> Raster {
        let (ow, oh) = (self.height, self.width);
        let c = self.channels;
        let mut data = Vec::with_capacity(self.data.len());
        for y in 0..oh {
            for x in 0..ow {
                let (sx, sy) = f(x, y, ow, oh);
                let i = (sy as usize * self.width as usize + sx as usize) * c;
                data.extend_from_slice(&self.data[i..i + c]);
            }
        }
        Raster::new(ow, oh, c, data)
    }

    /// Applies an EXIF orientation (1–8) so the image displays upright.
    pub(crate) fn apply_orientation(self, orientation: u16) -> Raster {
        match orientation {
            2 => self.flop(),
            3 => self.rotate180(),
            4 => self.flip(),
            5 => self.transpose(),
            6 => self.rotate90(),
            7 => self.rotate90().flip(),
            8 => self.rotate270(),
            _ => self,
        }
    }
}
