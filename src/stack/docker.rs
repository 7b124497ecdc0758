//! TODO-module stack/docker
