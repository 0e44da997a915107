//! Time and identifiers: each seeded row's creation instant, and primary keys derived from it
//! and the row's natural key (deterministic, so a re-run computes the same ids).

use chrono::{DateTime, Utc};
use sea_orm::DbErr;
use uuid::Uuid;

/// 2025-01-01T00:00:00Z: the first demo row.
pub(super) const DEMO_BASE_MS: u64 = 1_735_689_600_000;
/// Each demo broker and everything under it lives in its own day.
pub(super) const DEMO_BROKER_SPAN_MS: u64 = 86_400_000;
/// One minute between consecutive demo rows.
pub(super) const DEMO_STEP_MS: u64 = 60_000;

/// 2024-01-01T00:00:00Z: the first benchmark row (before the demo data, never overlapping it).
pub(super) const SCALE_BASE_MS: u64 = 1_704_067_200_000;
/// Each benchmark broker and its 4,396 rows live in their own ten seconds.
pub(super) const SCALE_BROKER_SPAN_MS: u64 = 10_000;
/// One millisecond between consecutive benchmark rows.
pub(super) const SCALE_STEP_MS: u64 = 1;

/// Who linked the seeded tenants (`tenants.linked_by`).
pub(super) const SEED_ACTOR: &str = "seed";

/// One row's creation instant.
pub(super) struct Stamp {
    pub(super) ms: u64,
    pub(super) at: DateTime<Utc>,
}

/// Hands out increasing instants inside one broker's time block.
pub(super) struct Clock {
    pub(super) next: u64,
    pub(super) end: u64,
    pub(super) step: u64,
}

impl Clock {
    pub(super) fn new(start: u64, span: u64, step: u64) -> Self {
        Self {
            next: start,
            end: start + span,
            step,
        }
    }

    pub(super) fn tick(&mut self) -> Result<Stamp, DbErr> {
        if self.next >= self.end {
            return Err(DbErr::Custom(
                "seed: a broker's rows overflow its time block".to_owned(),
            ));
        }
        let ms = self.next;
        self.next += self.step;
        let at = i64::try_from(ms)
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(|| DbErr::Custom(format!("seed: {ms} ms is not a valid instant")))?;
        Ok(Stamp { ms, at })
    }
}

/// The namespace of seeded names: `uuid5(NAMESPACE_URL, "https://github.com/brokergraph/seed")`.
const SEED_NAMESPACE: Uuid = Uuid::from_u128(0x0c6a_f6dc_e42d_5aa7_a3aa_e5bd_2ca5_0ad2);

/// A name-based (v5) UUID of the parts, each followed by a separator byte that UTF-8 never
/// contains (so `["ab", "c"]` and `["a", "bc"]` differ): the same parts always give the same
/// UUID.
fn named(parts: &[&str]) -> Uuid {
    let mut name = Vec::new();
    for part in parts {
        name.extend_from_slice(part.as_bytes());
        name.push(0xff);
    }
    Uuid::new_v5(&SEED_NAMESPACE, &name)
}

/// The primary key of a row created at `stamp`: a UUID v7 whose timestamp is `created_at` and
/// whose other bits are a v5 (name-based) UUID's of the table and the row's natural key: ordering
/// by id is ordering by creation, and a re-run computes the same id.
pub(super) fn row_id(stamp: &Stamp, table: &str, key: &str) -> Uuid {
    // Ten of the v5 UUID's bytes, none of them holding its version (6) or variant (8) bits.
    let hashed = named(&[table, key]).into_bytes();
    let mut bytes = [0u8; 10];
    bytes[..6].copy_from_slice(&hashed[..6]);
    bytes[6..].copy_from_slice(&hashed[12..]);
    uuid::Builder::from_unix_timestamp_millis(stamp.ms, &bytes).into_uuid()
}

/// A Microsoft tenant GUID (never nil), derived from the organization's key: a v5 UUID,
/// where Partner Center issues random (v4) ones; nothing reads the version.
pub(super) fn microsoft_tenant_guid(key: &str) -> Uuid {
    named(&["microsoft-tenant", key])
}
