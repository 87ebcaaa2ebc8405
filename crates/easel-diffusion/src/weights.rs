//! Reading a safetensors file into tensors one at a time. candle copies every tensor out
//! of a memory-mapped file anyway, and while it does the mapped pages count towards the
//! process's memory too; reading each tensor straight into its own buffer keeps the peak
//! at one copy of the weights (and needs no `unsafe` mapping).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

/// The largest header accepted (real ones are well under a megabyte).
const MAX_HEADER: u64 = 100 << 20;

/// One tensor's entry in the header.
#[derive(Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (u64, u64),
}

fn bad(path: &Path, message: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(format!("{}: {message}", path.display()))
}

/// Every tensor of the file at `path`, converted to `dtype` on `device`, behind a
/// [`VarBuilder`].
pub fn read(path: &Path, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
    let tensors = read_tensors(path, dtype, device)?;
    Ok(VarBuilder::from_tensors(tensors, dtype, device))
}

fn read_tensors(path: &Path, dtype: DType, device: &Device) -> Result<HashMap<String, Tensor>> {
    let mut file = File::open(path).map_err(|e| bad(path, e))?;
    let file_len = file.metadata().map_err(|e| bad(path, e))?.len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|e| bad(path, e))?;
    let header_len = u64::from_le_bytes(len);
    if header_len > MAX_HEADER || 8 + header_len > file_len {
        return Err(bad(path, "not a safetensors file (bad header length)"));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header).map_err(|e| bad(path, e))?;
    let mut entries: HashMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| bad(path, format!("bad header: {e}")))?;
    entries.remove("__metadata__");
    let mut entries = entries
        .into_iter()
        .map(|(name, value)| {
            serde_json::from_value::<Entry>(value)
                .map(|entry| (name.clone(), entry))
                .map_err(|e| bad(path, format!("bad header entry `{name}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    // In file order, so the reads are sequential.
    entries.sort_by_key(|(_, entry)| entry.data_offsets.0);
    let data_start = 8 + header_len;
    let mut tensors = HashMap::with_capacity(entries.len());
    let mut bytes = Vec::new();
    for (name, entry) in entries {
        let stored = match entry.dtype.as_str() {
            "F32" => DType::F32,
            "F16" => DType::F16,
            "BF16" => DType::BF16,
            "F64" => DType::F64,
            other => return Err(bad(path, format!("`{name}` has unsupported dtype {other}"))),
        };
        let (begin, end) = entry.data_offsets;
        let count: usize = entry.shape.iter().product();
        let expected = (count * stored.size_in_bytes()) as u64;
        if end < begin || end - begin != expected || data_start + end > file_len {
            return Err(bad(path, format!("`{name}` has bad data offsets")));
        }
        file.seek(SeekFrom::Start(data_start + begin))
            .map_err(|e| bad(path, e))?;
        let tensor = if stored == DType::F32 && cfg!(target_endian = "little") {
            // Straight into the tensor's own buffer (safetensors is little-endian).
            let mut values = vec![0.0f32; count];
            file.read_exact(bytemuck::cast_slice_mut(&mut values))
                .map_err(|e| bad(path, e))?;
            Tensor::from_vec(values, entry.shape.as_slice(), &Device::Cpu)?
        } else {
            bytes.resize(expected as usize, 0);
            file.read_exact(&mut bytes).map_err(|e| bad(path, e))?;
            Tensor::from_raw_buffer(&bytes, stored, &entry.shape, &Device::Cpu)?
        };
        let tensor = tensor.to_dtype(dtype)?.to_device(device)?;
        tensors.insert(name, tensor);
    }
    Ok(tensors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_candle_writes_and_rejects_truncated_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let a = Tensor::arange(0f32, 6.0, &Device::Cpu)
            .unwrap()
            .reshape((2, 3))
            .unwrap();
        let b = Tensor::new(&[1.5f32, -2.0], &Device::Cpu)
            .unwrap()
            .to_dtype(DType::F16)
            .unwrap();
        candle_core::safetensors::save(&HashMap::from([("a", a.clone()), ("b", b)]), &path)
            .unwrap();

        let tensors = read_tensors(&path, DType::F32, &Device::Cpu).unwrap();
        assert_eq!(
            tensors["a"].to_vec2::<f32>().unwrap(),
            a.to_vec2::<f32>().unwrap()
        );
        // Half-precision weights are widened to the asked dtype.
        assert_eq!(tensors["b"].to_vec1::<f32>().unwrap(), vec![1.5, -2.0]);

        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 4]).unwrap();
        let error = read_tensors(&path, DType::F32, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(error.contains("bad data offsets"), "{error}");
        std::fs::write(&path, b"not safetensors").unwrap();
        assert!(read_tensors(&path, DType::F32, &Device::Cpu).is_err());
    }
}
