//! A `multipart/form-data` encoder for the OpenAI form target: the target builds bodies
//! from fields it decodes out of the fuzz input and checks that the routes' reader gives
//! the fields back. The boundary is fixed; a value that contains the delimiter cannot be
//! encoded and is skipped.

/// The boundary of every body the encoder writes.
pub const BOUNDARY: &str = "easel-fuzz-boundary-7MA4YWxk";

/// The names the routes read (and two they ignore), indexed by the fuzz input.
pub const NAMES: &[&str] = &[
    "image",
    "image[]",
    "mask",
    "prompt",
    "n",
    "size",
    "response_format",
    "model",
    "quality",
    "engine",
    "output_format",
    "user",
    "style",
];

/// One form field.
#[derive(Debug, Clone)]
pub struct Field {
    /// The field's name.
    pub name: &'static str,
    /// Sent as a file (with a file name and a content type), as SDKs send images.
    pub file: bool,
    /// The value.
    pub value: Vec<u8>,
}

/// The `Content-Type` header for bodies from [`encode`].
pub fn content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// The body with `fields`, or `None` when a value contains the delimiter.
pub fn encode(fields: &[Field]) -> Option<Vec<u8>> {
    let delimiter = format!("\r\n--{BOUNDARY}");
    let mut body = Vec::new();
    for field in fields {
        if contains(&field.value, delimiter.as_bytes()) {
            return None;
        }
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let disposition = if field.file {
            format!(
                "Content-Disposition: form-data; name=\"{}\"; filename=\"f.png\"\r\nContent-Type: image/png\r\n",
                field.name
            )
        } else {
            format!(
                "Content-Disposition: form-data; name=\"{}\"\r\n",
                field.name
            )
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&field.value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    Some(body)
}

/// Decodes fields from fuzz bytes: per field a name byte (index into [`NAMES`]; the top
/// bit: sent as a file), a length byte, then that many value bytes.
pub fn fields(mut data: &[u8]) -> Vec<Field> {
    let mut fields = Vec::new();
    while let [tag, len, rest @ ..] = data {
        let len = usize::from(*len).min(rest.len());
        fields.push(Field {
            name: NAMES[usize::from(tag & 0x7f) % NAMES.len()],
            file: tag & 0x80 != 0,
            value: rest[..len].to_vec(),
        });
        data = &rest[len..];
    }
    fields
}

/// Fuzz bytes that [`fields`] decodes into `fields` (values up to 255 bytes).
pub fn to_bytes(fields: &[Field]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for field in fields {
        let index = NAMES
            .iter()
            .position(|n| *n == field.name)
            .expect("a known name");
        let tag = u8::try_from(index).expect("few names") | if field.file { 0x80 } else { 0 };
        let len = u8::try_from(field.value.len()).expect("a short value");
        bytes.push(tag);
        bytes.push(len);
        bytes.extend_from_slice(&field.value);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
