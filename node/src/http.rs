//! The HTTP server loop and responses, from `subnet_service::http` (shared with the metrics
//! endpoints of the miner and validator).

pub(crate) use subnet_service::http::{HttpResponse, ServerLimits, json_response, serve, stopped};
