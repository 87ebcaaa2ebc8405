//! Mail to account holders (codes, notifications): composed here as a [`Letter`], a plain
//! text and an HTML body from the same paragraphs, and sent through the queue as an
//! `email` job (the worker speaks SMTP), so a mail server outage delays mail and loses
//! none.

use std::sync::Arc;

use easel_core::{EmailSpec, JobId, JobKind};
use easel_store::{Jobs as JobStore, NewJob};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::ServiceError;

/// Where mail goes out: `email` jobs in the queue.
pub struct Mailer {
    /// Where the jobs are created.
    pub jobs: Arc<dyn JobStore>,
    /// Attempts per e-mail.
    pub attempts: u32,
    /// The web UI's address, for links in mail (`server.public_url`).
    pub public_url: String,
}

/// One e-mail: a subject and paragraphs, perhaps a code shown large and a link.
#[derive(Debug, Clone, Default)]
pub struct Letter {
    /// The subject line.
    pub subject: String,
    /// Paragraphs before the code and the link.
    pub lead: Vec<String>,
    /// A one-time code, shown large.
    pub code: Option<String>,
    /// A link: its label and address.
    pub link: Option<(String, String)>,
    /// Paragraphs after them.
    pub tail: Vec<String>,
}

impl Letter {
    /// The letter as an `email` job's spec, to `to`.
    pub fn to(&self, to: &str) -> EmailSpec {
        let mut text = String::new();
        let mut html = String::from(
            "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.4\">",
        );
        for paragraph in &self.lead {
            text.push_str(&format!("{paragraph}\n\n"));
            html.push_str(&format!("<p>{}</p>", escape(paragraph)));
        }
        if let Some(code) = &self.code {
            text.push_str(&format!("Your code: {code}\n\n"));
            html.push_str(&format!(
                "<p style=\"font-size:1.6em;letter-spacing:0.2em\"><strong>{}</strong></p>",
                escape(code)
            ));
        }
        if let Some((label, url)) = &self.link {
            text.push_str(&format!("{label}: {url}\n\n"));
            html.push_str(&format!(
                "<p><a href=\"{}\">{}</a></p>",
                escape(url),
                escape(label)
            ));
        }
        for paragraph in &self.tail {
            text.push_str(&format!("{paragraph}\n\n"));
            html.push_str(&format!("<p>{}</p>", escape(paragraph)));
        }
        html.push_str("</body></html>");
        EmailSpec {
            to: to.to_owned(),
            subject: self.subject.clone(),
            text: text.trim_end().to_owned() + "\n",
            html: Some(html),
        }
    }
}

/// `text` with HTML's special characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Mailer {
    /// Queues `letter` to `to` on behalf of `owner`. With `once`, an idempotency key: a
    /// second call with the same key (another process, a retried sweep) sends nothing.
    /// Returns whether this call queued it.
    pub async fn send(
        &self,
        owner: &str,
        to: &str,
        letter: &Letter,
        once: Option<String>,
    ) -> Result<bool, ServiceError> {
        let spec = letter.to(to);
        let request_hash = format!("email:{}", once.as_deref().unwrap_or(&letter.subject));
        let job = NewJob {
            id: JobId::new(),
            owner: owner.to_owned(),
            kind: JobKind::Email,
            spec: serde_json::to_value(&spec).map_err(ServiceError::internal)?,
            image_count: 0,
            max_attempts: self.attempts,
            idempotency_key: once,
            request_hash,
            expires_at: None,
        };
        Ok(!self.jobs.create(job).await?.replayed)
    }

    /// The web UI's address of `route` (a hash route such as `#/verify-email`) with
    /// `params` as its query.
    pub fn ui_link(&self, route: &str, params: &[(&str, &str)]) -> String {
        let mut link = format!("{}/{route}", self.public_url.trim_end_matches('/'));
        for (i, (name, value)) in params.iter().enumerate() {
            link.push(if i == 0 { '?' } else { '&' });
            link.push_str(name);
            link.push('=');
            link.extend(utf8_percent_encode(value, NON_ALPHANUMERIC).map(str::to_owned));
        }
        link
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_body_escapes_what_the_text_body_keeps() {
        let letter = Letter {
            subject: "s".into(),
            lead: vec!["<b>you</b> & me".into()],
            code: Some("123456".into()),
            link: Some(("Open".into(), "http://x/#/a?b=1&c=\"2\"".into())),
            tail: Vec::new(),
        };
        let spec = letter.to("a@example.com");
        assert!(spec.text.contains("<b>you</b> & me"));
        assert!(spec.text.contains("Your code: 123456"));
        let html = spec.html.unwrap();
        assert!(html.contains("&lt;b&gt;you&lt;/b&gt; &amp; me"));
        assert!(html.contains("href=\"http://x/#/a?b=1&amp;c=&quot;2&quot;\""));
        assert!(!html.contains("<b>"));
    }
}
