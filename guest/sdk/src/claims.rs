//! The claims lookup as a plugin sees it: a [`Claim`] row, the host's
//! [`Answer`] per id, the borrowed [`Lookup`] each record is handed, and the
//! [`Claims`] trait the wasm import, the native stub and benchmarks implement.

use rust_decimal::Decimal;

/// One row of the `claims` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub member_id: String,
    /// Exact (`DECIMAL(10,2)` in the table).
    pub claim_amount: Decimal,
    pub claim_status: Option<String>,
    /// `created_date` as microseconds since the Unix epoch (UTC), when set.
    pub created_at_micros: Option<i64>,
}

/// The host's answer for one claim id.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Found(Claim),
    NotFound,
    /// The claims store failed after the host's retries (DB_ERROR).
    Unavailable(String),
    /// The claims store did not answer within the lookup timeout (DB_TIMEOUT).
    Timeout(String),
}

/// What a record's claim lookup gave, as handed to [`crate::Plugin::enrich`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup<'a> {
    Found(&'a Claim),
    NotFound,
    /// The store failed (or the host answered fewer ids than asked).
    Unavailable(&'a str),
    Timeout(&'a str),
    /// [`crate::Plugin::claim_id`] returned `None`: nothing was looked up.
    NotAsked,
}

/// What a record gets when the host's answer list is shorter than the ids asked.
pub(crate) const SHORT_ANSWER: &str = "claims lookup returned fewer results than ids asked for";

impl<'a> From<&'a Answer> for Lookup<'a> {
    fn from(answer: &'a Answer) -> Self {
        match answer {
            Answer::Found(claim) => Lookup::Found(claim),
            Answer::NotFound => Lookup::NotFound,
            Answer::Unavailable(why) => Lookup::Unavailable(why),
            Answer::Timeout(why) => Lookup::Timeout(why),
        }
    }
}

impl<'a> Lookup<'a> {
    /// The claim, when found.
    pub fn claim(self) -> Option<&'a Claim> {
        match self {
            Lookup::Found(claim) => Some(claim),
            _ => None,
        }
    }
}

/// Batched claim lookup: one answer per id, in the same order.
pub trait Claims {
    fn lookup(&mut self, claim_ids: &[&str]) -> Vec<Answer>;
}
