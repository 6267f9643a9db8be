//! Single flight: concurrent lookups of the same missing claim id share one
//! store query. The first caller to miss an id leads (its query asks the
//! store for it); callers that miss the same id while that query runs wait for
//! the leader's answer instead of querying again.
//!
//! A caller finishes the ids it leads before it waits for the ones it follows,
//! so two callers each leading an id the other follows cannot deadlock.
//!
//! A claim change applied while a query runs ([`Flights::forget`]) detaches
//! that id's flight: lookups starting afterwards query again instead of
//! waiting for an answer read before the change.
//!
//! The race a claim must not lose: a caller checks its cache and misses an
//! id; meanwhile another caller (the prefetch thread, say) fetches that id,
//! caches it and ends its flight; the first caller then finds no flight and
//! would query the id again. So [`Flights::claim`] asks the cache once more
//! for the ids it is about to lead, *after* their flights are registered: a
//! flight ends only after its answer is cached, so whatever ended before the
//! claim is found there, and whatever had not ended is followed. (Failures,
//! and answers the cache refused because a change came in meanwhile, are not
//! cached: those ids are queried again, which costs a query, never a wrong
//! answer.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::LookupAnswer;

/// The ids being fetched right now, each with the answer its waiters get.
#[derive(Default)]
pub(super) struct Flights {
    running: Mutex<HashMap<String, Arc<Flight>>>,
    /// Lookups' ids answered by another caller's query: each wait, and each
    /// id a lookup's claim found cached by then ([`Flights::answered_meanwhile`]).
    coalesced: AtomicU64,
}

/// One id's query in progress.
#[derive(Default)]
pub(super) struct Flight {
    answer: Mutex<Option<LookupAnswer>>,
    done: Condvar,
}

/// What a caller leads, what it waits for, and what it need not fetch.
pub(super) struct Claim<'a> {
    /// Ids this caller must fetch; [`Leading::finish`] hands their answers on.
    pub lead: Leading<'a>,
    /// Ids another caller is fetching, with the flight to wait on.
    pub follow: Vec<(String, Arc<Flight>)>,
    /// Ids the cache answered when re-checked after the claim (another
    /// caller's query cached them since this caller's own check).
    pub cached: Vec<(String, LookupAnswer)>,
}

/// The ids a caller leads. Dropped unfinished (a panic), its waiters get
/// DB_ERROR rather than waiting forever.
pub(super) struct Leading<'a> {
    flights: &'a Flights,
    pub ids: Vec<String>,
    /// The flight of each of `ids`, in the same order.
    own: Vec<Arc<Flight>>,
}

impl Flights {
    /// Split the distinct `ids` into those to fetch, those to wait for, and
    /// those the cache answers after all. `recheck` is the cache's answer for
    /// each id it is given (in order; `None`: not fresh there); it runs once,
    /// on the ids this caller would lead, after their flights are registered
    /// and without the flights' lock held. Those it answers are not fetched:
    /// their flights end at once with the cached answer.
    pub fn claim(
        &self,
        ids: Vec<String>,
        recheck: impl FnOnce(&[String]) -> Vec<Option<LookupAnswer>>,
    ) -> Claim<'_> {
        let mut lead = Leading {
            flights: self,
            ids: Vec::with_capacity(ids.len()),
            own: Vec::with_capacity(ids.len()),
        };
        let mut follow = Vec::new();
        {
            let mut running = lock(&self.running);
            for id in ids {
                match running.get(&id) {
                    Some(flight) => follow.push((id, Arc::clone(flight))),
                    None => {
                        let flight = Arc::<Flight>::default();
                        running.insert(id.clone(), Arc::clone(&flight));
                        lead.ids.push(id);
                        lead.own.push(flight);
                    }
                }
            }
        }
        let cached = if lead.ids.is_empty() {
            Vec::new()
        } else {
            lead.settle(recheck(&lead.ids))
        };
        Claim {
            lead,
            follow,
            cached,
        }
    }

    /// Detach the running flights of `ids` (their claims just changed): their
    /// waiters still get the leader's answer, later lookups query anew.
    /// Call it after the changed ids left the cache, so that the re-check
    /// of a claim made after it cannot find an answer read before the change.
    pub fn forget<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut running = lock(&self.running);
        for id in ids {
            running.remove(id);
        }
    }

    /// A lookup's claim found `n` of its ids cached by another query (the
    /// prefetch's own claims answer nobody, so they do not count).
    pub fn answered_meanwhile(&self, n: usize) {
        self.coalesced.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn coalesced(&self) -> u64 {
        self.coalesced.load(Ordering::Relaxed)
    }

    fn complete(&self, id: &str, flight: &Arc<Flight>, answer: LookupAnswer) {
        {
            let mut running = lock(&self.running);
            // Only this flight: after a `forget` the id may have a newer one.
            if running.get(id).is_some_and(|f| Arc::ptr_eq(f, flight)) {
                running.remove(id);
            }
        }
        *lock(&flight.answer) = Some(answer);
        flight.done.notify_all();
    }
}

