//! Easel's web UI: plain ES modules and CSS under `assets/`, embedded in the binary at
//! build time, so running Easel needs no Node.js. Two handlers serve them: `/` (the app
//! shell, with a strict Content-Security-Policy) and `/ui/{*path}` (scripts, styles,
//! icons). The UI routes with the URL's hash (`#/generate`), so nothing else is served.

mod assets;
mod handlers;

pub use handlers::{asset, index};
