-- +goose NO TRANSACTION
-- +goose Up

-- A user's transactions must be read from transactions_user_page (or
-- transactions_user_kind_page), whatever the data looks like. With the
-- operators' indexes on (created_at) and (kind, created_at) usable too, the
-- planner picked transactions_page for a user owning most of the rows: it
-- expects such a user's newest rows among the newest of all and filters on
-- user_id, but when those rows are older than everyone else's recent ones
-- it reads all of those first (the bench's growth user: 5,600 rows for a
-- page of 51). The operators' indexes are now partial on a predicate that
-- only the operators' list states (its created_at >= lower bound implies
-- it), so a user's list cannot use them.
--
-- CONCURRENTLY: building the indexes does not block writes; a failed run
-- of this migration can be repeated.
DROP INDEX CONCURRENTLY IF EXISTS transactions_page_all;
CREATE INDEX CONCURRENTLY transactions_page_all ON transactions (created_at DESC, id DESC)
    WHERE created_at > '-infinity';
DROP INDEX CONCURRENTLY IF EXISTS transactions_kind_page_all;
CREATE INDEX CONCURRENTLY transactions_kind_page_all ON transactions (kind, created_at DESC, id DESC)
    WHERE created_at > '-infinity';
DROP INDEX CONCURRENTLY IF EXISTS transactions_page;
DROP INDEX CONCURRENTLY IF EXISTS transactions_kind_page;

-- +goose Down
CREATE INDEX CONCURRENTLY IF NOT EXISTS transactions_page ON transactions (created_at DESC, id DESC);
CREATE INDEX CONCURRENTLY IF NOT EXISTS transactions_kind_page ON transactions (kind, created_at DESC, id DESC);
DROP INDEX CONCURRENTLY IF EXISTS transactions_page_all;
DROP INDEX CONCURRENTLY IF EXISTS transactions_kind_page_all;