impl Leading<'_> {
    /// End now the flights of the led ids `known` answers (one answer or
    /// `None` per led id, in order), and stop leading them.
    fn settle(&mut self, known: Vec<Option<LookupAnswer>>) -> Vec<(String, LookupAnswer)> {
        let mut settled = Vec::new();
        let mut ids = Vec::with_capacity(self.ids.len());
        let mut own = Vec::with_capacity(self.own.len());
        let mut known = known.into_iter();
        for (id, flight) in std::mem::take(&mut self.ids)
            .into_iter()
            .zip(std::mem::take(&mut self.own))
        {
            match known.next().flatten() {
                Some(answer) => {
                    self.flights.complete(&id, &flight, answer.clone());
                    settled.push((id, answer));
                }
                None => {
                    ids.push(id);
                    own.push(flight);
                }
            }
        }
        self.ids = ids;
        self.own = own;
        settled
    }

    /// Hand each led id's answer to its waiters and end the flights.
    pub fn finish(mut self, answer_of: impl Fn(&str) -> LookupAnswer) {
        let own = std::mem::take(&mut self.own);
        for (id, flight) in std::mem::take(&mut self.ids).iter().zip(&own) {
            self.flights.complete(id, flight, answer_of(id));
        }
    }
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let own = std::mem::take(&mut self.own);
        for (id, flight) in std::mem::take(&mut self.ids).iter().zip(&own) {
            let why = "the lookup that was fetching this id ended without an answer".to_owned();
            self.flights
                .complete(id, flight, LookupAnswer::Unavailable(why));
        }
    }
}

impl Flight {
    /// The leader's answer, or DB_TIMEOUT after `limit`.
    pub fn wait(&self, flights: &Flights, limit: Duration) -> LookupAnswer {
        flights.coalesced.fetch_add(1, Ordering::Relaxed);
        let deadline = Instant::now() + limit;
        let mut answer = lock(&self.answer);
        loop {
            if let Some(answer) = answer.as_ref() {
                return answer.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let why = format!("waited {limit:?} for another lookup of the same id");
                return LookupAnswer::Timeout(why);
            }
            answer = self
                .done
                .wait_timeout(answer, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// A re-check that finds nothing in the cache.
    fn uncached(_: &[String]) -> Vec<Option<LookupAnswer>> {
        Vec::new()
    }

    #[test]
    fn a_second_caller_waits_for_the_first_callers_answer() {
        let flights = Flights::default();
        let first = flights.claim(ids(&["A", "B"]), uncached);
        assert_eq!(first.lead.ids, ids(&["A", "B"]));
        let second = flights.claim(ids(&["B", "C"]), uncached);
        assert_eq!(second.lead.ids, ids(&["C"]));
        assert_eq!(second.follow.len(), 1);
        let (id, flight) = &second.follow[0];
        assert_eq!(id, "B");
        std::thread::scope(|s| {
            let waiter = s.spawn(|| flight.wait(&flights, Duration::from_secs(10)));
            first.lead.finish(|_| LookupAnswer::NotFound);
            assert_eq!(waiter.join().expect("waiter"), LookupAnswer::NotFound);
        });
        assert_eq!(flights.coalesced(), 1);
        second.lead.finish(|_| LookupAnswer::NotFound);
        assert_eq!(
            flights.claim(ids(&["B"]), uncached).lead.ids,
            ids(&["B"]),
            "a finished flight is gone: the next miss queries again"
        );
    }

    #[test]
    fn an_abandoned_flight_answers_its_waiters_with_an_error() {
        let flights = Flights::default();
        let first = flights.claim(ids(&["A"]), uncached);
        let second = flights.claim(ids(&["A"]), uncached);
        drop(first);
        let answer = second.follow[0].1.wait(&flights, Duration::from_secs(10));
        assert!(matches!(answer, LookupAnswer::Unavailable(_)), "{answer:?}");
    }

    #[test]
    fn a_changed_id_is_queried_again_not_joined() {
        let flights = Flights::default();
        let before = flights.claim(ids(&["A"]), uncached);
        flights.forget(["A"]);
        let after = flights.claim(ids(&["A"]), uncached);
        assert_eq!(after.lead.ids, ids(&["A"]), "leads its own query");
        before.lead.finish(|_| LookupAnswer::NotFound);
        let later = flights.claim(ids(&["A"]), uncached);
        assert_eq!(later.follow.len(), 1, "the newer flight is still running");
        after.lead.finish(|_| LookupAnswer::NotFound);
    }

    #[test]
    fn a_waiter_gives_up_after_its_limit() {
        let flights = Flights::default();
        let _first = flights.claim(ids(&["A"]), uncached);
        let second = flights.claim(ids(&["A"]), uncached);
        let answer = second.follow[0].1.wait(&flights, Duration::from_millis(20));
        assert!(matches!(answer, LookupAnswer::Timeout(_)), "{answer:?}");
    }

    #[test]
    fn a_claim_does_not_lead_what_the_cache_gained_since_its_check() {
        let flights = Flights::default();
        // The prefetch's flight ended (its answer is cached) between the
        // caller's cache check and its claim: the re-check answers it.
        flights
            .claim(ids(&["A"]), uncached)
            .lead
            .finish(|_| LookupAnswer::NotFound);
        let mut asked = Vec::new();
        let claim = flights.claim(ids(&["A", "B"]), |led| {
            asked = led.to_vec();
            vec![Some(LookupAnswer::NotFound), None]
        });
        assert_eq!(asked, ids(&["A", "B"]), "re-checks the ids it would lead");
        assert_eq!(
            claim.lead.ids,
            ids(&["B"]),
            "fetches only what is not cached"
        );
        assert_eq!(claim.cached, vec![("A".to_owned(), LookupAnswer::NotFound)]);
        assert!(claim.follow.is_empty());
        assert_eq!(flights.coalesced(), 0, "counted by the lookup that uses it");
        assert_eq!(
            flights.claim(ids(&["A"]), uncached).lead.ids,
            ids(&["A"]),
            "the re-checked id's flight has ended"
        );
    }

    #[test]
    fn a_claim_following_every_id_does_not_recheck() {
        let flights = Flights::default();
        let _first = flights.claim(ids(&["A"]), uncached);
        let second = flights.claim(ids(&["A"]), |_| {
            panic!("nothing to lead, nothing to re-check")
        });
        assert_eq!(second.follow.len(), 1);
    }
}
