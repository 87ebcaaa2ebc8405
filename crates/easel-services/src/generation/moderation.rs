//! Prompt moderation before any engine runs: a deny-list of words and phrases (matched
//! case-insensitively on word boundaries, so "class" does not match "ass") and regular
//! expressions, both from configuration. A refusal names no matched term: echoing the
//! list back would teach people how to get around it.

use regex::{Regex, RegexBuilder};

/// Compiled moderation rules.
#[derive(Debug, Clone, Default)]
pub struct Moderation {
    rules: Vec<Regex>,
}

/// Why a moderation configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("moderation pattern `{pattern}` is not a valid regular expression: {reason}")]
pub struct BadPattern {
    /// The pattern as configured.
    pub pattern: String,
    /// The regex parser's complaint.
    pub reason: String,
}

impl Moderation {
    /// Rules from deny-listed terms and regular expressions.
    pub fn new(deny: &[String], patterns: &[String]) -> Result<Moderation, BadPattern> {
        let mut rules = Vec::new();
        for term in deny.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
            // Whitespace inside a phrase matches any run of whitespace.
            let words: Vec<String> = term.split_whitespace().map(regex::escape).collect();
            let pattern = format!(r"\b{}\b", words.join(r"\s+"));
            rules.push(compile(&pattern, term)?);
        }
        for pattern in patterns {
            rules.push(compile(pattern, pattern)?);
        }
        Ok(Moderation { rules })
    }

    /// Whether any rule is configured.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// True when `text` may go to an engine.
    pub fn allows(&self, text: &str) -> bool {
        !self.rules.iter().any(|rule| rule.is_match(text))
    }
}

fn compile(pattern: &str, shown: &str) -> Result<Regex, BadPattern> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| BadPattern {
            pattern: shown.to_owned(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_match_whole_words_in_any_case() {
        let m = Moderation::new(&["gore".into(), "bad thing".into()], &[]).unwrap();
        assert!(!m.allows("so much GORE here"));
        assert!(!m.allows("a Bad   Thing happens"));
        assert!(m.allows("gorey is not the word"));
        assert!(m.allows("a bad day, a thing"));
        assert!(m.allows("a sunset over mountains"));
    }

    #[test]
    fn patterns_are_regular_expressions() {
        let m = Moderation::new(&[], &[r"blood\w*".into()]).unwrap();
        assert!(!m.allows("bloodbath"));
        assert!(m.allows("blue flood"));
        assert!(Moderation::new(&[], &["(unclosed".into()]).is_err());
    }
}
