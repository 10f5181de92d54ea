//! `PgStore` passes the whole Store conformance suite, directly and through `Arc<dyn Store>`,
//! each test on its own schema. Without `DPS_TEST_POSTGRES_URL` the tests print that they were
//! skipped.

mod common;

use common::fresh;

dps_testkit::store_conformance_tests!(maybe fresh);
