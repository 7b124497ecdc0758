//! TODO-module scrape
