//! The store query for a batch's misses: the distinct ids are claimed through
//! single flight ([`super::flight`]), so an id another lookup (or the
//! prefetch) is fetching is waited for, and one it has cached since this
//! lookup's own check is taken from the cache; the rest go to the store in
//! one query, and their answers are handed to the waiters.

use std::collections::HashMap;
use std::sync::Arc;

use super::fetch::FetchError;
use super::flight::Leading;
use super::{ClaimRow, ClaimsLookup, LookupAnswer, Served};

impl ClaimsLookup {
    /// Ask the store for the ids at `positions` (one query, shared with any
    /// concurrent lookup missing the same ids), fill their answers, and tell
    /// `remember` the answer of each distinct id this lookup fetched.
    /// `recheck` is the cache's fresh answer for each id it is given (see
    /// [`super::flight::Flights::claim`]); without a cache it answers none.
    pub(super) fn resolve_misses(
        &self,
        ids: &[String],
        positions: Vec<usize>,
        answers: &mut [Option<LookupAnswer>],
        recheck: impl FnOnce(&[String]) -> Vec<Option<LookupAnswer>>,
        remember: impl FnMut(&str, &LookupAnswer),
    ) {
        let mut distinct: Vec<String> = Vec::with_capacity(positions.len());
        let mut seen: HashMap<&str, ()> = HashMap::with_capacity(positions.len());
        for &i in &positions {
            if seen.insert(ids[i].as_str(), ()).is_none() {
                distinct.push(ids[i].clone());
            }
        }
        let claim = self.flights.claim(distinct, recheck);
        self.flights.answered_meanwhile(claim.cached.len());
        let mut resolved = self.fetch_led(claim.lead, remember);
        resolved.extend(claim.cached);
        for (id, flight) in claim.follow {
            let answer = flight.wait(&self.flights, self.flight_wait);
            resolved.insert(id, answer);
        }
        for i in positions {
            answers[i] = resolved.get(ids[i].as_str()).cloned();
        }
    }

    /// Fetch the ids `lead` leads (one query), tell `remember` each answer,
    /// then hand the answers to the flights' waiters.
    pub(super) fn fetch_led(
        &self,
        lead: Leading<'_>,
        mut remember: impl FnMut(&str, &LookupAnswer),
    ) -> HashMap<String, LookupAnswer> {
        let mut resolved: HashMap<String, LookupAnswer> = HashMap::with_capacity(lead.ids.len());
        if !lead.ids.is_empty() {
            let by_id: Result<HashMap<String, Arc<ClaimRow>>, FetchError> =
                self.fetcher.fetch(lead.ids.clone()).map(|rows| {
                    rows.into_iter()
                        .map(|(id, row)| (id, Arc::new(row)))
                        .collect()
                });
            let answer_of = |id: &str| match &by_id {
                Ok(rows) => rows.get(id).map_or(LookupAnswer::NotFound, |r| {
                    LookupAnswer::Found(Served::fresh(Arc::clone(r)))
                }),
                Err(FetchError::Unavailable(why)) => LookupAnswer::Unavailable(why.clone()),
                Err(FetchError::Timeout(why)) => LookupAnswer::Timeout(why.clone()),
            };
            for id in &lead.ids {
                let answer = answer_of(id);
                remember(id, &answer);
                resolved.insert(id.clone(), answer);
            }
            // Waiters get their answers once the cache holds them.
            lead.finish(answer_of);
        }
        resolved
    }
}
