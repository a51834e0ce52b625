//! Integration tests: a real lakegate server on 127.0.0.1:0 over real Delta tables on disk,
//! driven by tokio-postgres. One binary (modules below) keeps link time down.

mod cli;
mod common;
mod copy;
mod flight;
mod freshness;
mod http_api;
mod ingest;
mod kafka;
mod lake;
mod ops;
mod replay;
mod result_cache;
mod security;
mod slt;
mod sources;
mod stores;
mod views;
mod wire;
