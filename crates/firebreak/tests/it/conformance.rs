//! The store conformance suite on the embedded SQLite adapter (a temp file, not `:memory:`).

use firebreak_core::Store;
use firebreak_store_sqlite::SqliteStore;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("conformance.db")).unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap(); // idempotent
    store.ready().await.unwrap();
    firebreak_testkit::conformance::run_all(Arc::new(store) as Arc<dyn Store>).await;
}
