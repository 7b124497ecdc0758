//! TODO-module sla
