//! The web UI: the app shell at `/` and its embedded assets under `/ui/`, both public
//! (the UI signs in through the same API as every other client).

use axum::routing::get;

use crate::routes::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .add("/", Access::Public, &["GET", "HEAD"], get(easel_web::index))
        .add(
            "/ui/{*path}",
            Access::Public,
            &["GET", "HEAD"],
            get(easel_web::asset),
        )
}
