//! The CLIP tokenizer: byte-level BPE over `tokenizer/vocab.json` and
//! `tokenizer/merges.txt`, with CLIP's lower-casing, word-end marker `</w>`, start and
//! end tokens, and padding to the text encoder's 77 positions.

use std::collections::HashMap;
use std::path::Path;

use regex::Regex;
use serde::Deserialize;

use crate::DiffusionError;
use crate::layout::TokenizerFiles;

/// The parts of a fast tokenizer's `tokenizer.json` a CLIP BPE needs.
#[derive(Deserialize)]
struct TokenizerJson {
    model: BpeModel,
    #[serde(default)]
    added_tokens: Vec<AddedToken>,
}

#[derive(Deserialize)]
struct BpeModel {
    vocab: HashMap<String, u32>,
    merges: Vec<Merge>,
}

/// A merge: `"a b"` (older files) or `["a", "b"]` (newer ones).
#[derive(Deserialize)]
#[serde(untagged)]
enum Merge {
    Text(String),
    Pair([String; 2]),
}

#[derive(Deserialize)]
struct AddedToken {
    id: u32,
    content: String,
}

const START: &str = "<|startoftext|>";
const END: &str = "<|endoftext|>";

/// A loaded CLIP tokenizer.
pub struct ClipTokenizer {
    vocab: HashMap<String, u32>,
    ranks: HashMap<(String, String), usize>,
    byte_chars: [char; 256],
    pattern: Regex,
    start: u32,
    end: u32,
    pad: u32,
    max_len: usize,
}

/// GPT-2's reversible map from bytes to printable characters, which CLIP's vocabulary
/// is written in.
pub(crate) fn byte_chars() -> [char; 256] {
    let mut printable: Vec<u32> = (u32::from(b'!')..=u32::from(b'~'))
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut chars = ['\0'; 256];
    let mut next = 256;
    for byte in 0..256u32 {
        let code = if printable.contains(&byte) {
            byte
        } else {
            let code = next;
            next += 1;
            printable.push(byte);
            code
        };
        chars[byte as usize] = char::from_u32(code).expect("valid code point");
    }
    chars
}

