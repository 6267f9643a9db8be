//! `claims.lookup`: one batched call answers many claim ids from the cached
//! lookup; store trouble is a WIT `lookup-error` the plugin sees, never a trap.
//! Time spent here is not charged to the plugin's CPU deadline.

use super::HostState;
use crate::bindings::claims_api;
use crate::lookup::{ClaimRow, LookupAnswer};

fn to_wit_claim(row: &ClaimRow) -> claims_api::Claim {
    claims_api::Claim {
        member_id: row.member_id.clone(),
        claim_amount: claims_api::Decimal {
            // DECIMAL(10,2) always fits: |mantissa| < 10^10.
            unscaled: i64::try_from(row.claim_amount.mantissa()).unwrap_or(i64::MAX),
            scale: u8::try_from(row.claim_amount.scale()).unwrap_or(u8::MAX),
        },
        claim_status: row.claim_status.clone(),
        created_at_micros: row.created_at_micros,
    }
}

impl claims_api::Host for HostState {
    fn lookup(&mut self, claim_ids: Vec<String>) -> Vec<claims_api::LookupResult> {
        use claims_api::{LookupError, LookupResult};
        let Some(lookup) = &self.lookup else {
            let why = "no claims store is attached to this instance".to_owned();
            return claim_ids
                .iter()
                .map(|_| LookupResult::Failed(LookupError::Unavailable(why.clone())))
                .collect();
        };
        let started = std::time::Instant::now();
        let answers = lookup.lookup(&claim_ids);
        self.clock.add_host_time(started.elapsed());
        answers
            .into_iter()
            .zip(&claim_ids)
            .map(|(answer, id)| match answer {
                LookupAnswer::Found(row) => {
                    if row.stale {
                        self.stale_claims.push(id.clone());
                    }
                    LookupResult::Found(to_wit_claim(&row))
                }
                LookupAnswer::NotFound => LookupResult::NotFound,
                LookupAnswer::Unavailable(why) => {
                    LookupResult::Failed(LookupError::Unavailable(why))
                }
                LookupAnswer::Timeout(why) => LookupResult::Failed(LookupError::Timeout(why)),
            })
            .collect()
    }
}
