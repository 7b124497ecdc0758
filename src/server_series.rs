//! The server series kneepoint derives from a target's Prometheus metrics: their names (as
//! results and `server:NAME` SLAs spell them), units and how each is computed. Pure data, so
//! the scenario's validation and the scraper read one table.
//!
//! Invariant: a name appears once; this module imports nothing of kneepoint's.

/// How a series is computed from two consecutive scrapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expr {
    /// Sum of a gauge's samples (optionally only those with `label = value`).
    Gauge(Selector),
    /// Increase of a counter per second.
    Rate(Selector),
    /// Increase of `num` over the increase of `num + other` (e.g. hits / (hits + misses)).
    ShareOfIncrease {
        /// Counter in the numerator.
        num: Selector,
        /// Counter added to it in the denominator.
        other: Selector,
    },
    /// One gauge over another (e.g. connections in use / pool size).
    GaugeRatio {
        /// Numerator.
        num: Selector,
        /// Denominator.
        den: Selector,
    },
}

/// Samples of one metric, optionally filtered by one label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Selector {
    /// Metric name as exposed.
    pub metric: &'static str,
    /// Only samples with this label value.
    pub label: Option<(&'static str, &'static str)>,
}

const fn metric(metric: &'static str) -> Selector {
    Selector {
        metric,
        label: None,
    }
}

const fn labelled(metric: &'static str, key: &'static str, value: &'static str) -> Selector {
    Selector {
        metric,
        label: Some((key, value)),
    }
}

/// A named derived series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeriesDef {
    /// Name used in results and in SLAs (`metric = "server:NAME"`).
    pub name: &'static str,
    /// Unit of the values.
    pub unit: &'static str,
    /// Computation.
    pub expr: Expr,
}

/// Series recorded whenever a metrics endpoint is scraped. Names follow the reference service's
/// exposition and common Prometheus conventions; a series whose metrics are absent stays empty.
pub(crate) const SERIES: &[SeriesDef] = &[
    SeriesDef {
        name: "cache_hit_ratio",
        unit: "ratio",
        expr: Expr::ShareOfIncrease {
            num: metric("cache_hits_total"),
            other: metric("cache_misses_total"),
        },
    },
    SeriesDef {
        name: "db_pool_in_use",
        unit: "count",
        expr: Expr::Gauge(labelled("db_pool_connections", "state", "in_use")),
    },
    SeriesDef {
        name: "db_pool_utilisation",
        unit: "ratio",
        expr: Expr::GaugeRatio {
            num: labelled("db_pool_connections", "state", "in_use"),
            den: metric("db_pool_max_connections"),
        },
    },
    SeriesDef {
        name: "queue_depth",
        unit: "count",
        expr: Expr::Gauge(metric("queue_depth")),
    },
    SeriesDef {
        name: "rate_limited_per_s",
        unit: "per_s",
        expr: Expr::Rate(metric("rate_limit_rejections_total")),
    },
    SeriesDef {
        name: "process_cpu_cores",
        unit: "cores",
        expr: Expr::Rate(metric("process_cpu_seconds_total")),
    },
    SeriesDef {
        name: "process_rss_bytes",
        unit: "bytes",
        expr: Expr::Gauge(metric("process_resident_memory_bytes")),
    },
];

#[cfg(test)]
mod tests {
    use super::SERIES;

    #[test]
    fn every_series_has_its_own_name_and_a_unit() {
        let mut names: Vec<&str> = SERIES.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SERIES.len(), "a name appears twice");
        assert!(SERIES.iter().all(|s| !s.unit.is_empty()));
    }
}
