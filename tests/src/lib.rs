//! Helpers shared by fabrik's end-to-end tests.
