//! The claims lookup as a plugin sees it: a [`Claim`] row, the host's
//! [`Answer`] per id (both `enricher-model`'s, the types the host answers
//! with), the borrowed [`Lookup`] each record is handed (the answer, or
//! [`Lookup::NotAsked`]), and the [`Claims`] trait the wasm import, the
//! native stub and benchmarks implement.

/// One row of the `claims` table (the host's type).
pub use enricher_model::Claim;

/// The host's answer for one claim id (the host's type).
pub type Answer = enricher_model::ClaimAnswer<Claim, String>;

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

    /// The host's answer, borrowed (`None`: nothing was looked up). Its
    /// [`require`](enricher_model::ClaimAnswer::require) gives the claim or
    /// the built-in plugin's failure (status and message) without one.
    pub fn answer(self) -> Option<enricher_model::ClaimAnswer<&'a Claim, &'a str>> {
        use enricher_model::ClaimAnswer;
        Some(match self {
            Lookup::Found(claim) => ClaimAnswer::Found(claim),
            Lookup::NotFound => ClaimAnswer::NotFound,
            Lookup::Unavailable(why) => ClaimAnswer::Unavailable(why),
            Lookup::Timeout(why) => ClaimAnswer::Timeout(why),
            Lookup::NotAsked => return None,
        })
    }
}

/// Batched claim lookup: one answer per id, in the same order.
pub trait Claims {
    fn lookup(&mut self, claim_ids: &[&str]) -> Vec<Answer>;
}
