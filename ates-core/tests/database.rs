//! Opening a service's database: migrations run once however many
//! instances start together.

#![allow(clippy::unwrap_used)]

use ates_core::bus::BusMigrator;
use ates_core::testing::TestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_on_an_empty_database_all_migrate_it() {
    for _ in 0..10 {
        let database = TestDatabase::create().await;
        let url = database.url();
        let (first, second, third) = tokio::join!(
            ates_core::db::open::<BusMigrator>(url, 2),
            ates_core::db::open::<BusMigrator>(url, 2),
            ates_core::db::open::<BusMigrator>(url, 2),
        );
        for opened in [first, second, third] {
            opened.unwrap();
        }
    }
}
