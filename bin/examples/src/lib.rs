//! Example chaincodes.