impl ClipTokenizer {
    /// Loads the vocabulary and merges; `pad` is the padding token's text (SD 1 pads with
    /// the end token, SD 2 with `!`), `max_len` the number of positions.
    pub fn load(
        files: &TokenizerFiles,
        pad: Option<&str>,
        max_len: usize,
    ) -> Result<ClipTokenizer, DiffusionError> {
        let any = match files {
            TokenizerFiles::VocabMerges { vocab, .. } => vocab,
            TokenizerFiles::Json(path) => path,
        };
        let bad = |message: String| DiffusionError::BadModel {
            dir: any.parent().unwrap_or(any).to_owned(),
            message,
        };
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))
        };
        let (vocab, merges): (HashMap<String, u32>, Vec<(String, String)>) = match files {
            TokenizerFiles::VocabMerges { vocab, merges } => {
                let vocab = serde_json::from_str(&read(vocab)?)
                    .map_err(|e| bad(format!("tokenizer/vocab.json is not a token→id map: {e}")))?;
                let merges = read(merges)?
                    .lines()
                    .filter(|line| !line.starts_with("#version") && !line.trim().is_empty())
                    .filter_map(|line| {
                        let (a, b) = line.split_once(' ')?;
                        Some((a.to_owned(), b.to_owned()))
                    })
                    .collect();
                (vocab, merges)
            }
            TokenizerFiles::Json(path) => {
                let file: TokenizerJson = serde_json::from_str(&read(path)?).map_err(|e| {
                    bad(format!(
                        "tokenizer/tokenizer.json is not a BPE tokenizer: {e}"
                    ))
                })?;
                let mut vocab = file.model.vocab;
                for added in file.added_tokens {
                    vocab.insert(added.content, added.id);
                }
                let merges = file
                    .model
                    .merges
                    .into_iter()
                    .filter_map(|merge| match merge {
                        Merge::Text(line) => {
                            let (a, b) = line.split_once(' ')?;
                            Some((a.to_owned(), b.to_owned()))
                        }
                        Merge::Pair([a, b]) => Some((a, b)),
                    })
                    .collect();
                (vocab, merges)
            }
        };
        let ranks = merges
            .into_iter()
            .enumerate()
            .map(|(rank, pair)| (pair, rank))
            .collect();
        let id = |token: &str| {
            vocab
                .get(token)
                .copied()
                .ok_or_else(|| bad(format!("tokenizer/vocab.json has no `{token}` token")))
        };
        let start = id(START)?;
        let end = id(END)?;
        let pad = match pad {
            Some(token) => id(token)?,
            None => end,
        };
        // CLIP's pre-tokenizer: special tokens, English contractions, runs of letters,
        // single digits, runs of other non-space characters.
        let pattern = Regex::new(
            r"(?i)<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+",
        )
        .expect("the CLIP pattern compiles");
        Ok(ClipTokenizer {
            vocab,
            ranks,
            byte_chars: byte_chars(),
            pattern,
            start,
            end,
            pad,
            max_len,
        })
    }

    /// The token ids of one word (a pre-tokenizer match), by BPE merges.
    fn word_ids(&self, word: &str, out: &mut Vec<u32>) {
        if word == START || word == END {
            out.push(if word == START { self.start } else { self.end });
            return;
        }
        let mut parts: Vec<String> = word
            .bytes()
            .map(|b| self.byte_chars[usize::from(b)].to_string())
            .collect();
        if let Some(last) = parts.last_mut() {
            last.push_str("</w>");
        }
        // Merge the lowest-ranked adjacent pair until none is in the merges list.
        loop {
            let best = parts
                .windows(2)
                .enumerate()
                .filter_map(|(i, pair)| {
                    self.ranks
                        .get(&(pair[0].clone(), pair[1].clone()))
                        .map(|rank| (*rank, i))
                })
                .min();
            let Some((_, i)) = best else { break };
            let merged = format!("{}{}", parts[i], parts[i + 1]);
            parts.splice(i..i + 2, [merged]);
        }
        // Pieces missing from the vocabulary are dropped, as the reference does for
        // characters outside it.
        out.extend(
            parts
                .iter()
                .filter_map(|part| self.vocab.get(part).copied()),
        );
    }

    /// The ids of `text`: start token, up to `max_len - 2` tokens, end token, padding.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let cleaned = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let lower = cleaned.to_lowercase();
        let mut tokens = Vec::new();
        for word in self.pattern.find_iter(&lower) {
            self.word_ids(word.as_str(), &mut tokens);
        }
        tokens.truncate(self.max_len.saturating_sub(2));
        let mut ids = Vec::with_capacity(self.max_len);
        ids.push(self.start);
        ids.extend(tokens);
        ids.push(self.end);
        ids.resize(self.max_len, self.pad);
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer(dir: &Path) -> ClipTokenizer {
        let vocab = serde_json::json!({
            "<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2,
            "a</w>": 3, "c": 4, "at</w>": 5, "cat</w>": 6, "a": 7, "t</w>": 8, ",</w>": 9,
            "1</w>": 10, "2</w>": 11
        });
        std::fs::write(dir.join("vocab.json"), vocab.to_string()).unwrap();
        std::fs::write(dir.join("merges.txt"), "#version: 0.2\na t</w>\nc at</w>\n").unwrap();
        let files = TokenizerFiles::VocabMerges {
            vocab: dir.join("vocab.json"),
            merges: dir.join("merges.txt"),
        };
        ClipTokenizer::load(&files, Some("!"), 8).unwrap()
    }

    #[test]
    fn merges_by_rank_marks_word_ends_and_pads() {
        let dir = tempfile::tempdir().unwrap();
        let t = tokenizer(dir.path());
        // "CAT" lower-cases to cat → c a t</w> → c at</w> → cat</w>; "a" is a</w>.
        assert_eq!(t.encode("  A   CAT"), vec![0, 3, 6, 1, 2, 2, 2, 2]);
        // Digits split one by one; punctuation is its own word.
        assert_eq!(t.encode("12,"), vec![0, 10, 11, 9, 1, 2, 2, 2]);
    }

    #[test]
    fn the_fast_tokenizer_file_gives_the_same_ids() {
        let dir = tempfile::tempdir().unwrap();
        let slow = tokenizer(dir.path());
        let vocab: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("vocab.json")).unwrap())
                .unwrap();
        let json = serde_json::json!({
            "added_tokens": [{"id": 0, "content": "<|startoftext|>"}],
            "model": {"type": "BPE", "vocab": vocab, "merges": [["a", "t</w>"], "c at</w>"]},
        });
        std::fs::write(dir.path().join("tokenizer.json"), json.to_string()).unwrap();
        let fast = ClipTokenizer::load(
            &TokenizerFiles::Json(dir.path().join("tokenizer.json")),
            Some("!"),
            8,
        )
        .unwrap();
        assert_eq!(fast.encode("A CAT, 12"), slow.encode("A CAT, 12"));
    }

    #[test]
    fn long_prompts_are_truncated_keeping_the_end_token() {
        let dir = tempfile::tempdir().unwrap();
        let t = tokenizer(dir.path());
        assert_eq!(
            t.encode("cat cat cat cat cat cat cat"),
            vec![0, 6, 6, 6, 6, 6, 6, 1]
        );
    }

    #[test]
    fn byte_map_is_a_bijection() {
        let chars = byte_chars();
        let unique: std::collections::HashSet<char> = chars.iter().copied().collect();
        assert_eq!(unique.len(), 256);
        assert_eq!(chars[usize::from(b'a')], 'a');
        assert_eq!(chars[usize::from(b' ')], '\u{120}');
    }
}
