//! What the backends share. SQLite accepts PostgreSQL's `$1` placeholders (sqlx binds
//! them by number), so one text serves both; only column types (in the migrations) and the
//! way a write transaction begins differ. The SQL itself lives with its area (`workflow`,
//! `tasks`, `ledger`, ...): each area's macro stamps its trait's methods out for each
//! backend's types, because sqlx's generic bounds over `Database` would drown them. This
//! file holds what every area's statements use (the write batcher, the transaction type)
//! and stamps all areas out at once.

/// Implements every area trait of [`super::Store`] for a type with
/// `fn pool(&self) -> &Pool<DB>` (reads), `fn writer(&self) -> &Pool<DB>` (single-statement
/// writes) and `async fn begin_write(&self) -> Result<Transaction<'static, DB>, sqlx::Error>`.
macro_rules! impl_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        use sqlx::FromRow as _;

        /// A record and the state of its workflow instance, read from one joined row.
        fn with_state<'r, T>(row: &'r <$db as sqlx::Database>::Row) -> Result<(T, String), sqlx::Error>
        where
            T: sqlx::FromRow<'r, <$db as sqlx::Database>::Row>,
        {
            use sqlx::Row as _;
            Ok((T::from_row(row)?, row.try_get("state")?))
        }

        /// The statements of one write transaction. On SQLite every statement is a hand-off
        /// to the connection's own thread, so a fusing writer queues them and sends them as one
        /// multi-statement call (`?` placeholders bind in order across statements); PostgreSQL
        /// cannot prepare several statements at once, so there each runs as it comes. A fusing
        /// writer cannot see row counts: its caller checks the guards first, under the write
        /// lock that `BEGIN IMMEDIATE` took, so the guarded statements are sure to match.
        struct Writer {
            queued: Option<sqlx::QueryBuilder<$db>>,
            pending: usize,
        }

        type Tx = sqlx::Transaction<'static, $db>;
        /// A connection, in a transaction or not ([`Tx`] derefs to one).
        type Conn = <$db as sqlx::Database>::Connection;
        type Builder = sqlx::QueryBuilder<$db>;

        /// A write transaction begun by a statement of the caller's own (`BEGIN IMMEDIATE`
        /// sent in one call with the reads after it) instead of by sqlx, which spends a
        /// hand-off to SQLite's connection thread on the `BEGIN` alone. Dropped unfinished
        /// (an error the caller could not roll back, or the caller gone mid-way), its
        /// connection is closed instead of going back to the pool: closing rolls back
        /// whatever was begun.
        struct HandTx {
            conn: sqlx::pool::PoolConnection<$db>,
            finished: bool,
        }

        impl HandTx {
            async fn acquire(pool: &sqlx::Pool<$db>) -> Result<HandTx, sqlx::Error> {
                Ok(HandTx { conn: pool.acquire().await?, finished: false })
            }

            /// Ended (committed or rolled back) by the caller's statements.
            fn finished(mut self) {
                self.finished = true;
            }

            /// Rolls back after an error; the connection goes back to the pool only if that
            /// worked.
            async fn roll_back(mut self) {
                if sqlx::query("ROLLBACK").execute(&mut *self.conn).await.is_ok() {
                    self.finished = true;
                }
            }
        }

        impl Drop for HandTx {
            fn drop(&mut self) {
                if !self.finished {
                    self.conn.close_on_drop();
                }
            }
        }

        impl std::ops::Deref for HandTx {
            type Target = Conn;
            fn deref(&self) -> &Conn {
                &self.conn
            }
        }

        impl std::ops::DerefMut for HandTx {
            fn deref_mut(&mut self) -> &mut Conn {
                &mut self.conn
            }
        }

        impl Writer {
            /// Runs every statement at once and checks guards by row counts.
            fn immediate() -> Writer {
                Writer { queued: None, pending: 0 }
            }

            /// Queues statements when the backend allows it (see above).
            fn fusing() -> Writer {
                Writer { queued: $fuse.then(|| sqlx::QueryBuilder::new("")), pending: 0 }
            }

            /// Runs (or queues) the statement `build` writes; returns the rows it changed, or
            /// `None` when queued.
            async fn run(
                &mut self,
                tx: &mut Conn,
                build: impl FnOnce(&mut Builder),
            ) -> Result<Option<u64>, sqlx::Error> {
                match &mut self.queued {
                    Some(q) => {
                        build(q);
                        q.push(";\n");
                        self.pending += 1;
                        Ok(None)
                    }
                    None => {
                        let mut q = sqlx::QueryBuilder::new("");
                        build(&mut q);
                        Ok(Some(q.build().execute(&mut *tx).await?.rows_affected()))
                    }
                }
            }

            /// Sends whatever is queued.
            async fn flush(&mut self, tx: &mut Conn) -> Result<(), sqlx::Error> {
                if self.pending > 0
                    && let Some(mut q) = self.queued.replace(sqlx::QueryBuilder::new(""))
                {
                    self.pending = 0;
                    q.build().execute(&mut *tx).await?;
                }
                Ok(())
            }
        }

        crate::store::operations::impl_operations_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
        crate::store::workflow::impl_workflow_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
        crate::store::applications::impl_applications_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
        crate::store::intake::impl_intake_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
        crate::store::tasks::impl_tasks_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
        crate::store::audit::impl_audit_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
        crate::store::outbox::impl_outbox_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
        crate::store::ledger::impl_ledger_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
        crate::store::ledger_reads::impl_ledger_reads_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
        crate::store::debits::impl_debits_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
        crate::store::billing::impl_billing_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
        crate::store::credit_lines::impl_credit_lines_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
        crate::store::payments::impl_payments_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
        crate::store::invoices::impl_invoices_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
        crate::store::sessions::impl_sessions_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
        crate::store::rule_history::impl_rule_history_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
        crate::store::notes::impl_notes_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
        crate::store::rule_policies::impl_rule_policies_store!($store, $db, $backend, $migrator, $fuse, $skip_locked);
    };
}

pub(crate) use impl_store;
