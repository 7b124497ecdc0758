//! Rate limiting: quotas per plan and per route class, checked by a [`Limiter`] backend.
//!
//! Invariant: a check is one atomic backend operation (a Lua script in Redis), so concurrent
//! requests from many service instances can never exceed the quota; when the backend fails the
//! request is allowed (fail-open) and the failure is counted.

mod memory;
mod redis;

use std::time::Duration;

use async_trait::async_trait;

pub use self::memory::MemoryLimiter;
pub use self::redis::RedisLimiter;
use crate::config::Config;
use crate::model::Plan;

/// A limiter backend failure.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// The backend answered with an error or could not be reached.
    #[error("rate-limit backend failed")]
    Backend(#[source] ::redis::RedisError),
    /// The backend answered something unexpected.
    #[error("rate-limit backend answered {0}")]
    Protocol(String),
}

/// `limit` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed in a burst and per period.
    pub limit: u32,
    /// Period over which `limit` requests replenish.
    pub period: Duration,
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The quota's limit (`X-RateLimit-Limit`).
    pub limit: u32,
    /// Requests left right now (`X-RateLimit-Remaining`).
    pub remaining: u32,
    /// Time until the quota is fully replenished (`X-RateLimit-Reset`, in seconds).
    pub reset: Duration,
    /// When rejected: time until the next request would be allowed (`Retry-After`).
    pub retry_after: Duration,
}

/// Checks and counts one request against a quota.
#[async_trait]
pub trait Limiter: Send + Sync {
    /// Counts a request under `key` if `quota` allows it.
    async fn check(&self, key: &str, quota: Quota) -> Result<Decision, LimitError>;
}

/// Which bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Normal traffic, by plan.
    Plan(Plan),
    /// `/api/auth/*`.
    Auth,
    /// `POST /api/exports`.
    Export,
}

impl Class {
    /// Metric label and key segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Plan(plan) => plan.as_str(),
            Class::Auth => "auth",
            Class::Export => "export",
        }
    }
}

/// Configured quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Anonymous, per IP, per minute.
    pub anonymous: u32,
    /// Free plan, per key, per minute.
    pub free: u32,
    /// Pro plan, per key, per minute.
    pub pro: u32,
    /// Enterprise plan, per key, per minute.
    pub enterprise: u32,
    /// Auth routes, per IP, per hour.
    pub auth: u32,
    /// Export jobs, per client, per hour.
    pub export: u32,
}

impl Quotas {
    /// Quotas from the configuration.
    pub fn from_config(config: &Config) -> Quotas {
        Quotas {
            anonymous: config.rate_limit_anonymous,
            free: config.rate_limit_free,
            pro: config.rate_limit_pro,
            enterprise: config.rate_limit_enterprise,
            auth: config.rate_limit_auth,
            export: config.rate_limit_export,
        }
    }

    /// The quota of a class.
    pub fn quota(&self, class: Class) -> Quota {
        let minute = Duration::from_secs(60);
        let hour = Duration::from_secs(3_600);
        let (limit, period) = match class {
            Class::Plan(Plan::Anonymous) => (self.anonymous, minute),
            Class::Plan(Plan::Free) => (self.free, minute),
            Class::Plan(Plan::Pro) => (self.pro, minute),
            Class::Plan(Plan::Enterprise) => (self.enterprise, minute),
            Class::Auth => (self.auth, hour),
            Class::Export => (self.export, hour),
        };
        Quota { limit, period }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_quotas_match_the_spec() {
        let quotas = Quotas {
            anonymous: 20,
            free: 100,
            pro: 1_000,
            enterprise: 10_000,
            auth: 5,
            export: 10,
        };
        assert_eq!(
            quotas.quota(Class::Plan(Plan::Free)),
            Quota {
                limit: 100,
                period: Duration::from_secs(60)
            }
        );
        assert_eq!(
            quotas.quota(Class::Auth),
            Quota {
                limit: 5,
                period: Duration::from_secs(3_600)
            }
        );
        assert_eq!(quotas.quota(Class::Export).limit, 10);
    }
}
