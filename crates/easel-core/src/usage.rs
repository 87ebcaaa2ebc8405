//! What quotas count: operation classes and calendar windows.

use crate::names::wire_names;

wire_names! {
    /// An operation class that quotas count.
    pub enum OpClass ("operation class") {
        /// Image processing jobs (`POST /v1/jobs`, `POST /process`, upload triggers).
        Process = "process",
        /// Image generation.
        Generate = "generate",
        /// Image editing (inpaint, outpaint, background removal).
        Edit = "edit",
    }
}

wire_names! {
    /// A calendar window (UTC) a quota counts in.
    pub enum QuotaPeriod ("quota period") {
        /// From 00:00 UTC.
        Day = "day",
        /// From Monday 00:00 UTC.
        Week = "week",
        /// From the 1st, 00:00 UTC.
        Month = "month",
    }
}
