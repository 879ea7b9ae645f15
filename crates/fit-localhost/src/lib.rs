//! Servers on this machine for the tests, the benchmarks and the simulation: a real fit-server
//! on 127.0.0.1 (`LiveServer`) and a throwaway PostgreSQL cluster (`postgres::TempCluster`). Apart
//! from the test harness, so a benchmark does not depend on the tests.

pub mod postgres;
mod server;

pub use server::LiveServer;
